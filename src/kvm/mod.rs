// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! POWER KVM: in-kernel TCE acceleration and the vCPU exit glue.
//!
//! kvm-ioctls and kvm-bindings do not build for powerpc64 and encode ioctl numbers with the
//! wrong layout there (rust-vmm.md §0 items 1, 2, 4, 5), so this module carries its own
//! bindings ([`bindings`]) and takes file descriptors as [`AsRawFd`](std::os::fd::AsRawFd):
//! plain files on POWER, kvm-ioctls' `VmFd`/`VcpuFd`/`DeviceFd` where that crate exists.
//!
//! What a VMM does, in order (kernel-host.md §5.6):
//! 1. [`KvmTceCaps::probe`] the VM fd; [`enable_multitce_hcalls`] if
//!    [`KvmTceCaps::kernel_multitce`]; [`enable_papr`] on every vCPU.
//! 2. [`KvmVfioDevice::create`] and [`add_group`](KvmVfioDevice::add_group) every VFIO group.
//! 3. Per guest window, after the host window exists: [`KvmTceTable::create`] at the host
//!    window's bus start, then [`KvmVfioDevice::set_spapr_tce`] for each group.
//! 4. On each `KVM_EXIT_PAPR_HCALL`: [`handle_papr_hcall_exit`] over a [`PaprHcallExit`] view
//!    of the vCPU's `kvm_run`.
//! 5. Before removing a host window: drop its [`KvmTceTable`] (§5.5).
//!
//! The accelerator does steps 1–3 and 5 itself when built with a [`KvmConfig`]
//! (see [`KvmConfig`]); the VMM then only enables PAPR on its
//! vCPUs and calls `handle_papr_hcall_exit(&mut exit, &acc, Some(&acc))` on each exit.
//!
//! Nothing here is needed when the accelerator runs without KVM (TCG, tests): then every hcall
//! reaches userspace anyway.

pub(crate) mod accel;
pub mod bindings;
mod caps;
mod error;
mod exit;
mod run;
mod sys;
mod table;
mod vfio_device;

pub use accel::{KvmConfig, KvmTceOps, KvmVm, TableLocation};
pub use caps::{
    check_extension, enable_multitce_hcalls, enable_papr, set_hcall_in_kernel, KvmTceCaps,
};
pub use error::{KvmError, KvmOp};
pub use exit::{handle_papr_hcall_exit, ExitAction, PaprHcallHandler, RtasHandler};
pub use run::{KvmRunTooShort, PaprHcallExit};
pub use table::{KvmTableError, KvmTceTable, KvmTceTableGeometry};
pub use vfio_device::KvmVfioDevice;
