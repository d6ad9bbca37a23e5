// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Host failures in the middle of a DDW call: the guest gets -1, never an abort, and the
//! guest view and the hardware still agree (the fixture checks on drop; the tests check
//! after each step too). QEMU kills the VM here (qemu-and-guest.md §6 items 3 and 8).

use papr_hcall::HcallStatus;
use vfio_spapr::model::PlatformProfile;
use vfio_spapr::IommuOp;

use super::*;

/// Runs `call`, expects `[HARDWARE_ERROR, POISON...]`.
fn hardware_error(fx: &Fixture, what: &str, rets: Vec<u32>) {
    assert_eq!(rets[0], HARDWARE_ERROR, "{what}: {rets:x?}");
    assert!(
        rets[1..].iter().all(|&cell| cell == POISON),
        "{what}: {rets:x?}"
    );
    fx.check();
}

#[test]
fn tce_create_failure_leaves_nothing_behind() {
    let fx = Fixture::new();
    for errno in [libc::ENOMEM, libc::EINVAL, libc::ENOSPC] {
        let before = fx.state();
        fx.model.inject_fault(IommuOp::CreateWindow, 1, errno);
        hardware_error(&fx, "TCE_CREATE", fx.create(VFIO_BUID, 16, 32));
        let after = fx.state();
        assert_eq!(after.windows, before.windows);
        assert_eq!(after.host_windows, before.host_windows);
        assert_eq!(
            after.backend.create_window,
            before.backend.create_window + 1
        );
        assert_eq!(fx.query(VFIO_BUID, 6)[1], 1);
    }
    assert_eq!(fx.create(VFIO_BUID, 16, 32)[0], 0, "the next create works");
    assert_eq!(fx.acc.counters().ddw.create.hardware_error, 3);
}

/// The host must place the window where the guest's will be; otherwise it is removed again.
#[test]
fn misplaced_host_window_is_removed() {
    let fx = Fixture::with(host_profile(), |config| {
        config.pes[0].ddw.as_mut().unwrap().dma64_window_addr = 1 << 58;
    });
    let before = fx.model.counters();
    hardware_error(&fx, "start mismatch", fx.create(VFIO_BUID, 16, 32));
    let after = fx.model.counters();
    assert_eq!(after.create_window.ok - before.create_window.ok, 1);
    assert_eq!(after.remove_window.ok - before.remove_window.ok, 1);
    assert_eq!(fx.model.windows().len(), 1);
    assert!(fx.acc.window(VFIO_DDW).is_none());
}

/// A failed UNMAP_DMA while removing: every entry is restored and the window kept.
#[test]
fn unmap_failure_during_remove_restores_the_window() {
    let fx = Fixture::new();
    assert_eq!(fx.create(VFIO_BUID, 16, 32)[0], 0);
    assert_eq!(
        fx.indirect(VFIO_DDW, DMA64, &linear(0, 1 << 16, 8)),
        HcallStatus::SUCCESS
    );
    let far = DMA64 + (100 << 16);
    assert_eq!(
        fx.indirect(VFIO_DDW, far, &linear(50 << 20, 1 << 16, 8)),
        HcallStatus::SUCCESS
    );
    let before = fx.state();
    // The second run's UNMAP_DMA fails: the first run is mapped back.
    fx.model.inject_fault(IommuOp::UnmapDma, 2, libc::EINVAL);
    hardware_error(&fx, "UNMAP_DMA", fx.remove(VFIO_DDW));
    let after = fx.state();
    assert_eq!(after.windows, before.windows);
    assert_eq!(after.entries, before.entries);
    assert_eq!(after.hw, before.hw);
    assert!(fx.acc.counters().rollback_calls > 0);
    assert_eq!(fx.remove(VFIO_DDW), [0]);
    assert_eq!(fx.model.mapped_pages(), 0);
}

/// A failed TCE_REMOVE: the window stays, emptied in both views; removing again works.
#[test]
fn tce_remove_failure_keeps_an_empty_window() {
    let fx = Fixture::new();
    assert_eq!(fx.create(VFIO_BUID, 16, 32)[0], 0);
    assert_eq!(
        fx.indirect(VFIO_DDW, DMA64, &linear(0, 1 << 16, 8)),
        HcallStatus::SUCCESS
    );
    fx.model.inject_fault(IommuOp::RemoveWindow, 1, libc::EPERM);
    hardware_error(&fx, "TCE_REMOVE", fx.remove(VFIO_DDW));
    assert_eq!(fx.window(VFIO_DDW).bus_offset, DMA64);
    assert_eq!(fx.acc.entries(VFIO_DDW).unwrap(), []);
    assert_eq!(fx.model.mapped_pages(), 0);
    assert_eq!(fx.model.windows().len(), 2);
    assert_eq!(fx.remove(VFIO_DDW), [0]);
    assert_eq!(fx.model.windows().len(), 1);
}

/// The default window cannot be restored after the last dynamic window went: -1, the PE has
/// no window (consistently), and reset brings the default window back.
#[test]
fn failed_default_restore_is_recoverable_with_reset() {
    let fx = Fixture::new();
    assert_eq!(fx.remove(VFIO_DEFAULT), [0]);
    assert_eq!(fx.create(VFIO_BUID, 16, 32)[0], 0);
    fx.model
        .inject_fault(IommuOp::CreateWindow, 1, libc::ENOMEM);
    hardware_error(&fx, "restore", fx.remove(VFIO_DDW));
    assert!(fx.acc.window(VFIO_DDW).is_none());
    assert!(fx.acc.window(VFIO_DEFAULT).is_none());
    assert!(fx.model.windows().is_empty());
    assert_eq!(fx.query(VFIO_BUID, 6)[1], 2);
    assert_eq!(fx.reset(VFIO_BUID), [0]);
    assert_eq!(fx.window(VFIO_DEFAULT).size, 1 << 30);
}

/// Reset fails half-way: windows already torn down stay removed, the one that failed stays
/// empty; a second reset finishes the job.
#[test]
fn reset_failure_half_way() {
    let fx = Fixture::new();
    assert_eq!(fx.create(VFIO_BUID, 16, 32)[0], 0);
    assert_eq!(
        fx.indirect(VFIO_DDW, DMA64, &linear(0, 1 << 16, 4)),
        HcallStatus::SUCCESS
    );
    assert_eq!(
        fx.put(VFIO_DEFAULT, 0x1000, 0x8000 | 3),
        HcallStatus::SUCCESS
    );
    // The default window goes first; the DDW's TCE_REMOVE fails.
    fx.model.inject_fault(IommuOp::RemoveWindow, 2, libc::EPERM);
    hardware_error(&fx, "reset", fx.reset(VFIO_BUID));
    assert!(fx.acc.window(VFIO_DEFAULT).is_none());
    assert_eq!(fx.acc.entries(VFIO_DDW).unwrap(), []);
    assert_eq!(fx.model.mapped_pages(), 0);
    assert_eq!(fx.reset(VFIO_BUID), [0]);
    assert!(fx.acc.window(VFIO_DDW).is_none());
    assert_eq!(fx.window(VFIO_DEFAULT).size, 1 << 30);
}

/// A nested pSeries host puts every DDW at 2^59 and refuses a slot-0 DDW while one exists
/// (kernel-host.md §3.5): the second window of a guest that removed its default window
/// fails cleanly with -1.
#[test]
fn pseries_host_refusing_a_second_window() {
    let fx = Fixture::with(PlatformProfile::pseries_nested(), |config| {
        config.pes[0].default_window.size = 256 << 20;
    });
    assert_eq!(
        fx.create(VFIO_BUID, 16, 32),
        [0, VFIO_DDW.0 as u32, 0x0800_0000, 0]
    );
    // Default window at 0 and DDW at 2^59: no bus address left for a third window.
    let largest = largest_block(&fx.query(VFIO_BUID, 6));
    assert_eq!(largest, 0, "no slot free: no placement for another window");
    assert_eq!(fx.remove(VFIO_DEFAULT), [0]);
    assert_eq!(fx.query(VFIO_BUID, 6)[1], 1);
    let before = fx.state();
    hardware_error(&fx, "slot-0 DDW", fx.create(VFIO_BUID, 16, 32));
    assert_eq!(fx.state().windows, before.windows);
    assert_eq!(fx.remove(VFIO_DDW), [0]);
    assert_eq!(fx.window(VFIO_DEFAULT).size, 256 << 20, "restored");
}
