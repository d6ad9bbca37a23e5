// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The host IOMMU interface of a VFIO SPAPR TCE v2 container.

use std::fmt;
use std::sync::Arc;

/// Which DMA directions a host mapping allows (`VFIO_DMA_MAP_FLAG_READ` = 1: the device may
/// read memory; `VFIO_DMA_MAP_FLAG_WRITE` = 2: the device may write memory;
/// kernel-host.md §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DmaAccess {
    /// The device may read memory (a TCE with only the read bit).
    Read,
    /// The device may write memory (a TCE with only the write bit).
    Write,
    /// Both.
    ReadWrite,
}

impl DmaAccess {
    /// The `vfio_iommu_type1_dma_map.flags` value.
    pub fn map_flags(self) -> u32 {
        match self {
            Self::Read => 1,
            Self::Write => 2,
            Self::ReadWrite => 3,
        }
    }

    /// Decodes the two TCE permission bits; `None` when neither is set.
    pub fn from_tce_bits(bits: u64) -> Option<Self> {
        match bits & 3 {
            1 => Some(Self::Read),
            2 => Some(Self::Write),
            3 => Some(Self::ReadWrite),
            _ => None,
        }
    }

    /// The two TCE permission bits.
    pub fn tce_bits(self) -> u64 {
        u64::from(self.map_flags())
    }
}

/// The DDW part of `VFIO_IOMMU_SPAPR_TCE_GET_INFO` (present only for v2 containers whose
/// platform supports dynamic windows; kernel-host.md §3.4 GET_INFO).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DdwInfo {
    /// Supported IOMMU page sizes as a bitmask of **byte sizes** (e.g. `0x1000 | 0x10000`).
    pub pgsizes: u64,
    /// How many windows the container may create (2 on PowerNV).
    pub max_dynamic_windows_supported: u32,
    /// Most table levels a window may have (5 on PowerNV, 1 on a pSeries host).
    pub levels: u32,
}

impl DdwInfo {
    /// True when IOMMU pages of `1 << shift` bytes are supported.
    pub fn supports_page_shift(&self, shift: u32) -> bool {
        shift < 64 && self.pgsizes & (1u64 << shift) != 0
    }

    /// The supported page shifts, smallest first.
    pub fn page_shifts(&self) -> impl Iterator<Item = u32> + '_ {
        (0..64).filter(|s| self.supports_page_shift(*s))
    }
}

/// What `VFIO_IOMMU_SPAPR_TCE_GET_INFO` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpaprIommuInfo {
    /// Bus address of the default ("32-bit") window.
    pub dma32_window_start: u32,
    /// Size in bytes of the default window (4 KiB IOMMU pages).
    pub dma32_window_size: u32,
    /// Dynamic window support, if any.
    pub ddw: Option<DdwInfo>,
}

/// Arguments of `VFIO_IOMMU_SPAPR_TCE_CREATE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowRequest {
    /// IOMMU page shift; must be in [`DdwInfo::pgsizes`].
    pub page_shift: u32,
    /// Window size in bytes; a power of two.
    pub window_size: u64,
    /// Table levels, 1..=[`DdwInfo::levels`].
    pub levels: u32,
}

/// The container operation that failed, named after its ioctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IommuOp {
    /// Opening `/dev/vfio/vfio` or a group file.
    Open,
    /// `VFIO_GET_API_VERSION`.
    GetApiVersion,
    /// `VFIO_CHECK_EXTENSION`.
    CheckExtension,
    /// `VFIO_GROUP_GET_STATUS`.
    GroupGetStatus,
    /// `VFIO_GROUP_SET_CONTAINER`.
    GroupSetContainer,
    /// `VFIO_GROUP_UNSET_CONTAINER`.
    GroupUnsetContainer,
    /// `VFIO_GROUP_GET_DEVICE_FD`.
    GroupGetDeviceFd,
    /// `VFIO_SET_IOMMU`.
    SetIommu,
    /// `VFIO_IOMMU_SPAPR_TCE_GET_INFO`.
    GetInfo,
    /// `VFIO_IOMMU_SPAPR_REGISTER_MEMORY`.
    RegisterMemory,
    /// `VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY`.
    UnregisterMemory,
    /// `VFIO_IOMMU_SPAPR_TCE_CREATE`.
    CreateWindow,
    /// `VFIO_IOMMU_SPAPR_TCE_REMOVE`.
    RemoveWindow,
    /// `VFIO_IOMMU_MAP_DMA`.
    MapDma,
    /// `VFIO_IOMMU_UNMAP_DMA`.
    UnmapDma,
}

impl IommuOp {
    /// The ioctl's name as in `include/uapi/linux/vfio.h`.
    pub fn ioctl_name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::GetApiVersion => "VFIO_GET_API_VERSION",
            Self::CheckExtension => "VFIO_CHECK_EXTENSION",
            Self::GroupGetStatus => "VFIO_GROUP_GET_STATUS",
            Self::GroupSetContainer => "VFIO_GROUP_SET_CONTAINER",
            Self::GroupUnsetContainer => "VFIO_GROUP_UNSET_CONTAINER",
            Self::GroupGetDeviceFd => "VFIO_GROUP_GET_DEVICE_FD",
            Self::SetIommu => "VFIO_SET_IOMMU",
            Self::GetInfo => "VFIO_IOMMU_SPAPR_TCE_GET_INFO",
            Self::RegisterMemory => "VFIO_IOMMU_SPAPR_REGISTER_MEMORY",
            Self::UnregisterMemory => "VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY",
            Self::CreateWindow => "VFIO_IOMMU_SPAPR_TCE_CREATE",
            Self::RemoveWindow => "VFIO_IOMMU_SPAPR_TCE_REMOVE",
            Self::MapDma => "VFIO_IOMMU_MAP_DMA",
            Self::UnmapDma => "VFIO_IOMMU_UNMAP_DMA",
        }
    }
}

/// A failed container operation: which ioctl, and the errno the kernel (or the model)
/// returned. The real container and the reference model produce the same errors, so tests,
/// the lab and the fuzzers compare them directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub struct IommuError {
    /// The operation.
    pub op: IommuOp,
    /// The positive errno value (`libc::EINVAL`, ...).
    pub errno: i32,
}

impl IommuError {
    /// Builds an error.
    pub fn new(op: IommuOp, errno: i32) -> Self {
        Self { op, errno }
    }

    /// The errno's symbolic name, for messages.
    pub fn errno_name(&self) -> &'static str {
        errno_name(self.errno)
    }

    /// What the caller can do about it, in one sentence.
    pub fn hint(&self) -> &'static str {
        match (self.op, self.errno) {
            (_, libc::ENOMEM) => {
                "locked memory limit reached or out of memory: raise RLIMIT_MEMLOCK (ulimit -l) \
                 or grant CAP_IPC_LOCK, or use fewer/smaller windows"
            }
            (_, libc::EPERM) => {
                "the container is bound to another process, memory is not pre-registered yet, \
                 or the backing pages are too small for the IOMMU page size"
            }
            (IommuOp::Open, libc::ENOENT) => {
                "no such device: load vfio-pci and bind the device, check /dev/vfio"
            }
            (IommuOp::Open, libc::EACCES) => "permission denied: check /dev/vfio/* ownership",
            (IommuOp::RegisterMemory, libc::EINVAL) => {
                "range not aligned to the host page size or overlapping another registration"
            }
            (IommuOp::RegisterMemory, libc::EBUSY) => "this range is already registered",
            (IommuOp::UnregisterMemory, libc::EBUSY) => {
                "the range still has live DMA mappings: unmap them first"
            }
            (IommuOp::UnregisterMemory, libc::ENOENT) => {
                "no registration with exactly this address and size"
            }
            (IommuOp::CreateWindow, libc::ENOSPC) => "both window slots are in use",
            (IommuOp::CreateWindow, libc::EINVAL) => {
                "page size not supported by the host IOMMU, bad level count or size not a power of two"
            }
            (IommuOp::MapDma | IommuOp::UnmapDma, libc::ENXIO) => {
                "no window contains this bus address"
            }
            (IommuOp::MapDma, libc::EINVAL) => {
                "misaligned or out-of-window range, or memory not pre-registered with a large enough page size"
            }
            (_, libc::ENOTTY) => "the container does not use the SPAPR TCE v2 IOMMU",
            (_, libc::ENXIO) => "no VFIO group is attached to the container",
            _ => "see the kernel log (dmesg) for details",
        }
    }
}

impl fmt::Display for IommuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed: {} ({}): {}",
            self.op.ioctl_name(),
            self.errno_name(),
            self.errno,
            self.hint()
        )
    }
}

/// The symbolic name of the errno values the SPAPR TCE v2 paths return.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        _ => "errno",
    }
}

/// Everything the accelerator needs from a host IOMMU: one VFIO SPAPR TCE v2 container.
///
/// Methods take `&self` (the real container is a file descriptor; the model locks
/// internally) so many vCPU threads can share one container. Each method is exactly one
/// ioctl with the kernel's semantics (kernel-host.md §3.4); all addresses are bytes.
/// Implemented by the real container, by the reference model (feature `model`), and by
/// `Arc`/`&` of either.
pub trait SpaprTceIommu: Send + Sync {
    /// `VFIO_IOMMU_SPAPR_TCE_GET_INFO`.
    fn info(&self) -> Result<SpaprIommuInfo, IommuError>;

    /// `VFIO_IOMMU_SPAPR_REGISTER_MEMORY`: pin and pre-register `[vaddr, vaddr + size)` of
    /// this process; both must be multiples of the host page size.
    fn register_memory(&self, vaddr: u64, size: u64) -> Result<(), IommuError>;

    /// `VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY` of exactly a range passed to
    /// [`register_memory`](Self::register_memory).
    fn unregister_memory(&self, vaddr: u64, size: u64) -> Result<(), IommuError>;

    /// `VFIO_IOMMU_SPAPR_TCE_CREATE`: returns the bus start address the host chose.
    fn create_window(&self, request: WindowRequest) -> Result<u64, IommuError>;

    /// `VFIO_IOMMU_SPAPR_TCE_REMOVE` of the window containing `start_addr`.
    fn remove_window(&self, start_addr: u64) -> Result<(), IommuError>;

    /// `VFIO_IOMMU_MAP_DMA`: map `size` bytes at bus address `iova` to the pre-registered
    /// host virtual address `vaddr`. Replaces existing entries.
    fn map_dma(
        &self,
        iova: u64,
        size: u64,
        vaddr: u64,
        access: DmaAccess,
    ) -> Result<(), IommuError>;

    /// `VFIO_IOMMU_UNMAP_DMA` of `size` bytes at `iova`; clearing empty entries succeeds.
    fn unmap_dma(&self, iova: u64, size: u64) -> Result<(), IommuError>;
}

macro_rules! forward_iommu {
    ($($ty:ty),*) => {$(
        impl<T: SpaprTceIommu + ?Sized> SpaprTceIommu for $ty {
            fn info(&self) -> Result<SpaprIommuInfo, IommuError> {
                (**self).info()
            }
            fn register_memory(&self, vaddr: u64, size: u64) -> Result<(), IommuError> {
                (**self).register_memory(vaddr, size)
            }
            fn unregister_memory(&self, vaddr: u64, size: u64) -> Result<(), IommuError> {
                (**self).unregister_memory(vaddr, size)
            }
            fn create_window(&self, request: WindowRequest) -> Result<u64, IommuError> {
                (**self).create_window(request)
            }
            fn remove_window(&self, start_addr: u64) -> Result<(), IommuError> {
                (**self).remove_window(start_addr)
            }
            fn map_dma(
                &self,
                iova: u64,
                size: u64,
                vaddr: u64,
                access: DmaAccess,
            ) -> Result<(), IommuError> {
                (**self).map_dma(iova, size, vaddr, access)
            }
            fn unmap_dma(&self, iova: u64, size: u64) -> Result<(), IommuError> {
                (**self).unmap_dma(iova, size)
            }
        }
    )*};
}

forward_iommu!(&T, Arc<T>, Box<T>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_flags_match_vfio_h() {
        assert_eq!(DmaAccess::Read.map_flags(), 1);
        assert_eq!(DmaAccess::Write.map_flags(), 2);
        assert_eq!(DmaAccess::ReadWrite.map_flags(), 3);
        assert_eq!(DmaAccess::from_tce_bits(0x1000), None);
        assert_eq!(DmaAccess::from_tce_bits(0x1003), Some(DmaAccess::ReadWrite));
    }

    #[test]
    fn error_message_names_ioctl_errno_and_remedy() {
        let e = IommuError::new(IommuOp::RegisterMemory, libc::ENOMEM);
        let text = e.to_string();
        assert!(text.starts_with("VFIO_IOMMU_SPAPR_REGISTER_MEMORY failed: ENOMEM (12)"));
        assert!(text.contains("RLIMIT_MEMLOCK"));
    }

    #[test]
    fn ddw_info_page_shifts() {
        let info = DdwInfo {
            pgsizes: 0x1000 | 0x10000 | 0x100_0000,
            max_dynamic_windows_supported: 2,
            levels: 5,
        };
        assert_eq!(info.page_shifts().collect::<Vec<_>>(), vec![12, 16, 24]);
        assert!(!info.supports_page_shift(21));
        assert!(!info.supports_page_shift(64));
    }
}
