// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Event counters that prove what the accelerator saves compared with QEMU's one-ioctl-per-TCE
//! path (qemu-and-guest.md §6 items 1 and 10): hypercalls by result, TCEs changed, no-op entries
//! skipped and host IOMMU calls issued.
//!
//! All counters are relaxed atomics: they are statistics, never used for synchronisation.

use std::sync::atomic::{AtomicU64, Ordering};

use papr_hcall::HcallStatus;

/// The four TCE hypercalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HcallKind {
    /// `H_PUT_TCE`.
    PutTce,
    /// `H_GET_TCE`.
    GetTce,
    /// `H_STUFF_TCE`.
    StuffTce,
    /// `H_PUT_TCE_INDIRECT`.
    PutTceIndirect,
}

impl HcallKind {
    const ALL: [Self; 4] = [
        Self::PutTce,
        Self::GetTce,
        Self::StuffTce,
        Self::PutTceIndirect,
    ];

    fn index(self) -> usize {
        match self {
            Self::PutTce => 0,
            Self::GetTce => 1,
            Self::StuffTce => 2,
            Self::PutTceIndirect => 3,
        }
    }
}

/// How often one hypercall returned each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HcallResultCounts {
    /// `H_SUCCESS`.
    pub success: u64,
    /// `H_PARAMETER`.
    pub parameter: u64,
    /// `H_P4` (`H_STUFF_TCE` count above 512).
    pub p4: u64,
    /// `H_HARDWARE` (host IOMMU failure other than ENOMEM).
    pub hardware: u64,
    /// `H_NOT_ENOUGH_RESOURCES` (host IOMMU ENOMEM).
    pub not_enough_resources: u64,
    /// Any other status.
    pub other: u64,
}

impl HcallResultCounts {
    /// Calls of this kind, whatever their result.
    pub fn total(&self) -> u64 {
        self.success
            + self.parameter
            + self.p4
            + self.hardware
            + self.not_enough_resources
            + self.other
    }
}

/// Host IOMMU calls issued, by ioctl.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendCallCounts {
    /// `VFIO_IOMMU_MAP_DMA` calls (successful or not).
    pub map_dma: u64,
    /// `VFIO_IOMMU_MAP_DMA` calls that failed.
    pub map_dma_failed: u64,
    /// `VFIO_IOMMU_UNMAP_DMA` calls (successful or not).
    pub unmap_dma: u64,
    /// `VFIO_IOMMU_UNMAP_DMA` calls that failed.
    pub unmap_dma_failed: u64,
    /// `VFIO_IOMMU_SPAPR_TCE_CREATE` calls.
    pub create_window: u64,
    /// `VFIO_IOMMU_SPAPR_TCE_REMOVE` calls.
    pub remove_window: u64,
    /// `VFIO_IOMMU_SPAPR_REGISTER_MEMORY` calls.
    pub register_memory: u64,
}

/// A consistent-enough copy of all counters (each value is read atomically on its own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// `H_PUT_TCE` results.
    pub put_tce: HcallResultCounts,
    /// `H_GET_TCE` results.
    pub get_tce: HcallResultCounts,
    /// `H_STUFF_TCE` results.
    pub stuff_tce: HcallResultCounts,
    /// `H_PUT_TCE_INDIRECT` results.
    pub put_tce_indirect: HcallResultCounts,
    /// Guest entries that became (or changed) valid mappings.
    pub tces_mapped: u64,
    /// Valid guest entries that were cleared.
    pub tces_unmapped: u64,
    /// Written entries that needed no host IOMMU work: clears of already-invalid entries and
    /// rewrites of identical values.
    pub noop_entries_skipped: u64,
    /// Host IOMMU calls.
    pub backend: BackendCallCounts,
    /// Host IOMMU calls issued to restore the previous state after a failure.
    pub rollback_calls: u64,
    /// Entries that could not be restored after a host failure and were cleared in the guest
    /// view.
    pub entries_cleared_after_failure: u64,
    /// DDW RTAS calls by call and status.
    pub ddw: crate::rtas::DdwCallCounts,
}

impl CountersSnapshot {
    /// The results of one hypercall kind.
    pub fn hcall(&self, kind: HcallKind) -> &HcallResultCounts {
        match kind {
            HcallKind::PutTce => &self.put_tce,
            HcallKind::GetTce => &self.get_tce,
            HcallKind::StuffTce => &self.stuff_tce,
            HcallKind::PutTceIndirect => &self.put_tce_indirect,
        }
    }
}

#[derive(Default)]
struct HcallCells {
    success: AtomicU64,
    parameter: AtomicU64,
    p4: AtomicU64,
    hardware: AtomicU64,
    not_enough_resources: AtomicU64,
    other: AtomicU64,
}

/// Which backend call a counter update is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BackendCall {
    MapDma,
    UnmapDma,
    CreateWindow,
    RemoveWindow,
    RegisterMemory,
}

/// The live counters of one accelerator.
#[derive(Default)]
pub struct Counters {
    hcalls: [HcallCells; 4],
    tces_mapped: AtomicU64,
    tces_unmapped: AtomicU64,
    noop_entries_skipped: AtomicU64,
    map_dma: AtomicU64,
    map_dma_failed: AtomicU64,
    unmap_dma: AtomicU64,
    unmap_dma_failed: AtomicU64,
    create_window: AtomicU64,
    remove_window: AtomicU64,
    register_memory: AtomicU64,
    rollback_calls: AtomicU64,
    entries_cleared_after_failure: AtomicU64,
    pub(crate) ddw: crate::rtas::DdwCounters,
}

fn bump(cell: &AtomicU64, by: u64) {
    if by != 0 {
        cell.fetch_add(by, Ordering::Relaxed);
    }
}

fn load(cell: &AtomicU64) -> u64 {
    cell.load(Ordering::Relaxed)
}

impl Counters {
    /// Records the status one hypercall returned.
    pub(crate) fn hcall(&self, kind: HcallKind, status: HcallStatus) {
        let cells = &self.hcalls[kind.index()];
        let cell = match status {
            HcallStatus::SUCCESS => &cells.success,
            HcallStatus::PARAMETER => &cells.parameter,
            HcallStatus::P4 => &cells.p4,
            HcallStatus::HARDWARE => &cells.hardware,
            HcallStatus::NOT_ENOUGH_RESOURCES => &cells.not_enough_resources,
            _ => &cells.other,
        };
        bump(cell, 1);
    }

    /// Records the guest-view effect of one committed update.
    pub(crate) fn entries(&self, mapped: u64, unmapped: u64, skipped: u64) {
        bump(&self.tces_mapped, mapped);
        bump(&self.tces_unmapped, unmapped);
        bump(&self.noop_entries_skipped, skipped);
    }

    /// Records one host IOMMU call and whether it failed.
    pub(crate) fn backend(&self, call: BackendCall, failed: bool) {
        let (calls, failures) = match call {
            BackendCall::MapDma => (&self.map_dma, Some(&self.map_dma_failed)),
            BackendCall::UnmapDma => (&self.unmap_dma, Some(&self.unmap_dma_failed)),
            BackendCall::CreateWindow => (&self.create_window, None),
            BackendCall::RemoveWindow => (&self.remove_window, None),
            BackendCall::RegisterMemory => (&self.register_memory, None),
        };
        bump(calls, 1);
        if let (true, Some(failures)) = (failed, failures) {
            bump(failures, 1);
        }
    }

    /// Records host calls issued by a rollback, and entries that could not be restored.
    pub(crate) fn rollback(&self, calls: u64, cleared_entries: u64) {
        bump(&self.rollback_calls, calls);
        bump(&self.entries_cleared_after_failure, cleared_entries);
    }

    /// Copies every counter.
    pub fn snapshot(&self) -> CountersSnapshot {
        let hcall = |kind: HcallKind| {
            let cells = &self.hcalls[kind.index()];
            HcallResultCounts {
                success: load(&cells.success),
                parameter: load(&cells.parameter),
                p4: load(&cells.p4),
                hardware: load(&cells.hardware),
                not_enough_resources: load(&cells.not_enough_resources),
                other: load(&cells.other),
            }
        };
        let [put_tce, get_tce, stuff_tce, put_tce_indirect] = HcallKind::ALL.map(hcall);
        CountersSnapshot {
            put_tce,
            get_tce,
            stuff_tce,
            put_tce_indirect,
            tces_mapped: load(&self.tces_mapped),
            tces_unmapped: load(&self.tces_unmapped),
            noop_entries_skipped: load(&self.noop_entries_skipped),
            backend: BackendCallCounts {
                map_dma: load(&self.map_dma),
                map_dma_failed: load(&self.map_dma_failed),
                unmap_dma: load(&self.unmap_dma),
                unmap_dma_failed: load(&self.unmap_dma_failed),
                create_window: load(&self.create_window),
                remove_window: load(&self.remove_window),
                register_memory: load(&self.register_memory),
            },
            rollback_calls: load(&self.rollback_calls),
            entries_cleared_after_failure: load(&self.entries_cleared_after_failure),
            ddw: self.ddw.snapshot(),
        }
    }
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_land_in_their_bucket() {
        let counters = Counters::default();
        counters.hcall(HcallKind::StuffTce, HcallStatus::P4);
        counters.hcall(HcallKind::StuffTce, HcallStatus::SUCCESS);
        counters.hcall(HcallKind::PutTce, HcallStatus::PARAMETER);
        counters.hcall(HcallKind::PutTceIndirect, HcallStatus::NOT_ENOUGH_RESOURCES);
        counters.hcall(HcallKind::GetTce, HcallStatus(-77));
        let snap = counters.snapshot();
        assert_eq!(snap.stuff_tce.p4, 1);
        assert_eq!(snap.stuff_tce.success, 1);
        assert_eq!(snap.stuff_tce.total(), 2);
        assert_eq!(snap.put_tce.parameter, 1);
        assert_eq!(snap.put_tce_indirect.not_enough_resources, 1);
        assert_eq!(snap.hcall(HcallKind::GetTce).other, 1);
    }

    #[test]
    fn backend_failures_count_as_calls_too() {
        let counters = Counters::default();
        counters.backend(BackendCall::MapDma, false);
        counters.backend(BackendCall::MapDma, true);
        counters.backend(BackendCall::UnmapDma, true);
        counters.backend(BackendCall::CreateWindow, true);
        let backend = counters.snapshot().backend;
        assert_eq!((backend.map_dma, backend.map_dma_failed), (2, 1));
        assert_eq!((backend.unmap_dma, backend.unmap_dma_failed), (1, 1));
        assert_eq!(backend.create_window, 1);
    }
}
