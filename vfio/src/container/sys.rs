// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The raw VFIO system calls, one safe function per ioctl. This is the only file of the real
//! container with `unsafe`: each wrapper passes exactly the argument type that
//! `include/uapi/linux/vfio.h` defines for its request number.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};
use std::path::Path;

use libc::{c_int, c_ulong, c_void};
use vfio_bindings::bindings::vfio::{
    vfio_group_status, vfio_iommu_spapr_register_memory, vfio_iommu_spapr_tce_create,
    vfio_iommu_spapr_tce_info, vfio_iommu_spapr_tce_remove, vfio_iommu_type1_dma_map,
    vfio_iommu_type1_dma_unmap,
};

use crate::ioctl;
use crate::{IommuError, IommuOp};

/// The errno of the system call that just failed.
fn last_errno() -> i32 {
    // `raw_os_error` is always `Some` for `last_os_error`; EIO is only a type-level fallback.
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Turns an ioctl return value into `Ok(value)` or the errno it left behind.
fn check(op: IommuOp, ret: c_int) -> Result<c_int, IommuError> {
    if ret < 0 {
        let error = IommuError::new(op, last_errno());
        log::debug!("{} failed: errno {}", op.ioctl_name(), error.errno);
        Err(error)
    } else {
        Ok(ret)
    }
}

/// Like [`check`] for ioctls whose only success value is 0: a positive return is a failure
/// reported as `positive_errno`. Linux 6.12 returns +1 from MAP_DMA/UNMAP_DMA for an IOVA not
/// aligned to the IOMMU page (`iommu_tce_put_param_check` and `iommu_tce_clear_param_check`
/// are `||` expressions; measured in tests/lab, part `smoke`), and a positive page count from
/// REGISTER_MEMORY when pinning stops part-way (kernel-host.md §7 item 34).
fn check_zero(op: IommuOp, ret: c_int, positive_errno: i32) -> Result<(), IommuError> {
    match check(op, ret)? {
        0 => Ok(()),
        value => {
            log::debug!(
                "{} returned {value} instead of 0: reporting errno {positive_errno}",
                op.ioctl_name()
            );
            Err(IommuError::new(op, positive_errno))
        }
    }
}

/// `ioctl(fd, request)` with no argument or an integer argument passed by value.
fn ioctl_with_value(fd: BorrowedFd<'_>, request: u32, value: c_ulong) -> c_int {
    // SAFETY: only used for requests whose argument is an integer by value (or ignored), so the
    // kernel does not dereference it; `fd` is a live descriptor for the duration of the call.
    // `request as _` widens (glibc: c_ulong) or reinterprets (musl: c_int) the 32-bit number.
    unsafe { libc::ioctl(fd.as_raw_fd(), request as _, value) }
}

/// `ioctl(fd, request, arg)` where the kernel reads and may write back `*arg`.
///
/// # Safety
///
/// The kernel must access at most `size_of::<T>()` bytes at `arg` for `request`, and every bit
/// pattern it writes there must be a valid `T`.
unsafe fn ioctl_with_mut<T>(fd: BorrowedFd<'_>, request: u32, arg: &mut T) -> c_int {
    // SAFETY: `arg` is a live, exclusively borrowed `T`; the caller guarantees the kernel stays
    // inside it and writes only valid values (all our argument types are plain integers).
    unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg as *mut T as *mut c_void) }
}

/// `ioctl(fd, request, arg)` where the kernel only reads `*arg`.
///
/// # Safety
///
/// The kernel must read at most `size_of::<T>()` bytes at `arg` for `request` and not write.
unsafe fn ioctl_with_ref<T>(fd: BorrowedFd<'_>, request: u32, arg: &T) -> c_int {
    // SAFETY: `arg` is a live `T`; the caller guarantees the kernel only reads inside it.
    unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            request as _,
            arg as *const T as *const c_void,
        )
    }
}

/// Opens a VFIO character device read-write (`O_RDWR | O_CLOEXEC`; std always sets
/// `O_CLOEXEC`).
pub(super) fn open_read_write(path: &Path) -> Result<File, IommuError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| IommuError::new(IommuOp::Open, e.raw_os_error().unwrap_or(libc::EIO)))
}

/// `VFIO_GET_API_VERSION`: the container's API version.
pub(super) fn get_api_version(container: BorrowedFd<'_>) -> Result<i32, IommuError> {
    let ret = ioctl_with_value(container, ioctl::VFIO_GET_API_VERSION, 0);
    check(IommuOp::GetApiVersion, ret)
}

/// `VFIO_CHECK_EXTENSION(extension)`: true when the answer is positive.
pub(super) fn check_extension(
    container: BorrowedFd<'_>,
    extension: u32,
) -> Result<bool, IommuError> {
    let ret = ioctl_with_value(
        container,
        ioctl::VFIO_CHECK_EXTENSION,
        c_ulong::from(extension),
    );
    check(IommuOp::CheckExtension, ret).map(|answer| answer > 0)
}

/// `VFIO_SET_IOMMU(iommu_type)`.
pub(super) fn set_iommu(container: BorrowedFd<'_>, iommu_type: u32) -> Result<(), IommuError> {
    let ret = ioctl_with_value(container, ioctl::VFIO_SET_IOMMU, c_ulong::from(iommu_type));
    check(IommuOp::SetIommu, ret).map(drop)
}

/// `VFIO_GROUP_GET_STATUS`.
pub(super) fn group_get_status(
    group: BorrowedFd<'_>,
    status: &mut vfio_group_status,
) -> Result<(), IommuError> {
    // SAFETY: the kernel copies `argsz`/`flags` (8 bytes, the whole struct) in and back out;
    // any u32 values are valid.
    let ret = unsafe { ioctl_with_mut(group, ioctl::VFIO_GROUP_GET_STATUS, status) };
    check(IommuOp::GroupGetStatus, ret).map(drop)
}

/// `VFIO_GROUP_SET_CONTAINER`: attaches the group to `container`.
pub(super) fn group_set_container(
    group: BorrowedFd<'_>,
    container: BorrowedFd<'_>,
) -> Result<(), IommuError> {
    let container_fd: c_int = container.as_raw_fd();
    // SAFETY: the kernel reads one `int` (the container fd) and writes nothing.
    let ret = unsafe { ioctl_with_ref(group, ioctl::VFIO_GROUP_SET_CONTAINER, &container_fd) };
    check(IommuOp::GroupSetContainer, ret).map(drop)
}

/// `VFIO_GROUP_UNSET_CONTAINER`.
pub(super) fn group_unset_container(group: BorrowedFd<'_>) -> Result<(), IommuError> {
    let ret = ioctl_with_value(group, ioctl::VFIO_GROUP_UNSET_CONTAINER, 0);
    check(IommuOp::GroupUnsetContainer, ret).map(drop)
}

/// `VFIO_GROUP_GET_DEVICE_FD(name)`: a new descriptor for the named device.
pub(super) fn group_get_device_fd(group: BorrowedFd<'_>, name: &CStr) -> Result<File, IommuError> {
    // SAFETY: the kernel reads the NUL-terminated string at `name` (a `CStr` guarantees the
    // terminator) and writes nothing. The `c_char` slice is passed by pointer, hence the
    // explicit cast instead of the sized helpers.
    let ret = unsafe {
        libc::ioctl(
            group.as_raw_fd(),
            ioctl::VFIO_GROUP_GET_DEVICE_FD as _,
            name.as_ptr(),
        )
    };
    let fd = check(IommuOp::GroupGetDeviceFd, ret)?;
    // SAFETY: on success the ioctl returns a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// `VFIO_IOMMU_SPAPR_TCE_GET_INFO`.
pub(super) fn spapr_tce_get_info(
    container: BorrowedFd<'_>,
    info: &mut vfio_iommu_spapr_tce_info,
) -> Result<(), IommuError> {
    // SAFETY: the kernel reads 16 bytes and writes back 16 or 32 (if argsz >= 32) bytes of
    // this 32-byte all-integer struct (kernel-host.md §3.4 GET_INFO step 5).
    let ret = unsafe { ioctl_with_mut(container, ioctl::VFIO_IOMMU_SPAPR_TCE_GET_INFO, info) };
    check(IommuOp::GetInfo, ret).map(drop)
}

/// `VFIO_IOMMU_SPAPR_REGISTER_MEMORY`.
pub(super) fn register_memory(
    container: BorrowedFd<'_>,
    region: &vfio_iommu_spapr_register_memory,
) -> Result<(), IommuError> {
    // SAFETY: the kernel reads the 24-byte struct and writes nothing back; pinning the range
    // it names does not change its contents.
    let ret = unsafe { ioctl_with_ref(container, ioctl::VFIO_IOMMU_SPAPR_REGISTER_MEMORY, region) };
    check_zero(IommuOp::RegisterMemory, ret, libc::EFAULT)
}

/// `VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY`.
pub(super) fn unregister_memory(
    container: BorrowedFd<'_>,
    region: &vfio_iommu_spapr_register_memory,
) -> Result<(), IommuError> {
    // SAFETY: the kernel reads the 24-byte struct and writes nothing back.
    let ret =
        unsafe { ioctl_with_ref(container, ioctl::VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY, region) };
    check(IommuOp::UnregisterMemory, ret).map(drop)
}

/// `VFIO_IOMMU_SPAPR_TCE_CREATE`: fills `create.start_addr`.
pub(super) fn tce_create(
    container: BorrowedFd<'_>,
    create: &mut vfio_iommu_spapr_tce_create,
) -> Result<(), IommuError> {
    // SAFETY: the kernel reads the 40-byte struct and writes it back (only `start_addr`
    // changes); all fields are integers.
    let ret = unsafe { ioctl_with_mut(container, ioctl::VFIO_IOMMU_SPAPR_TCE_CREATE, create) };
    check(IommuOp::CreateWindow, ret).map(drop)
}

/// `VFIO_IOMMU_SPAPR_TCE_REMOVE`.
pub(super) fn tce_remove(
    container: BorrowedFd<'_>,
    remove: &vfio_iommu_spapr_tce_remove,
) -> Result<(), IommuError> {
    // SAFETY: the kernel reads the 16-byte struct and writes nothing back.
    let ret = unsafe { ioctl_with_ref(container, ioctl::VFIO_IOMMU_SPAPR_TCE_REMOVE, remove) };
    check(IommuOp::RemoveWindow, ret).map(drop)
}

/// `VFIO_IOMMU_MAP_DMA`.
pub(super) fn map_dma(
    container: BorrowedFd<'_>,
    map: &vfio_iommu_type1_dma_map,
) -> Result<(), IommuError> {
    // SAFETY: the kernel reads the 32-byte struct and writes nothing back. What the device may
    // later do to the mapped memory is the caller's contract (see `SpaprTceIommu::map_dma`).
    let ret = unsafe { ioctl_with_ref(container, ioctl::VFIO_IOMMU_MAP_DMA, map) };
    check_zero(IommuOp::MapDma, ret, libc::EINVAL)
}

/// `VFIO_IOMMU_UNMAP_DMA`.
pub(super) fn unmap_dma(
    container: BorrowedFd<'_>,
    unmap: &mut vfio_iommu_type1_dma_unmap,
) -> Result<(), IommuError> {
    // SAFETY: the kernel reads the 24-byte header (the trailing `data` array is zero-sized and
    // only used with type1's dirty-bitmap flag, which we never set). The SPAPR backend writes
    // nothing back; a type1 backend would write `size`, an integer, inside the struct.
    let ret = unsafe { ioctl_with_mut(container, ioctl::VFIO_IOMMU_UNMAP_DMA, unmap) };
    check_zero(IommuOp::UnmapDma, ret, libc::EINVAL)
}
