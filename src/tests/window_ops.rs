// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

use papr_hcall::{HcallRequest, HcallStatus, Ioba, PageShift, Tce};
use vfio_spapr::{DmaAccess, SpaprTceIommu};

use super::*;
use crate::check::{check_invariants, InvariantViolation};
use crate::error::WindowError;
use crate::host_window::HostWindowError;
use crate::mapping::HostMapper;
use crate::pe::{DDW_SLOT, DEFAULT_SLOT};

const DDW_START: u64 = 1 << 59;

fn put(acc: &Accelerator, liobn: Liobn, ioba: u64, tce: u64) -> HcallStatus {
    acc.execute(HcallRequest::PutTce {
        liobn,
        ioba: Ioba(ioba),
        tce: Tce(tce),
    })
    .status
}

fn checked(acc: &Accelerator) {
    if let Err(violations) = check_invariants(acc) {
        panic!("{violations:#?}");
    }
}

#[test]
fn dynamic_window_lifecycle() {
    let (acc, model) = fixture();
    assert_eq!(put(&acc, DDW_LIOBN, DDW_START, 3), HcallStatus::PARAMETER);
    let info = acc
        .create_window(BUID, DDW_SLOT, DDW_START, PageShift::SZ_64K, 1 << 32)
        .unwrap();
    assert_eq!(
        (info.liobn, info.slot, info.size),
        (DDW_LIOBN, DDW_SLOT, 1 << 32)
    );
    let host = info.host.unwrap();
    assert_eq!((host.start, host.page_shift), (DDW_START, 12));
    assert_eq!(model.windows().len(), 2);
    for i in 0..8u64 {
        let ioba = DDW_START + (i << 16);
        assert_eq!(
            put(&acc, DDW_LIOBN, ioba, (i << 16) | 3),
            HcallStatus::SUCCESS
        );
    }
    assert_eq!(model.mapped_pages(), 8 * (1 << 16) / host_page_size());
    checked(&acc);

    acc.remove_window(BUID, DDW_SLOT).unwrap();
    assert_eq!(model.windows().len(), 1);
    assert_eq!(model.mapped_pages(), 0);
    assert!(acc.window(DDW_LIOBN).is_none());
    assert_eq!(put(&acc, DDW_LIOBN, DDW_START, 3), HcallStatus::PARAMETER);
    checked(&acc);

    // A new window in the same slot starts empty, with another page size.
    acc.create_window(BUID, DDW_SLOT, DDW_START, PageShift::SZ_16M, 1 << 30)
        .unwrap();
    assert_eq!(acc.entries(DDW_LIOBN), Some(vec![]));
    checked(&acc);
}

#[test]
fn slot_errors() {
    let (acc, model) = fixture();
    let create = |slot| acc.create_window(BUID, slot, DDW_START, PageShift::SZ_64K, 1 << 32);
    assert!(matches!(
        create(DEFAULT_SLOT),
        Err(WindowError::SlotInUse(0))
    ));
    assert!(matches!(create(2), Err(WindowError::NoSuchSlot(2))));
    assert!(matches!(
        acc.remove_window(BUID, DDW_SLOT),
        Err(WindowError::SlotEmpty(1))
    ));
    assert!(matches!(
        acc.create_window(7, DDW_SLOT, 0, PageShift::SZ_4K, 1 << 20),
        Err(WindowError::UnknownPe(7))
    ));
    assert!(matches!(
        acc.create_window(BUID, DDW_SLOT, DDW_START, PageShift::SZ_64K, 0),
        Err(WindowError::Config(_))
    ));
    // The host places slot 1 at 2^59: any other bus offset is refused and undone.
    let wrong = acc.create_window(BUID, DDW_SLOT, 1 << 40, PageShift::SZ_64K, 1 << 32);
    assert!(matches!(
        wrong,
        Err(WindowError::Host(HostWindowError::StartMismatch {
            expected: 0x100_0000_0000,
            actual: DDW_START
        }))
    ));
    assert_eq!(model.windows().len(), 1);
    assert!(acc.window(DDW_LIOBN).is_none());
    assert_eq!(acc.pes[0].free_slots(), vec![DDW_SLOT]);
    assert!(acc.pes[1].free_slots().is_empty(), "VIO: no DDW slot");
    checked(&acc);
}

#[test]
fn remove_default_then_dynamic_window_at_bus_zero() {
    // QEMU's order when the guest removes the default window first: the DDW takes slot 0
    // at the default window's bus address.
    let (acc, model) = fixture();
    assert_eq!(put(&acc, DEFAULT_LIOBN, 0, 3), HcallStatus::SUCCESS);
    acc.remove_window(BUID, DEFAULT_SLOT).unwrap();
    assert!(model.windows().is_empty());
    let info = acc
        .create_window(BUID, DEFAULT_SLOT, 0, PageShift::SZ_64K, RAM)
        .unwrap();
    assert_eq!(info.liobn, DEFAULT_LIOBN);
    assert_eq!(info.host.map(|h| h.start), Some(0));
    assert_eq!(
        put(&acc, DEFAULT_LIOBN, 0x1_0000, 0x1_0003),
        HcallStatus::SUCCESS
    );
    checked(&acc);
}

#[test]
fn reset_restores_only_the_default_window() {
    let (acc, model) = fixture();
    assert_eq!(
        put(&acc, DEFAULT_LIOBN, 0x1000, 0x2003),
        HcallStatus::SUCCESS
    );
    acc.create_window(BUID, DDW_SLOT, DDW_START, PageShift::SZ_64K, 1 << 32)
        .unwrap();
    assert_eq!(put(&acc, DDW_LIOBN, DDW_START, 3), HcallStatus::SUCCESS);
    let info = acc.reset_pe(BUID).unwrap();
    assert_eq!((info.liobn, info.size), (DEFAULT_LIOBN, 1 << 30));
    assert_eq!(acc.entries(DEFAULT_LIOBN), Some(vec![]));
    assert!(acc.window(DDW_LIOBN).is_none());
    assert_eq!(model.windows().len(), 1);
    assert_eq!(model.mapped_pages(), 0);
    checked(&acc);
}

#[test]
fn failed_host_removal_keeps_the_window() {
    let (acc, model) = fixture();
    assert_eq!(put(&acc, DEFAULT_LIOBN, 0, 3), HcallStatus::SUCCESS);
    model.inject_fault(vfio_spapr::IommuOp::RemoveWindow, 1, libc::EPERM);
    assert!(matches!(
        acc.remove_window(BUID, DEFAULT_SLOT),
        Err(WindowError::Remove(_))
    ));
    assert_eq!(acc.entries(DEFAULT_LIOBN).map(|e| e.len()), Some(1));
    checked(&acc);
}

#[test]
fn checker_detects_missing_and_extra_mappings() {
    let (acc, model) = fixture();
    checked(&acc);
    let host = acc.ram.translate(0, 0x1000).unwrap().host_addr;
    // Extra: hardware maps a page the guest view does not have.
    model
        .map_dma(0x5000, 0x1000, host, DmaAccess::Read)
        .unwrap();
    let violations = check_invariants(&acc).unwrap_err();
    assert!(matches!(
        violations[..],
        [InvariantViolation::ExtraMapping { iova: 0x5000, .. }]
    ));
    model.unmap_dma(0x5000, 0x1000).unwrap();
    // Missing and wrong permission: the guest view says more than hardware holds.
    assert_eq!(
        put(&acc, DEFAULT_LIOBN, 0x6000, 0x7001),
        HcallStatus::SUCCESS
    );
    model.unmap_dma(0x6000, 0x1000).unwrap();
    assert!(matches!(
        check_invariants(&acc).unwrap_err()[..],
        [InvariantViolation::WrongMapping {
            index: 6,
            found: None,
            ..
        }]
    ));
    let vaddr = acc.ram.translate(0x7000, 0x1000).unwrap().host_addr;
    model
        .map_dma(0x6000, 0x1000, vaddr, DmaAccess::ReadWrite)
        .unwrap();
    assert!(matches!(
        check_invariants(&acc).unwrap_err()[..],
        [InvariantViolation::WrongMapping {
            index: 6,
            found: Some(_),
            ..
        }]
    ));
    model
        .map_dma(0x6000, 0x1000, vaddr, DmaAccess::Read)
        .unwrap();
    checked(&acc);
}

#[test]
fn replay_maps_a_populated_guest_view_into_empty_hardware() {
    let (acc, model) = fixture();
    let pe = &acc.pes[0];
    let mut windows = pe.lock();
    let window = windows.get_mut(DEFAULT_SLOT).unwrap();
    // A guest view written behind the hardware's back (as after attaching a container).
    for i in 0..100u64 {
        window.table.set(i, (i << 12) | 3);
    }
    window.table.set(200, 0x5000_0000 | 1); // beyond RAM: cannot be replayed
    window.table.set(300, 0x9000); // no permission: nothing to map
    drop(windows);
    assert!(check_invariants(&acc).is_err());

    let mut windows = pe.lock();
    let window = windows.get_mut(DEFAULT_SLOT).unwrap();
    let backend = pe.backend.as_ref().unwrap();
    let mapper = HostMapper {
        iommu: &backend.iommu,
        host: window.host.as_ref().unwrap(),
        geometry: &window.geometry,
        ram: &acc.ram,
        counters: &acc.counters,
    };
    let entries: Vec<_> = crate::table::nonzero_entries(window.table.as_ref())
        .map(|(i, v)| (i, Tce(v)))
        .collect();
    let maps_before = acc.counters().backend.map_dma;
    let skipped = mapper.replay(entries).unwrap();
    assert_eq!(skipped, vec![200]);
    assert_eq!(acc.counters().backend.map_dma - maps_before, 1, "coalesced");
    window.table.set(200, 0);
    drop(windows);
    assert_eq!(model.mapped_pages(), 100 * 0x1000 / host_page_size());
    checked(&acc);
}
