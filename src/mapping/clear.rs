// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Clearing many entries of a window at once: DDW tear-down and memory hot-remove.

use papr_hcall::Tce;
use vfio_spapr::{IommuError, SpaprTceIommu};
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::{EntryStats, EntryUpdate, HostMapper};
use crate::accelerator::TceAccelerator;
use crate::table::TceStore;
use crate::window::Window;

/// Entries cleared per pass: bounds the update list however large the window.
const CLEAR_BATCH: usize = 1 << 16;

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Sets to 0 every non-zero entry of `window` that `select` picks, batch by batch:
    /// hardware first through the coalescing path (one `UNMAP_DMA` per run of valid entries,
    /// restored on failure), then the guest view. Without a host IOMMU only the guest view
    /// changes. On a host failure, entries that could not be restored read 0, later entries
    /// are untouched, and the error is returned. Returns the number of entries cleared.
    pub(crate) fn clear_entries(
        &self,
        window: &mut Window,
        iommu: Option<&C>,
        select: impl Fn(Tce) -> bool,
    ) -> Result<u64, IommuError> {
        let mut cleared = 0;
        let mut next = Some(0);
        loop {
            let mut updates = Vec::new();
            while let Some((index, old)) = next.and_then(|from| window.table.next_nonzero(from)) {
                next = index.checked_add(1);
                if select(Tce(old)) {
                    updates.push(EntryUpdate {
                        index,
                        old,
                        new: 0,
                        target: None,
                    });
                    if updates.len() == CLEAR_BATCH {
                        break;
                    }
                }
            }
            if updates.is_empty() {
                return Ok(cleared);
            }
            if let (Some(iommu), Some(host)) = (iommu, window.host.as_ref()) {
                let mapper = HostMapper {
                    iommu,
                    host,
                    geometry: &window.geometry,
                    ram: &self.ram,
                    counters: &self.counters,
                };
                if let Err(failure) = mapper.apply(&updates) {
                    for &index in &failure.cleared {
                        window.table.set(index, 0);
                    }
                    return Err(failure.error);
                }
            }
            let stats = EntryStats::of(&updates);
            self.counters
                .entries(stats.mapped, stats.unmapped, stats.skipped);
            for update in &updates {
                window.table.set(update.index, 0);
            }
            cleared += updates.len() as u64;
        }
    }
}
