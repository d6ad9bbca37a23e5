// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The raw KVM system calls, one safe function per ioctl. Every function takes any
//! [`AsRawFd`], so kvm-ioctls' `VmFd`/`VcpuFd`/`DeviceFd` work where that crate exists, as do
//! plain [`File`](std::fs::File)s and [`OwnedFd`]s on POWER.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libc::{c_int, c_ulong, c_void};

use super::bindings::{
    kvm_create_device, kvm_create_spapr_tce_64, kvm_device_attr, kvm_enable_cap,
    KVM_CHECK_EXTENSION, KVM_CREATE_DEVICE, KVM_CREATE_SPAPR_TCE_64, KVM_ENABLE_CAP,
    KVM_SET_DEVICE_ATTR,
};
use super::error::{KvmError, KvmOp};

/// Turns an ioctl return value into `Ok(value)` or the errno it left behind.
fn check(op: KvmOp, ret: c_int) -> Result<c_int, KvmError> {
    if ret < 0 {
        Err(KvmError::last(op))
    } else {
        Ok(ret)
    }
}

/// Takes ownership of a descriptor a successful ioctl returned.
fn owned_fd(op: KvmOp, ret: c_int) -> Result<OwnedFd, KvmError> {
    let fd = check(op, ret)?;
    // SAFETY: the kernel just returned `fd` as a new descriptor of this process that nothing
    // else owns; `check` excluded the negative error values.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `KVM_CHECK_EXTENSION` on a system or VM fd: 0 if `cap` is absent, usually 1 if present
/// (some capabilities return a count).
pub(super) fn check_extension(fd: &impl AsRawFd, cap: u32) -> Result<i32, KvmError> {
    // SAFETY: KVM_CHECK_EXTENSION takes the capability by value and dereferences nothing.
    // `request as _` widens (glibc: c_ulong) or reinterprets (musl: c_int) the 32-bit number.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), KVM_CHECK_EXTENSION as _, c_ulong::from(cap)) };
    check(KvmOp::CheckExtension, ret)
}

/// `KVM_ENABLE_CAP` on a VM or vCPU fd with `flags = 0`.
pub(super) fn enable_cap(fd: &impl AsRawFd, cap: u32, args: [u64; 4]) -> Result<(), KvmError> {
    let arg = kvm_enable_cap {
        cap,
        args,
        ..kvm_enable_cap::default()
    };
    // SAFETY: KVM_ENABLE_CAP reads exactly one `struct kvm_enable_cap` (its size is encoded in
    // the request number) and writes nothing back; `arg` lives across the call.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            KVM_ENABLE_CAP as _,
            &arg as *const kvm_enable_cap as *const c_void,
        )
    };
    check(KvmOp::EnableCap, ret).map(drop)
}

/// `KVM_CREATE_SPAPR_TCE_64` on a VM fd: returns the new table fd.
pub(super) fn create_spapr_tce_64(
    vm_fd: &impl AsRawFd,
    args: &kvm_create_spapr_tce_64,
) -> Result<OwnedFd, KvmError> {
    // SAFETY: KVM_CREATE_SPAPR_TCE_64 reads one `struct kvm_create_spapr_tce_64` and writes
    // nothing back; `args` is a live reference for the duration of the call.
    let ret = unsafe {
        libc::ioctl(
            vm_fd.as_raw_fd(),
            KVM_CREATE_SPAPR_TCE_64 as _,
            args as *const kvm_create_spapr_tce_64 as *const c_void,
        )
    };
    owned_fd(KvmOp::CreateSpaprTce64, ret)
}

/// `KVM_CREATE_DEVICE` on a VM fd: returns the device fd.
pub(super) fn create_device(vm_fd: &impl AsRawFd, device_type: u32) -> Result<OwnedFd, KvmError> {
    let mut arg = kvm_create_device {
        type_: device_type,
        ..kvm_create_device::default()
    };
    // SAFETY: KVM_CREATE_DEVICE reads and writes back one `struct kvm_create_device`, which
    // `arg` is; every bit pattern is a valid value of its three `u32`s.
    let ret = unsafe {
        libc::ioctl(
            vm_fd.as_raw_fd(),
            KVM_CREATE_DEVICE as _,
            &mut arg as *mut kvm_create_device as *mut c_void,
        )
    };
    check(KvmOp::CreateVfioDevice, ret)?;
    let fd =
        c_int::try_from(arg.fd).map_err(|_| KvmError::new(KvmOp::CreateVfioDevice, libc::EBADF))?;
    // SAFETY: on success the kernel installed a new descriptor for the device and wrote its
    // number into `arg.fd`; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `KVM_SET_DEVICE_ATTR` on a device fd, whose argument is the `T` at `value`.
///
/// `op` names the attribute for the error. `T` must be the argument type the kernel expects
/// for (`group`, `attr`): it reads `size_of::<T>()` bytes there (`i32` fds and
/// `struct kvm_vfio_spapr_tce` for the KVM-VFIO attributes).
pub(super) fn set_device_attr<T: Copy>(
    op: KvmOp,
    device_fd: &impl AsRawFd,
    group: u32,
    attr: u64,
    value: &T,
) -> Result<(), KvmError> {
    let arg = kvm_device_attr {
        flags: 0,
        group,
        attr,
        addr: value as *const T as u64,
    };
    // SAFETY: KVM_SET_DEVICE_ATTR reads one `struct kvm_device_attr` and, through `addr`, the
    // attribute's argument, which the caller passes as a live `T` of the type the attribute
    // needs (the kernel only reads it); both outlive the call.
    let ret = unsafe {
        libc::ioctl(
            device_fd.as_raw_fd(),
            KVM_SET_DEVICE_ATTR as _,
            &arg as *const kvm_device_attr as *const c_void,
        )
    };
    check(op, ret).map(drop)
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;

    /// Any non-KVM descriptor: /dev/null answers every ioctl with ENOTTY.
    fn dev_null() -> File {
        File::open("/dev/null").expect("/dev/null")
    }

    #[test]
    fn non_kvm_fds_fail_with_the_right_operation() {
        let null = dev_null();
        let error = check_extension(&null, 1).unwrap_err();
        assert_eq!(
            (error.op, error.errno),
            (KvmOp::CheckExtension, libc::ENOTTY)
        );

        let error = enable_cap(&null, 104, [0x13C, 1, 0, 0]).unwrap_err();
        assert_eq!(error.op, KvmOp::EnableCap);

        let error = create_spapr_tce_64(&null, &kvm_create_spapr_tce_64::default()).unwrap_err();
        assert_eq!(error.op, KvmOp::CreateSpaprTce64);

        let error = create_device(&null, 4).unwrap_err();
        assert_eq!(error.op, KvmOp::CreateVfioDevice);

        let error = set_device_attr(KvmOp::VfioFileAdd, &null, 1, 1, &3i32).unwrap_err();
        assert_eq!((error.op, error.errno), (KvmOp::VfioFileAdd, libc::ENOTTY));
    }
}
