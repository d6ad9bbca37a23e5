// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Probes POWER KVM's in-kernel TCE acceleration through `spapr_tce::kvm`: capabilities on
//! `/dev/kvm` and on a new VM, enabling the multi-TCE hcalls, creating, mapping, writing and
//! re-creating guest-view TCE tables, the KVM-VFIO device, and an accelerator built with
//! `KvmConfig` (its windows registered in KVM, a DDW created and released through RTAS).
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

use papr_hcall::rtas::ddw::CreateResult;
use papr_hcall::rtas::{DdwTokens, RtasCall, RtasStatus};
use papr_hcall::{HcallStatus, Liobn, PageShift, H_GET_TCE, H_PUT_TCE};
use spapr_tce::kvm::bindings::{
    KVM_CAP_PPC_ENABLE_HCALL, KVM_CAP_PPC_PAPR, KVM_CAP_PPC_RTAS, KVM_CAP_SPAPR_MULTITCE,
    KVM_CAP_SPAPR_TCE, KVM_CAP_SPAPR_TCE_64, KVM_CAP_SPAPR_TCE_VFIO, KVM_CREATE_VM,
    KVM_GET_API_VERSION,
};
use spapr_tce::kvm::{
    check_extension, enable_multitce_hcalls, KvmConfig, KvmTableError, KvmTceCaps, KvmTceTable,
    KvmTceTableGeometry, KvmVfioDevice, KvmVm, TableLocation,
};
use spapr_tce::{NoContainer, PeConfig, TceAccelerator};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

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
    probe_accelerator(&vm, &mut report);

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

/// True when `liobn` has a table in the VM: creating another one is EBUSY (checklist item 23).
fn registered_in_kvm(vm: &OwnedFd, liobn: Liobn) -> Result<bool, KvmTableError> {
    let geometry = KvmTceTableGeometry {
        liobn,
        page_shift: PageShift::SZ_4K,
        bus_offset: 0,
        entries: 16,
    };
    match KvmTceTable::create(vm, geometry) {
        Ok(_) => Ok(false),
        Err(KvmTableError::Kvm(error)) if error.errno == libc::EBUSY => Ok(true),
        Err(error) => Err(error),
    }
}

/// An accelerator for QEMU's PHB 0 (no container) with its tables in KVM.
fn probe_accelerator(vm: &OwnedFd, report: &mut Report) {
    let default_liobn = Liobn(0x8000_0000);
    let ddw_liobn = Liobn(0x8000_0001);
    let built = vm
        .try_clone()
        .map_err(|error| error.to_string())
        .and_then(|fd| KvmVm::new(fd).map_err(|error| error.to_string()))
        .and_then(|kvm| {
            let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)])
                .map_err(|error| error.to_string())?;
            let mem = std::sync::Arc::new(mem);
            TceAccelerator::<_, NoContainer>::builder(mem)
                .qemu_phb(0, None)
                .kvm(KvmConfig::new(kvm))
                .build()
                .map_err(|error| error.to_string())
        });
    let acc = match built {
        Ok(acc) => acc,
        Err(error) => return report.check("accelerator_build", false, error),
    };
    let location = acc.table_location(default_liobn);
    report.check(
        "accelerator_default_window_in_kernel",
        location
            == Some(TableLocation::Kernel {
                vfio_attached: false,
            }),
        format!("{location:?}"),
    );
    let registered = registered_in_kvm(vm, default_liobn);
    report.check(
        "accelerator_default_liobn_registered",
        matches!(registered, Ok(true)),
        format!("{registered:?}"),
    );
    let put = acc.handle_hcall(
        H_PUT_TCE,
        &[default_liobn.0, 0x3000, 0x10_0003, 0, 0, 0, 0, 0, 0],
    );
    let get = acc.handle_hcall(H_GET_TCE, &[default_liobn.0, 0x3000, 0, 0, 0, 0, 0, 0, 0]);
    report.check(
        "accelerator_put_get",
        put.map(|o| o.status) == Some(HcallStatus::SUCCESS)
            && get.and_then(|o| o.r4) == Some(0x10_0003),
        format!("put={put:?} get={get:?}"),
    );

    // ibm,create-pe-dma-window: 2^24 bytes of 64 KiB pages, then remove it again.
    let buid = PeConfig::<()>::QEMU_BUID_BASE;
    let rtas = |token: u32, args: &[u32], nret: u32| {
        let buffer = GuestAddress(0x1000);
        let call = RtasCall::new(buffer, token, args, nret);
        acc.memory()
            .as_ref()
            .write_slice(&call.to_bytes(), buffer)
            .ok()?;
        let status = acc.handle_rtas(buffer)?.ok()?;
        (status == RtasStatus::SUCCESS)
            .then(|| call.read_rets(acc.memory().as_ref()).ok())
            .flatten()
    };
    let pe = [0, (buid >> 32) as u32, buid as u32];
    let created = rtas(DdwTokens::QEMU.create, &[pe[0], pe[1], pe[2], 16, 24], 4)
        .and_then(|rets| CreateResult::from_rets(&rets));
    let ddw_ok = created.is_some_and(|c| c.liobn == ddw_liobn.0 as u32)
        && acc.table_location(ddw_liobn)
            == Some(TableLocation::Kernel {
                vfio_attached: false,
            })
        && matches!(registered_in_kvm(vm, ddw_liobn), Ok(true));
    report.check(
        "accelerator_ddw_create_in_kernel",
        ddw_ok,
        format!("{created:x?}"),
    );
    let removed = rtas(DdwTokens::QEMU.remove, &[ddw_liobn.0 as u32], 1);
    let released = registered_in_kvm(vm, ddw_liobn);
    report.check(
        "accelerator_ddw_remove_releases_liobn",
        removed.is_some() && matches!(released, Ok(false)),
        format!("rets={removed:x?} registered={released:?}"),
    );
}
