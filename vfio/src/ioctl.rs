// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! ioctl request numbers, encoded for the architecture they run on.
//!
//! Linux packs `_IOC(dir, type, nr, size)` differently per architecture: powerpc (like mips and
//! sparc) uses 13 size bits, 3 direction bits and `NONE = 1, READ = 2, WRITE = 4`
//! (`arch/powerpc/include/uapi/asm/ioctl.h`), everything else the asm-generic layout with
//! 14 size bits, 2 direction bits and `NONE = 0, WRITE = 1, READ = 2`. So even the
//! argument-less VFIO ioctls have different numbers on a POWER host: `VFIO_GET_API_VERSION` is
//! `0x3B64` on x86_64 but `0x2000_3B64` on ppc64 (kernel-host.md §3.1).
//!
//! vmm-sys-util's `ioctl_*_nr!` macros (and therefore vfio-ioctls and kvm-ioctls) always use
//! the asm-generic layout, which makes every ioctl fail with `ENOTTY` on POWER
//! (rust-vmm.md §0 item 2). The VFIO numbers below are computed with `libc::_IO`, which applies
//! the right layout per target; [`IoctlLayout`] encodes either layout on any machine, so tests
//! built for x86_64 still pin the ppc64 values.

use vfio_bindings::bindings::vfio::{VFIO_BASE, VFIO_TYPE};

/// The direction field of an ioctl number, seen from userspace (`_IO`, `_IOR`, `_IOW`,
/// `_IOWR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoctlDirection {
    /// No argument is copied (`_IO`).
    None,
    /// The kernel writes the argument back to userspace (`_IOR`).
    Read,
    /// The kernel reads the argument from userspace (`_IOW`).
    Write,
    /// Both (`_IOWR`).
    ReadWrite,
}

/// How one architecture packs `_IOC(dir, type, nr, size)` into a request number.
///
/// The number, type and size fields sit at bits 0, 8 and 16 on every Linux architecture; what
/// differs is how wide the size field is and how the direction is encoded above it.
///
/// ```
/// use vfio_spapr::ioctl::IoctlLayout;
///
/// // KVM_CREATE_SPAPR_TCE_64 = _IOW(KVMIO, 0xa8, struct kvm_create_spapr_tce_64) on ppc64.
/// assert_eq!(IoctlLayout::POWERPC.iow(0xAE, 0xA8, 32), 0x8020_AEA8);
/// // The same definition on x86_64 (never used there, but shows the difference).
/// assert_eq!(IoctlLayout::GENERIC.iow(0xAE, 0xA8, 32), 0x4020_AEA8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IoctlLayout {
    /// Width of the size field.
    size_bits: u32,
    /// Direction value of `_IO`.
    dir_none: u32,
    /// Direction bit of `_IOR`.
    dir_read: u32,
    /// Direction bit of `_IOW`.
    dir_write: u32,
}

/// Bits 0..8: the command number.
const NR_SHIFT: u32 = 0;
/// Bits 8..16: the ioctl type ("magic").
const TYPE_SHIFT: u32 = 8;
/// The size field starts at bit 16 on every architecture.
const SIZE_SHIFT: u32 = 16;

impl IoctlLayout {
    /// `include/uapi/asm-generic/ioctl.h`: x86, arm64, riscv, s390, loongarch.
    pub const GENERIC: Self = Self {
        size_bits: 14,
        dir_none: 0,
        dir_read: 2,
        dir_write: 1,
    };

    /// `arch/powerpc/include/uapi/asm/ioctl.h` (mips and sparc use the same values).
    pub const POWERPC: Self = Self {
        size_bits: 13,
        dir_none: 1,
        dir_read: 2,
        dir_write: 4,
    };

    /// The layout of the architecture this crate is compiled for.
    #[cfg(any(
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc",
        target_arch = "sparc64"
    ))]
    pub const HOST: Self = Self::POWERPC;

    /// The layout of the architecture this crate is compiled for.
    #[cfg(not(any(
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc",
        target_arch = "sparc64"
    )))]
    pub const HOST: Self = Self::GENERIC;

    /// The largest argument size this layout can encode.
    pub const fn max_size(self) -> usize {
        (1 << self.size_bits) - 1
    }

    /// `_IOC(dir, ty, nr, size)`.
    ///
    /// # Panics
    ///
    /// If `size` exceeds [`max_size`](Self::max_size); in a `const` item that is a compile
    /// error, which is how request numbers are meant to be built.
    pub const fn encode(self, dir: IoctlDirection, ty: u8, nr: u8, size: usize) -> u32 {
        assert!(size <= self.max_size(), "ioctl argument too large");
        let dir_bits = match dir {
            IoctlDirection::None => self.dir_none,
            IoctlDirection::Read => self.dir_read,
            IoctlDirection::Write => self.dir_write,
            IoctlDirection::ReadWrite => self.dir_read | self.dir_write,
        };
        (dir_bits << (SIZE_SHIFT + self.size_bits))
            | ((size as u32) << SIZE_SHIFT)
            | ((ty as u32) << TYPE_SHIFT)
            | ((nr as u32) << NR_SHIFT)
    }

    /// `_IO(ty, nr)`: no argument, or an integer passed by value.
    pub const fn io(self, ty: u8, nr: u8) -> u32 {
        self.encode(IoctlDirection::None, ty, nr, 0)
    }

    /// `_IOR(ty, nr, T)` with `size = size_of::<T>()`.
    pub const fn ior(self, ty: u8, nr: u8, size: usize) -> u32 {
        self.encode(IoctlDirection::Read, ty, nr, size)
    }

    /// `_IOW(ty, nr, T)` with `size = size_of::<T>()`.
    pub const fn iow(self, ty: u8, nr: u8, size: usize) -> u32 {
        self.encode(IoctlDirection::Write, ty, nr, size)
    }

    /// `_IOWR(ty, nr, T)` with `size = size_of::<T>()`.
    pub const fn iowr(self, ty: u8, nr: u8, size: usize) -> u32 {
        self.encode(IoctlDirection::ReadWrite, ty, nr, size)
    }
}

/// `_IO(VFIO_TYPE, VFIO_BASE + offset)` for the current target, computed by `libc` (which
/// carries the per-architecture layout). Every VFIO ioctl is defined this way in
/// `include/uapi/linux/vfio.h`; the argument structure's size is not part of the number.
const fn vfio_io(offset: u32) -> u32 {
    // The value is at most 32 bits wide on every layout; `libc::Ioctl` is `c_ulong` on glibc
    // and `c_int` on musl, so narrow it to one portable type here.
    libc::_IO(VFIO_TYPE as u32, VFIO_BASE + offset) as u32
}

/// `VFIO_GET_API_VERSION` (container): returns `VFIO_API_VERSION` (0).
pub const VFIO_GET_API_VERSION: u32 = vfio_io(0);
/// `VFIO_CHECK_EXTENSION` (container): argument is the extension/IOMMU type by value.
pub const VFIO_CHECK_EXTENSION: u32 = vfio_io(1);
/// `VFIO_SET_IOMMU` (container): argument is the IOMMU type by value.
pub const VFIO_SET_IOMMU: u32 = vfio_io(2);
/// `VFIO_GROUP_GET_STATUS` (group): `struct vfio_group_status`.
pub const VFIO_GROUP_GET_STATUS: u32 = vfio_io(3);
/// `VFIO_GROUP_SET_CONTAINER` (group): pointer to the container fd (`int`).
pub const VFIO_GROUP_SET_CONTAINER: u32 = vfio_io(4);
/// `VFIO_GROUP_UNSET_CONTAINER` (group): no argument.
pub const VFIO_GROUP_UNSET_CONTAINER: u32 = vfio_io(5);
/// `VFIO_GROUP_GET_DEVICE_FD` (group): NUL-terminated device name; returns a new fd.
pub const VFIO_GROUP_GET_DEVICE_FD: u32 = vfio_io(6);
/// `VFIO_IOMMU_SPAPR_TCE_GET_INFO` (container): `struct vfio_iommu_spapr_tce_info`.
pub const VFIO_IOMMU_SPAPR_TCE_GET_INFO: u32 = vfio_io(12);
/// `VFIO_IOMMU_MAP_DMA` (container): `struct vfio_iommu_type1_dma_map`.
pub const VFIO_IOMMU_MAP_DMA: u32 = vfio_io(13);
/// `VFIO_IOMMU_UNMAP_DMA` (container): `struct vfio_iommu_type1_dma_unmap`.
pub const VFIO_IOMMU_UNMAP_DMA: u32 = vfio_io(14);
/// `VFIO_IOMMU_ENABLE` (container, SPAPR v1 only; a v2 container answers `ENOTTY`).
pub const VFIO_IOMMU_ENABLE: u32 = vfio_io(15);
/// `VFIO_IOMMU_DISABLE` (container, SPAPR v1 only; a v2 container answers `ENOTTY`).
pub const VFIO_IOMMU_DISABLE: u32 = vfio_io(16);
/// `VFIO_IOMMU_SPAPR_REGISTER_MEMORY` (container): `struct vfio_iommu_spapr_register_memory`.
pub const VFIO_IOMMU_SPAPR_REGISTER_MEMORY: u32 = vfio_io(17);
/// `VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY` (container): same structure.
pub const VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY: u32 = vfio_io(18);
/// `VFIO_IOMMU_SPAPR_TCE_CREATE` (container): `struct vfio_iommu_spapr_tce_create`.
pub const VFIO_IOMMU_SPAPR_TCE_CREATE: u32 = vfio_io(19);
/// `VFIO_IOMMU_SPAPR_TCE_REMOVE` (container): `struct vfio_iommu_spapr_tce_remove`.
pub const VFIO_IOMMU_SPAPR_TCE_REMOVE: u32 = vfio_io(20);
/// `VFIO_EEH_PE_OP` (container): `struct vfio_eeh_pe_op`.
pub const VFIO_EEH_PE_OP: u32 = vfio_io(21);

/// Every VFIO request number above with its name and its offset from `VFIO_BASE`, for tests
/// and diagnostics.
pub const VFIO_IOCTLS: [(&str, u8, u32); 17] = [
    ("VFIO_GET_API_VERSION", 0, VFIO_GET_API_VERSION),
    ("VFIO_CHECK_EXTENSION", 1, VFIO_CHECK_EXTENSION),
    ("VFIO_SET_IOMMU", 2, VFIO_SET_IOMMU),
    ("VFIO_GROUP_GET_STATUS", 3, VFIO_GROUP_GET_STATUS),
    ("VFIO_GROUP_SET_CONTAINER", 4, VFIO_GROUP_SET_CONTAINER),
    ("VFIO_GROUP_UNSET_CONTAINER", 5, VFIO_GROUP_UNSET_CONTAINER),
    ("VFIO_GROUP_GET_DEVICE_FD", 6, VFIO_GROUP_GET_DEVICE_FD),
    (
        "VFIO_IOMMU_SPAPR_TCE_GET_INFO",
        12,
        VFIO_IOMMU_SPAPR_TCE_GET_INFO,
    ),
    ("VFIO_IOMMU_MAP_DMA", 13, VFIO_IOMMU_MAP_DMA),
    ("VFIO_IOMMU_UNMAP_DMA", 14, VFIO_IOMMU_UNMAP_DMA),
    ("VFIO_IOMMU_ENABLE", 15, VFIO_IOMMU_ENABLE),
    ("VFIO_IOMMU_DISABLE", 16, VFIO_IOMMU_DISABLE),
    (
        "VFIO_IOMMU_SPAPR_REGISTER_MEMORY",
        17,
        VFIO_IOMMU_SPAPR_REGISTER_MEMORY,
    ),
    (
        "VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY",
        18,
        VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY,
    ),
    (
        "VFIO_IOMMU_SPAPR_TCE_CREATE",
        19,
        VFIO_IOMMU_SPAPR_TCE_CREATE,
    ),
    (
        "VFIO_IOMMU_SPAPR_TCE_REMOVE",
        20,
        VFIO_IOMMU_SPAPR_TCE_REMOVE,
    ),
    ("VFIO_EEH_PE_OP", 21, VFIO_EEH_PE_OP),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a request number back into (dir, type, nr, size) for `layout`.
    fn decode(layout: IoctlLayout, value: u32) -> (u32, u8, u8, usize) {
        let dir = value >> (SIZE_SHIFT + layout.size_bits);
        let size = (value >> SIZE_SHIFT) & ((1 << layout.size_bits) - 1);
        (dir, (value >> TYPE_SHIFT) as u8, value as u8, size as usize)
    }

    #[test]
    fn fields_round_trip_without_overlap() {
        for layout in [IoctlLayout::GENERIC, IoctlLayout::POWERPC] {
            for size in [0, 1, 0x68, layout.max_size()] {
                let dirs = [
                    (IoctlDirection::None, layout.dir_none),
                    (IoctlDirection::Read, layout.dir_read),
                    (IoctlDirection::Write, layout.dir_write),
                    (
                        IoctlDirection::ReadWrite,
                        layout.dir_read | layout.dir_write,
                    ),
                ];
                for (dir, dir_bits) in dirs {
                    let value = layout.encode(dir, 0xAE, 0xFF, size);
                    assert_eq!(decode(layout, value), (dir_bits, 0xAE, 0xFF, size));
                }
            }
        }
    }

    #[test]
    fn max_size_matches_field_width() {
        assert_eq!(IoctlLayout::GENERIC.max_size(), 0x3FFF);
        assert_eq!(IoctlLayout::POWERPC.max_size(), 0x1FFF);
    }

    #[test]
    #[should_panic(expected = "ioctl argument too large")]
    fn oversized_argument_is_rejected() {
        let size = std::hint::black_box(0x2000);
        IoctlLayout::POWERPC.iow(0xAE, 0, size);
    }

    #[test]
    fn table_is_sorted_and_complete() {
        let offsets: Vec<u8> = VFIO_IOCTLS.iter().map(|(_, n, _)| *n).collect();
        assert_eq!(
            offsets,
            [0, 1, 2, 3, 4, 5, 6, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
        );
    }
}
