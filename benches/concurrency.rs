// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Throughput of one vCPU thread, two threads on separate PEs and two threads on one PE,
//! each repeating H_PUT_TCE_INDIRECT(512) + H_STUFF_TCE(512) on the reference model
//! (BENCHMARKS.md). Criterion's throughput is per round of every thread together, so the
//! elements/s of the three compare directly. `cargo bench --bench concurrency`.

#[path = "support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use support::rig::Backend;
use support::threads::{Concurrency, Placement};

fn concurrency(c: &mut Criterion) {
    let mut group = c.benchmark_group("concurrency");
    let rig = Concurrency::new(Backend::Model);
    for placement in Placement::ALL {
        // One iteration = one map + one clear of 512 TCEs on every thread.
        group.throughput(Throughput::Elements(placement.threads() * 2 * 512));
        group.bench_function(placement.name(), |b| {
            b.iter_custom(|rounds| rig.run(placement, rounds).wall)
        });
    }
    group.finish();
}

criterion_group!(benches, concurrency);
criterion_main!(benches);
