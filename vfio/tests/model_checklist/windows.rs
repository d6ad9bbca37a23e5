// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Items 38–40, 46: TCE_CREATE / TCE_REMOVE, placement, failed creates, rounded windows;
//! plus the pSeries behaviour measured in the lab.

use vfio_spapr::model::{ModelContainer, Platform, PlatformProfile};
use vfio_spapr::{DmaAccess, SpaprTceIommu};

use crate::common::{errno, power8, power9, pseries, region_mapped, request, BUF, MIB};

/// Item 38: the pending default window is created first, so a CREATE without a prior
/// REMOVE(0) lands in slot 1 at `1 << 59`; no free slot → ENOSPC; unsupported page size,
/// levels outside 1..=5, non-power-of-two size → EINVAL.
#[test]
fn item_38_create_places_slot_1_at_2_pow_59() {
    let iommu = power9();
    assert_eq!(
        iommu
            .create_window(request(16, 1 << 32, 2))
            .expect("create"),
        1 << 59
    );
    let windows = iommu.windows();
    assert_eq!(windows.len(), 2);
    assert_eq!(
        (
            windows[0].slot,
            windows[0].start,
            windows[0].page_shift,
            windows[0].size
        ),
        (0, 0, 12, 1 << 31)
    );
    assert!(windows[0].is_default);
    assert_eq!((windows[0].levels, windows[0].hw_entries), (1, 1 << 19));
    assert_eq!(
        (windows[1].slot, windows[1].start, windows[1].levels),
        (1, 1 << 59, 2)
    );
    assert!(!windows[1].is_default);
    assert_eq!(
        errno(iommu.create_window(request(16, 1 << 32, 1))),
        libc::ENOSPC
    );

    let fresh = power8();
    fresh.remove_window(0).expect("suppress the default window");
    assert_eq!(
        errno(fresh.create_window(request(21, 1 << 32, 1))),
        libc::EINVAL
    );
    assert_eq!(
        errno(fresh.create_window(request(16, 1 << 32, 0))),
        libc::EINVAL
    );
    assert_eq!(
        errno(fresh.create_window(request(16, 1 << 32, 6))),
        libc::EINVAL
    );
    assert_eq!(
        errno(fresh.create_window(request(16, 3 << 30, 1))),
        libc::EINVAL
    );
    assert!(fresh.windows().is_empty());
    // Levels pass the size formula up to 5, but each level of a 64 KiB-page host resolves
    // 13 bits, so the 55-bit reach check stops 16 MiB pages at 2 levels.
    for levels in 1..=2 {
        let start = fresh
            .create_window(request(24, 1 << 40, levels))
            .expect("levels 1..=2");
        assert_eq!(start, 0, "slot 0 is free first");
        fresh.remove_window(start).expect("remove");
    }
    assert_eq!(
        errno(fresh.create_window(request(24, 1 << 40, 3))),
        libc::EINVAL
    );
    assert_eq!(fresh.locked_vm_pages(), 0);
    // With 4 KiB host pages (9 bits per level) 4 levels of 4 KiB pages fit, 5 do not.
    let small_host = ModelContainer::new(PlatformProfile::for_host(4096));
    small_host.remove_window(0).expect("no default window");
    for levels in 1..=4 {
        let start = small_host
            .create_window(request(12, 1 << 33, levels))
            .expect("levels 1..=4");
        small_host.remove_window(start).expect("remove");
    }
    assert_eq!(
        errno(small_host.create_window(request(12, 1 << 33, 5))),
        libc::EINVAL
    );
}

/// Item 39: REMOVE(0) while the default window is pending cancels it; REMOVE of an address
/// outside every window → EINVAL; any address inside a window removes it, clearing its
/// entries and returning its charge.
#[test]
fn item_39_remove_semantics() {
    let iommu = power8();
    iommu.register_memory(BUF, MIB).expect("register");
    iommu.remove_window(0).expect("cancel the default window");
    assert!(!iommu.default_window_pending());
    assert_eq!(
        errno(iommu.map_dma(0, 0x1000, BUF, DmaAccess::Read)),
        libc::ENXIO
    );
    assert!(iommu.windows().is_empty());
    assert_eq!(errno(iommu.remove_window(0)), libc::EINVAL);
    let low = iommu
        .create_window(request(16, 1 << 30, 1))
        .expect("slot 0");
    let high = iommu
        .create_window(request(12, 1 << 30, 1))
        .expect("slot 1");
    assert_eq!((low, high), (0, 1 << 59));
    iommu
        .map_dma(high + 0x5000, 0x3000, BUF, DmaAccess::Read)
        .expect("map");
    let before = iommu.locked_vm_pages();
    let charge = iommu.windows()[1].locked_pages;
    assert_eq!(errno(iommu.remove_window(high + (1 << 30))), libc::EINVAL);
    assert_eq!(errno(iommu.remove_window(1 << 40)), libc::EINVAL);
    iommu
        .remove_window(high + 0x1234_5678)
        .expect("any address inside");
    assert_eq!(iommu.windows().len(), 1);
    assert_eq!(iommu.locked_vm_pages(), before - charge);
    assert_eq!(region_mapped(&iommu, BUF), 1);
    assert_eq!(iommu.counters().entries_unmapped, 3);
    assert_eq!(errno(iommu.remove_window(high)), libc::EINVAL);
}

/// Item 40: a CREATE the platform refuses after the locked_vm charge (55-bit reach,
/// level block above 16 MiB, pSeries multi-level) returns the charge (the kernel leaks it).
#[test]
fn item_40_failed_platform_create_returns_the_charge() {
    let iommu = power8();
    iommu.remove_window(0).expect("no default window");
    // 4K pages, 2^55 bytes, 1 level: (E + 3 - 3) + 12 = 55 bits of reach.
    assert_eq!(
        errno(iommu.create_window(request(12, 1 << 55, 1))),
        libc::EINVAL
    );
    assert_eq!(iommu.locked_vm_pages(), 0);
    // 2^22 entries in one level: a 32 MiB block.
    assert_eq!(
        errno(iommu.create_window(request(12, 1 << 34, 1))),
        libc::ENOMEM
    );
    assert_eq!(iommu.locked_vm_pages(), 0);
    // The same window in two levels fits (2^11 entries × 8 bytes per level block).
    iommu
        .create_window(request(12, 1 << 34, 2))
        .expect("two levels");
    assert!(iommu.locked_vm_pages() > 0);

    let lab = pseries();
    lab.remove_window(0).expect("no default window");
    assert_eq!(
        errno(lab.create_window(request(12, 1 << 30, 2))),
        libc::EINVAL
    );
    assert_eq!(lab.locked_vm_pages(), 0);
    let limited = ModelContainer::new(PlatformProfile {
        locked_vm_limit_pages: Some(1 << 16),
        ..PlatformProfile::pseries_nested()
    });
    // With a limit the 4 GiB pSeries multi-level charge fails first.
    assert_eq!(
        errno(limited.create_window(request(12, 1 << 30, 2))),
        libc::ENOMEM
    );
}

/// Item 46: windows smaller than `PAGE_SIZE / 8` IOMMU pages are rounded up in PowerNV
/// hardware, and MAP/UNMAP inside the rounded-up part succeed.
#[test]
fn item_46_small_windows_are_rounded_up_in_hardware() {
    let iommu = power8();
    iommu.register_memory(BUF, MIB).expect("register");
    let start = iommu
        .create_window(request(16, MIB, 1))
        .expect("1 MiB of 64K pages");
    let window = iommu.windows()[1];
    assert_eq!((window.size, window.hw_entries), (MIB, 8192));
    iommu
        .map_dma(start + (256 << 20), 0x1_0000, BUF, DmaAccess::Read)
        .expect("inside the rounded part");
    iommu
        .unmap_dma(start + (511 << 20), 0x1_0000)
        .expect("last rounded entry");
    assert_eq!(
        errno(iommu.map_dma(start + (512 << 20), 0x1_0000, BUF, DmaAccess::Read)),
        libc::ENXIO
    );
    // 4 KiB host pages round to 512 entries only.
    let small_host = ModelContainer::new(PlatformProfile::for_host(4096));
    small_host.remove_window(0).expect("no default window");
    small_host
        .create_window(request(16, MIB, 1))
        .expect("create");
    assert_eq!(small_host.windows()[0].hw_entries, 512);
    // pSeries does not round.
    let lab = pseries();
    lab.register_memory(BUF, MIB).expect("register");
    let ddw = lab.create_window(request(16, MIB, 1)).expect("create");
    assert_eq!(lab.windows()[1].hw_entries, 16);
    assert_eq!(
        errno(lab.map_dma(ddw + MIB, 0x1_0000, BUF, DmaAccess::Read)),
        libc::ENXIO
    );
}

/// The lab's v2 sequence on the pSeries profile (lab README §9.2): default window at 0,
/// DDW at `0x800000000000000`, and after removing both, a default-sized CREATE reuses slot
/// 0 at 0.
#[test]
fn pseries_lab_sequence_matches_measurements() {
    let lab = pseries();
    lab.register_memory(BUF, MIB).expect("register 1 MiB");
    lab.map_dma(0, 0x1_0000, BUF, DmaAccess::ReadWrite)
        .expect("map in default window");
    lab.unmap_dma(0, 0x1_0000).expect("unmap");
    let ddw = lab.create_window(request(12, 1 << 30, 1)).expect("DDW");
    assert_eq!(ddw, 0x800_0000_0000_0000);
    lab.map_dma(ddw + 16 * MIB, 0x1_0000, BUF, DmaAccess::ReadWrite)
        .expect("map in DDW");
    lab.unmap_dma(ddw + 16 * MIB, 0x1_0000).expect("unmap");
    lab.remove_window(ddw).expect("remove DDW");
    lab.remove_window(0).expect("remove default window");
    assert_eq!(
        lab.create_window(request(12, 256 * MIB, 1)).expect("again"),
        0
    );
    lab.map_dma(0, 0x2000, BUF, DmaAccess::ReadWrite)
        .expect("map");
    lab.unmap_dma(0, 0x2000).expect("unmap");
    lab.remove_window(0).expect("remove");
    lab.unregister_memory(BUF, MIB).expect("unregister");
    assert_eq!(lab.locked_vm_pages(), 0);
    assert_eq!(
        lab.counters().create_window.failed + lab.counters().map_dma.failed,
        0
    );
}

/// pSeries `spapr_tce_create_table` rules: slot 0 refuses while a DDW exists; a large or
/// non-4K slot-0 request becomes a DDW; the platform's largest block limits DDWs.
#[test]
fn pseries_slot_0_and_ddw_rules() {
    let lab = pseries();
    lab.remove_window(0).expect("no default window");
    let big = lab
        .create_window(request(16, 1 << 32, 1))
        .expect("slot 0 DDW");
    assert_eq!((big, lab.windows()[0].slot), (1 << 59, 0));
    assert_eq!(
        errno(lab.create_window(request(12, 1 << 30, 1))),
        libc::ENODEV
    );
    lab.remove_window(big).expect("remove");
    lab.create_window(request(12, 1 << 28, 1))
        .expect("default-like in slot 0");
    let ddw = lab
        .create_window(request(12, 1 << 28, 1))
        .expect("slot 1 is always a DDW");
    assert_eq!(ddw, 1 << 59);
    lab.remove_window(0).expect("remove slot 0");
    lab.remove_window(ddw).expect("remove the DDW");
    // Nothing on the pSeries path checks levels 0 (derived from code): a DDW with 1 level.
    let zero = lab
        .create_window(request(16, 1 << 32, 0))
        .expect("levels 0");
    assert_eq!((zero, lab.windows()[0].levels), (1 << 59, 0));
    lab.remove_window(zero).expect("remove");
    lab.create_window(request(12, 1 << 28, 1))
        .expect("default-like in slot 0");
    lab.create_window(request(12, 1 << 28, 1))
        .expect("DDW in slot 1");
    lab.remove_window(0).expect("remove slot 0");
    assert_eq!(
        errno(lab.create_window(request(12, 1 << 28, 1))),
        libc::EPERM
    );
    assert_eq!(
        errno(lab.create_window(request(16, 1 << 32, 1))),
        libc::EPERM
    );

    let limited = ModelContainer::new(PlatformProfile {
        platform: Platform::Pseries {
            ddw_start: 1 << 59,
            largest_ddw_block: Some(1 << 18),
        },
        ..PlatformProfile::pseries_nested()
    });
    assert_eq!(
        errno(limited.create_window(request(12, 1 << 31, 1))),
        libc::EINVAL
    );
    limited
        .create_window(request(12, 1 << 30, 1))
        .expect("fits the block");
    // Default window: 2^16 entries × 8 bytes; DDW: 2^18 × 8 (no doubling on pSeries).
    assert_eq!(
        limited.locked_vm_pages(),
        (512 << 10) / 4096 + (2 << 20) / 4096
    );
}
