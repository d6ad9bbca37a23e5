// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Call and entry counters of one model container.

use crate::IommuOp;

/// Successful and failed calls of one operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OpCounters {
    /// Calls that returned `Ok`.
    pub ok: u64,
    /// Calls that returned an error (including injected faults).
    pub failed: u64,
}

impl OpCounters {
    /// All calls.
    pub fn calls(&self) -> u64 {
        self.ok + self.failed
    }
}

/// What a [`ModelContainer`](super::ModelContainer) has been asked to do so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ModelCounters {
    /// `VFIO_IOMMU_SPAPR_TCE_GET_INFO`.
    pub get_info: OpCounters,
    /// `VFIO_IOMMU_SPAPR_REGISTER_MEMORY`.
    pub register_memory: OpCounters,
    /// `VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY`.
    pub unregister_memory: OpCounters,
    /// `VFIO_IOMMU_SPAPR_TCE_CREATE`.
    pub create_window: OpCounters,
    /// `VFIO_IOMMU_SPAPR_TCE_REMOVE`.
    pub remove_window: OpCounters,
    /// `VFIO_IOMMU_MAP_DMA`.
    pub map_dma: OpCounters,
    /// `VFIO_IOMMU_UNMAP_DMA`.
    pub unmap_dma: OpCounters,
    /// Hardware entries written by successful MAP_DMA calls.
    pub entries_mapped: u64,
    /// Live hardware entries cleared, for any reason: UNMAP_DMA, replacement by MAP_DMA,
    /// the clean-up of a failed MAP_DMA, TCE_REMOVE, group detach and release.
    pub entries_unmapped: u64,
}

impl ModelCounters {
    /// The counters of `op`; operations the model does not implement always read zero.
    pub fn op(&self, op: IommuOp) -> OpCounters {
        match op {
            IommuOp::GetInfo => self.get_info,
            IommuOp::RegisterMemory => self.register_memory,
            IommuOp::UnregisterMemory => self.unregister_memory,
            IommuOp::CreateWindow => self.create_window,
            IommuOp::RemoveWindow => self.remove_window,
            IommuOp::MapDma => self.map_dma,
            IommuOp::UnmapDma => self.unmap_dma,
            _ => OpCounters::default(),
        }
    }

    /// Mutable counters of a modelled operation.
    pub(crate) fn op_mut(&mut self, op: IommuOp) -> Option<&mut OpCounters> {
        match op {
            IommuOp::GetInfo => Some(&mut self.get_info),
            IommuOp::RegisterMemory => Some(&mut self.register_memory),
            IommuOp::UnregisterMemory => Some(&mut self.unregister_memory),
            IommuOp::CreateWindow => Some(&mut self.create_window),
            IommuOp::RemoveWindow => Some(&mut self.remove_window),
            IommuOp::MapDma => Some(&mut self.map_dma),
            IommuOp::UnmapDma => Some(&mut self.unmap_dma),
            _ => None,
        }
    }

    /// Records the outcome of one call of `op`.
    pub(crate) fn record(&mut self, op: IommuOp, ok: bool) {
        if let Some(counters) = self.op_mut(op) {
            if ok {
                counters.ok += 1;
            } else {
                counters.failed += 1;
            }
        }
    }
}
