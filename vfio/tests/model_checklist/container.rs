// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Items 30–33, 37, 45, 51: backend lifetime, process binding, GET_INFO, accounting.

use vfio_spapr::model::{ModelContainer, ModelProcess, PlatformProfile, ProcessId};
use vfio_spapr::{DmaAccess, SpaprTceIommu};

use crate::common::{errno, power8, power9, pseries, region_mapped, request, BUF, MIB};

/// Item 30 (model part): without a backend — here after the last group left — every
/// backend ioctl fails with EINVAL. SET_IOMMU ordering is the real container's business.
#[test]
fn item_30_no_backend_means_einval() {
    let iommu = power8();
    iommu.register_memory(BUF, MIB).expect("register");
    iommu.release();
    assert!(iommu.is_released());
    assert_eq!(errno(iommu.info()), libc::EINVAL);
    assert_eq!(errno(iommu.register_memory(BUF, MIB)), libc::EINVAL);
    assert_eq!(errno(iommu.unregister_memory(BUF, MIB)), libc::EINVAL);
    assert_eq!(
        errno(iommu.create_window(request(16, 1 << 30, 1))),
        libc::EINVAL
    );
    assert_eq!(errno(iommu.remove_window(0)), libc::EINVAL);
    assert_eq!(
        errno(iommu.map_dma(0, 0x1000, BUF, DmaAccess::Read)),
        libc::EINVAL
    );
    assert_eq!(errno(iommu.unmap_dma(0, 0x1000)), libc::EINVAL);
    assert_eq!(iommu.counters().register_memory.failed, 1);
    assert_eq!(iommu.counters().register_memory.ok, 1);
}

/// Item 31: ENOTTY for v1-only and unknown ioctls cannot be expressed through the typed
/// interface (real container). The model is a v2 backend: it reports DDW and never answers
/// ENOTTY to a v2 operation, whatever the arguments.
#[test]
fn item_31_model_is_a_v2_backend_without_enotty() {
    let iommu = power9();
    assert!(iommu.info().expect("info").ddw.is_some());
    let outcomes = [
        iommu.register_memory(BUF + 1, MIB).err(),
        iommu.unregister_memory(BUF, MIB).err(),
        iommu.create_window(request(13, 1 << 30, 1)).err(),
        iommu.remove_window(0x1234_0000).err(),
        iommu.map_dma(0, 0x1000, BUF, DmaAccess::Read).err(),
        iommu.unmap_dma(0, 0x1000).err(),
    ];
    for outcome in outcomes.iter().flatten() {
        assert_ne!(outcome.errno, libc::ENOTTY, "{outcome}");
    }
}

/// Item 32: REGISTER/CREATE/REMOVE bind the container to the caller even when they fail;
/// afterwards other processes get EPERM for everything; UNREGISTER before any binding is
/// EPERM; GET_INFO does not bind.
#[test]
fn item_32_first_register_create_remove_bind_the_process() {
    let iommu = power8();
    assert_eq!(errno(iommu.unregister_memory(BUF, MIB)), libc::EPERM);
    iommu.info().expect("info");
    assert_eq!(iommu.bound_process(), None);
    // A failing REGISTER (misaligned) still binds.
    assert_eq!(
        errno(iommu.register_memory(BUF + 0x1000, MIB)),
        libc::EINVAL
    );
    assert_eq!(iommu.bound_process(), Some(ProcessId::DEFAULT));
    iommu.set_caller(ProcessId(7));
    assert_eq!(errno(iommu.info()), libc::EPERM);
    assert_eq!(errno(iommu.register_memory(BUF, MIB)), libc::EPERM);
    assert_eq!(errno(iommu.unregister_memory(BUF, MIB)), libc::EPERM);
    assert_eq!(
        errno(iommu.create_window(request(16, 1 << 30, 1))),
        libc::EPERM
    );
    assert_eq!(errno(iommu.remove_window(0)), libc::EPERM);
    assert_eq!(
        errno(iommu.map_dma(0, 0x1000, BUF, DmaAccess::Read)),
        libc::EPERM
    );
    assert_eq!(errno(iommu.unmap_dma(0, 0x1000)), libc::EPERM);
    // Nothing happened on behalf of the foreign process.
    assert!(iommu.default_window_pending());
    iommu.set_caller(ProcessId::DEFAULT);
    iommu.register_memory(BUF, MIB).expect("owner registers");

    // A failing CREATE binds the process that made it.
    let created = power8();
    created.set_caller(ProcessId(9));
    assert_eq!(
        errno(created.create_window(request(13, 1 << 30, 1))),
        libc::EINVAL
    );
    assert_eq!(created.bound_process(), Some(ProcessId(9)));
    created.set_caller(ProcessId::DEFAULT);
    assert_eq!(errno(created.register_memory(BUF, MIB)), libc::EPERM);

    // So does a failing REMOVE.
    let removed = power8();
    removed
        .remove_window(0)
        .expect("suppress the default window");
    assert_eq!(errno(removed.remove_window(0)), libc::EINVAL);
    assert_eq!(removed.bound_process(), Some(ProcessId::DEFAULT));
    removed.set_caller(ProcessId(3));
    assert_eq!(errno(removed.info()), libc::EPERM);
}

/// Item 33: MAP/UNMAP before the first *successful* REGISTER → EPERM, and nothing is
/// materialised; `enabled` then stays set even when nothing remains registered.
#[test]
fn item_33_map_unmap_before_first_successful_register_eperm() {
    let iommu = power8();
    assert_eq!(
        errno(iommu.map_dma(0, 0x1000, BUF, DmaAccess::Read)),
        libc::EPERM
    );
    assert_eq!(errno(iommu.unmap_dma(0, 0x1000)), libc::EPERM);
    assert_eq!(errno(iommu.register_memory(BUF, 0x1000)), libc::EINVAL);
    assert_eq!(
        errno(iommu.map_dma(0, 0x1000, BUF, DmaAccess::Read)),
        libc::EPERM
    );
    assert!(iommu.windows().is_empty());
    assert!(iommu.default_window_pending());
    iommu.register_memory(BUF, MIB).expect("register");
    iommu.map_dma(0, 0x1000, BUF, DmaAccess::Read).expect("map");
    iommu.unmap_dma(0, 0x1000).expect("unmap");
    iommu.unregister_memory(BUF, MIB).expect("unregister");
    assert!(iommu.is_enabled());
    assert_eq!(
        errno(iommu.map_dma(0, 0x1000, BUF, DmaAccess::Read)),
        libc::EINVAL
    );
    iommu.unmap_dma(0, 0x1000).expect("unmap still allowed");
}

/// Item 37: GET_INFO reports the platform's values, works before REGISTER, does not bind.
#[test]
fn item_37_get_info_reports_the_platform() {
    let p8 = power8().info().expect("info");
    assert_eq!(
        (p8.dma32_window_start, p8.dma32_window_size),
        (0, 0x8000_0000)
    );
    let ddw = p8.ddw.expect("ddw");
    assert_eq!(ddw.pgsizes, 0x1000 | 0x1_0000 | 0x100_0000 | 0x1000_0000);
    assert_eq!((ddw.max_dynamic_windows_supported, ddw.levels), (2, 5));
    let p9 = power9().info().expect("info").ddw.expect("ddw");
    assert_eq!(p9.pgsizes, 0x1000 | 0x1_0000 | 0x20_0000 | 0x4000_0000);
    let lab = pseries();
    let info = lab.info().expect("info");
    assert_eq!(info.dma32_window_size, 0x1000_0000);
    assert_eq!(
        info.ddw.map(|d| (d.pgsizes, d.levels)),
        Some((0x121_1000, 1))
    );
    assert_eq!(lab.bound_process(), None);
    let no_ddw = ModelContainer::new(PlatformProfile {
        max_windows: 0,
        ..PlatformProfile::powernv_power8()
    });
    assert_eq!(no_ddw.info().expect("info").ddw, None);
}

/// Item 45: detaching a group while others remain empties every window (windows stay);
/// detaching the last destroys windows and registrations and returns every charge.
#[test]
fn item_45_detach_clears_windows_last_detach_destroys_everything() {
    let iommu = power9();
    iommu.attach_group();
    iommu.register_memory(BUF, 4 * MIB).expect("register");
    let ddw = iommu
        .create_window(request(16, 1 << 30, 1))
        .expect("create");
    iommu
        .map_dma(0, 0x4000, BUF, DmaAccess::ReadWrite)
        .expect("map default");
    iommu
        .map_dma(ddw, 0x2_0000, BUF, DmaAccess::Read)
        .expect("map ddw");
    let locked = iommu.locked_vm_pages();
    iommu.detach_group();
    assert!(!iommu.is_released());
    assert_eq!(iommu.windows().len(), 2);
    assert_eq!(iommu.mapped_pages(), 0);
    assert_eq!(iommu.hw_entry(0), None);
    assert_eq!(region_mapped(&iommu, BUF), 1);
    assert_eq!(iommu.locked_vm_pages(), locked);
    iommu
        .map_dma(0, 0x1000, BUF, DmaAccess::Read)
        .expect("windows still usable");
    iommu.detach_group();
    assert!(iommu.is_released());
    assert!(iommu.windows().is_empty());
    assert!(iommu.registrations().is_empty());
    assert_eq!(iommu.locked_vm_pages(), 0);
    assert_eq!(errno(iommu.info()), libc::EINVAL);
}

/// Item 45, shared process: a container's release drops only its own references; a region
/// another container still uses stays, with the other container's mappings.
#[test]
fn item_45_release_keeps_regions_of_other_containers() {
    let process = ModelProcess::new(ProcessId(5), None);
    let first = ModelContainer::new_in(&process, PlatformProfile::powernv_power8());
    let second = ModelContainer::new_in(&process, PlatformProfile::powernv_power8());
    first.register_memory(BUF, MIB).expect("first");
    second.register_memory(BUF, MIB).expect("second shares");
    second
        .map_dma(0, 0x3000, BUF, DmaAccess::Read)
        .expect("map");
    first.release();
    let regions = second.registrations();
    assert_eq!(regions.len(), 1);
    assert_eq!((regions[0].used, regions[0].mapped), (1, 4));
    assert_eq!(process.locked_vm_pages(), 16 + 128);
    second.release();
    assert_eq!(process.locked_vm_pages(), 0);
}

/// Item 51: registrations (size/PAGE_SIZE, once per region) and windows (table formula,
/// table + userspace view) are charged against RLIMIT_MEMLOCK; over it → ENOMEM with
/// nothing charged; everything returns on teardown.
#[test]
fn item_51_locked_vm_accounting() {
    let profile = PlatformProfile {
        locked_vm_limit_pages: Some(16 + 128 + 32),
        ..PlatformProfile::powernv_power8()
    };
    let process = ModelProcess::new(ProcessId(2), profile.locked_vm_limit_pages);
    let iommu = ModelContainer::new_in(&process, profile.clone());
    let twin = ModelContainer::new_in(&process, profile);
    iommu.register_memory(BUF, MIB).expect("16 pages");
    twin.register_memory(BUF, MIB)
        .expect("shared, charged once");
    assert_eq!(iommu.locked_vm_pages(), 16);
    iommu
        .map_dma(0, 0x1000, BUF, DmaAccess::Read)
        .expect("default window");
    assert_eq!(iommu.locked_vm_pages(), 16 + 128);
    assert_eq!(iommu.windows()[0].locked_pages, 128);
    // 64K pages, 4 GiB: E = 16, table 512 KiB ×2 = 1 MiB = 16 pages.
    let ddw = iommu.create_window(request(16, 1 << 32, 1)).expect("fits");
    assert_eq!(iommu.locked_vm_pages(), 16 + 128 + 16);
    // 33 more pages do not fit: nothing is registered or charged.
    assert_eq!(
        errno(iommu.register_memory(BUF + 4 * MIB, 33 << 16)),
        libc::ENOMEM
    );
    assert_eq!(iommu.registrations().len(), 1);
    assert_eq!(iommu.locked_vm_pages(), 16 + 128 + 16);
    // A window in the other container of the process counts against the same limit.
    twin.remove_window(0).expect("no default window there");
    assert_eq!(
        errno(twin.create_window(request(16, 1 << 34, 1))),
        libc::ENOMEM
    );
    assert!(twin.windows().is_empty());
    iommu.remove_window(ddw).expect("remove");
    assert_eq!(iommu.locked_vm_pages(), 16 + 128);
    twin.unregister_memory(BUF, MIB)
        .expect("other user remains");
    assert_eq!(iommu.locked_vm_pages(), 16 + 128);
    iommu.unmap_dma(0, 0x1000).expect("unmap");
    iommu.unregister_memory(BUF, MIB).expect("last user");
    assert_eq!(iommu.locked_vm_pages(), 128);
    iommu.release();
    assert_eq!(process.locked_vm_pages(), 0);
}
