// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The validation matrix of each TCE hypercall: every refused request returns its exact
//! code and changes nothing (guest views, hardware, host calls); accepted edge cases do
//! exactly what the rules say (kernel-host.md §1.5–§1.8, §7 items 7–19; LoPAR).

#![cfg(feature = "model")]

mod common;

use common::*;
use papr_hcall::{HcallRequest, HcallStatus, Ioba, Liobn, Tce};

const P: HcallStatus = HcallStatus::PARAMETER;
const OK: HcallStatus = HcallStatus::SUCCESS;
const WINDOW_END: u64 = 1 << 30;

/// A fixture with a few mappings already in place, so "unchanged" means something.
fn populated() -> Fixture {
    let fx = Fixture::new();
    assert_eq!(
        fx.indirect(VFIO_LIOBN, 0x4000, &linear(DATA_GPA, 0x1000, 8, 3)),
        OK
    );
    assert_eq!(fx.put(EMU_LIOBN, 0x2000, DATA_GPA | 1), OK);
    assert_eq!(fx.put(VIO_LIOBN, 0x3000, DATA_GPA | 2), OK);
    fx
}

/// Runs each `(name, expected status, request)` and checks that nothing changed.
fn refused(fx: &Fixture, rows: &[(&str, HcallStatus, HcallRequest)]) {
    for (name, expected, request) in rows {
        let before = fx.state();
        let outcome = fx.call(*request);
        assert_eq!((outcome.status, outcome.r4), (*expected, None), "{name}");
        assert_eq!(fx.state(), before, "{name} changed state");
    }
}

fn put(liobn: Liobn, ioba: u64, tce: u64) -> HcallRequest {
    HcallRequest::PutTce {
        liobn,
        ioba: Ioba(ioba),
        tce: Tce(tce),
    }
}

fn stuff(liobn: Liobn, ioba: u64, value: u64, count: u64) -> HcallRequest {
    HcallRequest::StuffTce {
        liobn,
        ioba: Ioba(ioba),
        value: Tce(value),
        count,
    }
}

fn indirect(liobn: Liobn, ioba: u64, list: u64, count: u64) -> HcallRequest {
    HcallRequest::PutTceIndirect {
        liobn,
        ioba: Ioba(ioba),
        list,
        count,
    }
}

#[test]
fn accelerator_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Accelerator>();
    assert_send_sync::<spapr_tce::TceAccelerator<Memory, spapr_tce::NoContainer>>();
}

#[test]
fn other_opcodes_are_not_ours() {
    let fx = Fixture::new();
    for nr in [0u64, 0x4, 0x1D, 0x21, 0xF000, u64::MAX] {
        assert!(fx.acc.handle_hcall(nr, &[0; 9]).is_none(), "{nr:#x}");
    }
}

#[test]
fn put_tce_matrix() {
    let fx = populated();
    let valid = DATA_GPA | 3;
    let rows = [
        ("unknown LIOBN", P, put(Liobn(0x1234), 0, valid)),
        (
            "LIOBN above 32 bits",
            P,
            put(Liobn(1 << 32 | 0x8000_0000), 0, valid),
        ),
        ("inactive DDW LIOBN", P, put(VFIO_DDW_LIOBN, 1 << 59, valid)),
        ("ioba misaligned", P, put(VFIO_LIOBN, 0x1001, valid)),
        ("ioba at window end", P, put(VFIO_LIOBN, WINDOW_END, valid)),
        ("ioba far outside", P, put(VFIO_LIOBN, !0xFFF, valid)),
        (
            "TCE address misaligned",
            P,
            put(VFIO_LIOBN, 0, (DATA_GPA + 0x800) | 3),
        ),
        ("TCE beyond RAM", P, put(VFIO_LIOBN, 0, RAM_END | 1)),
        ("TCE far beyond RAM", P, put(VFIO_LIOBN, 0, !0xFFF | 2)),
        (
            "emulated: TCE beyond RAM",
            P,
            put(EMU_LIOBN, 0, RAM_END | 3),
        ),
        ("emulated: misaligned", P, put(EMU_LIOBN, 0, 0x1_0203)),
        ("VIO: ioba outside", P, put(VIO_LIOBN, 256 << 20, valid)),
    ];
    refused(&fx, &rows);
    assert_eq!(fx.counters().put_tce.parameter, rows.len() as u64);
}

#[test]
fn put_tce_accepts_and_stores_verbatim() {
    let fx = Fixture::new();
    // The last page of RAM and the last entry of the window are fine.
    assert_eq!(
        fx.put(VFIO_LIOBN, WINDOW_END - 0x1000, (RAM_END - 0x1000) | 3),
        OK
    );
    // Item 13: no R/W, any other bits: stored verbatim, no host work.
    let poison = 0xdead_beef_0000_0ffc;
    let calls = fx.counters().backend;
    assert_eq!(fx.put(VFIO_LIOBN, 0x5000, poison), OK);
    assert_eq!(fx.counters().backend, calls);
    assert_eq!(fx.get(VFIO_LIOBN, 0x5000).r4, Some(poison));
    // A page in region B (a different host mapping).
    assert_eq!(fx.put(VFIO_LIOBN, 0x6000, REGION_B.0 | 1), OK);
    assert_eq!(
        fx.entries(VFIO_LIOBN),
        vec![
            (5, Tce(poison)),
            (6, Tce(REGION_B.0 | 1)),
            ((WINDOW_END >> 12) - 1, Tce((RAM_END - 0x1000) | 3)),
        ]
    );
    // Replacing a valid entry by a poison value unmaps it.
    assert_eq!(fx.put(VFIO_LIOBN, 0x6000, 0x77_0000), OK);
    assert_eq!(fx.model.hw_entry(0x6000), None);
}

#[test]
fn get_tce_matrix() {
    let fx = populated();
    for (name, liobn, ioba) in [
        ("unknown LIOBN", Liobn(7), 0),
        ("inactive DDW", VFIO_DDW_LIOBN, 1 << 59),
        ("misaligned", VFIO_LIOBN, 0x4008),
        ("outside", VFIO_LIOBN, WINDOW_END),
    ] {
        let before = fx.state();
        let out = fx.get(liobn, ioba);
        assert_eq!((out.status, out.r4), (P, None), "{name}");
        assert_eq!(fx.state(), before, "{name}");
    }
    assert_eq!(fx.get(VFIO_LIOBN, 0).r4, Some(0), "never written");
    assert_eq!(fx.get(VFIO_LIOBN, 0x5000).r4, Some((DATA_GPA + 0x1000) | 3));
    assert_eq!(fx.get(EMU_LIOBN, 0x2000).r4, Some(DATA_GPA | 1));
    assert_eq!(fx.get(VIO_LIOBN, 0x3000).r4, Some(DATA_GPA | 2));
    // GET never consults hardware: clearing hardware behind its back changes nothing.
    use vfio_spapr::SpaprTceIommu;
    let host = fx.acc.ram().translate(DATA_GPA, 0x1000).unwrap().host_addr;
    fx.model.unmap_dma(0x4000, 0x1000).unwrap();
    assert_eq!(fx.get(VFIO_LIOBN, 0x4000).r4, Some(DATA_GPA | 3));
    let access = vfio_spapr::DmaAccess::ReadWrite;
    fx.model.map_dma(0x4000, 0x1000, host, access).unwrap();
    assert_eq!(fx.counters().get_tce.parameter, 4);
}

#[test]
fn stuff_tce_matrix() {
    let fx = populated();
    let last = WINDOW_END - 0x1000;
    let rows = [
        ("unknown LIOBN", P, stuff(Liobn(9), 0, 0, 1)),
        ("inactive DDW", P, stuff(VFIO_DDW_LIOBN, 1 << 59, 0, 1)),
        // Alignment and first entry are checked before the count (LoPAR order).
        ("misaligned, count 600", P, stuff(VFIO_LIOBN, 0x10, 0, 600)),
        (
            "outside, count 600",
            P,
            stuff(VFIO_LIOBN, WINDOW_END, 0, 600),
        ),
        ("count 513", HcallStatus::P4, stuff(VFIO_LIOBN, 0, 0, 513)),
        (
            "count u64::MAX",
            HcallStatus::P4,
            stuff(VFIO_LIOBN, 0, 0, u64::MAX),
        ),
        ("last entry outside", P, stuff(VFIO_LIOBN, last, 0, 2)),
        ("R set", P, stuff(VFIO_LIOBN, 0x4000, 1, 4)),
        ("W set", P, stuff(VFIO_LIOBN, 0x4000, DATA_GPA | 2, 4)),
        // R/W is checked before count 0 succeeds (kernel order, §1.7 steps 3 and 5).
        ("R set, count 0", P, stuff(VFIO_LIOBN, 0x4000, 3, 0)),
        ("emulated: R set", P, stuff(EMU_LIOBN, 0x2000, 3, 1)),
    ];
    refused(&fx, &rows);
    let stuff = fx.counters().stuff_tce;
    assert_eq!((stuff.parameter, stuff.p4), (9, 2));
}

#[test]
fn stuff_tce_accepted_cases() {
    let fx = populated();
    let before = fx.state();
    assert_eq!(fx.stuff(VFIO_LIOBN, 0x4000, 0, 0), OK, "count 0");
    assert_eq!(fx.state(), before);
    assert_eq!(
        fx.stuff(VFIO_LIOBN, WINDOW_END - 0x1000, 0, 1),
        OK,
        "last entry"
    );
    // Item 14: any non-R/W bits are stored verbatim, and the entries are unmapped.
    let poison = 0xabc0_0000_0000_1004;
    assert_eq!(fx.stuff(VFIO_LIOBN, 0x5000, poison, 3), OK);
    let entries = fx.entries(VFIO_LIOBN);
    assert_eq!(entries.len(), 8);
    assert_eq!(
        entries[1..4],
        [(5, Tce(poison)), (6, Tce(poison)), (7, Tce(poison))]
    );
    for ioba in [0x5000, 0x6000, 0x7000] {
        assert_eq!(fx.model.hw_entry(ioba), None);
    }
    assert!(fx.model.hw_entry(0x4000).is_some());
    assert!(fx.model.hw_entry(0x8000).is_some());
    // 512 entries is the LoPAR maximum.
    assert_eq!(fx.stuff(VFIO_LIOBN, 0, 0, 512), OK);
    assert!(fx.hw().is_empty());
    assert_eq!(fx.stuff(EMU_LIOBN, 0, 0, 512), OK);
    assert!(fx.entries(EMU_LIOBN).is_empty());
}

#[test]
fn put_tce_indirect_matrix() {
    let fx = populated();
    // A list whose first entry is fine, so that only the checked argument is wrong.
    fx.write_list(LIST_GPA, &linear(DATA_GPA + 0x10_0000, 0x1000, 512, 3));
    let rows = [
        ("unknown LIOBN", P, indirect(Liobn(9), 0, LIST_GPA, 1)),
        (
            "inactive DDW",
            P,
            indirect(VFIO_DDW_LIOBN, 1 << 59, LIST_GPA, 1),
        ),
        ("count 513", P, indirect(VFIO_LIOBN, 0, LIST_GPA, 513)),
        (
            "count u64::MAX",
            P,
            indirect(VFIO_LIOBN, 0, LIST_GPA, u64::MAX),
        ),
        (
            "list misaligned",
            P,
            indirect(VFIO_LIOBN, 0, LIST_GPA + 8, 1),
        ),
        (
            "ioba misaligned",
            P,
            indirect(VFIO_LIOBN, 0x800, LIST_GPA, 1),
        ),
        (
            "ioba outside",
            P,
            indirect(VFIO_LIOBN, WINDOW_END, LIST_GPA, 1),
        ),
        (
            "last entry outside",
            P,
            indirect(VFIO_LIOBN, WINDOW_END - 0x1000, LIST_GPA, 2),
        ),
        ("list not RAM", P, indirect(VFIO_LIOBN, 0, RAM_END, 1)),
        (
            "list not RAM, count 0",
            P,
            indirect(VFIO_LIOBN, 0, 1 << 40, 0),
        ),
        (
            "emulated: list not RAM",
            P,
            indirect(EMU_LIOBN, 0, RAM_END, 1),
        ),
    ];
    refused(&fx, &rows);
    assert_eq!(fx.counters().put_tce_indirect.parameter, rows.len() as u64);
}

#[test]
fn put_tce_indirect_validates_every_entry_before_changing_anything() {
    let fx = populated();
    let good = linear(DATA_GPA + 0x10_0000, 0x1000, 300, 3);
    let bad_entries = [
        ("misaligned", (DATA_GPA + 0x10) | 1),
        ("beyond RAM", RAM_END | 2),
        ("far beyond RAM", !0xFFF | 3),
    ];
    for (name, bad) in bad_entries {
        for position in [0usize, 150, 299] {
            let mut list = good.clone();
            list[position] = bad;
            let before = fx.state();
            assert_eq!(
                fx.indirect(VFIO_LIOBN, 0x10_0000, &list),
                P,
                "{name} at {position}"
            );
            assert_eq!(fx.state(), before, "{name} at {position}");
            assert_eq!(
                fx.indirect(EMU_LIOBN, 0x10_0000, &list),
                P,
                "emulated {name}"
            );
            assert_eq!(fx.state(), before, "emulated {name} at {position}");
        }
    }
}

#[test]
fn put_tce_indirect_accepted_cases() {
    let fx = populated();
    let before = fx.state();
    assert_eq!(fx.indirect_raw(VFIO_LIOBN, 0, LIST_GPA, 0), OK, "count 0");
    assert_eq!(fx.state(), before);
    // Entries without R/W are stored verbatim and unmap (items 13, 19), whatever they hold.
    let mut list = linear(DATA_GPA, 0x1000, 8, 3);
    list[2] = 0xffff_ffff_ffff_f000;
    list[3] = 0;
    assert_eq!(fx.indirect(VFIO_LIOBN, 0x4000, &list), OK);
    assert_eq!(fx.get(VFIO_LIOBN, 0x6000).r4, Some(0xffff_ffff_ffff_f000));
    assert_eq!(fx.model.hw_entry(0x6000), None);
    assert_eq!(fx.model.hw_entry(0x7000), None);
    // Exactly up to the window end.
    let tail = linear(DATA_GPA, 0x1000, 512, 1);
    assert_eq!(
        fx.indirect(VFIO_LIOBN, WINDOW_END - 512 * 0x1000, &tail),
        OK
    );
    // The list may sit in the last page of RAM.
    fx.write_list(RAM_END - 0x1000, &[DATA_GPA | 3]);
    assert_eq!(fx.indirect_raw(VFIO_LIOBN, 0, RAM_END - 0x1000, 1), OK);
    assert_eq!(fx.get(VFIO_LIOBN, 0).r4, Some(DATA_GPA | 3));
}

#[test]
fn put_tce_indirect_reads_the_list_big_endian_once() {
    let fx = Fixture::new();
    // Host-endian 0x...03 written big-endian: the guest's byte order.
    fx.write_list(LIST_GPA, &[DATA_GPA | 3, (DATA_GPA + 0x1000) | 1]);
    assert_eq!(fx.indirect_raw(VFIO_LIOBN, 0, LIST_GPA, 2), OK);
    assert_eq!(fx.get(VFIO_LIOBN, 0x1000).r4, Some((DATA_GPA + 0x1000) | 1));
    // Changing the list afterwards changes nothing.
    fx.write_list(LIST_GPA, &[0, 0]);
    assert_eq!(fx.get(VFIO_LIOBN, 0).r4, Some(DATA_GPA | 3));
}

#[test]
fn translate_for_emulated_devices() {
    let fx = populated();
    let t = fx.translate(EMU_LIOBN, 0x2abc).expect("mapped");
    assert_eq!(t.guest_addr, DATA_GPA + 0xabc);
    assert_eq!(t.permission, papr_hcall::TcePermission::ReadOnly);
    assert_eq!(t.page_shift, papr_hcall::PageShift::SZ_4K);
    assert_eq!(fx.translate(EMU_LIOBN, 0x3000), None, "never written");
    assert_eq!(
        fx.translate(VIO_LIOBN, 0x3fff).map(|t| t.guest_addr),
        Some(DATA_GPA + 0xfff)
    );
    assert_eq!(fx.translate(VFIO_DDW_LIOBN, 1 << 59), None, "inactive");
    assert_eq!(fx.translate(Liobn(1), 0), None);
    // A poison value without permission does not translate.
    assert_eq!(fx.put(EMU_LIOBN, 0x2000, DATA_GPA), OK);
    assert_eq!(fx.translate(EMU_LIOBN, 0x2000), None);
}

#[test]
fn counters_record_each_result() {
    let fx = Fixture::new();
    fx.put(VFIO_LIOBN, 0, DATA_GPA | 3);
    fx.put(VFIO_LIOBN, 1, DATA_GPA | 3);
    fx.get(VFIO_LIOBN, 0);
    fx.stuff(VFIO_LIOBN, 0, 0, 600);
    fx.indirect_raw(VFIO_LIOBN, 0, LIST_GPA, 0);
    let c = fx.counters();
    assert_eq!((c.put_tce.success, c.put_tce.parameter), (1, 1));
    assert_eq!(c.get_tce.success, 1);
    assert_eq!(c.stuff_tce.p4, 1);
    assert_eq!(c.put_tce_indirect.success, 1);
    assert_eq!((c.tces_mapped, c.tces_unmapped), (1, 0));
}
