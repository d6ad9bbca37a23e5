// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Replay time of the committed real-boot fixtures on the reference model (BENCHMARKS.md;
//! the host-call counts against QEMU's one-ioctl-per-TCE baseline are printed by
//! `examples/bench-report.rs`). `cargo bench --bench replay`.

#[path = "support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spapr_tce::replay::engine::{replay, ReplayOptions};
use spapr_tce::replay::load;

use support::fixtures;

fn fixtures_replay(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    group.sample_size(20);
    for path in fixtures::paths() {
        let trace = load(&path).expect("fixture");
        let first = fixtures::run(&path);
        assert_eq!(first.mismatches, 0, "{} replays cleanly", first.name);
        group.throughput(Throughput::Elements(first.events));
        group.bench_function(first.name.as_str(), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        replay(&trace, &ReplayOptions::default())
                            .expect("replay")
                            .replay_time
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fixtures_replay);
criterion_main!(benches);
