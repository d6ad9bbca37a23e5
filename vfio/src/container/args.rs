// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Builds the ioctl argument structures of `vfio-bindings` and reads their results.
//!
//! Every builder sets `argsz` to the full structure size, which is at least the kernel's
//! `minsz` (kernel-host.md §3.1: "argsz < minsz → EINVAL"), and `flags` to the only value the
//! SPAPR v2 backend accepts.

use std::mem::size_of;

use vfio_bindings::bindings::vfio::{
    vfio_group_status, vfio_iommu_spapr_register_memory, vfio_iommu_spapr_tce_create,
    vfio_iommu_spapr_tce_info, vfio_iommu_spapr_tce_remove, vfio_iommu_type1_dma_map,
    vfio_iommu_type1_dma_unmap, VFIO_IOMMU_SPAPR_INFO_DDW,
};

use crate::{DdwInfo, DmaAccess, SpaprIommuInfo, WindowRequest};

/// `argsz` of a structure: its size in bytes (all are far below 4 GiB).
const fn argsz<T>() -> u32 {
    size_of::<T>() as u32
}

/// `VFIO_GROUP_GET_STATUS` argument.
pub(super) fn group_status() -> vfio_group_status {
    vfio_group_status {
        argsz: argsz::<vfio_group_status>(),
        flags: 0,
    }
}

/// `VFIO_IOMMU_SPAPR_TCE_GET_INFO` argument; `argsz = 32` asks for the DDW part too
/// (kernel-host.md §3.4 GET_INFO step 5).
pub(super) fn tce_info() -> vfio_iommu_spapr_tce_info {
    vfio_iommu_spapr_tce_info {
        argsz: argsz::<vfio_iommu_spapr_tce_info>(),
        ..Default::default()
    }
}

/// Converts the kernel's answer; the DDW part only counts when `VFIO_IOMMU_SPAPR_INFO_DDW`
/// is set.
pub(super) fn iommu_info_from(raw: &vfio_iommu_spapr_tce_info) -> SpaprIommuInfo {
    let ddw = (raw.flags & VFIO_IOMMU_SPAPR_INFO_DDW != 0).then_some(DdwInfo {
        pgsizes: raw.ddw.pgsizes,
        max_dynamic_windows_supported: raw.ddw.max_dynamic_windows_supported,
        levels: raw.ddw.levels,
    });
    SpaprIommuInfo {
        dma32_window_start: raw.dma32_window_start,
        dma32_window_size: raw.dma32_window_size,
        ddw,
    }
}

/// `VFIO_IOMMU_SPAPR_(UN)REGISTER_MEMORY` argument (`flags` must be 0).
pub(super) fn register_memory(vaddr: u64, size: u64) -> vfio_iommu_spapr_register_memory {
    vfio_iommu_spapr_register_memory {
        argsz: argsz::<vfio_iommu_spapr_register_memory>(),
        flags: 0,
        vaddr,
        size,
    }
}

/// `VFIO_IOMMU_SPAPR_TCE_CREATE` argument (`flags` must be 0; `start_addr` is output).
pub(super) fn tce_create(request: WindowRequest) -> vfio_iommu_spapr_tce_create {
    vfio_iommu_spapr_tce_create {
        argsz: argsz::<vfio_iommu_spapr_tce_create>(),
        page_shift: request.page_shift,
        window_size: request.window_size,
        levels: request.levels,
        ..Default::default()
    }
}

/// `VFIO_IOMMU_SPAPR_TCE_REMOVE` argument.
pub(super) fn tce_remove(start_addr: u64) -> vfio_iommu_spapr_tce_remove {
    vfio_iommu_spapr_tce_remove {
        argsz: argsz::<vfio_iommu_spapr_tce_remove>(),
        flags: 0,
        start_addr,
    }
}

/// `VFIO_IOMMU_MAP_DMA` argument; `flags` carries only READ/WRITE (the VADDR flag is EINVAL
/// on SPAPR, kernel-host.md §3.4 MAP_DMA step 2).
pub(super) fn dma_map(
    iova: u64,
    size: u64,
    vaddr: u64,
    access: DmaAccess,
) -> vfio_iommu_type1_dma_map {
    vfio_iommu_type1_dma_map {
        argsz: argsz::<vfio_iommu_type1_dma_map>(),
        flags: access.map_flags(),
        vaddr,
        iova,
        size,
    }
}

/// `VFIO_IOMMU_UNMAP_DMA` argument (`flags` must be 0 on SPAPR).
pub(super) fn dma_unmap(iova: u64, size: u64) -> vfio_iommu_type1_dma_unmap {
    vfio_iommu_type1_dma_unmap {
        argsz: argsz::<vfio_iommu_type1_dma_unmap>(),
        flags: 0,
        iova,
        size,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{align_of, offset_of};

    use vfio_bindings::bindings::vfio::vfio_iommu_spapr_tce_ddw_info;

    use super::*;

    /// Sizes and offsets from kernel-host.md §3.1 (the kernel's uapi layout).
    #[test]
    fn binding_layouts_match_the_kernel_uapi() {
        assert_eq!(size_of::<vfio_group_status>(), 8);

        assert_eq!(size_of::<vfio_iommu_spapr_tce_info>(), 32);
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_info, flags), 4);
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_info, dma32_window_start), 8);
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_info, dma32_window_size), 12);
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_info, ddw), 16);
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_ddw_info, pgsizes), 0);
        assert_eq!(
            offset_of!(vfio_iommu_spapr_tce_ddw_info, max_dynamic_windows_supported),
            8
        );
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_ddw_info, levels), 12);

        assert_eq!(size_of::<vfio_iommu_type1_dma_map>(), 32);
        assert_eq!(offset_of!(vfio_iommu_type1_dma_map, vaddr), 8);
        assert_eq!(offset_of!(vfio_iommu_type1_dma_map, iova), 16);
        assert_eq!(offset_of!(vfio_iommu_type1_dma_map, size), 24);

        assert_eq!(size_of::<vfio_iommu_type1_dma_unmap>(), 24);
        assert_eq!(offset_of!(vfio_iommu_type1_dma_unmap, iova), 8);
        assert_eq!(offset_of!(vfio_iommu_type1_dma_unmap, size), 16);

        assert_eq!(size_of::<vfio_iommu_spapr_register_memory>(), 24);
        assert_eq!(offset_of!(vfio_iommu_spapr_register_memory, vaddr), 8);
        assert_eq!(offset_of!(vfio_iommu_spapr_register_memory, size), 16);

        assert_eq!(size_of::<vfio_iommu_spapr_tce_create>(), 40);
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_create, page_shift), 8);
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_create, window_size), 16);
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_create, levels), 24);
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_create, start_addr), 32);

        assert_eq!(size_of::<vfio_iommu_spapr_tce_remove>(), 16);
        assert_eq!(offset_of!(vfio_iommu_spapr_tce_remove, start_addr), 8);

        // Natural alignment: the same layout on ppc64le as on x86_64.
        assert_eq!(align_of::<vfio_iommu_spapr_tce_create>(), 8);
    }

    /// `argsz` must reach the kernel's `minsz` (§3.1); for GET_INFO it must be 32 so the DDW
    /// part is copied back.
    #[test]
    fn argsz_reaches_kernel_minsz() {
        assert_eq!(group_status().argsz, 8);
        assert_eq!(tce_info().argsz, 32);
        assert_eq!(register_memory(0, 0).argsz, 24);
        let request = WindowRequest {
            page_shift: 16,
            window_size: 1 << 30,
            levels: 2,
        };
        assert_eq!(tce_create(request).argsz, 40);
        assert_eq!(tce_remove(0).argsz, 16);
        assert_eq!(dma_map(0, 0, 0, DmaAccess::Read).argsz, 32);
        assert_eq!(dma_unmap(0, 0).argsz, 24);
    }

    #[test]
    fn builders_place_every_argument() {
        let create = tce_create(WindowRequest {
            page_shift: 16,
            window_size: 1 << 40,
            levels: 3,
        });
        assert_eq!(
            (
                create.flags,
                create.page_shift,
                create.window_size,
                create.levels
            ),
            (0, 16, 1 << 40, 3)
        );
        assert_eq!(create.start_addr, 0);

        let map = dma_map(0x8000_0000, 0x1_0000, 0x7f00_0000_0000, DmaAccess::Write);
        assert_eq!(
            (map.flags, map.iova, map.size, map.vaddr),
            (2, 0x8000_0000, 0x1_0000, 0x7f00_0000_0000)
        );

        let unmap = dma_unmap(0x1000, 0x2000);
        assert_eq!((unmap.flags, unmap.iova, unmap.size), (0, 0x1000, 0x2000));

        let region = register_memory(0x7f00_0001_0000, 0x20_0000);
        assert_eq!(
            (region.flags, region.vaddr, region.size),
            (0, 0x7f00_0001_0000, 0x20_0000)
        );
        assert_eq!(tce_remove(1 << 59).start_addr, 1 << 59);
    }

    #[test]
    fn info_ignores_ddw_part_without_the_flag() {
        let mut raw = tce_info();
        raw.dma32_window_size = 0x8000_0000;
        raw.ddw.pgsizes = 0x1000 | 0x1_0000;
        raw.ddw.max_dynamic_windows_supported = 2;
        raw.ddw.levels = 5;
        let without = iommu_info_from(&raw);
        assert_eq!(without.dma32_window_size, 0x8000_0000);
        assert_eq!(without.ddw, None);

        raw.flags = VFIO_IOMMU_SPAPR_INFO_DDW;
        let with = iommu_info_from(&raw).ddw.expect("DDW flag set");
        assert_eq!(with.pgsizes, 0x1000 | 0x1_0000);
        assert_eq!(with.max_dynamic_windows_supported, 2);
        assert_eq!(with.levels, 5);
    }
}
