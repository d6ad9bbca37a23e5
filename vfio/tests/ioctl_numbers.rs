// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! ioctl request numbers pinned as literals for both encodings, so the x86_64 CI guards the
//! ppc64 values too (rust-vmm.md §0 item 2; values from kernel-host.md §3.1 and
//! ppc64le-build.md "Evidence: wrong ioctl numbers").

use vfio_spapr::ioctl::{self, IoctlDirection, IoctlLayout, VFIO_IOCTLS};

/// `';'`, the VFIO ioctl type.
const VFIO_TYPE: u8 = b';';
/// `KVMIO`.
const KVMIO: u8 = 0xAE;

/// kernel-host.md §3.1, "ppc64 value" column, in `VFIO_IOCTLS` order.
const PPC64_VFIO: [u32; 17] = [
    0x2000_3B64, // VFIO_GET_API_VERSION
    0x2000_3B65, // VFIO_CHECK_EXTENSION
    0x2000_3B66, // VFIO_SET_IOMMU
    0x2000_3B67, // VFIO_GROUP_GET_STATUS
    0x2000_3B68, // VFIO_GROUP_SET_CONTAINER
    0x2000_3B69, // VFIO_GROUP_UNSET_CONTAINER
    0x2000_3B6A, // VFIO_GROUP_GET_DEVICE_FD
    0x2000_3B70, // VFIO_IOMMU_SPAPR_TCE_GET_INFO
    0x2000_3B71, // VFIO_IOMMU_MAP_DMA
    0x2000_3B72, // VFIO_IOMMU_UNMAP_DMA
    0x2000_3B73, // VFIO_IOMMU_ENABLE
    0x2000_3B74, // VFIO_IOMMU_DISABLE
    0x2000_3B75, // VFIO_IOMMU_SPAPR_REGISTER_MEMORY
    0x2000_3B76, // VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY
    0x2000_3B77, // VFIO_IOMMU_SPAPR_TCE_CREATE
    0x2000_3B78, // VFIO_IOMMU_SPAPR_TCE_REMOVE
    0x2000_3B79, // VFIO_EEH_PE_OP
];

/// The asm-generic (x86_64) values of the same ioctls.
const GENERIC_VFIO: [u32; 17] = [
    0x3B64, 0x3B65, 0x3B66, 0x3B67, 0x3B68, 0x3B69, 0x3B6A, 0x3B70, 0x3B71, 0x3B72, 0x3B73, 0x3B74,
    0x3B75, 0x3B76, 0x3B77, 0x3B78, 0x3B79,
];

#[test]
fn powerpc_encoding_of_vfio_ioctls() {
    for ((name, offset, _), expected) in VFIO_IOCTLS.iter().zip(PPC64_VFIO) {
        let value = IoctlLayout::POWERPC.io(VFIO_TYPE, 100 + offset);
        assert_eq!(value, expected, "{name}: {value:#x} != {expected:#x}");
    }
    // Two spot checks in decimal, as linux-raw-sys's powerpc64 ioctl.rs lists them.
    assert_eq!(IoctlLayout::POWERPC.io(VFIO_TYPE, 100), 536_886_116);
    assert_eq!(IoctlLayout::POWERPC.io(VFIO_TYPE, 119), 536_886_135);
}

#[test]
fn generic_encoding_of_vfio_ioctls() {
    for ((name, offset, _), expected) in VFIO_IOCTLS.iter().zip(GENERIC_VFIO) {
        let value = IoctlLayout::GENERIC.io(VFIO_TYPE, 100 + offset);
        assert_eq!(value, expected, "{name}: {value:#x} != {expected:#x}");
    }
    // vfio-ioctls' own x86_64 test value.
    assert_eq!(IoctlLayout::GENERIC.io(VFIO_TYPE, 100), 15204);
}

/// The numbers the container actually passes to `ioctl(2)` (computed by `libc`) are the
/// encoding of the architecture the tests run on: ppc64 values under qemu-ppc64le or on POWER,
/// asm-generic ones on x86_64.
#[test]
fn numbers_in_use_match_this_architecture() {
    let host_is_powerpc = cfg!(any(target_arch = "powerpc", target_arch = "powerpc64"));
    let expected = if host_is_powerpc {
        PPC64_VFIO
    } else {
        GENERIC_VFIO
    };
    for ((name, offset, value), literal) in VFIO_IOCTLS.iter().zip(expected) {
        assert_eq!(*value, literal, "{name}");
        assert_eq!(
            *value,
            IoctlLayout::HOST.io(VFIO_TYPE, 100 + offset),
            "{name}"
        );
    }
    assert_eq!(
        IoctlLayout::HOST,
        if host_is_powerpc {
            IoctlLayout::POWERPC
        } else {
            IoctlLayout::GENERIC
        }
    );
    assert_eq!(ioctl::VFIO_GET_API_VERSION, expected[0]);
    assert_eq!(ioctl::VFIO_IOMMU_SPAPR_TCE_CREATE, expected[14]);
}

/// The encoder agrees with `libc`'s per-arch `_IOR/_IOW/_IOWR` on this target, for every
/// direction (the VFIO ioctls only exercise `_IO`).
#[test]
fn host_layout_agrees_with_libc_for_sized_ioctls() {
    assert_eq!(
        u64::from(IoctlLayout::HOST.iow(KVMIO, 0xA8, 32)),
        libc::_IOW::<[u64; 4]>(u32::from(KVMIO), 0xA8) as u64
    );
    assert_eq!(
        u64::from(IoctlLayout::HOST.ior(b't', 104, 8)),
        libc::_IOR::<[u16; 4]>(u32::from(b't'), 104) as u64
    );
    assert_eq!(
        u64::from(IoctlLayout::HOST.iowr(KVMIO, 0xE0, 12)),
        libc::_IOWR::<[u32; 3]>(u32::from(KVMIO), 0xE0) as u64
    );
    assert_eq!(
        u64::from(IoctlLayout::HOST.io(KVMIO, 0)),
        libc::_IO(u32::from(KVMIO), 0) as u64
    );
}

/// KVM ioctls the POWER bindings will need, pinned for ppc64 (sizes: `kvm_create_spapr_tce_64`
/// 32, `kvm_enable_cap` 104, `kvm_create_device` 12, `kvm_device_attr` 24,
/// `kvm_userspace_memory_region` 32).
#[test]
fn powerpc_encoding_of_kvm_ioctls() {
    let ppc = IoctlLayout::POWERPC;
    assert_eq!(ppc.iow(KVMIO, 0xA8, 32), 0x8020_AEA8); // KVM_CREATE_SPAPR_TCE_64
    assert_eq!(ppc.iow(KVMIO, 0xA3, 104), 0x8068_AEA3); // KVM_ENABLE_CAP
    assert_eq!(ppc.iowr(KVMIO, 0xE0, 12), 0xC00C_AEE0); // KVM_CREATE_DEVICE
    assert_eq!(ppc.iow(KVMIO, 0xE1, 24), 0x8018_AEE1); // KVM_SET_DEVICE_ATTR
    assert_eq!(ppc.io(KVMIO, 0x00), 0x2000_AE00); // KVM_GET_API_VERSION
    assert_eq!(ppc.io(KVMIO, 0x01), 0x2000_AE01); // KVM_CREATE_VM
    assert_eq!(ppc.iow(KVMIO, 0x46, 32), 0x8020_AE46); // KVM_SET_USER_MEMORY_REGION
    assert_eq!(ppc.ior(b't', 104, 8), 0x4008_7468); // TIOCGWINSZ
}

#[test]
fn generic_encoding_of_kvm_ioctls() {
    let generic = IoctlLayout::GENERIC;
    assert_eq!(generic.iow(KVMIO, 0xA3, 104), 0x4068_AEA3); // KVM_ENABLE_CAP
    assert_eq!(generic.iowr(KVMIO, 0xE0, 12), 0xC00C_AEE0); // KVM_CREATE_DEVICE
    assert_eq!(generic.iow(KVMIO, 0xE1, 24), 0x4018_AEE1); // KVM_SET_DEVICE_ATTR
    assert_eq!(generic.io(KVMIO, 0x00), 0xAE00); // KVM_GET_API_VERSION
    assert_eq!(generic.iow(KVMIO, 0x46, 32), 0x4020_AE46); // KVM_SET_USER_MEMORY_REGION
}

#[test]
fn encode_matches_the_shorthands() {
    for layout in [IoctlLayout::GENERIC, IoctlLayout::POWERPC] {
        assert_eq!(
            layout.encode(IoctlDirection::None, KVMIO, 1, 0),
            layout.io(KVMIO, 1)
        );
        assert_eq!(
            layout.encode(IoctlDirection::Read, KVMIO, 2, 8),
            layout.ior(KVMIO, 2, 8)
        );
        assert_eq!(
            layout.encode(IoctlDirection::Write, KVMIO, 3, 16),
            layout.iow(KVMIO, 3, 16)
        );
        assert_eq!(
            layout.encode(IoctlDirection::ReadWrite, KVMIO, 4, 24),
            layout.iowr(KVMIO, 4, 24)
        );
    }
}
