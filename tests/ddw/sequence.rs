// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! What a Linux guest does with DDW, and what query answers.

use papr_hcall::rtas::PageSizeMask;
use papr_hcall::{Ioba, PageShift};
use vfio_spapr::model::PlatformProfile;
use vfio_spapr::IommuOp;

use super::*;

/// The Debian 6.12.95 guest on one PHB (qemu-and-guest.md §3.2, §3.3): query at device
/// setup and again in `enable_ddw`, a first create with window shift 0 when
/// `ibm,lrdr-capacity` is 0 (refused), then with a correct capacity a 16 MiB-page window of
/// 2^32 bytes, the direct mapping of all RAM with H_PUT_TCE_INDIRECT, and at device removal
/// the window is removed while the default window stays.
#[test]
fn linux_6_12_guest_sequence() {
    let fx = Fixture::new();
    let mut mask = PageSizeMask(0);
    for _ in 0..2 {
        let rets = fx.query(VFIO_BUID, 6);
        assert_eq!(rets.len(), 6);
        assert_eq!((rets[0], rets[1], rets[5]), (0, 1, 0), "{rets:x?}");
        mask = PageSizeMask(rets[4]);
    }
    let page_shift = mask.largest_shift().expect("some page size");
    assert_eq!(
        page_shift, 24,
        "the guest picks 16 MiB, the largest offered"
    );

    let before = fx.state();
    assert_eq!(
        fx.create(VFIO_BUID, page_shift, 0),
        [PARAMETER_ERROR, POISON, POISON, POISON],
        "window shift 0 from ibm,lrdr-capacity = 0"
    );
    assert_eq!(fx.state(), before);

    let rets = fx.create(VFIO_BUID, page_shift, 32);
    assert_eq!(rets, [0, VFIO_DDW.0 as u32, 0x0800_0000, 0]);
    let window = fx.window(VFIO_DDW);
    assert_eq!(
        (
            window.bus_offset,
            window.size,
            window.page_shift,
            window.slot
        ),
        (DMA64, 1 << 32, PageShift::SZ_16M, 1)
    );
    let host = window.host.expect("host window");
    assert_eq!((host.start, host.size), (DMA64, 1 << 32));
    assert_eq!(fx.model.windows().len(), 2);
    fx.check();

    let maps_before = fx.acc.counters().backend.map_dma;
    let calls = fx.direct_map(VFIO_DDW, DMA64, page_shift);
    assert_eq!(calls, 1, "{} TCEs of 16 MiB fit one list page", RAM >> 24);
    assert_eq!(
        fx.acc.counters().backend.map_dma - maps_before,
        1,
        "all RAM is one contiguous run: one MAP_DMA"
    );
    assert_eq!(fx.model.mapped_pages(), RAM / (1 << host.page_shift));
    let dma = fx
        .acc
        .translate(VFIO_DDW, Ioba(DMA64 + 0x0123_4567))
        .unwrap();
    assert_eq!(dma.guest_addr, 0x0123_4567);
    fx.check();

    let unmaps_before = fx.model.counters().op(IommuOp::UnmapDma).calls();
    assert_eq!(fx.remove(VFIO_DDW), [0]);
    assert_eq!(
        fx.model.counters().op(IommuOp::UnmapDma).calls() - unmaps_before,
        1
    );
    assert_eq!(fx.model.mapped_pages(), 0);
    assert!(fx.acc.window(VFIO_DDW).is_none());
    assert_eq!(
        fx.window(VFIO_DEFAULT).size,
        1 << 30,
        "the default window stays"
    );
    let host_windows = fx.model.windows();
    assert_eq!(host_windows.len(), 1);
    assert_eq!(host_windows[0].start, 0);
    assert_eq!(fx.query(VFIO_BUID, 6)[1], 1);

    let ddw = fx.acc.counters().ddw;
    assert_eq!((ddw.query.success, ddw.query.total()), (3, 3));
    assert_eq!((ddw.create.success, ddw.create.parameter_error), (1, 1));
    assert_eq!((ddw.remove.success, ddw.reset.total()), (1, 0));
}

/// The 5-cell form clamps the largest block, the 6-cell form gives all 64 bits; both come
/// from real limits: the host's 55-bit table reach for the VFIO PE, the configuration for
/// emulated PEs.
#[test]
fn query_outputs_five_and_six() {
    let fx = Fixture::with(host_profile(), |config| {
        for pe in &mut config.pes {
            if let Some(ddw) = &mut pe.ddw {
                ddw.max_window_shift = 62;
            }
        }
    });
    // VFIO PE: the host table reaches at most 2^54 bytes (kernel-host.md §3.5), whatever the
    // configuration allows; 4 KiB pages are the smallest offered.
    let six = fx.query(VFIO_BUID, 6);
    assert_eq!(six[4], 0x107);
    assert_eq!(largest_block(&six), 1 << (54 - 12));
    let five = fx.query(VFIO_BUID, 5);
    assert_eq!(five, [0, 1, u32::MAX, 0x107, 0], "clamped, not truncated");
    // Emulated PE: only the configuration and the bus limit the window.
    let six = fx.query(EMU_BUID, 6);
    assert_eq!(largest_block(&six), 1 << (62 - 12));

    // An exact 32-bit value: an emulated PE limited to 2^40-byte windows.
    let fx = Fixture::with(host_profile(), |config| {
        config.pes[1].ddw.as_mut().unwrap().max_window_shift = 40;
    });
    assert_eq!(fx.query(EMU_BUID, 5), [0, 1, 1 << 28, 0x107, 0]);
    assert_eq!(fx.query(EMU_BUID, 6), [0, 1, 0, 1 << 28, 0x107, 0]);
}

/// Without the 6-output extension a 6-cell query is a parameter error (LoPAR), and
/// `ibm,ddw-extensions` says so.
#[test]
fn six_outputs_only_when_advertised() {
    let fx = Fixture::finished(|acc| acc.with_six_output_query(false));
    assert_eq!(fx.acc.ddw_extensions().to_cells(), [1, 0x2029]);
    assert_eq!(
        fx.query(VFIO_BUID, 6),
        [PARAMETER_ERROR, POISON, POISON, POISON, POISON, POISON]
    );
    assert_eq!(fx.query(VFIO_BUID, 5)[0], 0);
}

/// The mask keeps only guest page sizes the host can serve with an IOMMU page no larger than
/// the guest page that all RAM can back (qemu-and-guest.md §6 item 5).
#[test]
fn page_sizes_are_filtered_by_host_and_ram_backing() {
    // A host with 2 MiB and 1 GiB IOMMU pages only.
    let large_only = PlatformProfile {
        pgsizes: (1 << 21) | (1 << 30),
        ..host_profile()
    };
    let fx = Fixture::with_2m_hugepages(large_only, |config| {
        config.pes[0].default_window.page_shift = PageShift::SZ_2M;
    });
    // 2 MiB-backed RAM: 2 MiB and 16 MiB guest pages become 2 MiB IOMMU pages.
    let rets = fx.query(VFIO_BUID, 6);
    assert_eq!(
        PageSizeMask(rets[4]),
        PageSizeMask::SZ_2M.union(PageSizeMask::SZ_16M)
    );
    // Smallest offered page is now 2 MiB. A 2^54 window of 2 MiB pages gets a 2-level table
    // (levels of at most 256 host pages) whose 17-bit levels reach 17·2 + 21 = 55 bits, one too
    // many (kernel-host.md §3.5): 2^53 is the largest.
    assert_eq!(largest_block(&rets), 1 << (53 - 21));
    assert_eq!(
        fx.create(VFIO_BUID, 16, 32)[0],
        PARAMETER_ERROR,
        "64 KiB is filtered out"
    );
    assert_eq!(fx.create(VFIO_BUID, 24, 32)[0], 0);
    assert_eq!(fx.window(VFIO_DDW).host.unwrap().page_shift, 21);
    // The emulated PE is not filtered.
    assert_eq!(fx.query(EMU_BUID, 6)[4], 0x107);
}
