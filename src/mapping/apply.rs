// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Issuing planned calls to the host IOMMU, and recovering when one fails.
//!
//! Invariant kept for every window with a host IOMMU: each guest-view entry with R or W is
//! mapped in hardware to its page (every host IOMMU page of it), and nothing else in the
//! window is mapped. The kernel does not keep this on failure (a failed in-kernel H_PUT_TCE
//! leaves other hardware tables updated and the guest view unchanged; a failed MAP_DMA clears
//! the entries it wrote without restoring them; kernel-host.md §1.5 step 6, §3.4 MAP_DMA
//! step 8, checklist item 22). Here, when call `k` fails:
//!
//! 1. every entry covered by calls `0..=k` is restored to its previous value (re-mapping old
//!    mappings, unmapping new ones), coalesced like any other update;
//! 2. entries whose restore call fails are unmapped (best effort) and reported in
//!    [`BackendFailure::cleared`], so the caller sets them to 0 in the guest view;
//! 3. entries after the failing call were never touched and keep their previous value.
//!
//! Limit: if the host also refuses that best-effort unmap (a second failure in a row, after
//! the failed restore), nothing can tell what it holds; this is logged as an error. A real
//! kernel's UNMAP_DMA cannot fail once its argument checks passed (§3.4 UNMAP_DMA step 7).
//!
//! The guest then gets `H_NOT_ENOUGH_RESOURCES` for ENOMEM and `H_HARDWARE` otherwise; Linux
//! guests fail the DMA mapping cleanly on both (qemu-and-guest.md §6 item 3).

use papr_hcall::Tce;
use vfio_spapr::{IommuError, SpaprTceIommu};

use super::plan::{plan_updates, DmaOp, HardwareState, PlannedOp, Planner};
use super::{check_tce, EntryUpdate, HostTarget, TceError};
use crate::counters::{BackendCall, Counters};
use crate::host_window::HostWindow;
use crate::ram::RamMap;
use crate::window::WindowGeometry;

/// A host IOMMU call failed; the previous state was restored except for `cleared`.
#[derive(Debug)]
pub(crate) struct BackendFailure {
    /// The error of the call that failed first.
    pub(crate) error: IommuError,
    /// Entries that could not be restored; they are (best effort) unmapped in hardware and
    /// must read 0 in the guest view.
    pub(crate) cleared: Vec<u64>,
}

/// What a restored entry must look like in hardware.
enum Previous {
    Unmapped,
    Mapped(HostTarget),
    /// Was valid but no longer translates: cannot be restored.
    Lost,
}

/// Everything needed to program one guest window into its host window.
pub(crate) struct HostMapper<'a, C: ?Sized> {
    pub(crate) iommu: &'a C,
    pub(crate) host: &'a HostWindow,
    pub(crate) geometry: &'a WindowGeometry,
    pub(crate) ram: &'a RamMap,
    pub(crate) counters: &'a Counters,
}

impl<C: SpaprTceIommu + ?Sized> HostMapper<'_, C> {
    /// Validates `tce` for this window; see [`check_tce`].
    pub(crate) fn target(&self, tce: Tce) -> Result<Option<HostTarget>, TceError> {
        check_tce(
            tce,
            self.geometry.page_shift,
            self.ram,
            Some(self.host.page_shift),
        )
    }

    /// Programs the hardware from the `old` to the `new` values of `updates` (increasing
    /// index order, targets from [`target`](Self::target)).
    pub(crate) fn apply(&self, updates: &[EntryUpdate]) -> Result<(), BackendFailure> {
        self.apply_from(updates, HardwareState::MatchesOld)
    }

    /// [`apply`](Self::apply) from the hardware state `hardware`; with
    /// [`HardwareState::Unknown`] every entry is programmed, unchanged ones included. On
    /// failure the touched entries are restored to their `old` values, as for `apply`.
    pub(crate) fn apply_from(
        &self,
        updates: &[EntryUpdate],
        hardware: HardwareState,
    ) -> Result<(), BackendFailure> {
        let ops = plan_updates(self.geometry, updates, hardware);
        self.run(&ops, |index| {
            let old = updates
                .binary_search_by_key(&index, |u| u.index)
                .map_or(0, |i| updates[i].old);
            self.previous(old)
        })
    }

    /// [`apply`](Self::apply) for `count` entries from `first` that all held invalid values
    /// and now map consecutive pages from `target` (a linear `H_PUT_TCE_INDIRECT` list into
    /// empty entries): one planned call, the same as `apply_from` plans for those updates in
    /// either hardware state, with the same restore on failure (every entry back to unmapped).
    pub(crate) fn map_run_into_invalid(
        &self,
        first: u64,
        count: u64,
        target: HostTarget,
    ) -> Result<(), BackendFailure> {
        let mut planner = Planner::new(self.geometry);
        planner.map_run(first, count, target);
        self.run(&planner.finish(), |_| Previous::Unmapped)
    }

    /// [`apply_from`](Self::apply_from) for entries from `first` that are all cleared and
    /// held `old` (indexed from `first`), when a single `UNMAP_DMA` of all of them is what
    /// `apply_from` plans: every `old` value valid, or the hardware state unknown. On failure
    /// each entry is restored from `old`, as `apply_from` does.
    pub(crate) fn unmap_run(&self, first: u64, old: &[u64]) -> Result<(), BackendFailure> {
        let mut planner = Planner::new(self.geometry);
        planner.unmap_run(first, old.len() as u64);
        self.run(&planner.finish(), |index| {
            let old = index
                .checked_sub(first)
                .and_then(|offset| old.get(usize::try_from(offset).ok()?))
                .copied()
                .unwrap_or(0);
            self.previous(old)
        })
    }

    /// Maps every valid entry of `entries` (increasing index order) into hardware that holds
    /// nothing for them yet: restoring a window, or attaching a container to a live PE.
    ///
    /// Returns the entries that were skipped because they no longer translate (the caller
    /// clears them in the guest view). On failure nothing of this call stays mapped except
    /// the entries in [`BackendFailure::cleared`], which could not even be unmapped.
    #[allow(dead_code)] // For window restore and container hotplug, which come later.
    pub(crate) fn replay(
        &self,
        entries: impl IntoIterator<Item = (u64, Tce)>,
    ) -> Result<Vec<u64>, BackendFailure> {
        let mut planner = Planner::new(self.geometry);
        let mut untranslatable = Vec::new();
        for (index, tce) in entries {
            match self.target(tce) {
                Ok(Some(target)) => planner.map(index, target),
                Ok(None) => {}
                Err(error) => {
                    log::warn!(
                        "{}: entry {index} ({tce}) cannot be replayed: {error}",
                        self.geometry.liobn
                    );
                    untranslatable.push(index);
                }
            }
        }
        self.run(&planner.finish(), |_| Previous::Unmapped)?;
        Ok(untranslatable)
    }

    fn previous(&self, old: u64) -> Previous {
        if !Tce(old).is_valid() {
            return Previous::Unmapped;
        }
        match self.target(Tce(old)) {
            Ok(Some(target)) => Previous::Mapped(target),
            _ => Previous::Lost,
        }
    }

    /// Issues `ops`; on failure restores the entries of the calls made so far.
    fn run(
        &self,
        ops: &[PlannedOp],
        previous: impl Fn(u64) -> Previous,
    ) -> Result<(), BackendFailure> {
        for (k, planned) in ops.iter().enumerate() {
            if let Err(error) = self.call(&planned.op) {
                log::warn!(
                    "{}: {} failed for entries {}..{}: {error}; restoring the previous state",
                    self.geometry.liobn,
                    error.op.ioctl_name(),
                    planned.first,
                    planned.first + planned.count
                );
                let cleared = self.restore(&ops[..=k], previous);
                return Err(BackendFailure { error, cleared });
            }
        }
        Ok(())
    }

    /// Puts the entries covered by `touched` back to their previous state; returns those that
    /// could not be restored.
    fn restore(&self, touched: &[PlannedOp], previous: impl Fn(u64) -> Previous) -> Vec<u64> {
        let mut planner = Planner::new(self.geometry);
        let mut cleared = Vec::new();
        for index in touched.iter().flat_map(PlannedOp::indices) {
            match previous(index) {
                Previous::Mapped(target) => planner.map(index, target),
                Previous::Unmapped => planner.unmap(index),
                Previous::Lost => {
                    planner.unmap(index);
                    cleared.push(index);
                }
            }
        }
        let mut calls = 0;
        for planned in planner.finish() {
            calls += 1;
            if self.call(&planned.op).is_ok() {
                continue;
            }
            cleared.extend(planned.indices());
            if let DmaOp::Map { iova, size, .. } = planned.op {
                calls += 1;
                if let Err(error) = self.call(&DmaOp::Unmap { iova, size }) {
                    log::error!(
                        "{}: cannot unmap {iova:#x}+{size:#x} after a failed restore: {error}; \
                         hardware may keep stale mappings",
                        self.geometry.liobn
                    );
                }
            }
        }
        cleared.sort_unstable();
        cleared.dedup();
        self.counters.rollback(calls, cleared.len() as u64);
        cleared
    }

    fn call(&self, op: &DmaOp) -> Result<(), IommuError> {
        let (kind, result) = match *op {
            DmaOp::Map {
                iova,
                size,
                vaddr,
                access,
            } => (
                BackendCall::MapDma,
                self.iommu.map_dma(iova, size, vaddr, access),
            ),
            DmaOp::Unmap { iova, size } => {
                (BackendCall::UnmapDma, self.iommu.unmap_dma(iova, size))
            }
        };
        self.counters.backend(kind, result.is_err());
        result
    }
}
