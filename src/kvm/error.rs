// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The failed KVM system call: which operation, its errno, and what to do about it.

use std::fmt;
use std::io;

/// A KVM operation this module performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvmOp {
    /// `KVM_CHECK_EXTENSION`.
    CheckExtension,
    /// `KVM_ENABLE_CAP`.
    EnableCap,
    /// `KVM_CREATE_SPAPR_TCE_64`.
    CreateSpaprTce64,
    /// `mmap` of a TCE table fd.
    MapTable,
    /// `KVM_CREATE_DEVICE(KVM_DEV_TYPE_VFIO)`.
    CreateVfioDevice,
    /// `KVM_SET_DEVICE_ATTR(KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD)`.
    VfioFileAdd,
    /// `KVM_SET_DEVICE_ATTR(KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_DEL)`.
    VfioFileDel,
    /// `KVM_SET_DEVICE_ATTR(KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE)`.
    VfioSetSpaprTce,
}

impl fmt::Display for KvmOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CheckExtension => "KVM_CHECK_EXTENSION",
            Self::EnableCap => "KVM_ENABLE_CAP",
            Self::CreateSpaprTce64 => "KVM_CREATE_SPAPR_TCE_64",
            Self::MapTable => "mmap of the KVM TCE table",
            Self::CreateVfioDevice => "KVM_CREATE_DEVICE(KVM_DEV_TYPE_VFIO)",
            Self::VfioFileAdd => "KVM_SET_DEVICE_ATTR(KVM_DEV_VFIO_FILE_ADD)",
            Self::VfioFileDel => "KVM_SET_DEVICE_ATTR(KVM_DEV_VFIO_FILE_DEL)",
            Self::VfioSetSpaprTce => "KVM_SET_DEVICE_ATTR(KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE)",
        })
    }
}

/// A KVM system call failed.
///
/// The message names the call, the errno and, for the errnos the kernel documents for it,
/// the likely cause (kernel-host.md §5, checklist items 23–29).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{op} failed: {}{}", io::Error::from_raw_os_error(*.errno), hint_suffix(self.hint()))]
pub struct KvmError {
    /// The operation.
    pub op: KvmOp,
    /// The errno it returned.
    pub errno: i32,
}

/// Formats an optional hint as `"; hint"`.
fn hint_suffix(hint: Option<&'static str>) -> String {
    hint.map(|hint| format!("; {hint}")).unwrap_or_default()
}

impl KvmError {
    /// An error of `op` with `errno`.
    pub fn new(op: KvmOp, errno: i32) -> Self {
        Self { op, errno }
    }

    /// What usually causes this errno for this operation, if known.
    pub fn hint(&self) -> Option<&'static str> {
        use KvmOp::*;
        Some(match (self.op, self.errno) {
            (_, libc::EBADF) => "a file descriptor is closed or not the kind this call needs",
            (CheckExtension | EnableCap | CreateSpaprTce64 | CreateVfioDevice, libc::ENOTTY) => {
                "the descriptor is not a KVM VM (or vCPU) fd, or this kernel is not a POWER \
                 (Book3S-64) KVM host"
            }
            (EnableCap, libc::EINVAL) => {
                "the capability cannot be enabled here: for KVM_CAP_PPC_ENABLE_HCALL the hcall \
                 must be a multiple of 4, at most MAX_HCALL_OPCODE and implemented in-kernel \
                 (H_PUT_TCE_INDIRECT is 0x13C, H_STUFF_TCE 0x138); KVM_CAP_PPC_PAPR goes on \
                 every vCPU fd"
            }
            (CreateSpaprTce64, libc::EINVAL) => {
                "the table geometry was refused: size 0, page shift outside 12..=34, or \
                 offset + size overflows"
            }
            (CreateSpaprTce64, libc::EBUSY) => {
                "this VM already has a TCE table for the LIOBN: close the old table fd first"
            }
            (CreateSpaprTce64 | MapTable, libc::ENOMEM) => {
                "the table is charged to locked_vm: raise RLIMIT_MEMLOCK (ulimit -l) or grant \
                 CAP_IPC_LOCK"
            }
            (CreateVfioDevice, libc::ENODEV) => {
                "the kernel has no KVM-VFIO device (CONFIG_KVM_VFIO)"
            }
            (CreateVfioDevice, libc::EBUSY) => {
                "the VM already has its KVM-VFIO device: there is one per VM, reuse it"
            }
            (VfioFileAdd, libc::EINVAL) => "the file is not a VFIO group (or device) fd",
            (VfioFileAdd, libc::EEXIST) => "the VFIO group was already added to this device",
            (VfioFileDel, libc::ENOENT) => "the VFIO group was not added to this device",
            (VfioSetSpaprTce, libc::ENOENT) => {
                "add the VFIO group to the KVM-VFIO device (FILE_ADD) before attaching tables"
            }
            (VfioSetSpaprTce, libc::EINVAL) => {
                "no VFIO window matches the table: create the host window first, with the same \
                 bus start, a hardware page no larger than the table's and a size at least the \
                 table's; or the table fd belongs to another VM"
            }
            (VfioSetSpaprTce, libc::ENXIO) => {
                "this kernel has no SPAPR TCE IOMMU support (CONFIG_SPAPR_TCE_IOMMU): not a \
                 POWER host"
            }
            (VfioSetSpaprTce, libc::EIO) => {
                "the file is not a VFIO group (a VFIO device cdev cannot be attached)"
            }
            _ => return None,
        })
    }

    /// The last OS error of `op`.
    pub(crate) fn last(op: KvmOp) -> Self {
        // `raw_os_error` is always `Some` for `last_os_error`; EIO is only a type-level fallback.
        let errno = io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        let error = Self::new(op, errno);
        log::debug!("{error}");
        error
    }
}

impl From<KvmError> for io::Error {
    fn from(error: KvmError) -> Self {
        io::Error::new(io::Error::from_raw_os_error(error.errno).kind(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_call_errno_and_cause() {
        let busy = KvmError::new(KvmOp::CreateSpaprTce64, libc::EBUSY).to_string();
        assert!(
            busy.starts_with("KVM_CREATE_SPAPR_TCE_64 failed: "),
            "{busy}"
        );
        assert!(busy.contains("(os error 16)"), "{busy}");
        assert!(busy.contains("close the old table fd"), "{busy}");

        let enoent = KvmError::new(KvmOp::VfioSetSpaprTce, libc::ENOENT).to_string();
        assert!(enoent.contains("FILE_ADD"), "{enoent}");

        // The same errno means something else for another call.
        let del = KvmError::new(KvmOp::VfioFileDel, libc::ENOENT).to_string();
        assert!(!del.contains("before attaching"), "{del}");
    }

    #[test]
    fn unknown_combinations_have_no_hint() {
        let error = KvmError::new(KvmOp::CheckExtension, libc::EPERM);
        assert_eq!(error.hint(), None);
        assert!(!error.to_string().contains(';'));
    }

    #[test]
    fn converts_to_io_error_with_its_kind() {
        let error: io::Error = KvmError::new(KvmOp::EnableCap, libc::EPERM).into();
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    }
}
