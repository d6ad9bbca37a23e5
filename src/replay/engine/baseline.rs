// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! QEMU's host IOMMU calls for the same guest requests: the baseline the accelerator's
//! backend calls are measured against.

use crate::replay::TraceEvent;

/// The host IOMMU calls QEMU's VFIO userspace path makes for a trace.
///
/// Rule (qemu-and-guest.md §0 item 3 and §6 item 1): QEMU's hcall handlers store each TCE
/// and fire one IOMMU notifier per TCE; `vfio_iommu_map_notify` turns every notification
/// into its own `VFIO_IOMMU_MAP_DMA` or `VFIO_IOMMU_UNMAP_DMA` ioctl, never batched, and a
/// clear of an already empty entry still costs an UNMAP. So, on windows of PEs with a
/// container:
///
/// * every successful H_PUT_TCE: 1 call;
/// * every successful H_STUFF_TCE: `npages` calls (one per stuffed entry);
/// * every successful H_PUT_TCE_INDIRECT: `npages` calls (one per list entry);
/// * H_GET_TCE, translations and calls on windows without a container (VIO, emulated-only
///   PEs): none.
///
/// "Successful" is the recorded return code 0; a failed call counts nothing (QEMU's
/// H_PUT_TCE notifies nothing on failure; for a failed H_STUFF_TCE or H_PUT_TCE_INDIRECT the
/// entries QEMU applied before the failing one are not known from a trace, and none of the
/// recorded boots has one).
///
/// Window creation and removal and memory registration are needed by both sides alike, so
/// [`window_calls`](Self::window_calls) holds the accelerator's own count of them (the
/// model containers' `TCE_CREATE`, `TCE_REMOVE` and `REGISTER_MEMORY` calls).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QemuBaseline {
    /// One MAP_DMA or UNMAP_DMA per TCE update on a window with a container.
    pub per_tce_calls: u64,
    /// Window create/remove and memory registration calls (the same on both sides).
    pub window_calls: u64,
}

impl QemuBaseline {
    /// All baseline calls.
    pub fn total(&self) -> u64 {
        self.per_tce_calls.saturating_add(self.window_calls)
    }
}

/// The number of TCE updates QEMU notifies VFIO of for `event`, if it addresses a window
/// with a container (see [`QemuBaseline`]).
///
/// ```
/// use spapr_tce::replay::{engine::qemu_tce_updates, StuffTce, TraceEvent};
/// let stuff = TraceEvent::StuffTce(StuffTce { liobn: 0x80000000, ioba: 0, value: 0, npages: 512, ret: 0 });
/// assert_eq!(qemu_tce_updates(&stuff), 512);
/// ```
pub fn qemu_tce_updates(event: &TraceEvent) -> u64 {
    match event {
        TraceEvent::PutTce(e) if e.ret == 0 => 1,
        TraceEvent::StuffTce(e) if e.ret == 0 => e.npages,
        TraceEvent::PutTceIndirect(e) if e.ret == 0 => e.npages,
        _ => 0,
    }
}
