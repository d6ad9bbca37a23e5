// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The POWER KVM ABI this crate needs: argument structures, capability and device constants,
//! and ioctl request numbers, defined here because kvm-bindings has no powerpc64 module and
//! kvm-ioctls' numbers use the asm-generic ioctl layout (rust-vmm.md §0 items 1, 2, 5).
//!
//! Structure names and fields follow `include/uapi/linux/kvm.h` and
//! `arch/powerpc/include/uapi/asm/kvm.h` (like kvm-bindings), so code written against either
//! reads the same. Request numbers are built with [`IoctlLayout::HOST`], so they are right on
//! the architecture the crate is compiled for; the unit tests pin the ppc64 values on every
//! architecture (kernel-host.md §5.2–§5.4).

// The kernel's names, as in kvm-bindings.
#![allow(non_camel_case_types)]

use std::mem::size_of;

use vfio_spapr::ioctl::IoctlLayout;

/// `KVMIO`: the ioctl type of every KVM request.
pub const KVMIO: u8 = 0xAE;

/// `KVM_EXIT_PAPR_HCALL`: `kvm_run.exit_reason` of a hypercall the kernel left to userspace
/// (kernel-host.md §1.3).
pub const KVM_EXIT_PAPR_HCALL: u32 = 19;

/// `KVM_CAP_SPAPR_TCE`: the legacy `KVM_CREATE_SPAPR_TCE` exists.
pub const KVM_CAP_SPAPR_TCE: u32 = 63;
/// `KVM_CAP_PPC_PAPR`: vCPUs can be put into PAPR mode (mandatory on every vCPU under HV
/// KVM, lab README §12.4).
pub const KVM_CAP_PPC_PAPR: u32 = 68;
/// `KVM_CAP_PPC_RTAS`: `KVM_PPC_RTAS_DEFINE_TOKEN` exists.
pub const KVM_CAP_PPC_RTAS: u32 = 91;
/// `KVM_CAP_SPAPR_MULTITCE`: the kernel can handle `H_PUT_TCE_INDIRECT`/`H_STUFF_TCE`;
/// enables nothing by itself (kernel-host.md §5.1).
pub const KVM_CAP_SPAPR_MULTITCE: u32 = 94;
/// `KVM_CAP_PPC_ENABLE_HCALL`: per-hcall in-kernel handling can be switched (§5.3).
pub const KVM_CAP_PPC_ENABLE_HCALL: u32 = 104;
/// `KVM_CAP_SPAPR_TCE_64`: `KVM_CREATE_SPAPR_TCE_64` exists (§5.2).
pub const KVM_CAP_SPAPR_TCE_64: u32 = 125;
/// `KVM_CAP_SPAPR_TCE_VFIO`: `KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE` works (§5.4).
pub const KVM_CAP_SPAPR_TCE_VFIO: u32 = 142;

/// `KVM_DEV_TYPE_VFIO`: the KVM-VFIO pseudo device (`kvm_device_type`).
pub const KVM_DEV_TYPE_VFIO: u32 = 4;
/// `KVM_DEV_VFIO_FILE` (alias `KVM_DEV_VFIO_GROUP`): the attribute group of VFIO files.
pub const KVM_DEV_VFIO_FILE: u32 = 1;
/// `KVM_DEV_VFIO_FILE_ADD`: tell KVM about a VFIO group file (`addr` → `i32` fd).
pub const KVM_DEV_VFIO_FILE_ADD: u64 = 1;
/// `KVM_DEV_VFIO_FILE_DEL`: forget a VFIO group file (`addr` → `i32` fd).
pub const KVM_DEV_VFIO_FILE_DEL: u64 = 2;
/// `KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE`: attach a group's hardware table to a KVM TCE table
/// (`addr` → [`kvm_vfio_spapr_tce`]).
pub const KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE: u64 = 3;

/// `struct kvm_create_spapr_tce_64` (`arch/powerpc/include/uapi/asm/kvm.h`), 32 bytes.
///
/// `offset` and `size` count IOMMU pages of `1 << page_shift` bytes, not bytes: the window
/// covers bus addresses `[offset << page_shift, (offset + size) << page_shift)`
/// (kernel-host.md §2.3).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct kvm_create_spapr_tce_64 {
    /// The LIOBN the guest will name the window by.
    pub liobn: u64,
    /// log2 of the IOMMU page size (12..=34).
    pub page_shift: u32,
    /// Must be 0.
    pub flags: u32,
    /// First IOMMU page of the window (bus offset >> page_shift).
    pub offset: u64,
    /// Number of IOMMU pages (TCEs).
    pub size: u64,
}

/// `struct kvm_enable_cap`, 104 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct kvm_enable_cap {
    /// The capability (`KVM_CAP_*`).
    pub cap: u32,
    /// Must be 0.
    pub flags: u32,
    /// Capability-specific arguments.
    pub args: [u64; 4],
    /// Reserved, zero.
    pub pad: [u8; 64],
}

impl Default for kvm_enable_cap {
    fn default() -> Self {
        Self {
            cap: 0,
            flags: 0,
            args: [0; 4],
            pad: [0; 64],
        }
    }
}

/// `struct kvm_create_device`, 12 bytes. The kernel writes the new device's fd into `fd`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct kvm_create_device {
    /// `KVM_DEV_TYPE_*`.
    pub type_: u32,
    /// Output: the device fd.
    pub fd: u32,
    /// `KVM_CREATE_DEVICE_TEST` or 0.
    pub flags: u32,
}

/// `struct kvm_device_attr`, 24 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct kvm_device_attr {
    /// Must be 0.
    pub flags: u32,
    /// Attribute group (`KVM_DEV_VFIO_FILE`).
    pub group: u32,
    /// Attribute within the group (`KVM_DEV_VFIO_FILE_ADD`, …).
    pub attr: u64,
    /// User address of the attribute's argument.
    pub addr: u64,
}

/// `struct kvm_vfio_spapr_tce`, 8 bytes: the argument of
/// [`KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct kvm_vfio_spapr_tce {
    /// A VFIO group fd previously added with [`KVM_DEV_VFIO_FILE_ADD`].
    pub groupfd: i32,
    /// A KVM TCE table fd of the same VM (from `KVM_CREATE_SPAPR_TCE_64`).
    pub tablefd: i32,
}

/// `KVM_GET_API_VERSION` = `_IO(KVMIO, 0x00)` (system fd; returns 12).
pub const KVM_GET_API_VERSION: u32 = IoctlLayout::HOST.io(KVMIO, 0x00);
/// `KVM_CREATE_VM` = `_IO(KVMIO, 0x01)` (system fd; argument: the VM type by value).
pub const KVM_CREATE_VM: u32 = IoctlLayout::HOST.io(KVMIO, 0x01);
/// `KVM_CHECK_EXTENSION` = `_IO(KVMIO, 0x03)` (system or VM fd; argument: the capability).
pub const KVM_CHECK_EXTENSION: u32 = IoctlLayout::HOST.io(KVMIO, 0x03);
/// `KVM_ENABLE_CAP` = `_IOW(KVMIO, 0xA3, struct kvm_enable_cap)` (VM or vCPU fd).
pub const KVM_ENABLE_CAP: u32 = IoctlLayout::HOST.iow(KVMIO, 0xA3, size_of::<kvm_enable_cap>());
/// `KVM_CREATE_SPAPR_TCE_64` = `_IOW(KVMIO, 0xA8, struct kvm_create_spapr_tce_64)` (VM fd;
/// returns the table fd).
pub const KVM_CREATE_SPAPR_TCE_64: u32 =
    IoctlLayout::HOST.iow(KVMIO, 0xA8, size_of::<kvm_create_spapr_tce_64>());
/// `KVM_CREATE_DEVICE` = `_IOWR(KVMIO, 0xE0, struct kvm_create_device)` (VM fd).
pub const KVM_CREATE_DEVICE: u32 =
    IoctlLayout::HOST.iowr(KVMIO, 0xE0, size_of::<kvm_create_device>());
/// `KVM_SET_DEVICE_ATTR` = `_IOW(KVMIO, 0xE1, struct kvm_device_attr)` (device fd).
pub const KVM_SET_DEVICE_ATTR: u32 =
    IoctlLayout::HOST.iow(KVMIO, 0xE1, size_of::<kvm_device_attr>());

/// Byte offset of `exit_reason` (`u32`) in `struct kvm_run`.
pub const KVM_RUN_EXIT_REASON_OFFSET: usize = 8;
/// Byte offset of `papr_hcall.nr` (`u64`): the exit union starts at byte 32 of `struct kvm_run`
/// on every architecture but s390 (kernel-host.md §1.3).
pub const KVM_RUN_PAPR_HCALL_NR_OFFSET: usize = 32;
/// Byte offset of `papr_hcall.ret` (`u64`).
pub const KVM_RUN_PAPR_HCALL_RET_OFFSET: usize = 40;
/// Byte offset of `papr_hcall.args[0]`; `args[i]` is at `48 + 8 * i`.
pub const KVM_RUN_PAPR_HCALL_ARGS_OFFSET: usize = 48;
/// Number of `papr_hcall.args` (r4..r12).
pub const PAPR_HCALL_ARG_COUNT: usize = 9;
/// The smallest `kvm_run` image that holds `papr_hcall`: 120 bytes.
pub const KVM_RUN_PAPR_HCALL_END: usize = KVM_RUN_PAPR_HCALL_ARGS_OFFSET + 8 * PAPR_HCALL_ARG_COUNT;

#[cfg(test)]
mod tests {
    use std::mem::{align_of, offset_of};

    use super::*;

    #[test]
    fn structure_layouts_match_the_kernel_uapi() {
        assert_eq!(size_of::<kvm_create_spapr_tce_64>(), 32);
        assert_eq!(offset_of!(kvm_create_spapr_tce_64, liobn), 0);
        assert_eq!(offset_of!(kvm_create_spapr_tce_64, page_shift), 8);
        assert_eq!(offset_of!(kvm_create_spapr_tce_64, flags), 12);
        assert_eq!(offset_of!(kvm_create_spapr_tce_64, offset), 16);
        assert_eq!(offset_of!(kvm_create_spapr_tce_64, size), 24);

        assert_eq!(size_of::<kvm_enable_cap>(), 104);
        assert_eq!(offset_of!(kvm_enable_cap, cap), 0);
        assert_eq!(offset_of!(kvm_enable_cap, flags), 4);
        assert_eq!(offset_of!(kvm_enable_cap, args), 8);
        assert_eq!(offset_of!(kvm_enable_cap, pad), 40);

        assert_eq!(size_of::<kvm_create_device>(), 12);
        assert_eq!(offset_of!(kvm_create_device, type_), 0);
        assert_eq!(offset_of!(kvm_create_device, fd), 4);
        assert_eq!(offset_of!(kvm_create_device, flags), 8);

        assert_eq!(size_of::<kvm_device_attr>(), 24);
        assert_eq!(offset_of!(kvm_device_attr, flags), 0);
        assert_eq!(offset_of!(kvm_device_attr, group), 4);
        assert_eq!(offset_of!(kvm_device_attr, attr), 8);
        assert_eq!(offset_of!(kvm_device_attr, addr), 16);

        assert_eq!(size_of::<kvm_vfio_spapr_tce>(), 8);
        assert_eq!(offset_of!(kvm_vfio_spapr_tce, groupfd), 0);
        assert_eq!(offset_of!(kvm_vfio_spapr_tce, tablefd), 4);

        // u64 members must be 8-aligned, as in the kernel's C layout on 64-bit hosts.
        assert_eq!(align_of::<kvm_create_spapr_tce_64>(), 8);
        assert_eq!(align_of::<kvm_enable_cap>(), 8);
        assert_eq!(align_of::<kvm_device_attr>(), 8);
    }

    #[test]
    fn ppc64_request_numbers_are_pinned() {
        // kernel-host.md §5.2–§5.4 and lab README §12.6 (printed by ioctl-consts.c on ppc64le).
        let ppc = IoctlLayout::POWERPC;
        assert_eq!(
            ppc.iow(KVMIO, 0xA8, size_of::<kvm_create_spapr_tce_64>()),
            0x8020_AEA8
        );
        assert_eq!(
            ppc.iow(KVMIO, 0xA3, size_of::<kvm_enable_cap>()),
            0x8068_AEA3
        );
        assert_eq!(
            ppc.iowr(KVMIO, 0xE0, size_of::<kvm_create_device>()),
            0xC00C_AEE0
        );
        assert_eq!(
            ppc.iow(KVMIO, 0xE1, size_of::<kvm_device_attr>()),
            0x8018_AEE1
        );
        assert_eq!(ppc.io(KVMIO, 0x03), 0x2000_AE03);
        assert_eq!(ppc.io(KVMIO, 0x01), 0x2000_AE01);
        assert_eq!(ppc.io(KVMIO, 0x00), 0x2000_AE00);
    }

    #[test]
    fn host_request_numbers_use_the_host_layout() {
        let host = [
            KVM_GET_API_VERSION,
            KVM_CREATE_VM,
            KVM_CHECK_EXTENSION,
            KVM_ENABLE_CAP,
            KVM_CREATE_SPAPR_TCE_64,
            KVM_CREATE_DEVICE,
            KVM_SET_DEVICE_ATTR,
        ];
        let generic = [
            0x0000_AE00,
            0x0000_AE01,
            0x0000_AE03,
            0x4068_AEA3,
            0x4020_AEA8,
            0xC00C_AEE0,
            0x4018_AEE1,
        ];
        let powerpc = [
            0x2000_AE00,
            0x2000_AE01,
            0x2000_AE03,
            0x8068_AEA3,
            0x8020_AEA8,
            0xC00C_AEE0,
            0x8018_AEE1,
        ];
        let expected = if IoctlLayout::HOST == IoctlLayout::POWERPC {
            powerpc
        } else {
            generic
        };
        assert_eq!(host, expected);
        // libc applies the target's own layout: an independent check of `HOST`.
        assert_eq!(
            KVM_CHECK_EXTENSION as u64,
            libc::_IO(u32::from(KVMIO), 0x03) as u64
        );
        assert_eq!(
            KVM_CREATE_SPAPR_TCE_64 as u64,
            libc::_IOW::<kvm_create_spapr_tce_64>(u32::from(KVMIO), 0xA8) as u64
        );
        assert_eq!(
            KVM_CREATE_DEVICE as u64,
            libc::_IOWR::<kvm_create_device>(u32::from(KVMIO), 0xE0) as u64
        );
    }
}
