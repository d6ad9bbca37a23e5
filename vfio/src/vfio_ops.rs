// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! [`vfio_ioctls::VfioOps`] for [`VfioSpaprContainer`], so VMM code written against
//! `Arc<dyn VfioOps>` (e.g. a virtio-iommu or a DMA-mapping helper) can map and unmap through
//! a SPAPR TCE v2 container.
//!
//! # Semantics
//!
//! * `vfio_dma_map(iova, size, user_addr)` is `VFIO_IOMMU_MAP_DMA` with read and write
//!   permission. Unlike a Type1 container, the SPAPR v2 container only maps memory that was
//!   **pre-registered** and only into an existing **window**: before using this trait the VMM
//!   must call [`SpaprTceIommu::register_memory`] for the guest RAM containing `user_addr`
//!   (with backing pages at least as large as the IOMMU page size) and make sure a window
//!   contains `iova` (the default window, or one from [`SpaprTceIommu::create_window`]).
//!   Otherwise the kernel answers `EPERM` (nothing registered yet), `ENXIO` (no window) or
//!   `EINVAL` (not registered / misaligned), kernel-host.md §3.4 MAP_DMA. `iova`, `size` and
//!   `user_addr` must be multiples of the window's IOMMU page size.
//! * `vfio_dma_unmap(iova, size)` is `VFIO_IOMMU_UNMAP_DMA`. The SPAPR backend does not write
//!   the unmapped size back (§3.4 UNMAP_DMA step 7), so unlike vfio-ioctls' own container no
//!   size comparison is made; clearing already-empty entries succeeds.
//! * Errors are `VfioError::IommuDmaMap` / `VfioError::IommuDmaUnmap` carrying the kernel's
//!   errno.
//!
//! # What vfio-ioctls 0.10 still prevents
//!
//! * **No `VfioDevice` from this container.** `VfioDevice::new(path, Arc<dyn VfioOps>, _)`
//!   downcasts `as_any()` to vfio-ioctls' own `VfioContainer` or `VfioIommufd` and fails with
//!   `VfioError::DowncastVfioOps` for anything else; its group and device-info types have no
//!   public constructors (rust-vmm.md §0 item 3, §1.5). Use [`VfioSpaprContainer::device_fd`]
//!   for the raw device descriptor instead. Making `VfioDevice` work needs an upstream change
//!   (an IOMMU-type parameter for `VfioContainer`, or a trait hook replacing the downcast).
//! * **Its container is Type1-only** (`VfioContainer::new` requires `VFIO_TYPE1v2_IOMMU`), so it
//!   cannot stand in for this one.
//! * **Its ioctl numbers are wrong on POWER**: they are built with vmm-sys-util's asm-generic
//!   `_IOC` layout, so every vfio-ioctls ioctl would fail with `ENOTTY` on a ppc64 host
//!   (ppc64le-build.md "Evidence: wrong ioctl numbers"). This module therefore uses only the
//!   trait definition and error type of vfio-ioctls; every ioctl goes through this crate's
//!   [`ioctl`](crate::ioctl) numbers.
//! * Its default `kvm` feature pulls kvm-ioctls, which does not build for powerpc64; this crate
//!   depends on it with `default-features = false`.

use std::any::Any;
use std::mem::size_of;

use vfio_ioctls::{VfioError, VfioOps};
use vmm_sys_util::errno::Error as SysError;

use crate::{DmaAccess, IommuError, SpaprTceIommu, VfioSpaprContainer};

// `usize` and pointers widen losslessly to the kernel's `__u64` on every supported target.
const _: () = assert!(size_of::<usize>() <= size_of::<u64>());

fn sys_error(error: IommuError) -> SysError {
    SysError::new(error.errno)
}

impl VfioOps for VfioSpaprContainer {
    /// `VFIO_IOMMU_MAP_DMA` of pre-registered memory, read-write (see the module docs).
    ///
    /// # Safety
    ///
    /// The contract of [`VfioOps::vfio_dma_map`]: until the range is unmapped, the device may
    /// access `[user_addr, user_addr + size)` at any time, so no Rust reference to that memory
    /// may exist and it may only be used through raw pointers or volatile/atomic accesses.
    unsafe fn vfio_dma_map(
        &self,
        iova: u64,
        size: usize,
        user_addr: *mut u8,
    ) -> vfio_ioctls::Result<()> {
        self.map_dma(
            iova,
            size as u64,
            user_addr as usize as u64,
            DmaAccess::ReadWrite,
        )
        .map_err(|error| VfioError::IommuDmaMap(sys_error(error)))
    }

    /// `VFIO_IOMMU_UNMAP_DMA` (see the module docs).
    fn vfio_dma_unmap(&self, iova: u64, size: usize) -> vfio_ioctls::Result<()> {
        self.unmap_dma(iova, size as u64)
            .map_err(|error| VfioError::IommuDmaUnmap(sys_error(error)))
    }

    /// This container, for callers that know its concrete type.
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::sync::Arc;

    use super::*;

    fn container() -> Arc<dyn VfioOps> {
        let file = File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .expect("/dev/null");
        Arc::new(VfioSpaprContainer::from_file_unchecked(file))
    }

    #[test]
    fn map_error_carries_the_kernel_errno() {
        let ops = container();
        let mut page = [0u8; 16];
        // SAFETY: /dev/null rejects the ioctl, so nothing is mapped and `page` stays private.
        let result = unsafe { ops.vfio_dma_map(0, page.len(), page.as_mut_ptr()) };
        match result {
            Err(VfioError::IommuDmaMap(errno)) => assert_eq!(errno.errno(), libc::ENOTTY),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unmap_error_carries_the_kernel_errno() {
        match container().vfio_dma_unmap(0x1000, 0x1000) {
            Err(VfioError::IommuDmaUnmap(errno)) => assert_eq!(errno.errno(), libc::ENOTTY),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn downcasts_to_the_spapr_container() {
        let ops = container();
        assert!(ops.as_any().downcast_ref::<VfioSpaprContainer>().is_some());
        assert!(ops
            .as_any()
            .downcast_ref::<vfio_ioctls::VfioContainer>()
            .is_none());
    }
}
