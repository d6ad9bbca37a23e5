// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Model properties beyond the checklist: extent storage at scale, fault injection,
//! counters, thread safety, determinism.

use std::sync::Arc;
use std::thread;

use vfio_spapr::model::{ModelContainer, PlatformProfile};
use vfio_spapr::{DmaAccess, IommuOp, SpaprTceIommu};

use crate::common::{errno, power8, region_mapped, request, BUF, MIB};

/// 2^26 pages map in one call as one extent, and page-by-page mapping of a contiguous
/// buffer stays one extent; partial unmaps split it.
#[test]
fn runs_of_2_pow_26_pages_are_extents() {
    let iommu = ModelContainer::new(PlatformProfile::for_host(4096));
    iommu.remove_window(0).expect("no default window");
    let pages = 1u64 << 26;
    let size = pages << 12;
    iommu.register_memory(BUF, size).expect("256 GiB");
    let start = iommu.create_window(request(12, size, 3)).expect("window");
    iommu
        .map_dma(start, size, BUF, DmaAccess::ReadWrite)
        .expect("map all");
    assert_eq!(iommu.mapped_pages(), pages);
    assert_eq!(iommu.hw_extents().len(), 1);
    assert_eq!(region_mapped(&iommu, BUF), 1 + pages);
    let last = start + size - 0x1000;
    assert_eq!(
        iommu.hw_entry(last).map(|e| e.vaddr),
        Some(BUF + size - 0x1000)
    );
    iommu
        .unmap_dma(start + 0x10_0000, 0x1000)
        .expect("punch a hole");
    assert_eq!(iommu.hw_extents().len(), 2);
    iommu
        .map_dma(
            start + 0x10_0000,
            0x1000,
            BUF + 0x10_0000,
            DmaAccess::ReadWrite,
        )
        .expect("fill");
    assert_eq!(iommu.hw_extents().len(), 1);
    iommu.unmap_dma(start, size).expect("unmap all");
    for page in 0..4096u64 {
        iommu
            .map_dma(
                start + (page << 12),
                0x1000,
                BUF + (page << 12),
                DmaAccess::Read,
            )
            .expect("page by page");
    }
    assert_eq!(iommu.hw_extents().len(), 1);
    assert_eq!(iommu.counters().entries_mapped, pages + 1 + 4096);
}

/// An injected fault fails exactly the n-th future call of its kind, changes nothing (not
/// even the default window or the binding) and counts as a failure.
#[test]
fn injected_faults_fail_the_nth_call_without_state_change() {
    let iommu = power8();
    iommu.inject_fault(IommuOp::RegisterMemory, 1, libc::EFAULT);
    assert_eq!(errno(iommu.register_memory(BUF, MIB)), libc::EFAULT);
    assert_eq!(iommu.bound_process(), None);
    assert!(iommu.registrations().is_empty());
    iommu.register_memory(BUF, MIB).expect("second call");
    iommu.inject_fault(IommuOp::MapDma, 2, libc::ENOMEM);
    iommu.inject_fault(IommuOp::CreateWindow, 1, libc::EIO);
    assert_eq!(
        errno(iommu.create_window(request(16, 1 << 30, 1))),
        libc::EIO
    );
    assert!(iommu.default_window_pending());
    iommu
        .map_dma(0, 0x1000, BUF, DmaAccess::Read)
        .expect("first map");
    assert_eq!(
        errno(iommu.map_dma(0x1000, 0x1000, BUF, DmaAccess::Read)),
        libc::ENOMEM
    );
    assert_eq!(iommu.hw_entry(0x1000), None);
    iommu
        .map_dma(0x1000, 0x1000, BUF, DmaAccess::Read)
        .expect("third map");
    iommu.inject_fault(IommuOp::UnmapDma, 1, libc::EIO);
    iommu.clear_faults();
    iommu.unmap_dma(0, 0x2000).expect("cleared fault");
    let counters = iommu.counters();
    assert_eq!((counters.map_dma.ok, counters.map_dma.failed), (2, 1));
    assert_eq!(
        (counters.register_memory.ok, counters.register_memory.failed),
        (1, 1)
    );
    assert_eq!(counters.op(IommuOp::CreateWindow).failed, 1);
    assert_eq!(counters.op(IommuOp::Open).calls(), 0);
}

/// Containers are `Send + Sync`; concurrent disjoint maps all land.
#[test]
fn concurrent_maps_from_many_threads() {
    let iommu = Arc::new(power8());
    iommu.register_memory(BUF, 64 * MIB).expect("register");
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            let iommu = Arc::clone(&iommu);
            thread::spawn(move || {
                for i in 0..256u64 {
                    let page = t * 256 + i;
                    iommu
                        .map_dma(page << 12, 0x1000, BUF + (page << 12), DmaAccess::Read)
                        .expect("map");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
    assert_eq!(iommu.mapped_pages(), 1024);
    assert_eq!(region_mapped(&iommu, BUF), 1025);
}

/// The same calls give the same state: no randomness, no time.
#[test]
fn identical_call_sequences_give_identical_state() {
    let run = || {
        let iommu = power8();
        iommu.register_memory(BUF, 8 * MIB).expect("register");
        let ddw = iommu
            .create_window(request(16, 1 << 32, 2))
            .expect("create");
        iommu
            .map_dma(ddw, 4 * MIB, BUF, DmaAccess::Write)
            .expect("map");
        iommu.unmap_dma(ddw + MIB, 0x1_0000).expect("unmap");
        let _ = iommu.map_dma(0x7000, 0x3000, BUF + 7 * MIB, DmaAccess::Read);
        (
            iommu.windows(),
            iommu.hw_extents(),
            iommu.registrations(),
            iommu.counters(),
            iommu.locked_vm_pages(),
        )
    };
    assert_eq!(run(), run());
}
