// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Which in-kernel TCE acceleration a VM offers, and switching the multi-TCE hcalls on
//! (kernel-host.md §5.1, §5.3).

use std::os::fd::AsRawFd;

use papr_hcall::{H_PUT_TCE_INDIRECT, H_STUFF_TCE};

use super::bindings::{
    KVM_CAP_PPC_ENABLE_HCALL, KVM_CAP_PPC_PAPR, KVM_CAP_SPAPR_MULTITCE, KVM_CAP_SPAPR_TCE_64,
    KVM_CAP_SPAPR_TCE_VFIO,
};
use super::error::KvmError;
use super::sys;

/// `KVM_CHECK_EXTENSION(cap)` on a system (`/dev/kvm`) or VM fd: 0 when the capability is
/// absent, positive when present.
///
/// ```no_run
/// use spapr_tce::kvm::{bindings::KVM_CAP_PPC_PAPR, check_extension};
/// let kvm = std::fs::File::open("/dev/kvm")?;
/// println!("KVM_CAP_PPC_PAPR = {}", check_extension(&kvm, KVM_CAP_PPC_PAPR)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_extension(fd: &impl AsRawFd, cap: u32) -> Result<i32, KvmError> {
    sys::check_extension(fd, cap)
}

/// The TCE-related capabilities of a VM.
///
/// Capabilities alone do not prove that HV KVM works: in a guest without nesting, `/dev/kvm`
/// reports them all while `KVM_CREATE_VM` fails (lab README §12.2). Probe the VM fd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KvmTceCaps {
    /// `KVM_CAP_SPAPR_TCE_64`: guest-view tables can be created in the kernel.
    pub spapr_tce_64: bool,
    /// `KVM_CAP_SPAPR_TCE_VFIO`: VFIO groups can be attached to those tables.
    pub spapr_tce_vfio: bool,
    /// `KVM_CAP_SPAPR_MULTITCE`: the kernel implements `H_PUT_TCE_INDIRECT`/`H_STUFF_TCE`
    /// (what a VMM checks before advertising `hcall-multi-tce` to the guest).
    pub spapr_multitce: bool,
    /// `KVM_CAP_PPC_ENABLE_HCALL`: in-kernel handling can be switched per hcall.
    pub ppc_enable_hcall: bool,
}

impl KvmTceCaps {
    /// Probes a VM fd (a system fd works too, but see the type's note).
    pub fn probe(vm_fd: &impl AsRawFd) -> Result<Self, KvmError> {
        let has = |cap| sys::check_extension(vm_fd, cap).map(|value| value > 0);
        Ok(Self {
            spapr_tce_64: has(KVM_CAP_SPAPR_TCE_64)?,
            spapr_tce_vfio: has(KVM_CAP_SPAPR_TCE_VFIO)?,
            spapr_multitce: has(KVM_CAP_SPAPR_MULTITCE)?,
            ppc_enable_hcall: has(KVM_CAP_PPC_ENABLE_HCALL)?,
        })
    }

    /// Guest-view tables can live in the kernel, so in-kernel `H_PUT_TCE`/`H_GET_TCE` work.
    pub fn kernel_tables(&self) -> bool {
        self.spapr_tce_64
    }

    /// VFIO hardware tables can be attached to kernel tables, so in-kernel hcalls also program
    /// passed-through devices' IOMMU.
    pub fn kernel_vfio(&self) -> bool {
        self.spapr_tce_64 && self.spapr_tce_vfio
    }

    /// `H_PUT_TCE_INDIRECT`/`H_STUFF_TCE` can be handled in the kernel after
    /// [`enable_multitce_hcalls`].
    pub fn kernel_multitce(&self) -> bool {
        self.spapr_tce_64 && self.spapr_multitce && self.ppc_enable_hcall
    }
}

/// `KVM_ENABLE_CAP(KVM_CAP_PPC_ENABLE_HCALL)` on a VM fd: `args[0] = hcall`,
/// `args[1] = enable`. VM-wide. A disabled hcall always exits to userspace (checklist item 3).
pub fn set_hcall_in_kernel(vm_fd: &impl AsRawFd, hcall: u64, enable: bool) -> Result<(), KvmError> {
    sys::enable_cap(
        vm_fd,
        KVM_CAP_PPC_ENABLE_HCALL,
        [hcall, u64::from(enable), 0, 0],
    )
}

/// Lets the kernel handle `H_PUT_TCE_INDIRECT` (0x13C) and `H_STUFF_TCE` (0x138), which are off
/// by default; `H_PUT_TCE` and `H_GET_TCE` are on by default (kernel-host.md §5.3, lab README
/// §12.6). Whatever the kernel cannot complete still exits to userspace.
///
/// ```no_run
/// use spapr_tce::kvm::{enable_multitce_hcalls, KvmTceCaps};
/// # fn vm_fd() -> std::fs::File { unimplemented!() }
/// let vm = vm_fd();
/// if KvmTceCaps::probe(&vm)?.kernel_multitce() {
///     enable_multitce_hcalls(&vm)?;
/// }
/// # Ok::<(), spapr_tce::kvm::KvmError>(())
/// ```
pub fn enable_multitce_hcalls(vm_fd: &impl AsRawFd) -> Result<(), KvmError> {
    set_hcall_in_kernel(vm_fd, H_PUT_TCE_INDIRECT, true)?;
    set_hcall_in_kernel(vm_fd, H_STUFF_TCE, true)
}

/// `KVM_ENABLE_CAP(KVM_CAP_PPC_PAPR)` on a **vCPU** fd: mandatory for every vCPU of an HV KVM
/// pseries guest, whose `KVM_RUN` otherwise fails with `EINVAL` (lab README §12.4).
pub fn enable_papr(vcpu_fd: &impl AsRawFd) -> Result<(), KvmError> {
    sys::enable_cap(vcpu_fd, KVM_CAP_PPC_PAPR, [0; 4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_answers_need_every_capability_they_use() {
        let all = KvmTceCaps {
            spapr_tce_64: true,
            spapr_tce_vfio: true,
            spapr_multitce: true,
            ppc_enable_hcall: true,
        };
        assert!(all.kernel_tables() && all.kernel_vfio() && all.kernel_multitce());
        let no_tables = KvmTceCaps {
            spapr_tce_64: false,
            ..all
        };
        assert!(!no_tables.kernel_tables());
        assert!(!no_tables.kernel_vfio());
        assert!(!no_tables.kernel_multitce());
        let no_switch = KvmTceCaps {
            ppc_enable_hcall: false,
            ..all
        };
        assert!(no_switch.kernel_vfio() && !no_switch.kernel_multitce());
        let no_vfio = KvmTceCaps {
            spapr_tce_vfio: false,
            ..all
        };
        assert!(!no_vfio.kernel_vfio() && no_vfio.kernel_multitce());
    }

    #[test]
    fn probing_a_non_kvm_fd_is_an_error() {
        let null = std::fs::File::open("/dev/null").expect("/dev/null");
        assert!(KvmTceCaps::probe(&null).is_err());
        assert!(enable_multitce_hcalls(&null).is_err());
        assert!(enable_papr(&null).is_err());
    }
}
