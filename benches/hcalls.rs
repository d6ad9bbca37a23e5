// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Slow-path cost of the TCE hypercalls and of `translate` through the accelerator, with
//! the reference model as container and without container, against a memcpy of the same
//! bytes (BENCHMARKS.md). `cargo bench --bench hcalls`.

#[path = "support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use support::rig::Backend;
use support::slowpath::{MemcpyBaseline, Op, SlowPath, BATCH};

fn slow_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("slow_path");
    for backend in [Backend::Model, Backend::Emulated] {
        let path = SlowPath::new(backend);
        for op in Op::ALL {
            group.throughput(Throughput::Elements(op.tces_per_call()));
            group.bench_function(BenchmarkId::new(op.name(), backend.name()), |b| {
                b.iter_custom(|iters| op.run(&path, iters).wall)
            });
        }
    }
    let mut baseline = MemcpyBaseline::default();
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("memcpy_list_and_table_512", |b| {
        b.iter_custom(|iters| baseline.run(iters).wall)
    });
    group.finish();
}

criterion_group!(benches, slow_path);
criterion_main!(benches);
