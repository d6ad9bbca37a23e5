// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Items 34, 36, 47–50: pre-registration rules and `mm_iommu` invariants.

use vfio_spapr::model::{ModelContainer, ModelProcess, PlatformProfile, ProcessId};
use vfio_spapr::{DmaAccess, SpaprTceIommu};

use crate::common::{errno, power9, region_mapped, request, BUF, MIB, PAGE_64K};

/// Item 34: alignment to the host PAGE_SIZE (64 KiB), not the IOMMU page; exact duplicate
/// in the same container → EBUSY; from another container of the process → shared and
/// charged once; any other overlap → EINVAL; unpinnable → EFAULT (never a positive count).
#[test]
fn item_34_register_alignment_duplicate_overlap() {
    let process = ModelProcess::new(ProcessId(4), None);
    let iommu = ModelContainer::new_in(&process, PlatformProfile::powernv_power8());
    let twin = ModelContainer::new_in(&process, PlatformProfile::powernv_power8());
    assert_eq!(
        errno(iommu.register_memory(BUF + 0x1000, PAGE_64K)),
        libc::EINVAL
    );
    assert_eq!(errno(iommu.register_memory(BUF, 0x1000)), libc::EINVAL);
    assert_eq!(
        errno(iommu.register_memory(u64::MAX - 0xffff, 2 * PAGE_64K)),
        libc::EINVAL
    );
    iommu.register_memory(BUF, MIB).expect("register");
    assert_eq!(iommu.locked_vm_pages(), 16);
    assert_eq!(errno(iommu.register_memory(BUF, MIB)), libc::EBUSY);
    assert_eq!(
        errno(iommu.register_memory(BUF + PAGE_64K, MIB)),
        libc::EINVAL
    );
    assert_eq!(errno(iommu.register_memory(BUF, 2 * MIB)), libc::EINVAL);
    assert_eq!(
        errno(iommu.register_memory(BUF - PAGE_64K, 2 * PAGE_64K)),
        libc::EINVAL
    );
    twin.register_memory(BUF, MIB)
        .expect("exact duplicate from another container");
    assert_eq!(errno(twin.register_memory(BUF, MIB)), libc::EBUSY);
    let regions = iommu.registrations();
    assert_eq!(regions.len(), 1);
    assert_eq!((regions[0].used, regions[0].mapped), (2, 1));
    assert_eq!(process.locked_vm_pages(), 16);
    // Unpinnable (unmapped or read-only) memory: EFAULT, nothing registered or charged,
    // even when it would also overlap (pinning comes before the overlap check).
    iommu
        .set_unpinnable(BUF + 8 * MIB + 0x100, 8)
        .expect("describe");
    assert_eq!(
        errno(iommu.register_memory(BUF + 8 * MIB, MIB)),
        libc::EFAULT
    );
    assert_eq!(errno(iommu.register_memory(BUF, 9 * MIB)), libc::EFAULT);
    assert_eq!(iommu.registrations().len(), 1);
    assert_eq!(process.locked_vm_pages(), 16);
    // Size 0 fails in the kernel's allocation (errno unverified; the model says ENOMEM).
    assert_eq!(
        errno(iommu.register_memory(BUF + 64 * MIB, 0)),
        libc::ENOMEM
    );
}

/// Item 36: UNREGISTER needs the exact (vaddr, size) registered by this container, else
/// ENOENT; the last user of a still-mapped region gets EBUSY and the registration stays.
#[test]
fn item_36_unregister_exact_match_and_busy() {
    let process = ModelProcess::new(ProcessId(4), None);
    let iommu = ModelContainer::new_in(&process, PlatformProfile::powernv_power8());
    let other = ModelContainer::new_in(&process, PlatformProfile::powernv_power8());
    iommu.register_memory(BUF, MIB).expect("register");
    other.remove_window(0).expect("bind the other container");
    assert_eq!(errno(iommu.unregister_memory(BUF, 2 * MIB)), libc::ENOENT);
    assert_eq!(
        errno(iommu.unregister_memory(BUF + PAGE_64K, MIB - PAGE_64K)),
        libc::ENOENT
    );
    assert_eq!(
        errno(iommu.unregister_memory(BUF + 0x1000, MIB)),
        libc::EINVAL
    );
    assert_eq!(errno(other.unregister_memory(BUF, MIB)), libc::ENOENT);
    iommu.map_dma(0, 0x1000, BUF, DmaAccess::Read).expect("map");
    assert_eq!(errno(iommu.unregister_memory(BUF, MIB)), libc::EBUSY);
    let regions = iommu.registrations();
    assert_eq!(regions.len(), 1);
    assert!(regions[0].in_this_container);
    assert_eq!((regions[0].used, regions[0].mapped), (1, 2));
    iommu.unmap_dma(0, 0x1000).expect("unmap");
    iommu.unregister_memory(BUF, MIB).expect("now free");
    assert!(iommu.registrations().is_empty());
    assert_eq!(process.locked_vm_pages(), 128);
    assert_eq!(errno(iommu.unregister_memory(BUF, MIB)), libc::ENOENT);
}

/// Item 36, shared region: only the last user is refused, and mappings by any container of
/// the process count (lookups are per process, not per container).
#[test]
fn item_36_only_the_last_user_is_refused() {
    let process = ModelProcess::new(ProcessId(4), None);
    let owner = ModelContainer::new_in(&process, PlatformProfile::powernv_power8());
    let user = ModelContainer::new_in(&process, PlatformProfile::powernv_power8());
    owner.register_memory(BUF, MIB).expect("register");
    user.register_memory(BUF, MIB).expect("share");
    user.map_dma(0, 0x2000, BUF, DmaAccess::Read).expect("map");
    owner
        .unregister_memory(BUF, MIB)
        .expect("another user remains");
    assert_eq!(errno(user.unregister_memory(BUF, MIB)), libc::EBUSY);
    // A container that never registered the region may still map it (process-wide lookup);
    // its mappings keep the owner from unregistering.
    owner
        .register_memory(BUF + 4 * MIB, MIB)
        .expect("second region");
    user.map_dma(0x10_0000, 0x1000, BUF + 4 * MIB, DmaAccess::Write)
        .expect("map");
    assert_eq!(
        errno(owner.unregister_memory(BUF + 4 * MIB, MIB)),
        libc::EBUSY
    );
}

/// Item 47: `mapped` = 1 + live hardware entries pointing into the region, from every
/// container; unregister succeeds only at exactly 1.
#[test]
fn item_47_mapped_counts_live_entries_of_all_containers() {
    let process = ModelProcess::new(ProcessId(4), None);
    let a = ModelContainer::new_in(&process, PlatformProfile::powernv_power9());
    let b = ModelContainer::new_in(&process, PlatformProfile::powernv_power9());
    a.register_memory(BUF, 2 * MIB).expect("region 1");
    a.register_memory(BUF + 2 * MIB, 2 * MIB).expect("region 2");
    b.register_memory(BUF, 2 * MIB).expect("share region 1");
    a.map_dma(0, MIB, BUF + 512 * 1024, DmaAccess::Read)
        .expect("a maps 256 pages");
    b.map_dma(0x4000, 0x8000, BUF, DmaAccess::Read)
        .expect("b maps 8 pages");
    a.map_dma(MIB, 3 * MIB, BUF + MIB, DmaAccess::Write)
        .expect("a maps across both");
    a.unmap_dma(0x1_0000, 0x1_0000).expect("a unmaps 16");
    for region in a.registrations() {
        let live: u64 = [&a, &b]
            .iter()
            .flat_map(|c| c.hw_extents())
            .flat_map(|e| (0..e.pages).map(move |i| e.vaddr + (i << e.page_shift)))
            .filter(|v| (region.vaddr..region.vaddr + region.size).contains(v))
            .count() as u64;
        assert_eq!(region.mapped, 1 + live, "region {:#x}", region.vaddr);
    }
    assert_eq!(region_mapped(&a, BUF), 1 + 256 - 16 + 8 + 256);
    assert_eq!(region_mapped(&a, BUF + 2 * MIB), 1 + 512);
    a.unmap_dma(0, 4 * MIB).expect("a unmaps all");
    b.unmap_dma(0, 4 * MIB).expect("b unmaps all");
    assert_eq!(region_mapped(&a, BUF), 1);
    a.unregister_memory(BUF + 2 * MIB, 2 * MIB).expect("free");
}

/// Item 48: every IOMMU page must lie in one region; adjacent regions are not merged, so a
/// 2 MiB hugetlb buffer registered as two halves cannot back 2 MiB IOMMU pages.
#[test]
fn item_48_lookups_need_one_region_per_iommu_page() {
    let iommu = power9();
    iommu.set_backing(BUF, 4 * MIB, 21).expect("2M hugetlb");
    iommu.register_memory(BUF, MIB).expect("first half");
    iommu.register_memory(BUF + MIB, MIB).expect("second half");
    iommu
        .register_memory(BUF + 2 * MIB, 2 * MIB)
        .expect("whole huge page");
    let huge = iommu
        .create_window(request(21, 1 << 30, 1))
        .expect("2M window");
    assert_eq!(
        errno(iommu.map_dma(huge, 2 * MIB, BUF, DmaAccess::Read)),
        libc::EINVAL
    );
    iommu
        .map_dma(huge, 2 * MIB, BUF + 2 * MIB, DmaAccess::Read)
        .expect("one region");
    // Small pages may run across the two adjacent regions; each page is in one of them.
    iommu
        .map_dma(0, 2 * MIB, BUF, DmaAccess::Read)
        .expect("4K pages across both");
    assert_eq!(region_mapped(&iommu, BUF), 1 + 256);
    assert_eq!(region_mapped(&iommu, BUF + MIB), 1 + 256);
}

/// Item 49: region page size = min(alignment of vaddr|size, hugetlb page size) for
/// all-hugetlb memory, else the host page size; MAP_DMA enforces it.
#[test]
fn item_49_region_page_size() {
    let iommu = power9();
    let anon = BUF;
    let huge_2m = BUF + (1 << 30);
    let huge_1g = BUF + (4 << 30);
    let mixed = BUF + (8 << 30);
    iommu.set_backing(huge_2m, 64 * MIB, 21).expect("2M");
    iommu.set_backing(huge_1g, 2 << 30, 30).expect("1G");
    iommu
        .set_backing(mixed + 2 * MIB, 2 * MIB, 21)
        .expect("2M after small pages");
    iommu.register_memory(anon, 1 << 30).expect("anonymous");
    iommu
        .register_memory(huge_2m, 6 * MIB)
        .expect("2M, 2M aligned");
    iommu.register_memory(huge_1g, 1 << 30).expect("1G aligned");
    iommu
        .register_memory(huge_1g + (1 << 30), 32 * MIB)
        .expect("32M aligned on 1G");
    iommu
        .register_memory(mixed, 4 * MIB)
        .expect("small then huge");
    let shifts: Vec<(u64, u32)> = iommu
        .registrations()
        .iter()
        .map(|r| (r.vaddr, r.page_shift))
        .collect();
    assert_eq!(
        shifts,
        vec![
            (anon, 16),
            (huge_2m, 21),
            (huge_1g, 30),
            (huge_1g + (1 << 30), 25),
            (mixed, 16)
        ]
    );
    let window_2m = iommu
        .create_window(request(21, 1 << 34, 1))
        .expect("2M window");
    assert_eq!(
        errno(iommu.map_dma(window_2m, 2 * MIB, anon, DmaAccess::Read)),
        libc::EINVAL
    );
    assert_eq!(
        errno(iommu.map_dma(window_2m, 2 * MIB, mixed + 2 * MIB, DmaAccess::Read)),
        libc::EINVAL
    );
    iommu
        .map_dma(window_2m, 6 * MIB, huge_2m, DmaAccess::Read)
        .expect("2M pages");
    iommu
        .map_dma(
            window_2m + (1 << 30),
            32 * MIB,
            huge_1g + (1 << 30),
            DmaAccess::Read,
        )
        .expect("2M pages on 1G");
    iommu
        .map_dma(0, 0x1_0000, mixed, DmaAccess::Read)
        .expect("host-page IOMMU pages");
}

/// Item 50: a registration snapshots its pages: later changes of the address space do not
/// change its page size, and MAP_DMA keeps using the old pages.
#[test]
fn item_50_registration_snapshots_the_pages() {
    let iommu = power9();
    iommu.set_backing(BUF, 4 * MIB, 21).expect("2M hugetlb");
    iommu.register_memory(BUF, 4 * MIB).expect("register");
    // munmap + mmap of anonymous memory, then even read-only: the region does not notice.
    iommu.set_backing(BUF, 4 * MIB, 16).expect("now anonymous");
    iommu.set_unpinnable(BUF, 4 * MIB).expect("now unmapped");
    assert_eq!(iommu.registrations()[0].page_shift, 21);
    let window = iommu
        .create_window(request(21, 1 << 30, 1))
        .expect("2M window");
    iommu
        .map_dma(window, 4 * MIB, BUF, DmaAccess::Read)
        .expect("old huge pages");
    // The other way round: hugetlb appearing after registration does not help.
    iommu
        .register_memory(BUF + 4 * MIB, 4 * MIB)
        .expect("anonymous");
    iommu
        .set_backing(BUF + 4 * MIB, 4 * MIB, 21)
        .expect("now huge");
    assert_eq!(
        errno(iommu.map_dma(window + 4 * MIB, 2 * MIB, BUF + 4 * MIB, DmaAccess::Read)),
        libc::EINVAL
    );
}
