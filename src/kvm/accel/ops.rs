// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The few KVM operations the accelerator performs on a VM, behind [`KvmTceOps`], and their
//! real implementation on a VM fd, [`KvmVm`].

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::kvm::{
    enable_multitce_hcalls, KvmError, KvmOp, KvmTableError, KvmTceCaps, KvmTceTable,
    KvmTceTableGeometry, KvmVfioDevice,
};

/// What the accelerator needs from a POWER KVM VM to move TCE tables into the kernel.
///
/// [`KvmVm`] implements it with the real ioctls. Another implementation can stand in for
/// KVM in tests (tables over memfds via [`KvmTceTable::from_file`]) or wrap a VMM's own
/// KVM objects. Every method is called with the owning PE's window lock held, or during
/// setup, never concurrently for the same LIOBN.
pub trait KvmTceOps: Send + Sync {
    /// The VM's TCE capabilities (kernel-host.md §5.1).
    fn caps(&self) -> KvmTceCaps;

    /// Lets the kernel handle `H_PUT_TCE_INDIRECT` and `H_STUFF_TCE` (§5.3); only called when
    /// [`KvmTceCaps::kernel_multitce`].
    fn enable_multitce_hcalls(&self) -> Result<(), KvmError>;

    /// `KVM_CREATE_SPAPR_TCE_64` with `geometry`, mapped (§5.2). The fresh table reads all 0.
    fn create_table(&self, geometry: KvmTceTableGeometry) -> Result<KvmTceTable, KvmTableError>;

    /// `KVM_DEV_VFIO_FILE_ADD` of a VFIO group fd, once per group at setup (§5.4 step 2). A
    /// group the VMM already added must succeed (`EEXIST` is not an error).
    fn add_group(&self, group: BorrowedFd<'_>) -> Result<(), KvmError>;

    /// `KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE`: attaches the group's hardware table at the table's
    /// bus start to `table` (§5.4 step 3). Only called after the host window exists.
    fn attach_group(&self, group: BorrowedFd<'_>, table: &KvmTceTable) -> Result<(), KvmError>;

    /// Gives a table back: unmapping it and closing its fd removes the LIOBN from the VM and
    /// detaches every VFIO table attached to it, leaving hardware entries as they are
    /// (checklist item 26). The default drops it.
    fn release_table(&self, table: KvmTceTable) {
        drop(table);
    }
}

/// [`KvmTceOps`] on a real VM fd: `F` is any owner of the fd (a [`File`](std::fs::File), an
/// [`OwnedFd`](std::os::fd::OwnedFd), kvm-ioctls' `VmFd` where that crate builds).
///
/// The KVM-VFIO device is created on the first [`add_group`](KvmTceOps::add_group) unless
/// one is given with [`with_vfio_device`](Self::with_vfio_device) (a VM has only one; a VMM
/// whose VFIO layer already created it passes it here).
///
/// ```no_run
/// use spapr_tce::kvm::{KvmTceOps, KvmVm};
/// # fn vm_fd() -> std::fs::File { unimplemented!() }
/// let vm = KvmVm::new(vm_fd())?;
/// println!("in-kernel tables: {}", vm.caps().kernel_tables());
/// # Ok::<(), spapr_tce::kvm::KvmError>(())
/// ```
pub struct KvmVm<F> {
    vm: F,
    caps: KvmTceCaps,
    vfio_device: Mutex<Option<KvmVfioDevice>>,
}

impl<F: AsRawFd> KvmVm<F> {
    /// Wraps a VM fd and probes its capabilities ([`KvmTceCaps::probe`]).
    pub fn new(vm: F) -> Result<Self, KvmError> {
        let caps = KvmTceCaps::probe(&vm)?;
        Ok(Self {
            vm,
            caps,
            vfio_device: Mutex::new(None),
        })
    }

    /// Uses `device` as the VM's KVM-VFIO device instead of creating one.
    pub fn with_vfio_device(self, device: KvmVfioDevice) -> Self {
        *self.device() = Some(device);
        self
    }

    /// The VM fd.
    pub fn vm_fd(&self) -> &F {
        &self.vm
    }

    fn device(&self) -> MutexGuard<'_, Option<KvmVfioDevice>> {
        // The option is either set or not; a panic elsewhere cannot leave it half-written.
        self.vfio_device
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<F: AsRawFd + Send + Sync> KvmTceOps for KvmVm<F> {
    fn caps(&self) -> KvmTceCaps {
        self.caps
    }

    fn enable_multitce_hcalls(&self) -> Result<(), KvmError> {
        enable_multitce_hcalls(&self.vm)
    }

    fn create_table(&self, geometry: KvmTceTableGeometry) -> Result<KvmTceTable, KvmTableError> {
        KvmTceTable::create(&self.vm, geometry)
    }

    fn add_group(&self, group: BorrowedFd<'_>) -> Result<(), KvmError> {
        let mut device = self.device();
        let device = match &mut *device {
            Some(device) => device,
            empty => empty.insert(KvmVfioDevice::create(&self.vm)?),
        };
        match device.add_group(&group) {
            Err(error) if error.errno == libc::EEXIST => Ok(()),
            result => result,
        }
    }

    fn attach_group(&self, group: BorrowedFd<'_>, table: &KvmTceTable) -> Result<(), KvmError> {
        match &*self.device() {
            Some(device) => device.set_spapr_tce(&group, table),
            // What the kernel answers for a group that was never added (checklist item 27).
            None => Err(KvmError::new(KvmOp::VfioSetSpaprTce, libc::ENOENT)),
        }
    }
}

impl<F> fmt::Debug for KvmVm<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvmVm")
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};

    use super::*;

    fn null() -> File {
        File::open("/dev/null").expect("/dev/null")
    }

    #[test]
    fn a_non_kvm_fd_is_refused_at_construction() {
        let error = KvmVm::new(null()).unwrap_err();
        assert_eq!(error.op, KvmOp::CheckExtension);
    }

    #[test]
    fn attach_without_any_added_group_is_enoent() {
        let vm = KvmVm {
            vm: null(),
            caps: KvmTceCaps::default(),
            vfio_device: Mutex::new(None),
        };
        let group = null();
        let table = KvmTceTable::from_file(
            memfd(),
            KvmTceTableGeometry {
                liobn: papr_hcall::Liobn(1),
                page_shift: papr_hcall::PageShift::SZ_4K,
                bus_offset: 0,
                entries: 16,
            },
        )
        .expect("memfd table");
        let error = vm.attach_group(group.as_fd(), &table).unwrap_err();
        assert_eq!(
            (error.op, error.errno),
            (KvmOp::VfioSetSpaprTce, libc::ENOENT)
        );
        // FILE_ADD creates the device first, which /dev/null refuses.
        let error = vm.add_group(group.as_fd()).unwrap_err();
        assert_eq!(error.op, KvmOp::CreateVfioDevice);
    }

    fn memfd() -> OwnedFd {
        // SAFETY: a valid NUL-terminated name; the flags are plain bits.
        let fd = unsafe { libc::memfd_create(c"spapr-tce-ops-test".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
        // SAFETY: memfd_create just returned this new descriptor; nothing else owns it.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        file.set_len(4096).expect("ftruncate");
        file.into()
    }
}
