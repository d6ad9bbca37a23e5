// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The KVM-VFIO pseudo device: how a VFIO group's hardware TCE table is attached to a KVM
//! guest-view table, so in-kernel hcalls program the passed-through device's IOMMU too
//! (kernel-host.md §5.4, checklist items 27–29).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::bindings::{
    kvm_vfio_spapr_tce, KVM_DEV_TYPE_VFIO, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD,
    KVM_DEV_VFIO_FILE_DEL, KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE,
};
use super::error::{KvmError, KvmOp};
use super::sys;

/// A VM's KVM-VFIO device (`KVM_DEV_TYPE_VFIO`); there is one per VM.
///
/// Order (§5.4, §5.6): [`add_group`](Self::add_group) each VFIO group, create the host DMA
/// window, create the [`KvmTceTable`](super::KvmTceTable) at the window's bus start, then
/// [`set_spapr_tce`](Self::set_spapr_tce). Attaching does not copy entries between the guest
/// view and the hardware table; the VMM replays them itself (§5.5).
///
/// ```no_run
/// use spapr_tce::kvm::{KvmTceTable, KvmVfioDevice};
/// # fn setup() -> (std::fs::File, vfio_spapr::VfioSpaprGroup, KvmTceTable) { unimplemented!() }
/// let (vm, group, table) = setup();
/// let device = KvmVfioDevice::create(&vm)?;
/// device.add_group(&group)?;
/// device.set_spapr_tce(&group, &table)?;
/// // Before removing the host window: drop the table (or delete the group) first (§5.5).
/// drop(table);
/// device.del_group(&group)?;
/// # Ok::<(), spapr_tce::kvm::KvmError>(())
/// ```
#[derive(Debug)]
pub struct KvmVfioDevice {
    fd: OwnedFd,
}

impl KvmVfioDevice {
    /// `KVM_CREATE_DEVICE(KVM_DEV_TYPE_VFIO)` on `vm_fd`.
    pub fn create(vm_fd: &impl AsRawFd) -> Result<Self, KvmError> {
        Ok(Self {
            fd: sys::create_device(vm_fd, KVM_DEV_TYPE_VFIO)?,
        })
    }

    /// Wraps a KVM-VFIO device fd created elsewhere (e.g. by kvm-ioctls'
    /// `VmFd::create_device`, whose `DeviceFd` converts with `IntoRawFd`).
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self { fd }
    }

    /// `KVM_DEV_VFIO_FILE_ADD`: tells KVM about a VFIO group fd (e.g. a
    /// [`VfioSpaprGroup`](vfio_spapr::VfioSpaprGroup)).
    pub fn add_group(&self, group: &impl AsRawFd) -> Result<(), KvmError> {
        let groupfd: i32 = group.as_raw_fd();
        sys::set_device_attr(
            KvmOp::VfioFileAdd,
            &self.fd,
            KVM_DEV_VFIO_FILE,
            KVM_DEV_VFIO_FILE_ADD,
            &groupfd,
        )
    }

    /// `KVM_DEV_VFIO_FILE_DEL`: forgets a group; this also detaches its hardware tables from
    /// every KVM table (one reference each, checklist item 29), leaving hardware entries as
    /// they are.
    pub fn del_group(&self, group: &impl AsRawFd) -> Result<(), KvmError> {
        let groupfd: i32 = group.as_raw_fd();
        sys::set_device_attr(
            KvmOp::VfioFileDel,
            &self.fd,
            KVM_DEV_VFIO_FILE,
            KVM_DEV_VFIO_FILE_DEL,
            &groupfd,
        )
    }

    /// `KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE`: attaches the group's hardware table whose bus start
    /// equals the KVM table's, whose page is no larger and whose size is no smaller, to the
    /// KVM table (`table` is a [`KvmTceTable`](super::KvmTceTable) or its fd).
    ///
    /// `ENOENT`: the group was not added; `EINVAL`: no such host window (yet), or the table
    /// belongs to another VM; `EBADF`: a bad fd (checklist items 27–28).
    pub fn set_spapr_tce(
        &self,
        group: &impl AsRawFd,
        table: &impl AsRawFd,
    ) -> Result<(), KvmError> {
        let arg = kvm_vfio_spapr_tce {
            groupfd: group.as_raw_fd(),
            tablefd: table.as_raw_fd(),
        };
        sys::set_device_attr(
            KvmOp::VfioSetSpaprTce,
            &self.fd,
            KVM_DEV_VFIO_FILE,
            KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE,
            &arg,
        )
    }
}

impl AsRawFd for KvmVfioDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for KvmVfioDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;

    #[test]
    fn each_call_reports_its_own_operation() {
        // /dev/null stands in for the device: every attribute call must fail with its own op.
        let device = KvmVfioDevice::from_fd(File::open("/dev/null").expect("/dev/null").into());
        let group = File::open("/dev/null").expect("/dev/null");
        assert_eq!(device.add_group(&group).unwrap_err().op, KvmOp::VfioFileAdd);
        assert_eq!(device.del_group(&group).unwrap_err().op, KvmOp::VfioFileDel);
        assert_eq!(
            device.set_spapr_tce(&group, &group).unwrap_err().op,
            KvmOp::VfioSetSpaprTce
        );
        let vm = File::open("/dev/null").expect("/dev/null");
        assert_eq!(
            KvmVfioDevice::create(&vm).unwrap_err().op,
            KvmOp::CreateVfioDevice
        );
    }
}
