// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Memory hotplug: regions added and removed while vCPU threads issue hypercalls, the two
//! removal policies, refused additions, and the event-manager subscriber.

#![cfg(feature = "model")]

mod lifecycle_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
use lifecycle_support::{create_ddw, hcall, host_addr, put, region, stuff, SwapMemory};
use papr_hcall::{HcallStatus, Liobn, H_GET_TCE};
use spapr_tce::check::check_invariants;
use spapr_tce::lifecycle::{HotplugError, MemoryHotplugSubscriber, RemovePolicy};
use spapr_tce::ram::RamRegion;
use spapr_tce::{AcceleratorConfig, LiobnScheme, PeConfig, TceAccelerator};
use vfio_spapr::model::{ModelContainer, ModelProcess, PlatformProfile, ProcessId};
use vfio_spapr::IommuOp;
use vm_memory::GuestRegionMmap;

type Container = Arc<ModelContainer>;
type Accelerator = TceAccelerator<SwapMemory, Container>;

const MIB: u64 = 1 << 20;
/// Region A (always present) and region B (hot-plugged).
const A: (u64, u64) = (0, 64 * MIB);
const B: (u64, u64) = (64 * MIB, 32 * MIB);
const RTAS_BUFFER: u64 = 4 * MIB - 4096;
const BUID: u64 = PeConfig::<()>::QEMU_BUID_BASE;
const DEFAULT_LIOBN: Liobn = Liobn(0x8000_0000);

fn host_page_size() -> u64 {
    1 << spapr_tce::ram::host_page_shift()
}

struct Machine {
    acc: Arc<Accelerator>,
    memory: SwapMemory,
    a: Arc<GuestRegionMmap>,
    b: Arc<GuestRegionMmap>,
    models: Vec<Container>,
    process: ModelProcess,
}

impl Machine {
    /// `pes` PEs with model containers in one process; guest RAM is region A only.
    fn new(pes: u32) -> Self {
        let a = region(A.0, A.1, 2 * MIB, false);
        let b = region(B.0, B.1, 2 * MIB, false);
        let memory = SwapMemory::new(vec![a.clone()]);
        let process = ModelProcess::new(ProcessId::DEFAULT, None);
        let models: Vec<Container> = (0..pes)
            .map(|_| {
                Arc::new(ModelContainer::new_in(
                    &process,
                    PlatformProfile::for_host(host_page_size()),
                ))
            })
            .collect();
        let config = AcceleratorConfig {
            pes: models
                .iter()
                .enumerate()
                .map(|(i, m)| PeConfig::qemu_phb(i as u32, &LiobnScheme::QEMU, Some(m.clone())))
                .collect(),
            ..Default::default()
        };
        let acc = Arc::new(TceAccelerator::new(memory.clone(), config).expect("accelerator"));
        Self {
            acc,
            memory,
            a,
            b,
            models,
            process,
        }
    }

    fn plug_b(&self) {
        self.memory.replace(vec![self.a.clone(), self.b.clone()]);
    }

    fn unplug_b(&self) {
        self.memory.replace(vec![self.a.clone()]);
    }

    fn b_host_range(&self) -> (u64, u64) {
        let start = host_addr(&self.b);
        (start, start + B.1)
    }

    /// No hardware entry of any container points into region B, and no container has it
    /// registered.
    fn assert_b_gone(&self) {
        let (start, end) = self.b_host_range();
        for model in &self.models {
            for extent in model.hw_extents() {
                let extent_end = extent.vaddr + (extent.pages << extent.page_shift);
                assert!(
                    extent_end <= start || extent.vaddr >= end,
                    "hardware maps removed RAM: {extent:x?}"
                );
            }
            assert!(
                model.registrations().iter().all(|r| r.vaddr != start),
                "region B is still registered"
            );
        }
    }

    fn check(&self) {
        if let Err(violations) = check_invariants(&*self.acc) {
            panic!("invariants: {violations:#?}");
        }
    }
}

#[test]
fn regions_come_and_go_while_vcpus_issue_hcalls() {
    let machine = Machine::new(1);
    let stop = Arc::new(AtomicBool::new(false));
    let mapped_into_b = Arc::new(AtomicU64::new(0));
    let vcpus: Vec<_> = (0..2u64)
        .map(|vcpu| {
            let acc = machine.acc.clone();
            let stop = stop.clone();
            let mapped_into_b = mapped_into_b.clone();
            thread::spawn(move || {
                let first = 0x10_0000 * (vcpu + 1);
                while !stop.load(Ordering::Relaxed) {
                    for k in 0..64u64 {
                        // Even entries map region A, odd ones region B (present or not).
                        let gpa = if k % 2 == 0 {
                            A.0 + 16 * MIB + (vcpu << 20) + k * 4096
                        } else {
                            B.0 + (vcpu << 20) + k * 4096
                        };
                        let status = put(&acc, DEFAULT_LIOBN, first + k * 4096, gpa | 3);
                        match status {
                            HcallStatus::SUCCESS if k % 2 == 1 => {
                                mapped_into_b.fetch_add(1, Ordering::Relaxed);
                            }
                            HcallStatus::SUCCESS => {}
                            HcallStatus::PARAMETER => assert_eq!(k % 2, 1, "region A refused"),
                            other => panic!("H_PUT_TCE returned {other}"),
                        }
                    }
                    assert_eq!(stuff(&acc, DEFAULT_LIOBN, first, 64), HcallStatus::SUCCESS);
                }
            })
        })
        .collect();

    for _ in 0..25 {
        machine.plug_b();
        let sync = machine
            .acc
            .sync_memory(RemovePolicy::UnmapFirst)
            .expect("add B");
        assert_eq!(sync.added.len(), 1);
        assert!(sync.removed.is_empty());
        machine.check();
        // Let the vCPUs map region B before it goes (a progress wait, not a timing check).
        let seen = mapped_into_b.load(Ordering::Relaxed);
        let mut waits = 0;
        while mapped_into_b.load(Ordering::Relaxed) < seen + 8 {
            waits += 1;
            assert!(waits < 100_000, "vCPU threads make no progress");
            thread::sleep(std::time::Duration::from_micros(100));
        }
        machine.unplug_b();
        let sync = machine
            .acc
            .sync_memory(RemovePolicy::UnmapFirst)
            .expect("remove B");
        assert_eq!(sync.removed.len(), 1);
        // The vCPUs keep running: nothing maps B, and nothing can map it any more.
        machine.assert_b_gone();
        machine.check();
        assert_eq!(machine.acc.ram().regions().len(), 1);
    }
    stop.store(true, Ordering::Relaxed);
    for vcpu in vcpus {
        vcpu.join().expect("vCPU thread");
    }
    machine.assert_b_gone();
    machine.check();
    // Only region A's registration is charged now (plus the default window).
    let registrations = machine.models[0].registrations();
    assert_eq!(registrations.len(), 1);
    assert_eq!(registrations[0].vaddr, host_addr(&machine.a));
    eprintln!(
        "vCPUs mapped region B {} times during the hotplug rounds",
        mapped_into_b.load(Ordering::Relaxed)
    );
}

#[test]
fn refuse_policy_waits_for_the_guest_to_clear() {
    let machine = Machine::new(2);
    machine.plug_b();
    machine
        .acc
        .sync_memory(RemovePolicy::Refuse)
        .expect("add B");
    let locked_with_b = machine.process.locked_vm_pages();
    let page = B.0 + 8 * MIB;
    assert_eq!(
        put(&*machine.acc, DEFAULT_LIOBN, 0x5000, page | 1),
        HcallStatus::SUCCESS
    );
    assert_eq!(
        put(&*machine.acc, DEFAULT_LIOBN, 0x6000, page | 2),
        HcallStatus::SUCCESS
    );

    match machine.acc.remove_memory_region(B.0, RemovePolicy::Refuse) {
        Err(HotplugError::InUse {
            count,
            first_liobn,
            first_index,
            ..
        }) => assert_eq!((count, first_liobn, first_index), (2, DEFAULT_LIOBN, 5)),
        other => panic!("expected InUse, got {other:?}"),
    }
    // The same through sync_memory: the VMM already dropped B from its map.
    machine.unplug_b();
    assert!(matches!(
        machine.acc.sync_memory(RemovePolicy::Refuse),
        Err(HotplugError::InUse { count: 2, .. })
    ));
    assert_eq!(machine.acc.ram().regions().len(), 2, "nothing changed");
    assert_eq!(machine.process.locked_vm_pages(), locked_with_b);
    machine.check();

    // The guest clears its TCEs (memory offline), then the removal goes through.
    assert_eq!(
        stuff(&*machine.acc, DEFAULT_LIOBN, 0x5000, 2),
        HcallStatus::SUCCESS
    );
    let sync = machine
        .acc
        .sync_memory(RemovePolicy::Refuse)
        .expect("remove B");
    assert_eq!(sync.removed[0].guest_addr, B.0);
    let b_pages = B.1 / host_page_size();
    assert_eq!(machine.process.locked_vm_pages(), locked_with_b - b_pages);
    machine.assert_b_gone();
    machine.check();
    assert!(matches!(
        machine.acc.remove_memory_region(B.0, RemovePolicy::Refuse),
        Err(HotplugError::NotFound(_))
    ));
}

#[test]
fn unmap_first_clears_guest_view_and_hardware_with_one_call_per_run() {
    let machine = Machine::new(1);
    machine.plug_b();
    machine
        .acc
        .sync_memory(RemovePolicy::Refuse)
        .expect("add B");
    let (status, ddw_liobn, start) = create_ddw(&*machine.acc, RTAS_BUFFER, BUID, 16, 32);
    assert_eq!(status, 0);
    let ddw = Liobn(ddw_liobn);
    // 16 consecutive entries into B in each window, and one into A that must survive.
    for i in 0..16u64 {
        let gpa = B.0 + i * 0x1_0000;
        assert_eq!(
            put(
                &*machine.acc,
                DEFAULT_LIOBN,
                0x10_0000 + i * 4096,
                (B.0 + i * 4096) | 3
            ),
            HcallStatus::SUCCESS
        );
        assert_eq!(
            put(&*machine.acc, ddw, start + i * 0x1_0000, gpa | 1),
            HcallStatus::SUCCESS
        );
    }
    assert_eq!(
        put(
            &*machine.acc,
            ddw,
            start + 0x100_0000,
            (A.0 + 0x40_0000) | 3
        ),
        HcallStatus::SUCCESS
    );
    machine.check();

    let unmaps_before = machine.models[0].counters().op(IommuOp::UnmapDma).calls();
    let removed = machine
        .acc
        .remove_memory_region(B.0, RemovePolicy::UnmapFirst)
        .expect("remove B");
    assert_eq!((removed.guest_addr, removed.len), B);
    let unmaps = machine.models[0].counters().op(IommuOp::UnmapDma).calls() - unmaps_before;
    assert_eq!(unmaps, 2, "one coalesced UNMAP_DMA per window");
    for i in 0..16u64 {
        let get = |liobn: Liobn, ioba| hcall(&*machine.acc, H_GET_TCE, &[liobn.0, ioba]).1;
        assert_eq!(get(DEFAULT_LIOBN, 0x10_0000 + i * 4096), Some(0));
        assert_eq!(get(ddw, start + i * 0x1_0000), Some(0));
    }
    let kept = hcall(&*machine.acc, H_GET_TCE, &[ddw.0, start + 0x100_0000]).1;
    assert_eq!(kept, Some((A.0 + 0x40_0000) | 3));
    machine.assert_b_gone();
    machine.check();
    // TCEs into the removed range are refused from now on.
    assert_eq!(
        put(&*machine.acc, ddw, start, B.0 | 3),
        HcallStatus::PARAMETER
    );
}

#[test]
fn additions_that_cannot_work_change_nothing() {
    let machine = Machine::new(2);
    let before = machine.process.locked_vm_pages();
    let overlapping = RamRegion {
        guest_addr: A.1 - MIB,
        len: 2 * MIB,
        host_addr: Some(host_addr(&machine.b)),
        hugetlbfs: false,
        max_iommu_shift: spapr_tce::ram::host_page_shift(),
    };
    assert!(matches!(
        machine.acc.add_ram_region(overlapping),
        Err(HotplugError::Overlap {
            existing_addr: 0,
            ..
        })
    ));
    let unmapped = RamRegion {
        guest_addr: B.0,
        host_addr: None,
        ..overlapping
    };
    assert!(matches!(
        machine.acc.add_ram_region(unmapped),
        Err(HotplugError::NoHostMapping { .. })
    ));
    // The second container refuses the registration: the first one's is undone.
    machine.models[1].inject_fault(IommuOp::RegisterMemory, 1, libc::ENOMEM);
    match machine.acc.add_memory_region(&*machine.b) {
        Err(HotplugError::Register { buid, source, .. }) => {
            assert_eq!(buid, BUID + 1);
            assert_eq!(source.errno, libc::ENOMEM);
        }
        other => panic!("expected Register, got {other:?}"),
    }
    assert_eq!(machine.acc.ram().regions().len(), 1);
    assert_eq!(machine.process.locked_vm_pages(), before);
    assert_eq!(machine.models[0].registrations().len(), 1);
    machine.check();
    // Without the fault it works, and both containers have it.
    machine.acc.add_memory_region(&*machine.b).expect("add B");
    for model in &machine.models {
        assert!(model
            .registrations()
            .iter()
            .any(|r| r.vaddr == host_addr(&machine.b) && r.in_this_container));
    }
    machine.check();
}

#[test]
fn hot_added_memory_must_serve_the_host_page_of_live_windows() {
    const HUGE: u64 = 16 * MIB;
    let a = region(A.0, A.1, HUGE, true);
    let memory = SwapMemory::new(vec![a.clone()]);
    let model = Arc::new(ModelContainer::new(PlatformProfile::for_host(
        host_page_size(),
    )));
    model.set_backing(host_addr(&a), A.1, 24).expect("backing");
    let config = AcceleratorConfig {
        pes: vec![PeConfig::qemu_phb(
            0,
            &LiobnScheme::QEMU,
            Some(model.clone()),
        )],
        hugepage_size: Some(HUGE),
        ..Default::default()
    };
    let acc = TceAccelerator::new(memory, config).expect("accelerator");
    let (status, _, _) = create_ddw(&acc, RTAS_BUFFER, BUID, 24, 32);
    assert_eq!(status, 0);
    assert!(acc
        .windows()
        .iter()
        .any(|w| w.host.is_some_and(|h| h.page_shift == 24)));

    let small = region(B.0, B.1, 2 * MIB, false);
    match acc.add_memory_region(&*small) {
        Err(HotplugError::PageTooSmall {
            needed_shift: 24, ..
        }) => {}
        other => panic!("expected PageTooSmall, got {other:?}"),
    }
    assert_eq!(
        model.registrations().len(),
        1,
        "the registration was undone"
    );
    let huge = region(B.0, B.1, HUGE, true);
    model
        .set_backing(host_addr(&huge), B.1, 24)
        .expect("backing");
    acc.add_memory_region(&*huge).expect("hugetlbfs region");
    assert_eq!(acc.ram().regions().len(), 2);
    check_invariants(&acc).expect("invariants");
}

#[test]
fn subscriber_synchronises_on_each_signal() {
    let machine = Machine::new(1);
    let subscriber = Arc::new(Mutex::new(
        MemoryHotplugSubscriber::new(machine.acc.clone(), RemovePolicy::Refuse).expect("eventfd"),
    ));
    let notifier = subscriber.lock().unwrap().notifier().expect("notifier");
    let mut manager =
        EventManager::<Arc<Mutex<dyn MutEventSubscriber + Send>>>::new().expect("epoll");
    manager.add_subscriber(subscriber.clone());

    machine.plug_b();
    notifier.write(1).unwrap();
    notifier.write(1).unwrap();
    assert_eq!(
        manager.run_with_timeout(5000).unwrap(),
        1,
        "two signals, one event"
    );
    assert_eq!(machine.acc.ram().regions().len(), 2);
    assert_eq!(subscriber.lock().unwrap().syncs(), 1);

    // A TCE into B makes the Refuse policy fail: logged and counted, nothing removed.
    assert_eq!(
        put(&*machine.acc, DEFAULT_LIOBN, 0, B.0 | 3),
        HcallStatus::SUCCESS
    );
    machine.unplug_b();
    notifier.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(5000).unwrap(), 1);
    assert_eq!(subscriber.lock().unwrap().failures(), 1);
    assert_eq!(machine.acc.ram().regions().len(), 2);

    // Once the guest cleared it, the next signal removes B.
    assert_eq!(
        stuff(&*machine.acc, DEFAULT_LIOBN, 0, 1),
        HcallStatus::SUCCESS
    );
    notifier.write(1).unwrap();
    assert_eq!(manager.run_with_timeout(5000).unwrap(), 1);
    let subscriber = subscriber.lock().unwrap();
    assert_eq!((subscriber.syncs(), subscriber.failures()), (3, 1));
    assert_eq!(machine.acc.ram().regions().len(), 1);
    machine.assert_b_gone();
    machine.check();
}
