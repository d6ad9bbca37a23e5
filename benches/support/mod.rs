// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Workloads shared by the criterion benchmarks (`benches/*.rs`) and the quick report
//! (`examples/bench-report.rs`), included by both with `#[path]` so that they measure exactly
//! the same thing. See BENCHMARKS.md for what each figure means.
//!
//! Every workload times only the accelerator (its hypercall and translation entry points);
//! what a guest would do between calls (writing TCE lists) and what a benchmark needs to set
//! up (building the accelerator, mapping entries before a timed clear) is left out of the
//! timed part.

// Each bench binary uses a different subset.
#![allow(dead_code)]

pub mod boot;
pub mod fixtures;
pub mod memory;
pub mod rig;
pub mod slowpath;
pub mod threads;

use std::ops::AddAssign;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Time taken by a workload: wall clock, and CPU time of the measuring thread. On a busy
/// machine (other processes sharing the cores) wall time includes the time the thread
/// waited for a core; its CPU time does not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// Wall-clock time.
    pub wall: Duration,
    /// CPU time of the measuring thread.
    pub cpu: Duration,
}

impl AddAssign for Timing {
    fn add_assign(&mut self, other: Self) {
        self.wall += other.wall;
        self.cpu += other.cpu;
    }
}

/// CPU time consumed by the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `now`, which lives for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Measures wall and thread CPU time from its start.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    /// Starts measuring.
    #[inline]
    pub fn start() -> Self {
        Self {
            cpu: thread_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// The time since [`start`](Self::start).
    #[inline]
    pub fn stop(&self) -> Timing {
        let wall = self.wall.elapsed();
        Timing {
            wall,
            cpu: thread_cpu_time().saturating_sub(self.cpu),
        }
    }

    /// What one start/stop pair itself costs (the least of many), to subtract from
    /// workloads that time each call on its own.
    pub fn overhead() -> Timing {
        static OVERHEAD: OnceLock<Timing> = OnceLock::new();
        *OVERHEAD.get_or_init(|| {
            let samples: Vec<Timing> = (0..1000).map(|_| Stopwatch::start().stop()).collect();
            Timing {
                wall: samples.iter().map(|t| t.wall).min().unwrap_or_default(),
                cpu: samples.iter().map(|t| t.cpu).min().unwrap_or_default(),
            }
        })
    }
}

/// The median of `values` (0 for none); sorts them.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
