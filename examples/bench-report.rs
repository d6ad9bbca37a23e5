// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Quick benchmark report (BENCHMARKS.md): reduced versions of the criterion benchmarks in
//! `benches/`, a table, and one summary line.
//!
//! ```text
//! cargo run --release --example bench-report [-- --repeat N]
//! ```
//!
//! `--repeat N` (default 3) measures every figure N times and reports the median and the
//! spread (min..max). Each synthetic boot runs in a child process of its own (this program
//! with `--boot-child NAME BACKEND`), so that its peak memory is its own.

#[path = "../benches/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::boot::{self, BootResult, BootSpec};
use support::rig::Backend;
use support::slowpath::{MemcpyBaseline, Op, SlowPath};
use support::threads::{Concurrency, Placement};
use support::{fixtures, median, memory, Timing};

/// Wall time each slow-path figure is measured for, per repetition.
const SLOW_PATH_TARGET: Duration = Duration::from_millis(60);
/// Wall time of each concurrency run, per repetition.
const THREADS_TARGET: Duration = Duration::from_millis(300);

/// A figure measured several times.
struct Figure {
    values: Vec<f64>,
}

impl Figure {
    fn new(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Self { values }
    }

    fn median(&self) -> f64 {
        median(&mut self.values.clone())
    }

    /// `median [min..max]`, with `digits` decimals.
    fn show(&self, digits: usize) -> String {
        match (self.values.first(), self.values.last()) {
            (Some(min), Some(max)) if self.values.len() > 1 => format!(
                "{:.digits$} [{min:.digits$}..{max:.digits$}]",
                self.median()
            ),
            _ => format!("{:.digits$}", self.median()),
        }
    }
}

/// Iterations that take about `target` of wall time, from short trial runs of `run`.
fn calibrate(target: Duration, mut run: impl FnMut(u64) -> Duration) -> u64 {
    let mut iters = 16;
    loop {
        let took = run(iters);
        if took >= target / 8 || iters >= 1 << 30 {
            let per_iter = took.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per_iter.max(1e-12)) as u64).max(1);
        }
        iters *= 4;
    }
}

/// ns per TCE of `run` (CPU time, wall time), measured `repeat` times.
fn per_tce(
    repeat: usize,
    tces_per_iter: u64,
    mut run: impl FnMut(u64) -> Timing,
) -> (Figure, Figure) {
    let iters = calibrate(SLOW_PATH_TARGET, |iters| run(iters).wall);
    let timings: Vec<Timing> = (0..repeat).map(|_| run(iters)).collect();
    let per = |time: Duration| time.as_nanos() as f64 / (iters * tces_per_iter) as f64;
    (
        Figure::new(timings.iter().map(|t| per(t.cpu)).collect()),
        Figure::new(timings.iter().map(|t| per(t.wall)).collect()),
    )
}

struct Summary {
    indirect_ns_per_tce: f64,
    memcpy_ratio: f64,
    call_ratio_min: f64,
    boot4t_s: f64,
    bytes_per_tce: f64,
    scale_2pe: f64,
}

fn slow_path(repeat: usize, summary: &mut Summary) {
    println!("\n## Slow path per TCE (PHB 0 default window, 4 KiB pages)\n");
    let mut baseline = MemcpyBaseline::default();
    let (memcpy, memcpy_wall) = per_tce(repeat, 512, |iters| baseline.run(iters));
    println!(
        "{:<32} {:<9} {:>14} {:>26} {:>12} {:>9}",
        "operation", "backend", "ns/call (CPU)", "ns/TCE (CPU)", "ns/TCE wall", "x memcpy"
    );
    for backend in [Backend::Model, Backend::Emulated] {
        let path = SlowPath::new(backend);
        for op in Op::ALL {
            let tces = op.tces_per_call();
            let (cpu, wall) = per_tce(repeat, tces, |iters| op.run(&path, iters));
            let ratio = cpu.median() / memcpy.median();
            let ratio = if tces > 1 {
                format!("{ratio:.1}")
            } else {
                "-".into()
            };
            println!(
                "{:<32} {:<9} {:>14.1} {:>26} {:>12.2} {:>9}",
                op.name(),
                backend.name(),
                cpu.median() * tces as f64,
                cpu.show(2),
                wall.median(),
                ratio
            );
            if backend == Backend::Model && op == Op::Indirect {
                summary.indirect_ns_per_tce = cpu.median();
                summary.memcpy_ratio = cpu.median() / memcpy.median();
            }
        }
    }
    println!(
        "{:<32} {:<9} {:>14.1} {:>26} {:>12.3} {:>9}",
        "memcpy 4 KiB list + 4 KiB table",
        "-",
        memcpy.median() * 512.0,
        memcpy.show(3),
        memcpy_wall.median(),
        "1.0"
    );
}

fn fixture_economy(repeat: usize, summary: &mut Summary) {
    println!("\n## Host IOMMU calls on the real-boot fixtures (reference model)\n");
    println!(
        "{:<18} {:>7} {:>9} {:>10} {:>9} {:>11} {:>9} {:>6} {:>20}",
        "fixture", "events", "backend", "QEMU", "ratio", "necessary", "ratio", "mism.", "replay ms"
    );
    let mut min_ratio = f64::INFINITY;
    for path in fixtures::paths() {
        let runs: Vec<_> = (0..repeat).map(|_| fixtures::run(&path)).collect();
        let first = &runs[0];
        let ms = Figure::new(
            runs.iter()
                .map(|r| r.replay_time.as_secs_f64() * 1e3)
                .collect(),
        );
        println!(
            "{:<18} {:>7} {:>9} {:>10} {:>9.0} {:>11} {:>9.0} {:>6} {:>20}",
            first.name,
            first.events,
            first.backend_calls,
            first.baseline_calls,
            first.ratio(),
            first.necessary_calls,
            first.baseline_calls as f64 / first.necessary_calls.max(1) as f64,
            first.mismatches,
            ms.show(1)
        );
        min_ratio = min_ratio.min(first.ratio());
    }
    println!(
        "(backend: the accelerator's host calls; QEMU: one per TCE update; necessary: the \
         hcalls that change a host mapping, plus window calls: no implementation needs fewer)"
    );
    summary.call_ratio_min = min_ratio;
}

/// Runs one boot in a child process and parses its report line.
fn boot_in_child(spec: &BootSpec, backend: Backend) -> (BootResult, u64) {
    let exe = std::env::current_exe().expect("own executable");
    let output = Command::new(exe)
        .args(["--boot-child", spec.name, backend.name()])
        .output()
        .expect("child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "boot child {} failed: {stdout}{}",
        spec.name,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("boot-child "))
        .expect("boot-child line");
    let field = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {line}"))
    };
    let mut result = BootResult {
        hcalls: field("hcalls"),
        tces_mapped: field("tces"),
        accel_time: Duration::from_nanos(field("accel_ns")),
        wall_time: Duration::from_nanos(field("wall_ns")),
        cpu_time: Duration::from_nanos(field("cpu_ns")),
        usage: memory::ThreadUsage {
            user: Duration::from_nanos(field("user_ns")),
            system: Duration::from_nanos(field("sys_ns")),
            minor_faults: field("faults"),
        },
        setup_time: Duration::from_nanos(field("setup_ns")),
        table_bytes: field("table_bytes"),
        per_tce_calls: field("per_tce_calls"),
        ..BootResult::default()
    };
    result.backend.map_dma = field("map_dma");
    result.backend.unmap_dma = field("unmap_dma");
    (result, field("peak_delta"))
}

/// `--boot-child NAME BACKEND`: one boot, one line.
fn boot_child(name: &str, backend: &str) {
    let spec = boot::ALL
        .iter()
        .find(|spec| spec.name == name)
        .unwrap_or_else(|| panic!("unknown boot {name}"));
    let backend = match backend {
        "model" => Backend::Model,
        _ => Backend::Emulated,
    };
    let before = memory::rss().unwrap_or(0);
    let r = boot::run(spec, backend);
    let peak = memory::peak_rss().unwrap_or(0);
    println!(
        "boot-child hcalls={} tces={} accel_ns={} wall_ns={} cpu_ns={} setup_ns={} table_bytes={} \
         per_tce_calls={} map_dma={} unmap_dma={} peak_delta={} user_ns={} sys_ns={} faults={}",
        r.hcalls,
        r.tces_mapped,
        r.accel_time.as_nanos(),
        r.wall_time.as_nanos(),
        r.cpu_time.as_nanos(),
        r.setup_time.as_nanos(),
        r.table_bytes,
        r.per_tce_calls,
        r.backend.map_dma,
        r.backend.unmap_dma,
        peak.saturating_sub(before),
        r.usage.user.as_nanos(),
        r.usage.system.as_nanos(),
        r.usage.minor_faults
    );
}

fn boots(repeat: usize, summary: &mut Summary) {
    println!("\n## Synthetic boots (STUFF default window, query, create, INDIRECT(512) fill)\n");
    println!(
        "{:<17} {:<9} {:>7} {:>9} {:>24} {:>8} {:>10} {:>12} {:>9} {:>7} {:>9} {:>11}",
        "boot",
        "backend",
        "hcalls",
        "TCEs",
        "CPU s",
        "wall s",
        "in hcalls",
        "user/sys s",
        "table MiB",
        "B/TCE",
        "peak MiB",
        "MAP/UNMAP"
    );
    let runs = [
        (boot::BOOT_4T_64K, Backend::Model),
        (boot::BOOT_4T_64K, Backend::Emulated),
        (boot::BOOT_4T_16M, Backend::Model),
        (boot::SPARSE_64T_64K, Backend::Model),
    ];
    let mut faults = 0;
    for (spec, backend) in runs {
        let results: Vec<_> = (0..repeat).map(|_| boot_in_child(&spec, backend)).collect();
        let (first, _) = &results[0];
        let figure = |value: &dyn Fn(&BootResult, u64) -> f64| {
            Figure::new(results.iter().map(|(r, peak)| value(r, *peak)).collect())
        };
        let cpu = figure(&|r, _| r.cpu_time.as_secs_f64());
        let wall = figure(&|r, _| r.wall_time.as_secs_f64());
        let in_hcalls = figure(&|r, _| r.accel_time.as_secs_f64());
        let user = figure(&|r, _| r.usage.user.as_secs_f64());
        let system = figure(&|r, _| r.usage.system.as_secs_f64());
        let peak = figure(&|_, peak| peak as f64 / 1048576.0);
        println!(
            "{:<17} {:<9} {:>7} {:>9} {:>24} {:>8.3} {:>10.3} {:>12} {:>9.1} {:>7.3} {:>9.1} {:>11}",
            spec.name,
            backend.name(),
            first.hcalls,
            first.tces_mapped,
            cpu.show(3),
            wall.median(),
            in_hcalls.median(),
            format!("{:.3}/{:.3}", user.median(), system.median()),
            first.table_bytes as f64 / 1048576.0,
            first.bytes_per_tce(),
            peak.median(),
            format!("{}/{}", first.backend.map_dma, first.backend.unmap_dma)
        );
        if spec == boot::BOOT_4T_64K && backend == Backend::Model {
            summary.boot4t_s = cpu.median();
            summary.bytes_per_tce = first.bytes_per_tce();
            faults = first.usage.minor_faults;
        }
    }
    println!(
        "(CPU s: the booting thread, including writing the lists; in hcalls: wall time inside the \
         accelerator; sys s: mostly first touches of the table's fresh pages, {faults} page faults \
         in the 4 TiB 64 KiB boot on the model)"
    );
}

fn concurrency(repeat: usize, summary: &mut Summary) {
    println!(
        "\n## Concurrency (INDIRECT(512) map + STUFF(512) clear per round, reference model)\n"
    );
    println!(
        "{:<17} {:>26} {:>7} {:>16} {:>9}",
        "threads", "M TCEs/s (wall)", "scale", "M TCEs/CPU-s", "CPU eff."
    );
    let rig = Concurrency::new(Backend::Model);
    let mut single = (0.0, 0.0);
    for placement in Placement::ALL {
        let rounds = calibrate(THREADS_TARGET, |rounds| rig.run(placement, rounds).wall);
        let runs: Vec<_> = (0..repeat).map(|_| rig.run(placement, rounds)).collect();
        let throughput = Figure::new(runs.iter().map(|r| r.throughput()).collect());
        let per_cpu = Figure::new(runs.iter().map(|r| r.per_cpu_second()).collect());
        if placement == Placement::OneThread {
            single = (throughput.median(), per_cpu.median());
        }
        let scale = throughput.median() / single.0;
        println!(
            "{:<17} {:>26} {:>7.2} {:>16.1} {:>9.2}",
            placement.name(),
            throughput.show(1),
            scale,
            per_cpu.median(),
            per_cpu.median() / single.1
        );
        if placement == Placement::TwoPes {
            summary.scale_2pe = scale;
        }
    }
    println!(
        "(scale: wall throughput against one thread; CPU eff.: TCEs per CPU second against one \
         thread, 1.0 = no contention cost)"
    );
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name, backend] = args.as_slice() {
        if flag == "--boot-child" {
            boot_child(name, backend);
            return;
        }
    }
    let repeat = match args.as_slice() {
        [flag, n] if flag == "--repeat" => n.parse().expect("--repeat N"),
        [] => 3,
        _ => {
            eprintln!("usage: bench-report [--repeat N]");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    println!(
        "# spapr-tce bench report: {} CPUs, load average {}, median [min..max] of {repeat}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let mut summary = Summary {
        indirect_ns_per_tce: 0.0,
        memcpy_ratio: 0.0,
        call_ratio_min: 0.0,
        boot4t_s: 0.0,
        bytes_per_tce: 0.0,
        scale_2pe: 0.0,
    };
    slow_path(repeat, &mut summary);
    fixture_economy(repeat, &mut summary);
    boots(repeat, &mut summary);
    concurrency(repeat, &mut summary);
    println!(
        "\n(total {:.1} s, load average at the end {})",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    println!(
        "bench: indirect_ns_per_tce={:.2} memcpy_ratio={:.1} call_ratio_min={:.0} boot4t_s={:.3} bytes_per_tce={:.2} scale_2pe={:.2}",
        summary.indirect_ns_per_tce,
        summary.memcpy_ratio,
        summary.call_ratio_min,
        summary.boot4t_s,
        summary.bytes_per_tce,
        summary.scale_2pe
    );
}
