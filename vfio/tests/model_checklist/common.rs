// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Helpers shared by the checklist tests.

use vfio_spapr::model::{ModelContainer, PlatformProfile};
use vfio_spapr::{IommuError, WindowRequest};

/// 1 MiB.
pub const MIB: u64 = 1 << 20;
/// A 64 KiB host page.
pub const PAGE_64K: u64 = 1 << 16;
/// A userspace buffer address, 1 GiB aligned.
pub const BUF: u64 = 0x7f00_0000_0000;

/// The errno of a call that must fail.
pub fn errno<T: std::fmt::Debug>(result: Result<T, IommuError>) -> i32 {
    result.expect_err("the call should fail").errno
}

/// A TCE_CREATE request.
pub fn request(page_shift: u32, window_size: u64, levels: u32) -> WindowRequest {
    WindowRequest {
        page_shift,
        window_size,
        levels,
    }
}

/// A POWER8 host (64 KiB pages) container.
pub fn power8() -> ModelContainer {
    ModelContainer::new(PlatformProfile::powernv_power8())
}

/// A POWER9 host (64 KiB pages, 2M/1G IOMMU pages) container.
pub fn power9() -> ModelContainer {
    ModelContainer::new(PlatformProfile::powernv_power9())
}

/// A pSeries host container (lab values).
pub fn pseries() -> ModelContainer {
    ModelContainer::new(PlatformProfile::pseries_nested())
}

/// `mapped` of the region starting at `vaddr`.
pub fn region_mapped(iommu: &ModelContainer, vaddr: u64) -> u64 {
    iommu
        .registrations()
        .iter()
        .find(|r| r.vaddr == vaddr)
        .map(|r| r.mapped)
        .expect("region registered")
}
