// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Replays of the committed fixtures through the accelerator on the reference model (0
//! mismatches, with the counts of `shared/traces/README.md` §4–§6), negative tests proving
//! that each check can fail, a raw QEMU log converted and replayed on the fly, and the
//! `tce-replay` command.

#![cfg(feature = "replay")]

use std::path::{Path, PathBuf};
use std::process::Command;

use spapr_tce::replay::engine::{replay, MismatchKind, ReplayOptions, ReplayReport};
use spapr_tce::replay::{load, CanonicalTrace, EventKind, TraceEvent};

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.tce.xz"))
}

fn fixture(name: &str) -> CanonicalTrace {
    load(fixture_path(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn replay_clean(name: &str, trace: &CanonicalTrace) -> ReplayReport {
    let report = replay(trace, &ReplayOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    println!("{name}:\n{report}\n{}", report.summary_line());
    assert_eq!(report.mismatch_count, 0, "{name}:\n{report}");
    report
}

/// The counts every clean replay of a whole trace must show.
fn check_counts(name: &str, trace: &CanonicalTrace, report: &ReplayReport) {
    let counts = trace.counts();
    assert_eq!(
        report.events,
        trace.event_count(),
        "{name}: events replayed"
    );
    for kind in EventKind::ALL {
        assert_eq!(
            report.events_of(kind),
            counts.kind(kind),
            "{name}: {kind:?}"
        );
    }
    let c = &report.comparisons;
    let hcalls: u64 = [
        EventKind::PutTce,
        EventKind::GetTce,
        EventKind::StuffTce,
        EventKind::PutTceIndirect,
    ]
    .map(|kind| counts.kind(kind))
    .iter()
    .sum();
    assert_eq!(c.return_codes, hcalls, "{name}: return codes compared");
    assert_eq!(c.get_values, counts.kind(EventKind::GetTce), "{name}: gets");
    assert_eq!(c.translations, counts.kind(EventKind::Xlate), "{name}");
    let ddw: u64 = [
        EventKind::DdwQuery,
        EventKind::DdwCreate,
        EventKind::DdwRemove,
        EventKind::DdwReset,
    ]
    .map(|kind| counts.kind(kind))
    .iter()
    .sum();
    assert_eq!(c.ddw_calls, ddw, "{name}: DDW calls compared");
    assert_eq!(c.invariant_checks, 1, "{name}: the final check");
    let invariants = report.last_invariants.expect("final invariant check held");
    assert!(invariants.valid_entries > 0, "{name}: {invariants:?}");
    assert!(report.counters.tces_mapped > 0 && report.counters.tces_unmapped > 0);
    // The accelerator coalesces and skips no-op clears: fewer host calls than QEMU.
    assert!(
        report.backend_calls() < report.baseline_calls(),
        "{name}: backend {} baseline {}",
        report.backend_calls(),
        report.baseline_calls()
    );
    assert_eq!(
        report.baseline.window_calls,
        report.backend.create_window
            + report.backend.remove_window
            + report.backend.register_memory
    );
    assert_eq!(
        report.summary_line(),
        format!(
            "replay: events={} mismatches=0 backend_calls={} baseline_calls={} ratio={:.2} ns_per_event={:.1}",
            trace.event_count(),
            report.backend_calls(),
            report.baseline_calls(),
            report.ratio(),
            report.ns_per_event()
        )
    );
}

#[test]
fn k61_2g_replays_without_mismatches() {
    let trace = fixture("k61-2G");
    let report = replay_clean("k61-2G", &trace);
    check_counts("k61-2G", &trace, &report);
    // README §6: every translation reproduced; 3 DDWs created, each direct-mapped.
    assert_eq!(report.comparisons.translations, 19_159);
    assert_eq!(report.comparisons.get_values, 0);
    assert_eq!(report.events_of(EventKind::DdwCreate), 3);
    // Periodic invariant checks: after events 1000, 2000, ..., 24000, and at the end.
    let options = ReplayOptions {
        check_every: Some(1000),
        ..ReplayOptions::default()
    };
    let checked = replay(&trace, &options).unwrap();
    assert_eq!(checked.comparisons.invariant_checks, 24 + 1);
    assert_eq!(checked.mismatch_count, 0, "{checked}");
}

#[test]
fn k612_2g_replays_without_mismatches() {
    let trace = fixture("k612-2G");
    let report = replay_clean("k612-2G", &trace);
    check_counts("k612-2G", &trace, &report);
    assert_eq!(report.comparisons.get_values, 458_852);
    assert_eq!(report.comparisons.translations, 38_164);
    // The three failed creates (window_shift 0 → -3) and the VFIO DDW.
    assert_eq!(report.events_of(EventKind::DdwCreate), 4);
    assert_eq!(report.events_of(EventKind::DdwReset), 5);
}

#[test]
fn k612_2g_maxmem4g_replays_without_mismatches() {
    let trace = fixture("k612-2G-maxmem4G");
    let report = replay_clean("k612-2G-maxmem4G", &trace);
    check_counts("k612-2G-maxmem4G", &trace, &report);
    assert_eq!(report.comparisons.get_values, 458_852);
    assert_eq!(report.comparisons.translations, 33_500);
    assert_eq!(report.events_of(EventKind::DdwCreate), 4);
}

/// The trace with event `index` replaced by `change(event)`.
fn altered(
    trace: &CanonicalTrace,
    events: &[TraceEvent],
    index: usize,
    change: impl FnOnce(&mut TraceEvent),
) -> CanonicalTrace {
    let mut events = events.to_vec();
    change(&mut events[index]);
    CanonicalTrace::from_events(trace.machine.clone(), events)
}

/// The start of `k612-2G` up to its 64th H_GET_TCE (inside the VFIO test), short enough for
/// quick negative tests.
fn k612_prefix() -> (CanonicalTrace, Vec<TraceEvent>) {
    let trace = fixture("k612-2G");
    let mut gets = 0;
    let events: Vec<TraceEvent> = trace
        .events()
        .take_while(|event| {
            gets += u64::from(event.kind() == EventKind::GetTce);
            gets <= 64
        })
        .collect();
    let prefix = CanonicalTrace::from_events(trace.machine.clone(), events.clone());
    (prefix, events)
}

fn single_mismatch(trace: &CanonicalTrace, index: usize) -> MismatchKind {
    let report = replay(trace, &ReplayOptions::default()).unwrap();
    assert_eq!(report.mismatch_count, 1, "{report}");
    assert_eq!(report.mismatches.len(), 1);
    let mismatch = &report.mismatches[0];
    assert_eq!(mismatch.location.index, index as u64, "{mismatch}");
    assert!(report.summary_line().contains(" mismatches=1 "));
    mismatch.kind.clone()
}

#[test]
fn an_altered_get_value_is_exactly_one_mismatch() {
    let (prefix, events) = k612_prefix();
    assert_eq!(
        replay(&prefix, &ReplayOptions::default())
            .unwrap()
            .mismatch_count,
        0
    );
    // The last H_GET_TCE of the prefix that returned a mapped TCE.
    let index = events
        .iter()
        .rposition(|e| matches!(e, TraceEvent::GetTce(g) if g.tce != 0))
        .expect("a get of a mapped entry");
    let TraceEvent::GetTce(get) = events[index] else {
        unreachable!()
    };
    let trace = altered(&prefix, &events, index, |event| {
        if let TraceEvent::GetTce(g) = event {
            g.tce ^= 0x1000;
        }
    });
    assert_eq!(
        single_mismatch(&trace, index),
        MismatchKind::GetValue {
            expected: get.tce ^ 0x1000,
            got: Some(get.tce)
        }
    );
}

#[test]
fn an_altered_return_code_is_exactly_one_mismatch() {
    let (prefix, events) = k612_prefix();
    let index = events
        .iter()
        .rposition(|e| matches!(e, TraceEvent::PutTce(_)))
        .expect("a put");
    let trace = altered(&prefix, &events, index, |event| {
        if let TraceEvent::PutTce(put) = event {
            put.ret = -4;
        }
    });
    assert_eq!(
        single_mismatch(&trace, index),
        MismatchKind::ReturnCode {
            expected: -4,
            got: 0
        }
    );
}

#[test]
fn an_altered_translation_is_exactly_one_mismatch() {
    let trace = fixture("k61-2G");
    let events: Vec<TraceEvent> = trace.events().collect();
    // A DMA through a DDW (16 MiB pages), the middle one.
    let ddw_xlates: Vec<usize> = (0..events.len())
        .filter(|&i| matches!(&events[i], TraceEvent::Xlate(x) if x.bus_addr >= 1 << 59))
        .collect();
    let index = ddw_xlates[ddw_xlates.len() / 2];
    let TraceEvent::Xlate(xlate) = events[index] else {
        unreachable!()
    };
    assert_ne!(xlate.perm, 0);
    let moved = altered(&trace, &events, index, |event| {
        if let TraceEvent::Xlate(x) = event {
            x.translated += 1 << 24;
        }
    });
    assert_eq!(
        single_mismatch(&moved, index),
        MismatchKind::Translation {
            expected_addr: xlate.translated + (1 << 24),
            expected_perm: xlate.perm,
            got: Some((xlate.translated, xlate.perm)),
        }
    );
    let unmapped = altered(&trace, &events, index, |event| {
        if let TraceEvent::Xlate(x) = event {
            x.perm = 0;
        }
    });
    assert!(matches!(
        single_mismatch(&unmapped, index),
        MismatchKind::Translation {
            expected_perm: 0,
            ..
        }
    ));
}

#[test]
fn an_altered_ddw_result_is_exactly_one_mismatch() {
    let trace = fixture("k61-2G");
    let events: Vec<TraceEvent> = trace.events().collect();
    let index = events
        .iter()
        .position(|e| e.kind() == EventKind::DdwCreate)
        .expect("a create");
    let TraceEvent::DdwCreate(create) = events[index] else {
        unreachable!()
    };
    // The guest would then use the LIOBN it was told; the hypervisor's answer differs.
    let wrong = altered(&trace, &events, index, |event| {
        if let TraceEvent::DdwCreate(c) = event {
            c.start = 0;
        }
    });
    assert_eq!(
        single_mismatch(&wrong, index),
        MismatchKind::DdwField {
            field: "start",
            expected: 0,
            got: create.start
        }
    );
}

/// "A log the project has never seen replays without code changes": the raw QEMU log of
/// `k61-2G`, converted on the fly.
#[test]
fn a_raw_qemu_log_replays_without_mismatches() {
    let log =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces/k61-2G/qemu-trace.log.xz");
    if !log.exists() {
        eprintln!("skipped: {} is absent", log.display());
        return;
    }
    let trace = load(&log).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(trace.event_count(), fixture("k61-2G").event_count());
    let report = replay_clean("k61-2G raw log", &trace);
    check_counts("k61-2G raw log", &trace, &report);
}

#[test]
fn the_command_ends_with_the_summary_line_and_fails_on_mismatches() {
    let run = |path: &Path, extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_tce-replay"))
            .arg(path)
            .args(extra)
            .output()
            .expect("tce-replay runs");
        let stdout = String::from_utf8(output.stdout).expect("UTF-8");
        let last = stdout.lines().last().unwrap_or_default().to_string();
        (output.status.code(), stdout, last)
    };
    // Under qemu-user (.ci/ppc64le) a test cannot start a foreign-architecture child: the
    // emulated exec fails and the child reports 127 without output, which tce-replay itself
    // never does.
    let (code, help, _) = run(Path::new("--help"), &[]);
    if code == Some(127) && help.is_empty() {
        eprintln!("skipped: this test process cannot start the tce-replay binary (qemu-user?)");
        return;
    }
    assert!(help.starts_with("usage: tce-replay "), "{help}");
    let (code, stdout, last) = run(&fixture_path("k61-2G"), &["--check-every", "5000"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        last.starts_with("replay: events=24074 mismatches=0 backend_calls="),
        "{last}"
    );
    assert_eq!(stdout.matches("replay: ").count(), 1, "{stdout}");

    let trace = fixture("k61-2G");
    let events: Vec<TraceEvent> = trace.events().collect();
    let xlates: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].kind() == EventKind::Xlate)
        .take(3)
        .collect();
    let mut broken = events.clone();
    for &i in &xlates {
        if let TraceEvent::Xlate(x) = &mut broken[i] {
            x.translated ^= 0x1000;
            x.perm = 3;
        }
    }
    let broken = CanonicalTrace::from_events(trace.machine.clone(), broken);
    let path = std::env::temp_dir().join(format!("tce-replay-test-{}.tce", std::process::id()));
    std::fs::write(&path, broken.to_text()).unwrap();
    let (code, stdout, last) = run(&path, &["--max-mismatches", "1"]);
    std::fs::remove_file(&path).ok();
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        last.starts_with("replay: events=24074 mismatches=3 "),
        "{last}"
    );
    assert_eq!(
        stdout.matches("\n  event #").count(),
        1,
        "only the first in full: {stdout}"
    );

    let (code, _, _) = run(Path::new("/nonexistent/trace.tce"), &[]);
    assert_eq!(code, Some(2));
}
