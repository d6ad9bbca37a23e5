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

/// The median of `values` (0 for none); sorts them.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
