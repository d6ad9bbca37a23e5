// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Items 8 (MAP/UNMAP part), 35, 41–44: MAP_DMA and UNMAP_DMA.

use vfio_spapr::model::{ModelContainer, PlatformProfile};
use vfio_spapr::{DmaAccess, SpaprTceIommu};

use crate::common::{errno, power8, power9, pseries, region_mapped, request, BUF, MIB};

const GIB: u64 = 1 << 30;

/// Item 8 (deviation from the kernel, per its Recommendation): a MAP/UNMAP range whose end
/// is past the window, or overflows, fails with EINVAL and changes nothing.
#[test]
fn item_08_range_end_outside_window_rejected() {
    let iommu = power8();
    iommu.register_memory(BUF, 16 * MIB).expect("register");
    assert_eq!(
        errno(iommu.map_dma(2 * GIB - 0x1000, 0x2000, BUF, DmaAccess::Read)),
        libc::EINVAL
    );
    assert_eq!(iommu.hw_entry(2 * GIB - 0x1000), None);
    assert_eq!(iommu.mapped_pages(), 0);
    iommu
        .map_dma(2 * GIB - 0x2000, 0x2000, BUF, DmaAccess::Read)
        .expect("up to the end");
    assert_eq!(
        errno(iommu.unmap_dma(2 * GIB - 0x1000, 0x2000)),
        libc::EINVAL
    );
    assert_eq!(errno(iommu.unmap_dma(0x1000, !0xfffu64)), libc::EINVAL);
    assert_eq!(iommu.mapped_pages(), 2);
    let ddw = iommu.create_window(request(16, GIB, 1)).expect("create");
    assert_eq!(
        errno(iommu.map_dma(ddw + GIB - 0x1_0000, 0x2_0000, BUF, DmaAccess::Read)),
        libc::EINVAL
    );
    assert_eq!(errno(iommu.unmap_dma(ddw, 2 * GIB)), libc::EINVAL);
    assert_eq!(iommu.mapped_pages(), 2);
    iommu.unmap_dma(ddw, GIB).expect("whole window");
}

/// Item 35 (Recommendation: never report partial success): a MAP that fails part-way
/// returns the error; the entries it had written are cleared (old contents are not
/// restored, as in the kernel), entries after the failing page are untouched.
#[test]
fn item_35_map_never_reports_partial_success() {
    let iommu = power8();
    let region_a = BUF;
    let region_b = BUF + 5 * 0x1_0000;
    iommu
        .register_memory(region_a, 4 * 0x1_0000)
        .expect("A: 256 KiB");
    iommu
        .register_memory(region_b, 0x1_0000)
        .expect("B after a 64 KiB hole");
    iommu
        .map_dma(0, 0x1000, region_a, DmaAccess::Read)
        .expect("old entry 0");
    iommu
        .map_dma(79 * 0x1000, 0x1000, region_b, DmaAccess::Read)
        .expect("old entry 79");
    // Pages 0..64 are in A, page 64 is in the hole.
    assert_eq!(
        errno(iommu.map_dma(0, 80 * 0x1000, region_a, DmaAccess::Read)),
        libc::EINVAL
    );
    assert_eq!(iommu.hw_entry(0), None, "written then cleared");
    assert_eq!(iommu.hw_entry(79 * 0x1000).map(|e| e.vaddr), Some(region_b));
    assert_eq!(iommu.mapped_pages(), 1);
    assert_eq!(region_mapped(&iommu, region_a), 1);
    // A region that is gone never accepts mappings.
    iommu
        .unregister_memory(region_a, 4 * 0x1_0000)
        .expect("unregister");
    assert_eq!(
        errno(iommu.map_dma(0, 0x1000, region_a, DmaAccess::Read)),
        libc::EINVAL
    );
    assert_eq!(iommu.mapped_pages(), 1);
}

/// Item 41: MAP_DMA check order: (not enabled) → default window → no window (ENXIO) →
/// size/vaddr alignment → iova alignment/range → per page: registration and region page
/// size (EINVAL) → physical page size (EPERM); the first failing page decides.
#[test]
fn item_41_map_dma_check_order() {
    let fresh = power9();
    assert_eq!(
        errno(fresh.map_dma(5 * GIB, 0x123, BUF + 1, DmaAccess::Read)),
        libc::EPERM
    );

    // The default window's failure comes before ENXIO.
    let limited = ModelContainer::new(PlatformProfile {
        locked_vm_limit_pages: Some(16 + 127),
        ..PlatformProfile::powernv_power9()
    });
    limited.register_memory(BUF, MIB).expect("register");
    assert_eq!(
        errno(limited.map_dma(5 * GIB, 0x1000, BUF, DmaAccess::Read)),
        libc::ENOMEM
    );
    assert!(limited.default_window_pending());
    assert!(limited.windows().is_empty());

    let iommu = power9();
    let quirk = BUF + 64 * MIB;
    iommu.register_memory(BUF, 4 * MIB).expect("anonymous");
    // Huge page first, small pages after: region page size 2M, but page 1 is small.
    iommu.set_backing(quirk, 2 * MIB, 21).expect("2M hugetlb");
    iommu
        .register_memory(quirk, 4 * MIB)
        .expect("quirky region");
    assert_eq!(iommu.registrations()[1].page_shift, 21);
    // ENXIO before any alignment check; the default window now exists.
    assert_eq!(
        errno(iommu.map_dma(5 * GIB, 0x123, BUF + 1, DmaAccess::Read)),
        libc::ENXIO
    );
    assert_eq!(iommu.windows().len(), 1);
    assert_eq!(
        errno(iommu.map_dma(0x1000, 0x1001, BUF, DmaAccess::Read)),
        libc::EINVAL
    );
    assert_eq!(
        errno(iommu.map_dma(0x1000, 0x1000, BUF + 0x800, DmaAccess::Read)),
        libc::EINVAL
    );
    let huge = iommu
        .create_window(request(21, 4 * GIB, 1))
        .expect("2M window");
    // A misaligned iova is refused before the per-page EPERM.
    assert_eq!(
        errno(iommu.map_dma(huge + 0x1000, 4 * MIB, quirk, DmaAccess::Read)),
        libc::EINVAL
    );
    // Per page: page 1 is backed by small pages → EPERM, page 0 cleared again.
    assert_eq!(
        errno(iommu.map_dma(huge, 4 * MIB, quirk, DmaAccess::Read)),
        libc::EPERM
    );
    assert_eq!(iommu.hw_entry(huge), None);
    assert_eq!(region_mapped(&iommu, quirk), 1);
    // An unregistered first page decides before a later EPERM page.
    assert_eq!(
        errno(iommu.map_dma(huge, 6 * MIB, quirk - 2 * MIB, DmaAccess::Read)),
        libc::EINVAL
    );
    // A region page size too small is EINVAL even where the compound page is also small.
    assert_eq!(
        errno(iommu.map_dma(huge, 2 * MIB, BUF, DmaAccess::Read)),
        libc::EINVAL
    );
    iommu
        .map_dma(huge, 2 * MIB, quirk, DmaAccess::Read)
        .expect("the huge page maps");
}

/// Item 42: MAP_DMA over live entries replaces them (no EBUSY) and moves the `mapped`
/// references to the new region.
#[test]
fn item_42_map_replaces_and_moves_mapped_references() {
    let iommu = power8();
    let a = BUF;
    let b = BUF + 4 * MIB;
    iommu.register_memory(a, MIB).expect("A");
    iommu.register_memory(b, MIB).expect("B");
    iommu.map_dma(0, 0x2000, a, DmaAccess::Read).expect("map A");
    iommu
        .map_dma(0, 0x2000, b, DmaAccess::ReadWrite)
        .expect("replace with B");
    assert_eq!(
        iommu.hw_entry(0x1000).map(|e| (e.vaddr, e.access)),
        Some((b + 0x1000, DmaAccess::ReadWrite))
    );
    assert_eq!((region_mapped(&iommu, a), region_mapped(&iommu, b)), (1, 3));
    assert_eq!(iommu.counters().entries_unmapped, 2);
    iommu
        .map_dma(0, 0x4000, a, DmaAccess::Read)
        .expect("4 pages of A");
    iommu
        .map_dma(0x2000, 0x4000, b, DmaAccess::Read)
        .expect("overlapping 4 pages of B");
    assert_eq!((region_mapped(&iommu, a), region_mapped(&iommu, b)), (3, 5));
    assert_eq!(iommu.hw_entry(0x1000).map(|e| e.vaddr), Some(a + 0x1000));
    assert_eq!(iommu.hw_entry(0x2000).map(|e| e.vaddr), Some(b));
    assert_eq!(iommu.mapped_pages(), 6);
}

/// Item 43: UNMAP_DMA of entries that were never mapped succeeds; sizes of 0 succeed and
/// do nothing; only live entries count as unmapped.
#[test]
fn item_43_unmap_of_empty_entries_succeeds() {
    let iommu = power8();
    iommu.register_memory(BUF, MIB).expect("register");
    iommu.unmap_dma(0, MIB).expect("never mapped");
    iommu.unmap_dma(0x5000, 0).expect("size 0");
    iommu
        .map_dma(0x5000, 0, BUF, DmaAccess::Read)
        .expect("map of size 0");
    assert_eq!(iommu.mapped_pages(), 0);
    iommu
        .map_dma(0x3000, 0x2000, BUF, DmaAccess::Read)
        .expect("map 2");
    iommu.unmap_dma(0, 0x10_0000).expect("unmap around them");
    let counters = iommu.counters();
    assert_eq!((counters.entries_mapped, counters.entries_unmapped), (2, 2));
    assert_eq!(counters.unmap_dma.ok, 3);
}

/// Item 44: PowerNV stores write-only mappings as R|W; pSeries keeps the bits as given.
#[test]
fn item_44_write_only_installed_as_read_write_on_powernv() {
    let iommu = power8();
    iommu.register_memory(BUF, MIB).expect("register");
    iommu.map_dma(0, 0x1000, BUF, DmaAccess::Write).expect("W");
    iommu
        .map_dma(0x1000, 0x1000, BUF, DmaAccess::Read)
        .expect("R");
    let stored: Vec<DmaAccess> = iommu.hw_extents().iter().map(|e| e.access).collect();
    assert_eq!(stored, vec![DmaAccess::ReadWrite, DmaAccess::Read]);
    assert_eq!(iommu.hw_entry(0).map(|e| e.access.tce_bits()), Some(3));
    let lab = pseries();
    lab.register_memory(BUF, MIB).expect("register");
    lab.map_dma(0, 0x1000, BUF, DmaAccess::Write).expect("W");
    assert_eq!(lab.hw_entry(0).map(|e| e.access), Some(DmaAccess::Write));
}
