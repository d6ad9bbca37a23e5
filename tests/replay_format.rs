// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The committed canonical fixtures: round trip, event counts against the tables of
//! `shared/traces/README.md` §4, self-consistency, and the converter on a trace excerpt.

#![cfg(feature = "replay")]

use std::path::{Path, PathBuf};

use spapr_tce::replay::{
    load, machine_from_qemu_cmdline, parse_ddw_messages, CanonicalTrace, DdwCreate, DdwMessageCall,
    EventKind, TceList, TraceEvent,
};

const NAMES: [&str; 3] = ["k61-2G", "k612-2G", "k612-2G-maxmem4G"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> CanonicalTrace {
    let path = fixtures().join(format!("{name}.tce.xz"));
    load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn fixtures_round_trip_through_the_text_format() {
    for name in NAMES {
        let trace = fixture(name);
        let text = trace.to_text();
        let parsed = CanonicalTrace::parse_str(&text).unwrap();
        assert_eq!(parsed, trace, "{name}");
        assert_eq!(parsed.to_text(), text, "{name}: writing is not stable");
        assert_eq!(parsed.event_count(), trace.events().count() as u64);
        // Refolding the unfolded events gives the same records: folding is deterministic.
        let refolded = CanonicalTrace::from_events(trace.machine.clone(), trace.events());
        assert_eq!(refolded, trace, "{name}");
    }
}

/// (LIOBN, put, get, indirect, stuff, xlate) rows of the README §4 tables.
type Row = (u64, u64, u64, u64, u64, u64);

fn check_rows(name: &str, trace: &CanonicalTrace, rows: &[Row]) {
    let counts = trace.counts();
    for &(liobn, put, get, indirect, stuff, xlate) in rows {
        let got = [
            EventKind::PutTce,
            EventKind::GetTce,
            EventKind::PutTceIndirect,
            EventKind::StuffTce,
            EventKind::Xlate,
        ]
        .map(|kind| counts.liobn(liobn, kind));
        assert_eq!(
            got,
            [put, get, indirect, stuff, xlate],
            "{name} LIOBN {liobn:#x}"
        );
    }
    // The rows cover every hypercall and translation of the trace.
    let total: u64 = rows.iter().map(|r| r.1 + r.2 + r.3 + r.4 + r.5).sum();
    let kinds = [
        EventKind::PutTce,
        EventKind::GetTce,
        EventKind::PutTceIndirect,
    ];
    let traced: u64 = kinds
        .into_iter()
        .chain([EventKind::StuffTce, EventKind::Xlate])
        .map(|k| counts.kind(k))
        .sum();
    assert_eq!(total, traced, "{name}");
}

fn rtas(trace: &CanonicalTrace) -> [u64; 4] {
    let counts = trace.counts();
    [
        EventKind::DdwQuery,
        EventKind::DdwCreate,
        EventKind::DdwRemove,
        EventKind::DdwReset,
    ]
    .map(|k| counts.kind(k))
}

fn creates(trace: &CanonicalTrace) -> Vec<DdwCreate> {
    trace
        .events()
        .filter_map(|e| match e {
            TraceEvent::DdwCreate(c) => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn k61_counts_match_the_readme() {
    let trace = fixture("k61-2G");
    check_rows(
        "k61-2G",
        &trace,
        &[
            (0x7100_0002, 524, 0, 504, 1156, 10880),
            (0x8000_0000, 271, 0, 2, 785, 60),
            (0x8000_0100, 0, 0, 0, 512, 0),
            (0x8000_0200, 0, 0, 0, 512, 0),
            (0x8000_0300, 0, 0, 0, 512, 0),
            (0x8000_0101, 0, 0, 1, 0, 366),
            (0x8000_0201, 0, 0, 1, 0, 5154),
            (0x8000_0301, 0, 0, 1, 0, 2699),
            (0x8000_0400, 0, 0, 0, 128, 0),
        ],
    );
    assert_eq!(rtas(&trace), [3, 3, 0, 0]);
    for create in creates(&trace) {
        assert_eq!(
            (create.page_shift, create.window_shift, create.status),
            (24, 31, 0)
        );
    }
}

const PHB4_ROWS: [Row; 2] = [
    (0x8000_0400, 196_676, 196_676, 0, 768, 6),
    (0x8000_0401, 262_176, 262_176, 0, 512, 2),
];

#[test]
fn k612_counts_and_failed_creates_match_the_readme() {
    let trace = fixture("k612-2G");
    let mut rows = vec![
        (0x7100_0002, 514, 0, 514, 1156, 10_897),
        (0x8000_0000, 273, 0, 0, 785, 60),
        (0x8000_0100, 260, 0, 63, 582, 368),
        (0x8000_0200, 5569, 0, 267, 6347, 14_524),
        (0x8000_0300, 5137, 0, 2, 845, 12_307),
    ];
    rows.extend(PHB4_ROWS);
    check_rows("k612-2G", &trace, &rows);
    assert_eq!(trace.counts().kind(EventKind::GetTce), 458_852);
    assert_eq!(trace.counts().kind(EventKind::Xlate), 38_164);
    assert_eq!(rtas(&trace), [9, 4, 1, 5]);

    // The three device creates fail with -3 (window_shift 0) right after their query.
    let events: Vec<TraceEvent> = trace.events().collect();
    let mut failed_buids = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let TraceEvent::DdwCreate(create) = event else {
            continue;
        };
        if create.status == 0 {
            assert_eq!(
                (create.liobn, create.page_shift, create.window_shift),
                (0x8000_0401, 12, 30)
            );
            continue;
        }
        assert_eq!(
            (create.status, create.page_shift, create.window_shift),
            (-3, 24, 0)
        );
        assert_eq!((create.liobn, create.start), (0, 0));
        let TraceEvent::DdwQuery(query) = &events[i - 1] else {
            panic!("failed create at event {i} does not follow a query");
        };
        assert_eq!(query.buid, create.buid);
        failed_buids.push(create.buid);
    }
    assert_eq!(
        failed_buids,
        [0x800000020000001, 0x800000020000002, 0x800000020000003]
    );
}

#[test]
fn k612_maxmem_counts_and_direct_mapping_match_the_readme() {
    let trace = fixture("k612-2G-maxmem4G");
    let mut rows = vec![
        (0x7100_0002, 514, 0, 514, 1156, 10_897),
        (0x8000_0000, 273, 0, 0, 785, 60),
        (0x8000_0100, 0, 0, 0, 512, 0),
        (0x8000_0200, 0, 0, 0, 512, 0),
        (0x8000_0300, 0, 0, 0, 512, 0),
        (0x8000_0101, 0, 0, 1, 0, 322),
        (0x8000_0201, 0, 0, 1, 0, 14_386),
        (0x8000_0301, 0, 0, 1, 0, 7827),
    ];
    rows.extend(PHB4_ROWS);
    check_rows("k612-2G-maxmem4G", &trace, &rows);
    assert_eq!(rtas(&trace), [9, 4, 1, 5]);
    let shifts: Vec<(u32, u32, i64)> = creates(&trace)
        .iter()
        .map(|c| (c.page_shift, c.window_shift, c.status))
        .collect();
    assert_eq!(shifts, [(24, 32, 0), (24, 32, 0), (24, 32, 0), (12, 30, 0)]);
    // Direct mapping: one 128-entry linear list of 16M pages, RAM 0..2 GiB read/write.
    for event in trace.events() {
        if let TraceEvent::PutTceIndirect(e) = event {
            if e.liobn & 0xff == 1 {
                assert_eq!((e.ioba, e.npages), (0x800000000000000, 128));
                assert_eq!(
                    e.list,
                    TceList::Linear {
                        first: 3,
                        step: 0x100_0000
                    }
                );
                assert_eq!(e.list.entry(127), Some(0x7f00_0003));
            }
        }
    }
}

#[test]
fn fixtures_are_self_consistent() {
    let expected = [(0, 19_159), (458_852, 38_164), (458_852, 33_500)];
    for (name, (gets, xlates)) in NAMES.into_iter().zip(expected) {
        let report = fixture(name).check_self_consistency();
        assert_eq!(report.mismatches(), 0, "{name}: {:?}", report.problems);
        assert_eq!(
            (report.gets_checked, report.xlates_checked),
            (gets, xlates),
            "{name}"
        );
    }
}

#[test]
fn boot_clears_start_at_the_window_start() {
    // QEMU printed the END of each stuff; the first clear of a window started at 0.
    let trace = fixture("k612-2G");
    let first = trace.events().find_map(|e| match e {
        TraceEvent::StuffTce(s) if s.liobn == 0x8000_0000 => Some(s),
        _ => None,
    });
    let first = first.unwrap();
    assert_eq!((first.ioba, first.npages, first.value), (0, 512, 0));
}

#[test]
fn converting_an_excerpt_gives_the_fixture_prefix() {
    // The first 3000 lines of k612-2G's log (through the nvme query) and the guest messages
    // up to then; `load` finds qemu-cmdline.txt and kernel-ddw-messages.txt beside the log.
    let excerpt = load(fixtures().join("qemu/k612-2G-head/qemu-trace.log.xz")).unwrap();
    assert!(excerpt.machine.source.contains("3 failed RTAS calls"));
    let full = fixture("k612-2G");
    let converted: Vec<TraceEvent> = excerpt.events().collect();
    let prefix: Vec<TraceEvent> = full.events().take(converted.len()).collect();
    assert_eq!(
        converted.len(),
        3000 - 6 + 3,
        "6 new_table lines, 3 failed creates"
    );
    assert_eq!(converted, prefix);
    assert_eq!(excerpt.machine.phbs, full.machine.phbs);
    assert_eq!(excerpt.machine.vio, full.machine.vio);
}

#[test]
fn command_lines_and_messages_of_the_recordings() {
    for name in NAMES {
        let dir = fixtures().join("qemu").join(name);
        let cmdline = std::fs::read_to_string(dir.join("qemu-cmdline.txt")).unwrap();
        let machine = machine_from_qemu_cmdline(&cmdline).unwrap();
        assert_eq!(machine.ram_size, 0x8000_0000);
        let maxmem = name.ends_with("maxmem4G").then_some(0x1_0000_0000);
        assert_eq!(machine.maxmem, maxmem, "{name}");
        let sizes: Vec<u64> = machine.phbs.iter().map(|p| p.dma_win_size).collect();
        assert_eq!(sizes, [1 << 30, 1 << 30, 1 << 30, 1 << 30, 0x1000_0000]);
        assert!(machine.phbs.iter().all(|p| p.pgsz == 0x121_1000 && p.ddw));
        assert_eq!(machine.vio.len(), 1);
        assert_eq!(
            (machine.vio[0].liobn, machine.vio[0].size),
            (0x7100_0002, 0x1000_0000)
        );
        // The header of the committed fixture holds the same layout.
        assert_eq!(fixture(name).machine.phbs, machine.phbs);

        let text = std::fs::read_to_string(dir.join("kernel-ddw-messages.txt")).unwrap();
        let messages = parse_ddw_messages(&text).unwrap();
        let failed = messages
            .calls
            .iter()
            .filter(|m| matches!(m.call, DdwMessageCall::Create(c) if c.status == -3))
            .count();
        assert_eq!(failed, if name == "k612-2G" { 3 } else { 0 }, "{name}");
    }
}

/// Regenerates the fixtures' events from the recordings in `shared/traces` (set
/// `SPAPR_TCE_TRACES` to that directory) and compares. Slow in debug builds.
#[test]
#[ignore = "needs shared/traces; run with --ignored"]
fn fixtures_match_a_fresh_conversion() {
    let traces = std::env::var_os("SPAPR_TCE_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces"));
    for name in NAMES {
        let fresh = load(traces.join(name).join("qemu-trace.log.xz")).unwrap();
        let committed = fixture(name);
        assert_eq!(fresh.records, committed.records, "{name}");
        assert_eq!(fresh.machine.phbs, committed.machine.phbs, "{name}");
    }
}
