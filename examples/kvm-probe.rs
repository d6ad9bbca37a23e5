// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Probes POWER KVM's in-kernel TCE acceleration through `spapr_tce::kvm`: capabilities on
//! `/dev/kvm` and on a new VM, enabling the multi-TCE hcalls, creating, mapping, writing and
//! re-creating guest-view TCE tables, and the KVM-VFIO device.
//!
//! Meant for the lab's nested part (an L1 guest with HV KVM, lab README §12; run as root).
//! Every line starts with `KVMPROBE`. Exit status: 0 when every step behaved as a POWER
//! HV KVM host should (kernel-host.md §5, checklist items 23–26), 1 when one did not, 2 when
//! there is no usable KVM or it is not a POWER KVM (nothing to test).
//!
//! ```text
//! cargo run --example kvm-probe            # or the cross-built static binary in L1
//! ```

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;

use papr_hcall::{Liobn, PageShift};
use spapr_tce::kvm::bindings::{
    KVM_CAP_PPC_ENABLE_HCALL, KVM_CAP_PPC_PAPR, KVM_CAP_PPC_RTAS, KVM_CAP_SPAPR_MULTITCE,
    KVM_CAP_SPAPR_TCE, KVM_CAP_SPAPR_TCE_64, KVM_CAP_SPAPR_TCE_VFIO, KVM_CREATE_VM,
    KVM_GET_API_VERSION,
};
use spapr_tce::kvm::{
    check_extension, enable_multitce_hcalls, KvmTableError, KvmTceCaps, KvmTceTable,
    KvmTceTableGeometry, KvmVfioDevice,
};

/// Counts the steps that did not behave as expected.
#[derive(Default)]
struct Report {
    failures: u32,
}

impl Report {
    fn check(&mut self, step: &str, ok: bool, detail: impl std::fmt::Display) {
        println!(
            "KVMPROBE {step} {} {detail}",
            if ok { "ok" } else { "FAIL" }
        );
        if !ok {
            self.failures += 1;
        }
    }
}

/// `ioctl(fd, request, 0)` for the argument-less system ioctls; the raw return value.
fn system_ioctl(kvm: &File, request: u32) -> std::io::Result<i32> {
    // SAFETY: KVM_GET_API_VERSION and KVM_CREATE_VM take an integer by value (0: the default
    // VM type) and dereference nothing.
    let ret = unsafe { libc::ioctl(kvm.as_raw_fd(), request as _, 0 as libc::c_ulong) };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn main() -> ExitCode {
    let kvm = match OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        Ok(kvm) => kvm,
        Err(error) => {
            println!("KVMPROBE skip cannot open /dev/kvm: {error}");
            return ExitCode::from(2);
        }
    };
    println!(
        "KVMPROBE api_version {:?}",
        system_ioctl(&kvm, KVM_GET_API_VERSION)
    );
    for (name, cap) in [
        ("KVM_CAP_PPC_PAPR", KVM_CAP_PPC_PAPR),
        ("KVM_CAP_SPAPR_TCE", KVM_CAP_SPAPR_TCE),
        ("KVM_CAP_PPC_RTAS", KVM_CAP_PPC_RTAS),
        ("KVM_CAP_SPAPR_MULTITCE", KVM_CAP_SPAPR_MULTITCE),
        ("KVM_CAP_PPC_ENABLE_HCALL", KVM_CAP_PPC_ENABLE_HCALL),
        ("KVM_CAP_SPAPR_TCE_64", KVM_CAP_SPAPR_TCE_64),
        ("KVM_CAP_SPAPR_TCE_VFIO", KVM_CAP_SPAPR_TCE_VFIO),
    ] {
        println!(
            "KVMPROBE system {name}({cap}) = {:?}",
            check_extension(&kvm, cap)
        );
    }

    // Capabilities alone prove nothing (lab README §12.2): create a VM.
    let vm = match system_ioctl(&kvm, KVM_CREATE_VM) {
        // SAFETY: KVM_CREATE_VM returned a new descriptor that nothing else owns.
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
        Err(error) => {
            println!("KVMPROBE skip KVM_CREATE_VM failed: {error}");
            return ExitCode::from(2);
        }
    };
    let caps = match KvmTceCaps::probe(&vm) {
        Ok(caps) => caps,
        Err(error) => {
            println!("KVMPROBE skip {error}");
            return ExitCode::from(2);
        }
    };
    println!("KVMPROBE vm {caps:?}");
    if !caps.kernel_tables() {
        println!("KVMPROBE skip no KVM_CAP_SPAPR_TCE_64: not a POWER KVM host");
        return ExitCode::from(2);
    }

    let mut report = Report::default();
    if caps.kernel_multitce() {
        let result = enable_multitce_hcalls(&vm);
        report.check(
            "enable_multitce_hcalls",
            result.is_ok(),
            format!("{result:?}"),
        );
    }
    probe_tables(&vm, &mut report);
    probe_vfio_device(&vm, &mut report);

    println!("KVMPROBE done failures={}", report.failures);
    if report.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn probe_tables(vm: &OwnedFd, report: &mut Report) {
    // The table of lab README §12.6: 1024 entries of 4 KiB at bus address 0.
    let small = KvmTceTableGeometry {
        liobn: Liobn(0x8000_0001),
        page_shift: PageShift::SZ_4K,
        bus_offset: 0,
        entries: 1024,
    };
    let mut table = match KvmTceTable::create(vm, small) {
        Ok(table) => table,
        Err(error) => {
            report.check("create", false, error);
            return;
        }
    };
    report.check(
        "create",
        true,
        format!(
            "liobn={} mapping_len={:#x}",
            table.liobn(),
            table.mapping_len()
        ),
    );
    let nonzero = (0..table.entries())
        .filter(|&i| table.read(i) != Some(0))
        .count();
    report.check(
        "fresh_table_reads_zero",
        nonzero == 0,
        format!("nonzero={nonzero}"),
    );
    let written = table.write(3, 0x1_0003);
    let back = table.read(3);
    report.check(
        "write_read_back",
        written && back == Some(0x1_0003),
        format!("table[3]={back:x?}"),
    );

    // Checklist item 23: the same LIOBN twice is EBUSY.
    let duplicate = KvmTceTable::create(vm, small);
    let ebusy = matches!(&duplicate, Err(KvmTableError::Kvm(e)) if e.errno == libc::EBUSY);
    report.check(
        "duplicate_liobn_ebusy",
        ebusy,
        format!("{:?}", duplicate.err()),
    );

    // Checklist item 26: closing the fd frees the LIOBN; the new table starts at zero.
    drop(table);
    match KvmTceTable::create(vm, small) {
        Ok(again) => report.check(
            "recreate_after_close",
            again.read(3) == Some(0),
            format!("table[3]={:x?}", again.read(3)),
        ),
        Err(error) => report.check("recreate_after_close", false, error),
    }

    // A DDW-shaped table: 2^16 64 KiB pages at 2^59 (offset counts pages, §5.2).
    let ddw = KvmTceTableGeometry {
        liobn: Liobn(0x8000_0101),
        page_shift: PageShift::SZ_64K,
        bus_offset: 1 << 59,
        entries: 1 << 16,
    };
    match KvmTceTable::create(vm, ddw) {
        Ok(mut table) => {
            let last = table.entries() - 1;
            let ok = table.write(last, 0x2_0000_0003) && table.read(last) == Some(0x2_0000_0003);
            report.check(
                "ddw_table_last_entry",
                ok,
                format!("{:?}", table.geometry()),
            );
        }
        Err(error) => report.check("ddw_table", false, error),
    }

    // Checklist item 23: size 0 is refused (here before the ioctl, which would say EINVAL).
    let empty = KvmTceTable::create(
        vm,
        KvmTceTableGeometry {
            entries: 0,
            ..small
        },
    );
    report.check(
        "empty_table_refused",
        matches!(empty, Err(KvmTableError::Empty)),
        format!("{:?}", empty.err()),
    );
}

fn probe_vfio_device(vm: &OwnedFd, report: &mut Report) {
    match KvmVfioDevice::create(vm) {
        Ok(device) => {
            report.check(
                "kvm_vfio_device",
                true,
                format!("fd={}", device.as_raw_fd()),
            );
            // Without a VFIO group, SET_SPAPR_TCE must fail; /dev/null is not a group.
            let null = File::open("/dev/null");
            if let Ok(null) = null {
                let add = device.add_group(&null);
                report.check(
                    "file_add_of_a_non_vfio_file_fails",
                    add.is_err(),
                    format!("{add:?}"),
                );
            }
        }
        Err(error) => report.check("kvm_vfio_device", false, error),
    }
}
