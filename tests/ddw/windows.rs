// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Window life cycles: two windows, removing the default window, restoring it, reset, and
//! removing a window that still maps.

use papr_hcall::rtas::DdwTokens;
use papr_hcall::{HcallStatus, PageShift};
use vfio_spapr::IommuOp;

use super::*;

/// Both windows present: query reports none available and create is refused; the DDW's
/// LIOBN works for TCE hcalls, the default window keeps working.
#[test]
fn create_with_two_windows_present() {
    let fx = Fixture::new();
    assert_eq!(
        fx.create(VFIO_BUID, 16, 32),
        [0, VFIO_DDW.0 as u32, 0x0800_0000, 0]
    );
    assert_eq!(fx.query(VFIO_BUID, 5)[1], 0);
    assert_eq!(fx.create(VFIO_BUID, 16, 32)[0], PARAMETER_ERROR);
    assert_eq!(
        fx.put(VFIO_DDW, DMA64 + (5 << 16), (3 << 16) | 3),
        HcallStatus::SUCCESS
    );
    assert_eq!(
        fx.put(VFIO_DEFAULT, 0x7000, 0x7000 | 1),
        HcallStatus::SUCCESS
    );
    assert_eq!(fx.acc.entries(VFIO_DDW).unwrap().len(), 1);
    assert_eq!(fx.model.windows().len(), 2);
    fx.check();
}

/// Linux removes the default window when no window is available (kernel-host.md
/// Appendix A): then two windows are available, the new window starts at the default
/// window's bus address (QEMU `dma_win_addr`, PowerNV slot 0), and removing it restores the
/// default window, empty (LoPAR; QEMU since 2022).
#[test]
fn remove_default_then_create_at_offset_zero() {
    let fx = Fixture::new();
    assert_eq!(
        fx.put(VFIO_DEFAULT, 0x3000, 0x5000 | 3),
        HcallStatus::SUCCESS
    );
    assert_eq!(fx.remove(VFIO_DEFAULT), [0]);
    assert!(fx.acc.window(VFIO_DEFAULT).is_none());
    assert!(fx.model.windows().is_empty());
    assert_eq!(fx.model.mapped_pages(), 0);
    assert_eq!(
        fx.put(VFIO_DEFAULT, 0x3000, 0x5000 | 3),
        HcallStatus::PARAMETER
    );
    assert_eq!(fx.query(VFIO_BUID, 6)[1], 2);
    fx.check();

    assert_eq!(fx.create(VFIO_BUID, 16, 33), [0, VFIO_DDW.0 as u32, 0, 0]);
    let window = fx.window(VFIO_DDW);
    assert_eq!((window.bus_offset, window.size), (0, 1 << 33));
    assert_eq!(fx.model.windows()[0].start, 0);
    assert_eq!(
        fx.put(VFIO_DDW, 0x2_0000, 0x2_0000 | 3),
        HcallStatus::SUCCESS
    );
    fx.check();

    // A second dynamic window goes to 2^59 and gets the default window's LIOBN (the only
    // free slot).
    assert_eq!(
        fx.create(VFIO_BUID, 24, 34),
        [0, VFIO_DEFAULT.0 as u32, 0x0800_0000, 0]
    );
    assert_eq!(fx.window(VFIO_DEFAULT).page_shift, PageShift::SZ_16M);
    fx.check();
    // Removing it leaves the first one: no restore yet.
    assert_eq!(fx.remove(VFIO_DEFAULT), [0]);
    assert!(fx.acc.window(VFIO_DEFAULT).is_none());

    // Removing the last (non-default) window restores the default window.
    assert_eq!(fx.remove(VFIO_DDW), [0]);
    let restored = fx.window(VFIO_DEFAULT);
    assert_eq!(
        (restored.bus_offset, restored.size, restored.page_shift),
        (0, 1 << 30, PageShift::SZ_4K)
    );
    assert_eq!(fx.acc.entries(VFIO_DEFAULT).unwrap(), []);
    let host = fx.model.windows();
    assert_eq!((host.len(), host[0].start, host[0].page_shift), (1, 0, 12));
    assert_eq!(fx.model.mapped_pages(), 0);
    assert_eq!(fx.query(VFIO_BUID, 6)[1], 1);
}

/// Removing the default window when it is the only one leaves the PE without windows: the
/// restore rule is for dynamic windows only.
#[test]
fn removing_the_only_default_window_restores_nothing() {
    let fx = Fixture::new();
    assert_eq!(fx.remove(EMU_DEFAULT), [0]);
    assert!(fx.acc.window(EMU_DEFAULT).is_none());
    assert_eq!(fx.remove(EMU_DEFAULT), [PARAMETER_ERROR]);
    assert_eq!(fx.reset(EMU_BUID), [0]);
    assert_eq!(fx.window(EMU_DEFAULT).size, 1 << 30);
}

/// Reset removes every dynamic window and restores the default window, cleared, in the
/// guest view and in hardware; a second reset succeeds too.
#[test]
fn reset_twice() {
    let fx = Fixture::new();
    assert_eq!(fx.create(VFIO_BUID, 16, 32)[0], 0);
    assert_eq!(
        fx.indirect(VFIO_DDW, DMA64, &linear(0, 1 << 16, 64)),
        HcallStatus::SUCCESS
    );
    assert_eq!(
        fx.indirect(VFIO_DEFAULT, 0, &linear(1 << 20, 1 << 12, 16)),
        HcallStatus::SUCCESS
    );
    assert!(fx.model.mapped_pages() > 0);
    fx.check();

    for round in 0..2 {
        assert_eq!(fx.reset(VFIO_BUID), [0], "round {round}");
        assert!(fx.acc.window(VFIO_DDW).is_none());
        assert_eq!(fx.acc.entries(VFIO_DEFAULT).unwrap(), [], "round {round}");
        assert_eq!(fx.model.mapped_pages(), 0);
        let host = fx.model.windows();
        assert_eq!((host.len(), host[0].start), (1, 0));
        assert_eq!(fx.query(VFIO_BUID, 6)[1], 1);
        fx.check();
    }
    // The emulated PE too.
    assert_eq!(fx.create(EMU_BUID, 24, 40)[0], 0);
    assert_eq!(fx.reset(EMU_BUID), [0]);
    assert_eq!(fx.reset(EMU_BUID), [0]);
    assert!(fx.acc.window(EMU_DDW).is_none());
    assert_eq!(fx.acc.counters().ddw.reset.success, 4);
}

/// A window that still maps is emptied on remove: every run is one UNMAP_DMA, the hardware
/// is empty afterwards, the guest view is gone.
#[test]
fn remove_while_mapped() {
    let fx = Fixture::new();
    assert_eq!(fx.create(VFIO_BUID, 16, 32)[0], 0);
    // One run of 300 contiguous pages.
    assert_eq!(
        fx.indirect(VFIO_DDW, DMA64, &linear(0, 1 << 16, 300)),
        HcallStatus::SUCCESS
    );
    let host_pages = 300 * (1 << 16) / host_page_size();
    assert_eq!(fx.model.mapped_pages(), host_pages);
    let before = fx.model.counters();
    assert_eq!(fx.remove(VFIO_DDW), [0]);
    let after = fx.model.counters();
    assert_eq!(
        after.op(IommuOp::UnmapDma).calls() - before.op(IommuOp::UnmapDma).calls(),
        1
    );
    assert_eq!(after.entries_unmapped - before.entries_unmapped, host_pages);
    assert_eq!(
        after.op(IommuOp::RemoveWindow).ok - before.op(IommuOp::RemoveWindow).ok,
        1
    );
    assert_eq!(fx.model.mapped_pages(), 0);
    assert_eq!(fx.acc.counters().tces_unmapped, 300);

    // Two runs separated by a hole: two UNMAP_DMA.
    assert_eq!(fx.create(VFIO_BUID, 16, 32)[0], 0);
    assert_eq!(
        fx.indirect(VFIO_DDW, DMA64, &linear(0, 1 << 16, 10)),
        HcallStatus::SUCCESS
    );
    assert_eq!(
        fx.indirect(VFIO_DDW, DMA64 + (20 << 16), &linear(20 << 16, 1 << 16, 10)),
        HcallStatus::SUCCESS
    );
    let before = fx.model.counters().op(IommuOp::UnmapDma).calls();
    assert_eq!(fx.remove(VFIO_DDW), [0]);
    assert_eq!(
        fx.model.counters().op(IommuOp::UnmapDma).calls() - before,
        2
    );
    assert_eq!(fx.model.mapped_pages(), 0);
}

/// The largest block query reports can be created, at the smallest page size.
#[test]
fn the_largest_block_can_be_created() {
    let fx = Fixture::new();
    let rets = fx.query(VFIO_BUID, 6);
    let largest = largest_block(&rets);
    let shift = 12 + largest.trailing_zeros();
    assert!(largest.is_power_of_two());
    assert_eq!(fx.create(VFIO_BUID, 12, shift)[0], 0);
    assert_eq!(fx.window(VFIO_DDW).size, 1 << shift);
    assert_eq!(fx.remove(VFIO_DDW), [0]);
    assert_eq!(fx.create(VFIO_BUID, 12, shift + 1)[0], PARAMETER_ERROR);
}

/// Tokens are configurable; the old ones are then not ours.
#[test]
fn custom_tokens() {
    let tokens = DdwTokens {
        query: 0x3001,
        create: 0x3002,
        remove: 0x3003,
        reset: 0x3004,
    };
    let fx = Fixture::finished(|acc| acc.with_ddw_tokens(tokens));
    assert_eq!(fx.acc.ddw_tokens(), tokens);
    assert_eq!(fx.acc.ddw_extensions().to_cells(), [2, 0x3004, 1]);
    assert_eq!(fx.rtas(0x3001, &pe_args(VFIO_BUID), 5)[0], 0);
    let [c, hi, lo] = pe_args(VFIO_BUID);
    assert_eq!(
        fx.rtas(0x3002, &[c, hi, lo, 16, 32], 4)[..2],
        [0, VFIO_DDW.0 as u32]
    );
    assert_eq!(fx.rtas(0x3003, &[VFIO_DDW.0 as u32], 1), [0]);
    assert_eq!(fx.rtas(0x3004, &pe_args(VFIO_BUID), 1), [0]);
    let buffer = vm_memory::GuestAddress(RTAS_GPA);
    let old = papr_hcall::rtas::RtasCall::new(buffer, 0x2026, &pe_args(VFIO_BUID), 5);
    vm_memory::Bytes::write_slice(&*fx.mem, &old.to_bytes(), buffer).unwrap();
    assert!(fx.acc.handle_rtas(buffer).is_none());
}
