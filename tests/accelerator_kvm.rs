// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The accelerator with its tables in (a stand-in for) KVM: which windows get kernel tables
//! and when VFIO groups are attached, the order of release and host-window removal on DDW
//! remove and reset, degradation when capabilities or steps are missing, and hcalls the
//! kernel punted being completed on the shared table (kernel-host.md §5.4–§5.6, §1.5–§1.7).
//!
//! KVM is [`kvm::FakeKvm`]: tables over memfds whose "kernel side" the tests write the way
//! in-kernel hcalls would, with the model container as the hardware both sides program.

#![cfg(feature = "model")]

mod common;
mod kvm;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use common::*;
use kvm::{capture_logs, group, warnings, Event, FakeKvm, FULL_CAPS};
use papr_hcall::rtas::ddw::CreateResult;
use papr_hcall::rtas::{DdwTokens, RtasCall};
use papr_hcall::{
    HcallOutcome, HcallStatus, Ioba, Liobn, PageShift, H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT,
    H_RTAS, H_STUFF_TCE,
};
use spapr_tce::kvm::{
    handle_papr_hcall_exit, ExitAction, KvmConfig, KvmTceCaps, PaprHcallExit, TableLocation,
};
use spapr_tce::TceAccelerator;
use vfio_spapr::{DmaAccess, SpaprTceIommu};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};

const KVM_EXIT_PAPR_HCALL: u32 = 19;
/// Where RTAS argument buffers go (guest RAM, clear of the list and data pages).
const RTAS_GPA: u64 = 0x20_0000;
const DDW_START: u64 = 1 << 59;
const KERNEL_VFIO: TableLocation = TableLocation::Kernel {
    vfio_attached: true,
};
const KERNEL_ONLY: TableLocation = TableLocation::Kernel {
    vfio_attached: false,
};

struct KvmFixture {
    fx: Fixture,
    fake: Arc<FakeKvm>,
    groups: Vec<Arc<File>>,
}

/// The standard fixture (VFIO PE 0, emulated PE 1, a VIO window) built with `caps`, and
/// `groups` VFIO group stand-ins for PE 0; `prepare` arms the fake's failures first.
fn build(caps: KvmTceCaps, groups: usize, prepare: impl FnOnce(&FakeKvm)) -> KvmFixture {
    let model = model();
    let fake = FakeKvm::new(caps, &model);
    prepare(&fake);
    let groups: Vec<Arc<File>> = (0..groups).map(|_| group()).collect();
    let kvm = groups
        .iter()
        .fold(KvmConfig::new(fake.clone()), |kvm, group| {
            kvm.pe_group(VFIO_BUID, group.clone())
        });
    let mem = guest_memory();
    let acc = TceAccelerator::with_kvm(mem.clone(), config(&model, PageShift::SZ_4K, 1 << 30), kvm)
        .expect("accelerator");
    KvmFixture {
        fx: Fixture { acc, model, mem },
        fake,
        groups,
    }
}

impl KvmFixture {
    fn fd(&self, group: usize) -> i32 {
        self.groups[group].as_raw_fd()
    }

    /// One `KVM_EXIT_PAPR_HCALL` completed by the accelerator through the exit glue; the
    /// action, `ret` and `args[0]` as the next KVM_RUN would load them.
    fn exit(&self, nr: u64, values: &[u64]) -> (ExitAction, u64, u64) {
        let mut image = vec![0u8; 4096];
        image[8..12].copy_from_slice(&KVM_EXIT_PAPR_HCALL.to_ne_bytes());
        image[32..40].copy_from_slice(&nr.to_ne_bytes());
        for (i, value) in args(values).iter().enumerate() {
            image[48 + 8 * i..56 + 8 * i].copy_from_slice(&value.to_ne_bytes());
        }
        let mut run = PaprHcallExit::from_bytes(&mut image).expect("kvm_run image");
        let action = handle_papr_hcall_exit(&mut run, &self.fx.acc, Some(&self.fx.acc));
        (action, run.ret(), run.arg(0).expect("args[0]"))
    }

    /// A TCE hcall through the exit glue; its status.
    fn hcall(&self, nr: u64, values: &[u64]) -> HcallStatus {
        match self.exit(nr, values) {
            (ExitAction::Completed { outcome, .. }, ret, _) => {
                assert_eq!(ret, outcome.status.to_register());
                outcome.status
            }
            (other, _, _) => panic!("hcall {nr:#x} not completed: {other:?}"),
        }
    }

    /// An RTAS call through `H_RTAS` and the exit glue; its return cells.
    fn rtas(&self, token: u32, cells: &[u32], nret: u32) -> Vec<u32> {
        let buffer = GuestAddress(RTAS_GPA);
        let call = RtasCall::new(buffer, token, cells, nret);
        self.fx
            .mem
            .write_slice(&call.to_bytes(), buffer)
            .expect("RTAS buffer in RAM");
        let (action, ret, _) = self.exit(H_RTAS, &[RTAS_GPA]);
        assert!(
            matches!(action, ExitAction::RtasCompleted { .. }),
            "{action:?}"
        );
        assert_eq!(ret, 0, "H_SUCCESS");
        call.read_rets(&*self.fx.mem).expect("return cells")
    }

    fn create_ddw(&self, buid: u64, page_shift: u32, window_shift: u32) -> CreateResult {
        let cells = [
            0,
            (buid >> 32) as u32,
            buid as u32,
            page_shift,
            window_shift,
        ];
        let rets = self.rtas(DdwTokens::QEMU.create, &cells, 4);
        CreateResult::from_rets(&rets).unwrap_or_else(|| panic!("create failed: {rets:x?}"))
    }

    fn remove_ddw(&self, liobn: Liobn) {
        let rets = self.rtas(DdwTokens::QEMU.remove, &[liobn.0 as u32], 1);
        assert_eq!(rets, [0], "remove");
    }

    fn reset(&self, buid: u64) {
        let rets = self.rtas(
            DdwTokens::QEMU.reset,
            &[0, (buid >> 32) as u32, buid as u32],
            1,
        );
        assert_eq!(rets, [0], "reset");
    }

    fn location(&self, liobn: Liobn) -> Option<TableLocation> {
        self.fx.acc.table_location(liobn)
    }

    /// What an in-kernel map does to the hardware of a window with VFIO attached.
    fn kernel_map(&self, iova: u64, size: u64, gpa: u64) {
        let vaddr = self.host_addr(gpa);
        self.fx
            .model
            .map_dma(iova, size, vaddr, DmaAccess::ReadWrite)
            .expect("model map");
    }

    /// What `kvmppc_clear_tce` / an in-kernel unmap does to the hardware.
    fn kernel_clear(&self, iova: u64, size: u64) {
        self.fx.model.unmap_dma(iova, size).expect("model unmap");
    }

    fn host_addr(&self, gpa: u64) -> u64 {
        self.fx
            .mem
            .get_host_address(GuestAddress(gpa))
            .expect("RAM") as u64
    }
}

#[test]
fn full_caps_put_every_window_in_the_kernel_and_attach_after_the_host_window() {
    capture_logs();
    let k = build(FULL_CAPS, 2, |_| {});
    assert_eq!(k.fx.acc.kvm_caps(), Some(FULL_CAPS));
    assert_eq!(k.location(VFIO_LIOBN), Some(KERNEL_VFIO));
    assert_eq!(k.location(EMU_LIOBN), Some(KERNEL_ONLY));
    assert_eq!(k.location(VIO_LIOBN), Some(KERNEL_ONLY));
    assert_eq!(k.location(VFIO_DDW_LIOBN), None, "no DDW yet");
    assert_eq!(
        k.fake.live_tables(),
        vec![VIO_LIOBN.0, VFIO_LIOBN.0, EMU_LIOBN.0]
    );

    let events = k.fake.events();
    let vfio_create = Event::Create {
        liobn: VFIO_LIOBN.0,
        bus_offset: 0,
        page_shift: 12,
        entries: 1 << 18,
        host_windows: vec![0],
    };
    // Multi-TCE on and every group added before any table; the VFIO table created after its
    // host window, and both groups attached to it right after; no group for the others.
    assert_eq!(
        events[..5],
        [
            Event::EnableMultitce,
            Event::AddGroup { group: k.fd(0) },
            Event::AddGroup { group: k.fd(1) },
            vfio_create,
            Event::Attach {
                liobn: VFIO_LIOBN.0,
                group: k.fd(0),
                host_windows: vec![0]
            },
        ]
    );
    assert_eq!(
        events[5],
        Event::Attach {
            liobn: VFIO_LIOBN.0,
            group: k.fd(1),
            host_windows: vec![0]
        }
    );
    let attached: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Attach { liobn, .. } => Some(*liobn),
            _ => None,
        })
        .collect();
    assert_eq!(attached, vec![VFIO_LIOBN.0; 2]);
    assert_eq!(events.len(), 8, "two more creates, no release: {events:#?}");
    assert_eq!(warnings(), Vec::<String>::new());
}

#[test]
fn hcalls_share_the_kernel_table() {
    let k = build(FULL_CAPS, 1, |_| {});
    // VMM-side H_PUT_TCE is visible to the kernel's H_GET_TCE, and maps the hardware.
    let tce = DATA_GPA | 3;
    assert_eq!(
        k.hcall(H_PUT_TCE, &[VFIO_LIOBN.0, 0x5000, tce]),
        HcallStatus::SUCCESS
    );
    assert_eq!(k.fake.kernel_read(VFIO_LIOBN, 5), tce);
    assert_eq!(
        k.fx.model.hw_entry(0x5000).map(|e| e.vaddr),
        Some(k.host_addr(DATA_GPA))
    );
    // What the kernel stored is what the VMM's H_GET_TCE (e.g. under PR KVM) returns, and
    // what emulated DMA translates through.
    k.fake.kernel_write(EMU_LIOBN, 7, 0x0123_4001);
    let (action, ret, r4) = k.exit(H_GET_TCE, &[EMU_LIOBN.0, 7 << 12]);
    assert_eq!(
        action,
        ExitAction::Completed {
            nr: H_GET_TCE,
            outcome: HcallOutcome::with_value(0x0123_4001)
        }
    );
    assert_eq!((ret, r4), (0, 0x0123_4001));
    let dma = k.fx.translate(EMU_LIOBN, (7 << 12) + 0x10).expect("mapped");
    assert_eq!(dma.guest_addr, 0x0123_4010);
    assert_eq!(
        k.fx.entries(EMU_LIOBN),
        vec![(7, papr_hcall::Tce(0x0123_4001))]
    );
    // And the other way round for an emulated window.
    assert_eq!(
        k.hcall(H_PUT_TCE, &[VIO_LIOBN.0, 0x3000, DATA_GPA | 1]),
        HcallStatus::SUCCESS
    );
    assert_eq!(k.fake.kernel_read(VIO_LIOBN, 3), DATA_GPA | 1);
}

#[test]
fn a_punted_put_of_an_unchanged_entry_is_mapped_again() {
    let k = build(FULL_CAPS, 1, |_| {});
    let tce = DATA_GPA | 3;
    assert_eq!(
        k.hcall(H_PUT_TCE, &[VFIO_LIOBN.0, 0x5000, tce]),
        HcallStatus::SUCCESS
    );
    let backend_before = k.fx.counters().backend;
    // The guest puts the same TCE again; the kernel's hardware update fails, so it clears
    // that hardware entry, leaves the guest view as it was and punts (kernel-host.md §1.5
    // step 6, checklist item 22).
    k.kernel_clear(0x5000, 0x1000);
    assert_eq!(k.fake.kernel_read(VFIO_LIOBN, 5), tce);
    assert_eq!(k.fx.model.hw_entry(0x5000), None);
    assert_eq!(
        k.hcall(H_PUT_TCE, &[VFIO_LIOBN.0, 0x5000, tce]),
        HcallStatus::SUCCESS
    );
    assert_eq!(
        k.fx.model.hw_entry(0x5000).map(|e| e.vaddr),
        Some(k.host_addr(DATA_GPA)),
        "the unchanged entry must be mapped again"
    );
    assert_eq!(k.fx.counters().backend.map_dma, backend_before.map_dma + 1);
    assert_eq!(k.fake.kernel_read(VFIO_LIOBN, 5), tce);
}

#[test]
fn a_punted_indirect_is_completed_whatever_the_kernel_committed() {
    let k = build(FULL_CAPS, 1, |_| {});
    let tces = linear(DATA_GPA, 0x1000, 4, 3);
    k.fx.write_list(LIST_GPA, &tces);
    let call = [VFIO_LIOBN.0, 10 << 12, LIST_GPA, 4];
    assert_eq!(k.hcall(H_PUT_TCE_INDIRECT, &call), HcallStatus::SUCCESS);
    // The same list again: the kernel commits entries 10 and 11, fails on 12, clears its
    // hardware entry and punts, leaving 12's guest view unchanged (§1.6 step 7).
    k.kernel_clear(12 << 12, 0x1000);
    assert_eq!(k.hcall(H_PUT_TCE_INDIRECT, &call), HcallStatus::SUCCESS);
    for i in 0..4u64 {
        assert_eq!(
            k.fx.model.hw_entry((10 + i) << 12).map(|e| e.vaddr),
            Some(k.host_addr(DATA_GPA + i * 0x1000)),
            "entry {}",
            10 + i
        );
        assert_eq!(k.fake.kernel_read(VFIO_LIOBN, 10 + i), tces[i as usize]);
    }
}

#[test]
fn a_punted_stuff_is_completed_after_partial_kernel_unmaps() {
    let k = build(FULL_CAPS, 1, |_| {});
    k.fx.write_list(LIST_GPA, &linear(DATA_GPA, 0x1000, 4, 3));
    assert_eq!(
        k.hcall(H_PUT_TCE_INDIRECT, &[VFIO_LIOBN.0, 20 << 12, LIST_GPA, 4]),
        HcallStatus::SUCCESS
    );
    // In-kernel H_STUFF_TCE unmapped 20 and 21, then failed on 22 and punted with the guest
    // view untouched (§1.7 step 4).
    k.kernel_clear(20 << 12, 0x2000);
    assert_eq!(
        k.hcall(H_STUFF_TCE, &[VFIO_LIOBN.0, 20 << 12, 0, 4]),
        HcallStatus::SUCCESS
    );
    assert_eq!(k.fx.entries(VFIO_LIOBN), vec![]);
    assert!(k.fx.hw().is_empty(), "{:?}", k.fx.hw());
}

#[test]
fn in_kernel_mappings_are_kept_and_seen_by_the_vmm() {
    let k = build(FULL_CAPS, 1, |_| {});
    // An in-kernel H_PUT_TCE: hardware and guest view, no exit.
    k.kernel_map(0x9000, 0x1000, DATA_GPA + 0x4000);
    k.fake.kernel_write(VFIO_LIOBN, 9, (DATA_GPA + 0x4000) | 3);
    let (_, _, r4) = k.exit(H_GET_TCE, &[VFIO_LIOBN.0, 0x9000]);
    assert_eq!(r4, (DATA_GPA + 0x4000) | 3);
    // A VMM-side clear of it (e.g. a punted H_STUFF_TCE) unmaps what the kernel mapped.
    assert_eq!(
        k.hcall(H_STUFF_TCE, &[VFIO_LIOBN.0, 0x9000, 0, 1]),
        HcallStatus::SUCCESS
    );
    assert_eq!(k.fx.model.hw_entry(0x9000), None);
    assert_eq!(k.fake.kernel_read(VFIO_LIOBN, 9), 0);
}

#[test]
fn ddw_create_attaches_after_the_host_window_and_remove_releases_before_it_goes() {
    let k = build(FULL_CAPS, 2, |_| {});
    k.fake.clear_events();
    let created = k.create_ddw(VFIO_BUID, 16, 28);
    assert_eq!(
        (created.liobn, created.start),
        (VFIO_DDW_LIOBN.0 as u32, DDW_START)
    );
    assert_eq!(k.location(VFIO_DDW_LIOBN), Some(KERNEL_VFIO));
    assert_eq!(
        k.fake.events(),
        vec![
            Event::Create {
                liobn: VFIO_DDW_LIOBN.0,
                bus_offset: DDW_START,
                page_shift: 16,
                entries: 1 << 12,
                host_windows: vec![0, DDW_START],
            },
            Event::Attach {
                liobn: VFIO_DDW_LIOBN.0,
                group: k.fd(0),
                host_windows: vec![0, DDW_START],
            },
            Event::Attach {
                liobn: VFIO_DDW_LIOBN.0,
                group: k.fd(1),
                host_windows: vec![0, DDW_START],
            },
        ]
    );

    // One entry mapped by the VMM, one by the kernel.
    assert_eq!(
        k.hcall(H_PUT_TCE, &[VFIO_DDW_LIOBN.0, DDW_START, DATA_GPA | 3]),
        HcallStatus::SUCCESS
    );
    let second = DDW_START + 0x1_0000;
    k.kernel_map(second, 0x1_0000, DATA_GPA + 0x1_0000);
    k.fake
        .kernel_write(VFIO_DDW_LIOBN, 1, (DATA_GPA + 0x1_0000) | 3);
    let host_shift =
        k.fx.acc
            .window(VFIO_DDW_LIOBN)
            .and_then(|w| w.host)
            .expect("host window")
            .page_shift;
    let hw_pages = k.fx.model.mapped_pages();
    assert_eq!(hw_pages, 2 << (16 - host_shift), "two 64 KiB entries");

    k.fake.clear_events();
    k.remove_ddw(VFIO_DDW_LIOBN);
    // Released first: the host window still there, its entries still mapped.
    assert_eq!(
        k.fake.events(),
        vec![Event::Release {
            liobn: VFIO_DDW_LIOBN.0,
            host_windows: vec![0, DDW_START],
            hw_pages,
        }]
    );
    assert_eq!(k.location(VFIO_DDW_LIOBN), None);
    assert_eq!(
        k.fake.live_tables(),
        vec![VIO_LIOBN.0, VFIO_LIOBN.0, EMU_LIOBN.0]
    );
    let starts: Vec<u64> = k.fx.model.windows().iter().map(|w| w.start).collect();
    assert_eq!(starts, vec![0]);
    assert_eq!(k.fx.model.mapped_pages(), 0);
    // The LIOBN can be created again.
    assert_eq!(k.create_ddw(VFIO_BUID, 16, 28).start, DDW_START);
    assert_eq!(k.location(VFIO_DDW_LIOBN), Some(KERNEL_VFIO));
}

#[test]
fn reset_releases_every_kernel_table_before_its_host_window_and_recreates_the_default() {
    let k = build(FULL_CAPS, 1, |_| {});
    k.create_ddw(VFIO_BUID, 16, 28);
    assert_eq!(
        k.hcall(H_PUT_TCE, &[VFIO_LIOBN.0, 0x2000, DATA_GPA | 3]),
        HcallStatus::SUCCESS
    );
    k.fake.clear_events();
    k.reset(VFIO_BUID);
    assert_eq!(
        k.fake.events(),
        vec![
            Event::Release {
                liobn: VFIO_LIOBN.0,
                host_windows: vec![0, DDW_START],
                hw_pages: 1,
            },
            Event::Release {
                liobn: VFIO_DDW_LIOBN.0,
                host_windows: vec![DDW_START],
                hw_pages: 0,
            },
            Event::Create {
                liobn: VFIO_LIOBN.0,
                bus_offset: 0,
                page_shift: 12,
                entries: 1 << 18,
                host_windows: vec![0],
            },
            Event::Attach {
                liobn: VFIO_LIOBN.0,
                group: k.fd(0),
                host_windows: vec![0],
            },
        ]
    );
    assert_eq!(k.location(VFIO_LIOBN), Some(KERNEL_VFIO));
    assert_eq!(k.fake.kernel_read(VFIO_LIOBN, 2), 0, "a fresh table");
}

#[test]
fn ddw_of_an_emulated_pe_gets_a_kernel_table_without_vfio() {
    let k = build(FULL_CAPS, 1, |_| {});
    k.fake.clear_events();
    let emu_buid = VFIO_BUID + 1;
    let emu_ddw = Liobn(0x8000_0101);
    let created = k.create_ddw(emu_buid, 16, 28);
    assert_eq!(created.liobn, emu_ddw.0 as u32);
    assert_eq!(k.location(emu_ddw), Some(KERNEL_ONLY));
    assert!(matches!(
        k.fake.events()[..],
        [Event::Create { liobn, .. }] if liobn == emu_ddw.0
    ));
    k.fake.kernel_write(emu_ddw, 2, DATA_GPA | 1);
    let dma =
        k.fx.acc
            .translate(emu_ddw, Ioba(created.start + 0x2_0008))
            .expect("kernel-written entry");
    assert_eq!(dma.guest_addr, DATA_GPA + 8);
    k.remove_ddw(emu_ddw);
    assert!(!k.fake.live_tables().contains(&emu_ddw.0));
}

#[test]
fn without_spapr_tce_64_every_table_stays_in_userspace() {
    capture_logs();
    let caps = KvmTceCaps {
        spapr_tce_64: false,
        ..FULL_CAPS
    };
    let k = build(caps, 1, |_| {});
    for liobn in [VFIO_LIOBN, EMU_LIOBN, VIO_LIOBN] {
        assert_eq!(k.location(liobn), Some(TableLocation::Userspace), "{liobn}");
    }
    assert_eq!(k.fake.events(), vec![], "nothing asked of KVM");
    let warnings = warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("no KVM_CAP_SPAPR_TCE_64")),
        "{warnings:?}"
    );
    // Hcalls work as without KVM.
    assert_eq!(
        k.hcall(H_PUT_TCE, &[VFIO_LIOBN.0, 0x1000, DATA_GPA | 3]),
        HcallStatus::SUCCESS
    );
    assert!(k.fx.model.hw_entry(0x1000).is_some());
}

#[test]
fn without_spapr_tce_vfio_only_pes_without_a_container_use_the_kernel() {
    capture_logs();
    let caps = KvmTceCaps {
        spapr_tce_vfio: false,
        ..FULL_CAPS
    };
    let k = build(caps, 1, |_| {});
    assert_eq!(k.location(VFIO_LIOBN), Some(TableLocation::Userspace));
    assert_eq!(k.location(EMU_LIOBN), Some(KERNEL_ONLY));
    assert_eq!(k.location(VIO_LIOBN), Some(KERNEL_ONLY));
    assert!(
        !k.fake
            .events()
            .iter()
            .any(|e| matches!(e, Event::AddGroup { .. } | Event::Attach { .. })),
        "{:?}",
        k.fake.events()
    );
    assert!(k.fake.events().contains(&Event::EnableMultitce));
    let warnings = warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("no KVM_CAP_SPAPR_TCE_VFIO")
                && w.contains(&format!("{VFIO_BUID:#x}"))),
        "{warnings:?}"
    );
}

#[test]
fn without_multitce_the_multi_tce_hcalls_stay_with_the_vmm() {
    capture_logs();
    for (caps, missing) in [
        (
            KvmTceCaps {
                spapr_multitce: false,
                ..FULL_CAPS
            },
            "no KVM_CAP_SPAPR_MULTITCE",
        ),
        (
            KvmTceCaps {
                ppc_enable_hcall: false,
                ..FULL_CAPS
            },
            "no KVM_CAP_PPC_ENABLE_HCALL",
        ),
    ] {
        capture_logs();
        let k = build(caps, 1, |_| {});
        assert!(!k.fake.events().contains(&Event::EnableMultitce));
        assert_eq!(k.location(VFIO_LIOBN), Some(KERNEL_VFIO));
        let warnings = warnings();
        assert!(warnings.iter().any(|w| w.contains(missing)), "{warnings:?}");
    }
}

#[test]
fn a_pe_without_group_fds_stays_in_userspace() {
    capture_logs();
    let k = build(FULL_CAPS, 0, |_| {});
    assert_eq!(k.location(VFIO_LIOBN), Some(TableLocation::Userspace));
    assert_eq!(k.location(EMU_LIOBN), Some(KERNEL_ONLY));
    let warnings = warnings();
    assert!(
        warnings.iter().any(|w| w.contains("no VFIO group fd")),
        "{warnings:?}"
    );
    // Its DDW stays in userspace too.
    k.create_ddw(VFIO_BUID, 16, 28);
    assert_eq!(k.location(VFIO_DDW_LIOBN), Some(TableLocation::Userspace));
}

#[test]
fn a_failed_file_add_keeps_the_pe_in_userspace() {
    capture_logs();
    let k = build(FULL_CAPS, 1, |fake| fake.fail_add_group());
    assert_eq!(k.location(VFIO_LIOBN), Some(TableLocation::Userspace));
    assert_eq!(k.location(EMU_LIOBN), Some(KERNEL_ONLY));
    let warnings = warnings();
    assert!(
        warnings.iter().any(|w| w.contains("FILE_ADD")),
        "{warnings:?}"
    );
}

#[test]
fn a_failed_attach_releases_the_table_and_keeps_the_window_in_userspace() {
    capture_logs();
    let k = build(FULL_CAPS, 2, |fake| fake.fail_attach(VFIO_LIOBN));
    assert_eq!(k.location(VFIO_LIOBN), Some(TableLocation::Userspace));
    assert!(!k.fake.live_tables().contains(&VFIO_LIOBN.0));
    let events = k.fake.events();
    let attach = events
        .iter()
        .position(|e| matches!(e, Event::Attach { liobn, .. } if *liobn == VFIO_LIOBN.0))
        .expect("an attach");
    assert!(
        matches!(&events[attach + 1], Event::Release { liobn, .. } if *liobn == VFIO_LIOBN.0),
        "released right after the failed attach, the second group never tried: {events:#?}"
    );
    let warnings = warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("SET_SPAPR_TCE") && w.contains(&VFIO_LIOBN.to_string())),
        "{warnings:?}"
    );
    // The window works from userspace, the hardware included.
    assert_eq!(
        k.hcall(H_PUT_TCE, &[VFIO_LIOBN.0, 0x1000, DATA_GPA | 3]),
        HcallStatus::SUCCESS
    );
    assert!(k.fx.model.hw_entry(0x1000).is_some());
}

#[test]
fn a_failed_table_creation_keeps_that_window_in_userspace() {
    capture_logs();
    let k = build(FULL_CAPS, 1, |fake| fake.fail_create(EMU_LIOBN));
    assert_eq!(k.location(EMU_LIOBN), Some(TableLocation::Userspace));
    assert_eq!(k.location(VFIO_LIOBN), Some(KERNEL_VFIO));
    let warnings = warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("KVM_CREATE_SPAPR_TCE_64") && w.contains(&EMU_LIOBN.to_string())),
        "{warnings:?}"
    );
}

#[test]
fn other_rtas_calls_and_hcalls_are_left_to_the_vmm() {
    let k = build(FULL_CAPS, 1, |_| {});
    let buffer = GuestAddress(RTAS_GPA);
    let call = RtasCall::new(buffer, 0x2001, &[], 1);
    k.fx.mem.write_slice(&call.to_bytes(), buffer).unwrap();
    let (action, _, _) = k.exit(H_RTAS, &[RTAS_GPA]);
    assert_eq!(action, ExitAction::RtasPending { buffer: RTAS_GPA });
    let (action, ret, _) = k.exit(0x64, &[]);
    assert_eq!(action, ExitAction::Unsupported { nr: 0x64 });
    assert_eq!(ret, HcallStatus::FUNCTION.to_register());
}
