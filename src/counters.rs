// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Event counters that prove what the accelerator saves compared with QEMU's one-ioctl-per-TCE
//! path (qemu-and-guest.md §6 items 1 and 10): hypercalls by result, TCEs changed, no-op entries
//! skipped and host IOMMU calls issued.
//!
//! All counters are relaxed atomics: they are statistics, never used for synchronisation.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// Number of counter shards: vCPU threads update different shards, so that hypercalls on
/// different PEs do not bounce one cache line between cores (every hypercall updates several
/// counters; shared, they cost the 2-PE concurrency benchmark about a tenth of its
/// throughput, BENCHMARKS.md).
const SHARDS: usize = 8;

/// The hot counters, one copy per shard, each on cache lines of its own.
#[derive(Default)]
#[repr(align(128))]
struct Shard {
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
}

/// The live counters of one accelerator.
#[derive(Default)]
pub struct Counters {
    shards: [Shard; SHARDS],
    pub(crate) ddw: crate::rtas::DdwCounters,
}

fn bump(cell: &AtomicU64, by: u64) {
    if by != 0 {
        cell.fetch_add(by, Ordering::Relaxed);
    }
}

/// The shard of the calling thread: threads take shards round-robin on first use.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|index| *index)
}

impl Counters {
    /// The calling thread's shard.
    fn mine(&self) -> &Shard {
        &self.shards[shard_index()]
    }

    /// The sum of one counter over all shards.
    fn sum(&self, cell: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| cell(shard).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// Records the status one hypercall returned.
    pub(crate) fn hcall(&self, kind: HcallKind, status: HcallStatus) {
        let cells = &self.mine().hcalls[kind.index()];
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
        let shard = self.mine();
        bump(&shard.tces_mapped, mapped);
        bump(&shard.tces_unmapped, unmapped);
        bump(&shard.noop_entries_skipped, skipped);
    }

    /// Records one host IOMMU call and whether it failed.
    pub(crate) fn backend(&self, call: BackendCall, failed: bool) {
        let shard = self.mine();
        let (calls, failures) = match call {
            BackendCall::MapDma => (&shard.map_dma, Some(&shard.map_dma_failed)),
            BackendCall::UnmapDma => (&shard.unmap_dma, Some(&shard.unmap_dma_failed)),
            BackendCall::CreateWindow => (&shard.create_window, None),
            BackendCall::RemoveWindow => (&shard.remove_window, None),
            BackendCall::RegisterMemory => (&shard.register_memory, None),
        };
        bump(calls, 1);
        if let (true, Some(failures)) = (failed, failures) {
            bump(failures, 1);
        }
    }

    /// Records host calls issued by a rollback, and entries that could not be restored.
    pub(crate) fn rollback(&self, calls: u64, cleared_entries: u64) {
        let shard = self.mine();
        bump(&shard.rollback_calls, calls);
        bump(&shard.entries_cleared_after_failure, cleared_entries);
    }

    /// Copies every counter (summed over the shards).
    pub fn snapshot(&self) -> CountersSnapshot {
        let hcall = |kind: HcallKind| {
            let i = kind.index();
            HcallResultCounts {
                success: self.sum(|s| &s.hcalls[i].success),
                parameter: self.sum(|s| &s.hcalls[i].parameter),
                p4: self.sum(|s| &s.hcalls[i].p4),
                hardware: self.sum(|s| &s.hcalls[i].hardware),
                not_enough_resources: self.sum(|s| &s.hcalls[i].not_enough_resources),
                other: self.sum(|s| &s.hcalls[i].other),
            }
        };
        let [put_tce, get_tce, stuff_tce, put_tce_indirect] = HcallKind::ALL.map(hcall);
        CountersSnapshot {
            put_tce,
            get_tce,
            stuff_tce,
            put_tce_indirect,
            tces_mapped: self.sum(|s| &s.tces_mapped),
            tces_unmapped: self.sum(|s| &s.tces_unmapped),
            noop_entries_skipped: self.sum(|s| &s.noop_entries_skipped),
            backend: BackendCallCounts {
                map_dma: self.sum(|s| &s.map_dma),
                map_dma_failed: self.sum(|s| &s.map_dma_failed),
                unmap_dma: self.sum(|s| &s.unmap_dma),
                unmap_dma_failed: self.sum(|s| &s.unmap_dma_failed),
                create_window: self.sum(|s| &s.create_window),
                remove_window: self.sum(|s| &s.remove_window),
                register_memory: self.sum(|s| &s.register_memory),
            },
            rollback_calls: self.sum(|s| &s.rollback_calls),
            entries_cleared_after_failure: self.sum(|s| &s.entries_cleared_after_failure),
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
    fn counts_from_many_threads_add_up() {
        let counters = Counters::default();
        std::thread::scope(|scope| {
            for _ in 0..(2 * SHARDS) {
                scope.spawn(|| {
                    for _ in 0..100 {
                        counters.hcall(HcallKind::PutTce, HcallStatus::SUCCESS);
                        counters.entries(2, 1, 3);
                        counters.backend(BackendCall::UnmapDma, true);
                    }
                });
            }
        });
        let snap = counters.snapshot();
        let calls = 2 * SHARDS as u64 * 100;
        assert_eq!(snap.put_tce.success, calls);
        assert_eq!(
            (
                snap.tces_mapped,
                snap.tces_unmapped,
                snap.noop_entries_skipped
            ),
            (2 * calls, calls, 3 * calls)
        );
        assert_eq!(
            (snap.backend.unmap_dma, snap.backend.unmap_dma_failed),
            (calls, calls)
        );
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
