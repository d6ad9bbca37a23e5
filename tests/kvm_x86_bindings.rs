// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Cross-checks of `spapr_tce::kvm` against kvm-bindings and the vmm-sys-util ioctl macros
//! kvm-ioctls uses, on x86_64 only: kvm-bindings has no powerpc64 module (rust-vmm.md §0
//! item 1), so on POWER the unit tests' pinned ppc64 literals are the check.

#![cfg(target_arch = "x86_64")]

use std::mem::{offset_of, size_of};

use kvm_bindings as kb;
use papr_hcall::{HcallOutcome, H_GET_TCE};
use spapr_tce::kvm::bindings as ours;
use spapr_tce::kvm::{handle_papr_hcall_exit, ExitAction, PaprHcallExit, PaprHcallHandler};
use vmm_sys_util::{ioctl_io_nr, ioctl_iow_nr, ioctl_iowr_nr};

// The definitions of kvm-ioctls 0.25.1 `src/kvm_ioctls.rs`, whose module is private.
ioctl_io_nr!(KVM_CHECK_EXTENSION, kb::KVMIO, 0x03);
ioctl_iow_nr!(KVM_ENABLE_CAP, kb::KVMIO, 0xa3, kb::kvm_enable_cap);
ioctl_iowr_nr!(KVM_CREATE_DEVICE, kb::KVMIO, 0xe0, kb::kvm_create_device);
ioctl_iow_nr!(KVM_SET_DEVICE_ATTR, kb::KVMIO, 0xe1, kb::kvm_device_attr);
ioctl_io_nr!(KVM_CREATE_VM, kb::KVMIO, 0x01);
ioctl_io_nr!(KVM_GET_API_VERSION, kb::KVMIO, 0x00);

#[test]
fn constants_match_kvm_bindings() {
    assert_eq!(u32::from(ours::KVMIO), kb::KVMIO);
    assert_eq!(ours::KVM_EXIT_PAPR_HCALL, kb::KVM_EXIT_PAPR_HCALL);
    assert_eq!(ours::KVM_CAP_SPAPR_TCE, kb::KVM_CAP_SPAPR_TCE);
    assert_eq!(ours::KVM_CAP_PPC_PAPR, kb::KVM_CAP_PPC_PAPR);
    assert_eq!(ours::KVM_CAP_PPC_RTAS, kb::KVM_CAP_PPC_RTAS);
    assert_eq!(ours::KVM_CAP_SPAPR_MULTITCE, kb::KVM_CAP_SPAPR_MULTITCE);
    assert_eq!(ours::KVM_CAP_PPC_ENABLE_HCALL, kb::KVM_CAP_PPC_ENABLE_HCALL);
    assert_eq!(ours::KVM_CAP_SPAPR_TCE_64, kb::KVM_CAP_SPAPR_TCE_64);
    assert_eq!(ours::KVM_CAP_SPAPR_TCE_VFIO, kb::KVM_CAP_SPAPR_TCE_VFIO);
    assert_eq!(
        ours::KVM_DEV_TYPE_VFIO,
        kb::kvm_device_type_KVM_DEV_TYPE_VFIO
    );
    assert_eq!(ours::KVM_DEV_VFIO_FILE, kb::KVM_DEV_VFIO_FILE);
    assert_eq!(ours::KVM_DEV_VFIO_FILE, kb::KVM_DEV_VFIO_GROUP);
    assert_eq!(
        ours::KVM_DEV_VFIO_FILE_ADD,
        u64::from(kb::KVM_DEV_VFIO_FILE_ADD)
    );
    assert_eq!(
        ours::KVM_DEV_VFIO_FILE_DEL,
        u64::from(kb::KVM_DEV_VFIO_FILE_DEL)
    );
    assert_eq!(
        ours::KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE,
        u64::from(kb::KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE)
    );

    // Layouts of the structures both define.
    assert_eq!(
        size_of::<ours::kvm_enable_cap>(),
        size_of::<kb::kvm_enable_cap>()
    );
    assert_eq!(
        offset_of!(ours::kvm_enable_cap, args),
        offset_of!(kb::kvm_enable_cap, args)
    );
    assert_eq!(
        offset_of!(ours::kvm_enable_cap, pad),
        offset_of!(kb::kvm_enable_cap, pad)
    );
    assert_eq!(
        size_of::<ours::kvm_create_device>(),
        size_of::<kb::kvm_create_device>()
    );
    assert_eq!(
        offset_of!(ours::kvm_create_device, fd),
        offset_of!(kb::kvm_create_device, fd)
    );
    assert_eq!(
        size_of::<ours::kvm_device_attr>(),
        size_of::<kb::kvm_device_attr>()
    );
    assert_eq!(
        offset_of!(ours::kvm_device_attr, attr),
        offset_of!(kb::kvm_device_attr, attr)
    );
    assert_eq!(
        offset_of!(ours::kvm_device_attr, addr),
        offset_of!(kb::kvm_device_attr, addr)
    );
    assert_eq!(
        size_of::<ours::kvm_vfio_spapr_tce>(),
        size_of::<kb::kvm_vfio_spapr_tce>()
    );
    assert_eq!(
        offset_of!(ours::kvm_vfio_spapr_tce, tablefd),
        offset_of!(kb::kvm_vfio_spapr_tce, tablefd)
    );
}

#[test]
fn request_numbers_match_kvm_ioctls_definitions() {
    // On x86_64 the asm-generic layout of vmm-sys-util is the right one.
    assert_eq!(ours::KVM_CHECK_EXTENSION as u64, KVM_CHECK_EXTENSION());
    assert_eq!(ours::KVM_ENABLE_CAP as u64, KVM_ENABLE_CAP());
    assert_eq!(ours::KVM_CREATE_DEVICE as u64, KVM_CREATE_DEVICE());
    assert_eq!(ours::KVM_SET_DEVICE_ATTR as u64, KVM_SET_DEVICE_ATTR());
    assert_eq!(ours::KVM_CREATE_VM as u64, KVM_CREATE_VM());
    assert_eq!(ours::KVM_GET_API_VERSION as u64, KVM_GET_API_VERSION());
    // kvm-bindings has no kvm_create_spapr_tce_64; the same macro over our struct.
    ioctl_iow_nr!(
        KVM_CREATE_SPAPR_TCE_64,
        kb::KVMIO,
        0xa8,
        ours::kvm_create_spapr_tce_64
    );
    assert_eq!(
        ours::KVM_CREATE_SPAPR_TCE_64 as u64,
        KVM_CREATE_SPAPR_TCE_64()
    );
}

#[test]
fn kvm_run_offsets_match_kvm_bindings() {
    let union = offset_of!(kb::kvm_run, __bindgen_anon_1);
    assert_eq!(
        offset_of!(kb::kvm_run, exit_reason),
        ours::KVM_RUN_EXIT_REASON_OFFSET
    );
    assert_eq!(union, ours::KVM_RUN_PAPR_HCALL_NR_OFFSET);
    type Papr = kb::kvm_run__bindgen_ty_1__bindgen_ty_16;
    assert_eq!(
        union + offset_of!(Papr, ret),
        ours::KVM_RUN_PAPR_HCALL_RET_OFFSET
    );
    assert_eq!(
        union + offset_of!(Papr, args),
        ours::KVM_RUN_PAPR_HCALL_ARGS_OFFSET
    );
}

struct GetTce;

impl PaprHcallHandler for GetTce {
    fn handle_hcall(&self, nr: u64, args: &[u64; 9]) -> Option<HcallOutcome> {
        (nr == H_GET_TCE).then(|| HcallOutcome::with_value(args[1] | 3))
    }
}

#[test]
fn handles_kvm_bindings_kvm_run() {
    // What kvm-ioctls' `VcpuFd::get_kvm_run()` hands out after `VcpuExit::PaprHcall`.
    let mut run = kb::kvm_run {
        exit_reason: kb::KVM_EXIT_PAPR_HCALL,
        ..Default::default()
    };
    // SAFETY: writing plain integers into the union member this exit reason selects.
    unsafe {
        let papr = &mut run.__bindgen_anon_1.papr_hcall;
        papr.nr = H_GET_TCE;
        papr.ret = 0x55;
        papr.args = [0x8000_0000, 0x7000, 0, 0, 0, 0, 0, 0, 0x1234];
    }
    let action = handle_papr_hcall_exit(&mut PaprHcallExit::from_kvm_run(&mut run), &GetTce, None);
    assert_eq!(
        action,
        ExitAction::Completed {
            nr: H_GET_TCE,
            outcome: HcallOutcome::with_value(0x7003)
        }
    );
    // SAFETY: reading plain integers of the active union member.
    let papr = unsafe { run.__bindgen_anon_1.papr_hcall };
    assert_eq!(papr.ret, 0);
    assert_eq!(papr.args, [0x7003, 0x7000, 0, 0, 0, 0, 0, 0, 0x1234]);

    // A different exit is not touched.
    run.exit_reason = kb::KVM_EXIT_MMIO;
    let action = handle_papr_hcall_exit(&mut PaprHcallExit::from_kvm_run(&mut run), &GetTce, None);
    assert_eq!(
        action,
        ExitAction::NotPaprHcall {
            exit_reason: kb::KVM_EXIT_MMIO
        }
    );
}
