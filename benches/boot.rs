// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Synthetic boots of a 4 TiB guest (64 KiB and 16 MiB DDW pages) and of a sparsely mapped
//! 64 TiB window, timed inside the accelerator (BENCHMARKS.md; peak memory is measured by
//! `examples/bench-report.rs`). `cargo bench --bench boot`.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use support::boot;
use support::rig::{Backend, Rig};

fn boots(c: &mut Criterion) {
    let mut group = c.benchmark_group("boot");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for spec in boot::ALL {
        for backend in [Backend::Model, Backend::Emulated] {
            let tces = boot::run(&spec, backend).tces_mapped;
            group.throughput(Throughput::Elements(tces));
            group.bench_function(format!("{}/{}", spec.name, backend.name()), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            // A fresh guest per boot; building it is not part of the boot.
                            let rig = Rig::new(spec.ram, 1, backend);
                            boot::boot(&rig, &spec).accel_time
                        })
                        .sum()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, boots);
criterion_main!(benches);
