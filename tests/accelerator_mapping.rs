// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! What reaches the host IOMMU: coalescing, no-op skipping, guest pages larger than the host
//! IOMMU page, RAM region boundaries, and recovery from host failures (the guest view and
//! the hardware agree entry by entry afterwards). Every fixture runs the invariant checker
//! when dropped.

#![cfg(feature = "model")]

mod common;

use common::*;
use papr_hcall::{HcallStatus, PageShift, Tce};
use spapr_tce::BackendCallCounts;
use vfio_spapr::IommuOp;

const OK: HcallStatus = HcallStatus::SUCCESS;

/// Host calls issued by `f`.
fn calls(fx: &Fixture, f: impl FnOnce()) -> BackendCallCounts {
    let before = fx.counters().backend;
    f();
    let after = fx.counters().backend;
    BackendCallCounts {
        map_dma: after.map_dma - before.map_dma,
        map_dma_failed: after.map_dma_failed - before.map_dma_failed,
        unmap_dma: after.unmap_dma - before.unmap_dma,
        unmap_dma_failed: after.unmap_dma_failed - before.unmap_dma_failed,
        create_window: after.create_window - before.create_window,
        remove_window: after.remove_window - before.remove_window,
        register_memory: after.register_memory - before.register_memory,
    }
}

fn maps_unmaps(c: BackendCallCounts) -> (u64, u64) {
    (c.map_dma, c.unmap_dma)
}

#[test]
fn setup_registers_ram_and_replaces_the_default_window() {
    let fx = Fixture::new();
    let regs = fx.model.registrations();
    assert_eq!(regs.len(), 2);
    assert!(regs.iter().all(|r| r.in_this_container));
    assert!(!fx.model.default_window_pending());
    let windows = fx.model.windows();
    assert_eq!(windows.len(), 1);
    assert_eq!((windows[0].start, windows[0].page_shift), (0, 12));
    // 2^18 entries = 2 MiB of TCEs: one level on 64 KiB hosts (<= 16 MiB per level), two on
    // 4 KiB hosts (<= 1 MiB per level).
    let levels = if host_page_size() >= 1 << 16 { 1 } else { 2 };
    assert_eq!((windows[0].size, windows[0].levels), (1 << 30, levels));
    assert!(!windows[0].is_default);
    let info = fx.acc.window(VFIO_LIOBN).unwrap();
    assert_eq!(info.host.map(|h| h.start), Some(0));
    assert_eq!(fx.acc.window(EMU_LIOBN).unwrap().host, None);
    let c = fx.counters().backend;
    assert_eq!(
        (c.register_memory, c.remove_window, c.create_window),
        (2, 1, 1)
    );
    assert_eq!(maps_unmaps(c), (0, 0));
}

#[test]
fn indirect_of_512_linear_tces_is_one_map() {
    let fx = Fixture::new();
    let c = calls(&fx, || {
        assert_eq!(
            fx.indirect(VFIO_LIOBN, 0, &linear(DATA_GPA, 0x1000, 512, 3)),
            OK
        );
    });
    assert_eq!(maps_unmaps(c), (1, 0));
    assert_eq!(fx.model.mapped_pages(), 512);
    assert_eq!(fx.counters().tces_mapped, 512);
    // Rewriting the same values is free.
    let c = calls(&fx, || {
        assert_eq!(
            fx.indirect(VFIO_LIOBN, 0, &linear(DATA_GPA, 0x1000, 512, 3)),
            OK
        );
    });
    assert_eq!(maps_unmaps(c), (0, 0));
    assert_eq!(fx.counters().noop_entries_skipped, 512);
}

#[test]
fn stuff_clear_of_an_empty_window_issues_nothing() {
    let fx = Fixture::new();
    let c = calls(&fx, || {
        for chunk in 0..16 {
            assert_eq!(fx.stuff(VFIO_LIOBN, chunk * 512 * 0x1000, 0, 512), OK);
        }
    });
    assert_eq!(maps_unmaps(c), (0, 0));
    assert_eq!(fx.counters().noop_entries_skipped, 16 * 512);
}

#[test]
fn permission_change_in_the_middle_is_two_maps() {
    let fx = Fixture::new();
    let mut list = linear(DATA_GPA, 0x1000, 512, 3);
    for tce in &mut list[256..] {
        *tce = (*tce & !3) | 1;
    }
    let c = calls(&fx, || assert_eq!(fx.indirect(VFIO_LIOBN, 0, &list), OK));
    assert_eq!(maps_unmaps(c), (2, 0));
}

#[test]
fn host_discontinuity_breaks_runs() {
    let fx = Fixture::new();
    // Guest-contiguous pages across the boundary of two RAM regions (two host mappings).
    let list = linear(REGION_B.0 - 4 * 0x1000, 0x1000, 8, 3);
    let c = calls(&fx, || assert_eq!(fx.indirect(VFIO_LIOBN, 0, &list), OK));
    assert_eq!(maps_unmaps(c), (2, 0));
    // Pages in reverse order are not contiguous on the host either.
    let mut reverse = linear(DATA_GPA, 0x1000, 4, 3);
    reverse.reverse();
    let c = calls(&fx, || {
        assert_eq!(fx.indirect(VFIO_LIOBN, 0x10_0000, &reverse), OK)
    });
    assert_eq!(maps_unmaps(c), (4, 0));
}

#[test]
fn clears_coalesce_and_skip_empty_entries() {
    let fx = Fixture::new();
    // Valid at 0..100 and 200..300, empty in between.
    assert_eq!(
        fx.indirect(VFIO_LIOBN, 0, &linear(DATA_GPA, 0x1000, 100, 3)),
        OK
    );
    let far = linear(DATA_GPA + 0x20_0000, 0x1000, 100, 2);
    assert_eq!(fx.indirect(VFIO_LIOBN, 200 * 0x1000, &far), OK);
    let c = calls(&fx, || assert_eq!(fx.stuff(VFIO_LIOBN, 0, 0, 512), OK));
    assert_eq!(maps_unmaps(c), (0, 2));
    assert!(fx.hw().is_empty());
    let counters = fx.counters();
    assert_eq!(counters.tces_unmapped, 200);
}

#[test]
fn mixed_update_maps_and_unmaps_only_what_changes() {
    let fx = Fixture::new();
    assert_eq!(
        fx.indirect(VFIO_LIOBN, 0, &linear(DATA_GPA, 0x1000, 16, 3)),
        OK
    );
    let mut list = linear(DATA_GPA, 0x1000, 16, 3);
    list[4] = 0; // unmap
    list[5] = 0;
    list[9] = (DATA_GPA + 0x40_0000) | 3; // remap elsewhere
    let c = calls(&fx, || assert_eq!(fx.indirect(VFIO_LIOBN, 0, &list), OK));
    assert_eq!(maps_unmaps(c), (1, 1));
    assert_eq!(fx.model.mapped_pages(), 14);
}

#[test]
fn write_only_tces_are_checked_against_powernv_read_write() {
    let fx = Fixture::new();
    assert_eq!(fx.put(VFIO_LIOBN, 0x1000, DATA_GPA | 2), OK);
    let entry = fx.model.hw_entry(0x1000).unwrap();
    assert_eq!(entry.access, vfio_spapr::DmaAccess::ReadWrite);
}

#[test]
fn large_guest_pages_on_small_host_pages() {
    let page = 1u64 << 24;
    let fx = Fixture::with_window(PageShift::SZ_16M, 1 << 30);
    let host = fx.model.windows()[0];
    assert_eq!(host.page_shift, spapr_tce::ram::host_page_shift());
    // One 16 MiB TCE: one MAP_DMA of 16 MiB, many host entries.
    let c = calls(&fx, || assert_eq!(fx.put(VFIO_LIOBN, 0, DATA_GPA | 3), OK));
    assert_eq!(maps_unmaps(c), (1, 0));
    assert_eq!(fx.model.mapped_pages(), page / host_page_size());
    // Four contiguous pages: still one call.
    let list = linear(2 * page, page, 4, 1);
    let c = calls(&fx, || {
        assert_eq!(fx.indirect(VFIO_LIOBN, 4 * page, &list), OK)
    });
    assert_eq!(maps_unmaps(c), (1, 0));
    // A 16 MiB page that straddles the RAM region boundary (100 MiB) is RAM but not inside
    // one registered region: refused for the VFIO PE.
    let straddling = (6 * page) | 3;
    assert!(REGION_B.0 > 6 * page && REGION_B.0 < 7 * page);
    let before = fx.state();
    assert_eq!(fx.put(VFIO_LIOBN, page, straddling), HcallStatus::PARAMETER);
    assert_eq!(fx.state(), before);
    // Misaligned to the guest page (but aligned to the host page): refused.
    assert_eq!(
        fx.put(VFIO_LIOBN, page, (DATA_GPA + 0x1000) | 3),
        HcallStatus::PARAMETER
    );
    let c = calls(&fx, || assert_eq!(fx.stuff(VFIO_LIOBN, 0, 0, 64), OK));
    assert_eq!(maps_unmaps(c), (0, 2));
}

#[test]
fn emulated_pes_never_touch_the_container() {
    let fx = Fixture::new();
    let c = calls(&fx, || {
        assert_eq!(
            fx.indirect(EMU_LIOBN, 0, &linear(DATA_GPA, 0x1000, 512, 3)),
            OK
        );
        assert_eq!(fx.stuff(EMU_LIOBN, 0, 0, 512), OK);
        assert_eq!(fx.put(VIO_LIOBN, 0, DATA_GPA | 3), OK);
    });
    assert_eq!(c, BackendCallCounts::default());
    assert!(fx.hw().is_empty());
}

/// A window with three runs of mappings, some replacing existing ones, and the list that
/// changes them in 4 calls (3 maps + 1 unmap).
fn three_runs(fx: &Fixture) -> Vec<u64> {
    // Existing state: 0..64 mapped RW at DATA_GPA, 64..128 mapped R elsewhere.
    assert_eq!(
        fx.indirect(VFIO_LIOBN, 0, &linear(DATA_GPA, 0x1000, 64, 3)),
        OK
    );
    let other = linear(DATA_GPA + 0x80_0000, 0x1000, 64, 1);
    assert_eq!(fx.indirect(VFIO_LIOBN, 64 * 0x1000, &other), OK);
    let mut list = linear(DATA_GPA + 0x100_0000, 0x1000, 200, 3); // run 1: 0..100 replace
    for tce in &mut list[100..130] {
        *tce = 0; // run 2: unmap 100..128, no-op 128..130
    }
    for tce in &mut list[130..170] {
        *tce = (*tce & !3) | 2; // run 3: new W-only
    }
    list // run 4: 170..200 RW again
}

#[test]
fn failed_map_restores_the_previous_state() {
    for (nth, errno, status) in [
        (1, libc::EIO, HcallStatus::HARDWARE),
        (2, libc::ENOMEM, HcallStatus::NOT_ENOUGH_RESOURCES),
        (3, libc::EINVAL, HcallStatus::HARDWARE),
    ] {
        let fx = Fixture::new();
        let list = three_runs(&fx);
        let before = fx.state().vfio;
        let hw_before = fx.hw();
        fx.model.inject_fault(IommuOp::MapDma, nth, errno);
        assert_eq!(fx.indirect(VFIO_LIOBN, 0, &list), status, "map #{nth}");
        assert_eq!(
            fx.entries(VFIO_LIOBN),
            before,
            "guest view restored (map #{nth})"
        );
        assert_eq!(fx.hw(), hw_before, "hardware restored (map #{nth})");
        assert!(fx.counters().rollback_calls > 0);
        assert_eq!(fx.counters().entries_cleared_after_failure, 0);
        fx.check();
        // The same request succeeds once the host recovers.
        assert_eq!(fx.indirect(VFIO_LIOBN, 0, &list), OK);
    }
}

#[test]
fn failed_unmap_restores_the_previous_state() {
    let fx = Fixture::new();
    let list = three_runs(&fx);
    let before = fx.entries(VFIO_LIOBN);
    fx.model.inject_fault(IommuOp::UnmapDma, 1, libc::EIO);
    assert_eq!(fx.indirect(VFIO_LIOBN, 0, &list), HcallStatus::HARDWARE);
    assert_eq!(fx.entries(VFIO_LIOBN), before);
    fx.check();
    fx.model.inject_fault(IommuOp::UnmapDma, 1, libc::EIO);
    assert_eq!(fx.stuff(VFIO_LIOBN, 0, 0, 512), HcallStatus::HARDWARE);
    assert_eq!(fx.entries(VFIO_LIOBN), before);
}

#[test]
fn entries_that_cannot_be_restored_are_cleared_everywhere() {
    let fx = Fixture::new();
    let list = three_runs(&fx);
    let before = fx.entries(VFIO_LIOBN);
    // The 3rd map fails, and so does the first re-map of the restore.
    fx.model.inject_fault(IommuOp::MapDma, 3, libc::EIO);
    fx.model.inject_fault(IommuOp::MapDma, 4, libc::EIO);
    assert_eq!(fx.indirect(VFIO_LIOBN, 0, &list), HcallStatus::HARDWARE);
    let after = fx.entries(VFIO_LIOBN);
    let cleared = fx.counters().entries_cleared_after_failure;
    assert!(cleared > 0);
    assert_eq!(after.len() as u64, before.len() as u64 - cleared);
    // Every surviving entry kept its previous value.
    for entry in &after {
        assert!(before.contains(entry), "{entry:?}");
    }
    fx.check();
}

#[test]
fn failure_of_a_single_put_tce() {
    let fx = Fixture::new();
    assert_eq!(fx.put(VFIO_LIOBN, 0, DATA_GPA | 3), OK);
    fx.model.inject_fault(IommuOp::MapDma, 1, libc::ENOMEM);
    assert_eq!(
        fx.put(VFIO_LIOBN, 0, (DATA_GPA + 0x1000) | 1),
        HcallStatus::NOT_ENOUGH_RESOURCES
    );
    assert_eq!(fx.get(VFIO_LIOBN, 0).r4, Some(DATA_GPA | 3));
    fx.check();
    // Failure and failed restore: the entry is cleared in the guest view and hardware.
    fx.model.inject_fault(IommuOp::MapDma, 1, libc::EIO);
    fx.model.inject_fault(IommuOp::MapDma, 2, libc::EIO);
    assert_eq!(
        fx.put(VFIO_LIOBN, 0, (DATA_GPA + 0x1000) | 1),
        HcallStatus::HARDWARE
    );
    assert_eq!(fx.get(VFIO_LIOBN, 0).r4, Some(0));
    assert_eq!(fx.model.hw_entry(0), None);
}

#[test]
fn every_failure_point_keeps_views_in_step() {
    // Fail each map and each unmap call of the request in turn, optionally also the next map
    // or the next unmap (which hits the restore). Both at once can make the best-effort
    // cleanup fail too, after which no software can know the hardware state (documented).
    for op in [IommuOp::MapDma, IommuOp::UnmapDma] {
        for nth in 1..=5 {
            for follow_up in [None, Some(IommuOp::MapDma), Some(IommuOp::UnmapDma)] {
                let fx = Fixture::new();
                let list = three_runs(&fx);
                let before = fx.entries(VFIO_LIOBN);
                fx.model.inject_fault(op, nth, libc::EIO);
                if let Some(next) = follow_up {
                    let next_nth = if next == op { nth + 1 } else { 1 };
                    fx.model.inject_fault(next, next_nth, libc::EIO);
                }
                let status = fx.indirect(VFIO_LIOBN, 0, &list);
                let context = format!("{op:?} #{nth}, then {follow_up:?}: {status}");
                if status == HcallStatus::HARDWARE {
                    // Whatever was not cleared kept its previous value.
                    for entry in fx.entries(VFIO_LIOBN) {
                        assert!(before.contains(&entry), "{context}: {entry:?}");
                    }
                } else {
                    assert_eq!(status, OK, "{context}");
                }
                if let Err(v) = spapr_tce::check::check_invariants(&fx.acc) {
                    panic!("{context}: {v:#?}");
                }
                fx.model.clear_faults();
            }
        }
    }
}

#[test]
fn different_pes_and_threads_share_one_accelerator() {
    let fx = Fixture::new();
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let fx = &fx;
            scope.spawn(move || {
                let liobn = if thread % 2 == 0 {
                    VFIO_LIOBN
                } else {
                    EMU_LIOBN
                };
                let base = thread * 0x100_0000;
                for round in 0..50u64 {
                    let gpa = DATA_GPA + ((round * 0x1_0000) % (32 << 20));
                    let list = linear(gpa, 0x1000, 64, 1 + round % 3);
                    assert_eq!(fx.indirect_raw_list(liobn, base, thread, &list), OK);
                    if round % 3 == 0 {
                        assert_eq!(fx.stuff(liobn, base + 0x8000, 0, 16), OK);
                    }
                }
            });
        }
    });
    assert_eq!(fx.counters().put_tce_indirect.success, 200);
    let valid: Vec<_> = fx
        .entries(VFIO_LIOBN)
        .into_iter()
        .filter(|(_, t)| Tce::is_valid(*t))
        .collect();
    assert!(!valid.is_empty());
}

/// Per-thread list pages so that concurrent INDIRECT calls do not share a list.
trait ThreadList {
    fn indirect_raw_list(
        &self,
        liobn: papr_hcall::Liobn,
        ioba: u64,
        thread: u64,
        tces: &[u64],
    ) -> HcallStatus;
}

impl ThreadList for Fixture {
    fn indirect_raw_list(
        &self,
        liobn: papr_hcall::Liobn,
        ioba: u64,
        thread: u64,
        tces: &[u64],
    ) -> HcallStatus {
        let list = LIST_GPA + 0x1000 * (thread + 1);
        self.write_list(list, tces);
        self.indirect_raw(liobn, ioba, list, tces.len() as u64)
    }
}
