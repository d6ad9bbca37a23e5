//! The few raw VFIO ioctls the smoke check issues itself, independent of `vfio-spapr`'s
//! container, so the lab can tell a broken guest setup from a broken container.
//!
//! Numbers: every VFIO ioctl is `_IO(';', 100 + n)`; powerpc encodes "no data" as direction 1
//! in bits 29..31 (kernel-host.md §3.1), so `VFIO_GET_API_VERSION` is 0x20003B64 on ppc64 and
//! 0x3B64 elsewhere.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// `_IO(type, nr)` with the running architecture's encoding.
pub const fn io_none(ty: u8, nr: u8) -> u64 {
    let dir_none: u64 = if cfg!(any(target_arch = "powerpc", target_arch = "powerpc64")) {
        1 << 29
    } else {
        0
    };
    dir_none | ((ty as u64) << 8) | nr as u64
}

const VFIO_TYPE: u8 = b';';
/// `VFIO_GET_API_VERSION`.
pub const GET_API_VERSION: u64 = io_none(VFIO_TYPE, 100);
/// `VFIO_CHECK_EXTENSION`.
pub const CHECK_EXTENSION: u64 = io_none(VFIO_TYPE, 101);
/// `VFIO_SET_IOMMU`.
pub const SET_IOMMU: u64 = io_none(VFIO_TYPE, 102);
/// `VFIO_GROUP_GET_STATUS`.
pub const GROUP_GET_STATUS: u64 = io_none(VFIO_TYPE, 103);
/// `VFIO_GROUP_SET_CONTAINER`.
pub const GROUP_SET_CONTAINER: u64 = io_none(VFIO_TYPE, 104);
/// `VFIO_IOMMU_SPAPR_TCE_GET_INFO`.
pub const SPAPR_TCE_GET_INFO: u64 = io_none(VFIO_TYPE, 112);
/// `VFIO_IOMMU_MAP_DMA`.
pub const MAP_DMA: u64 = io_none(VFIO_TYPE, 113);
/// `VFIO_IOMMU_UNMAP_DMA`.
pub const UNMAP_DMA: u64 = io_none(VFIO_TYPE, 114);
/// `VFIO_IOMMU_SPAPR_REGISTER_MEMORY`.
pub const SPAPR_REGISTER_MEMORY: u64 = io_none(VFIO_TYPE, 117);
/// `VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY`.
pub const SPAPR_UNREGISTER_MEMORY: u64 = io_none(VFIO_TYPE, 118);

/// `VFIO_SPAPR_TCE_IOMMU` (v1).
pub const SPAPR_TCE_IOMMU: u64 = 2;
/// `VFIO_SPAPR_TCE_v2_IOMMU`.
pub const SPAPR_TCE_V2_IOMMU: u64 = 7;
/// `VFIO_GROUP_FLAGS_VIABLE`.
pub const GROUP_FLAGS_VIABLE: u32 = 1;

/// `struct vfio_group_status`.
#[repr(C)]
#[derive(Default)]
pub struct GroupStatus {
    /// Size of this struct.
    pub argsz: u32,
    /// `VFIO_GROUP_FLAGS_*`.
    pub flags: u32,
}

/// `struct vfio_iommu_spapr_tce_info` (32 bytes, kernel-host.md §3.1).
#[repr(C)]
#[derive(Default, Debug)]
pub struct SpaprTceInfo {
    /// Size of this struct.
    pub argsz: u32,
    /// `VFIO_IOMMU_SPAPR_INFO_DDW` = 1.
    pub flags: u32,
    /// Default window bus start.
    pub dma32_window_start: u32,
    /// Default window size in bytes.
    pub dma32_window_size: u32,
    /// Supported IOMMU page sizes (bitmask of byte sizes).
    pub pgsizes: u64,
    /// Windows the container may hold.
    pub max_dynamic_windows_supported: u32,
    /// Table levels.
    pub levels: u32,
}

/// `struct vfio_iommu_spapr_register_memory` (24 bytes).
#[repr(C)]
pub struct RegisterMemory {
    /// Size of this struct.
    pub argsz: u32,
    /// Must be 0.
    pub flags: u32,
    /// Start of the process memory.
    pub vaddr: u64,
    /// Length in bytes.
    pub size: u64,
}

/// `struct vfio_iommu_type1_dma_map` (32 bytes).
#[repr(C)]
pub struct DmaMap {
    /// Size of this struct.
    pub argsz: u32,
    /// READ = 1, WRITE = 2.
    pub flags: u32,
    /// Process address.
    pub vaddr: u64,
    /// Bus address.
    pub iova: u64,
    /// Length in bytes.
    pub size: u64,
}

/// `struct vfio_iommu_type1_dma_unmap` (24 bytes).
#[repr(C)]
pub struct DmaUnmap {
    /// Size of this struct.
    pub argsz: u32,
    /// Must be 0.
    pub flags: u32,
    /// Bus address.
    pub iova: u64,
    /// Length in bytes.
    pub size: u64,
}

/// `ioctl(fd, request, arg)` returning the non-negative result or the errno.
pub fn ioctl_val(file: &File, request: u64, arg: libc::c_ulong) -> io::Result<i32> {
    // SAFETY: the VFIO ioctls called with this helper take their argument by value (an
    // integer or a file descriptor number); the kernel reads no memory through it.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request as _, arg) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `ioctl(fd, request, &mut T)` for ioctls whose argument is a struct the kernel reads and
/// writes back.
pub fn ioctl_struct<T>(file: &File, request: u64, arg: &mut T) -> io::Result<i32> {
    // SAFETY: `arg` is a live, exclusively borrowed `#[repr(C)]` struct of the layout the
    // ioctl expects (its `argsz` field tells the kernel how much it may touch).
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request as _, arg as *mut T) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_architecture() {
        if cfg!(target_arch = "powerpc64") {
            assert_eq!(GET_API_VERSION, 0x2000_3B64);
            assert_eq!(SPAPR_TCE_GET_INFO, 0x2000_3B70);
        } else {
            assert_eq!(GET_API_VERSION, 0x3B64);
            assert_eq!(SPAPR_TCE_GET_INFO, 0x3B70);
        }
        assert_eq!(std::mem::size_of::<SpaprTceInfo>(), 32);
        assert_eq!(std::mem::size_of::<RegisterMemory>(), 24);
        assert_eq!(std::mem::size_of::<DmaMap>(), 32);
        assert_eq!(std::mem::size_of::<DmaUnmap>(), 24);
    }
}
