// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Throughput of vCPU threads issuing TCE hypercalls at once: each thread repeats
//! H_PUT_TCE_INDIRECT(512) mapping 512 pages and H_STUFF_TCE(512) clearing them again (the
//! map/unmap pair of a device on a TCE window, qemu-and-guest.md §3.5), on its own range.
//!
//! The accelerator locks per PE: threads on separate PEs should scale, threads on one PE
//! serialise on its lock.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use papr_hcall::{H_PUT_TCE_INDIRECT, H_STUFF_TCE};

use super::rig::{default_liobn, Backend, Rig};
use super::thread_cpu_time;

/// TCEs per call.
const BATCH: u64 = 512;
/// List page of thread `t`: `LISTS + t * 4096`.
const LISTS: u64 = 0x10_0000;
/// Guest pages thread `t` maps: `DATA + t * 16 MiB`.
const DATA: u64 = 0x100_0000;
/// Bus address thread `t` uses on its window: `IOBA + t * 16 MiB`.
const IOBA: u64 = 0x400_0000;
/// 16 MiB.
const SPAN: u64 = 16 << 20;
/// TCE permission bits R|W.
const RW: u64 = 3;
/// Window page size (the default windows: 4 KiB).
const PAGE: u64 = 4096;

/// Where the threads run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// One thread, PHB 0.
    OneThread,
    /// Two threads, one on PHB 0 and one on PHB 1.
    TwoPes,
    /// Two threads, both on PHB 0 (different entries of the same window).
    OnePe,
}

impl Placement {
    /// Every placement.
    pub const ALL: [Self; 3] = [Self::OneThread, Self::TwoPes, Self::OnePe];

    /// Name for tables and benchmark IDs.
    pub fn name(self) -> &'static str {
        match self {
            Self::OneThread => "1-thread",
            Self::TwoPes => "2-threads-2-PEs",
            Self::OnePe => "2-threads-1-PE",
        }
    }

    /// Number of threads.
    pub fn threads(self) -> u64 {
        match self {
            Self::OneThread => 1,
            _ => 2,
        }
    }

    /// The (LIOBN, bus address) thread `t` works on.
    fn target(self, t: u64) -> (u64, u64) {
        match self {
            Self::OneThread | Self::OnePe => (default_liobn(0), IOBA + t * SPAN),
            Self::TwoPes => (default_liobn(t as u32), IOBA),
        }
    }
}

/// What a concurrent run did.
#[derive(Clone, Copy, Debug)]
pub struct ThreadRun {
    /// TCEs changed by all threads together.
    pub tces: u64,
    /// Wall time from the common start until the last thread finished.
    pub wall: Duration,
    /// CPU time of all threads together (time a thread waits for the PE lock or for a free
    /// core is not in it; cache-line contention and lock hand-over are).
    pub cpu: Duration,
}

impl ThreadRun {
    /// Million TCEs per wall second.
    pub fn throughput(&self) -> f64 {
        self.tces as f64 / self.wall.as_secs_f64() / 1e6
    }

    /// Million TCEs per CPU second.
    pub fn per_cpu_second(&self) -> f64 {
        self.tces as f64 / self.cpu.as_secs_f64().max(1e-9) / 1e6
    }
}

/// Two PHBs and a list page per thread.
pub struct Concurrency {
    rig: Rig,
}

impl Concurrency {
    /// A rig of two PHBs with `backend`.
    pub fn new(backend: Backend) -> Self {
        let rig = Rig::new(256 << 20, 2, backend);
        for t in 0..2 {
            let tces: Vec<u64> = (0..BATCH)
                .map(|i| (DATA + t * SPAN + i * PAGE) | RW)
                .collect();
            rig.write_list(LISTS + t * 4096, &tces);
        }
        Self { rig }
    }

    /// Runs `rounds` map/clear pairs on every thread of `placement`.
    pub fn run(&self, placement: Placement, rounds: u64) -> ThreadRun {
        let threads = placement.threads();
        let barrier = Barrier::new(threads as usize + 1);
        let rig = &self.rig;
        // Each worker times itself (after the common start): the spawning thread may not get
        // a core back before the workers finish.
        let spans: Vec<(Instant, Instant, Duration)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let (liobn, ioba) = placement.target(t);
                        let list = LISTS + t * 4096;
                        barrier.wait();
                        let start = Instant::now();
                        let cpu_start = thread_cpu_time();
                        for _ in 0..rounds {
                            rig.hcall_ok(H_PUT_TCE_INDIRECT, &[liobn, ioba, list, BATCH]);
                            rig.hcall_ok(H_STUFF_TCE, &[liobn, ioba, 0, BATCH]);
                        }
                        let cpu = thread_cpu_time().saturating_sub(cpu_start);
                        (start, Instant::now(), cpu)
                    })
                })
                .collect();
            barrier.wait();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("worker thread"))
                .collect()
        });
        let first_start = spans.iter().map(|span| span.0).min();
        let last_end = spans.iter().map(|span| span.1).max();
        let wall = match (first_start, last_end) {
            (Some(start), Some(end)) => end.saturating_duration_since(start),
            _ => Duration::ZERO,
        };
        let cpu = spans.iter().map(|span| span.2).sum();
        ThreadRun {
            tces: threads * rounds * 2 * BATCH,
            wall,
            cpu,
        }
    }
}
