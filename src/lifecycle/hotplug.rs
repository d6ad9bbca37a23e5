// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Memory hotplug: adding and removing guest RAM regions while vCPUs keep issuing hypercalls.
//!
//! What the kernel requires (kernel-host.md §4.2, §7 items 36, 47, 48): a region must be
//! pre-registered with a container before any TCE may map it, and `UNREGISTER_MEMORY` is
//! refused (EBUSY) while any hardware entry still maps it. What guests do (qemu-and-guest.md
//! §3.5): Linux maps new memory into its direct DDW on `MEM_GOING_ONLINE` and clears it with
//! `H_STUFF_TCE(0)` on `MEM_OFFLINE`, before the VMM unplugs the DIMM.
//!
//! Adding: the region is registered with every container first (no PE lock held: pinning
//! gigabytes takes time and the region is not visible yet), then, with every PE locked, the
//! new map is published. Removing: with every PE locked (no hypercall in flight, none can
//! start), entries that still map the region are either refused ([`RemovePolicy::Refuse`])
//! or unmapped through the coalescing path ([`RemovePolicy::UnmapFirst`]), the map without
//! the region is published, and only then, locks released, the region is unregistered. So
//! at no point can a DMA mapping into removed memory exist or be created.
//!
//! Limit: the DDW RTAS calls read the map once before taking their PE lock; a window created
//! concurrently with a hot-add may pick its host page size from the previous map. That only
//! narrows what the new region may be mapped with; it never maps removed memory.

use std::sync::MutexGuard;

use papr_hcall::Tce;
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend, GuestMemoryRegion};

pub use super::hotplug_error::HotplugError;
use crate::accelerator::TceAccelerator;
use crate::pe::PeWindows;
use crate::ram::{RamMap, RamRegion};
use crate::table::nonzero_entries;
use crate::window::Window;

/// What to do with TCEs that still map a region being removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RemovePolicy {
    /// Refuse the removal ([`HotplugError::InUse`]) and change nothing. A well-behaved guest
    /// has cleared them before it let the memory go offline.
    #[default]
    Refuse,
    /// Clear them first, in the guest view and in hardware (coalesced `UNMAP_DMA`), then
    /// remove the region. Devices lose those DMA mappings.
    UnmapFirst,
}

/// What [`TceAccelerator::sync_memory`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemorySync {
    /// Regions added, by guest address.
    pub added: Vec<RamRegion>,
    /// Regions removed, by guest address.
    pub removed: Vec<RamRegion>,
}

impl MemorySync {
    /// True when the maps already agreed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// True when the valid TCE `tce` of a window of `page_size` pages maps a byte of `region`.
fn maps_into(tce: Tce, page_size: u64, region: &RamRegion) -> bool {
    let start = tce.address();
    tce.is_valid() && start < region.end() && start.saturating_add(page_size) > region.guest_addr
}

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Adds a guest RAM region (a vm-memory region the VMM just mapped): registers it with
    /// every container, then makes it mappable by TCEs. See [`Self::add_ram_region`].
    pub fn add_memory_region<R: GuestMemoryRegion>(&self, region: &R) -> Result<(), HotplugError> {
        self.add_ram_region(RamRegion::of(
            region,
            self.host_page_shift,
            self.ram.hugepage_shift,
        ))
    }

    /// Adds a guest RAM region described as [`crate::ram::RamMap::from_memory`] would.
    ///
    /// Checks, in order, each failure changing nothing: non-empty and not wrapping; no overlap
    /// with an existing region; a host address when any PE has a container; every container
    /// registers it (on failure the earlier registrations are undone); it serves the IOMMU
    /// page size of every active host window.
    pub fn add_ram_region(&self, region: RamRegion) -> Result<(), HotplugError> {
        let guard = self.ram.lock_hotplug();
        self.add_locked(&guard, region)
    }

    /// Removes the guest RAM region starting at `guest_addr`; TCEs still mapping it are
    /// handled according to `policy`. The region is unregistered from every container last.
    pub fn remove_memory_region(
        &self,
        guest_addr: u64,
        policy: RemovePolicy,
    ) -> Result<RamRegion, HotplugError> {
        let guard = self.ram.lock_hotplug();
        self.remove_locked(&guard, guest_addr, policy)
    }

    /// Brings the accelerator's RAM map in line with the guest memory's current map
    /// (`AS::memory()`), e.g. after the VMM swapped its `GuestMemoryAtomic`: regions that are
    /// gone (or changed host address or size) are removed with `policy`, then new ones are
    /// added. Stops at the first failure; calling it again retries what is still different.
    pub fn sync_memory(&self, policy: RemovePolicy) -> Result<MemorySync, HotplugError> {
        let guard = self.ram.lock_hotplug();
        let target = RamMap::from_memory(
            &*self.memory.memory(),
            self.host_page_shift,
            self.ram.hugepage_shift,
        );
        let current = self.ram.regions().to_vec();
        let mut sync = MemorySync::default();
        for region in current.iter().filter(|r| !target.regions().contains(r)) {
            sync.removed
                .push(self.remove_locked(&guard, region.guest_addr, policy)?);
        }
        for region in target.regions().iter().filter(|r| !current.contains(r)) {
            self.add_locked(&guard, *region)?;
            sync.added.push(*region);
        }
        if !sync.is_empty() {
            log::info!(
                "guest RAM synchronised: {} region(s) added, {} removed",
                sync.added.len(),
                sync.removed.len()
            );
        }
        Ok(sync)
    }

    fn add_locked(
        &self,
        guard: &MutexGuard<'_, ()>,
        region: RamRegion,
    ) -> Result<(), HotplugError> {
        let (guest_addr, len) = (region.guest_addr, region.len);
        if len == 0 || guest_addr.checked_add(len).is_none() {
            return Err(HotplugError::InvalidRegion { guest_addr, len });
        }
        if let Some(existing) = self
            .ram
            .regions()
            .iter()
            .find(|r| r.guest_addr < region.end() && region.guest_addr < r.end())
        {
            return Err(HotplugError::Overlap {
                guest_addr,
                len,
                existing_addr: existing.guest_addr,
                existing_len: existing.len,
            });
        }
        let has_containers = self.pes.iter().any(|pe| pe.backend.is_some());
        if has_containers && region.host_addr.is_none() {
            return Err(HotplugError::NoHostMapping { guest_addr });
        }
        // Check the page size live host windows need before touching the host, so that a
        // refused addition never has to undo a registration (an undo the host could refuse).
        let windows = self.lock_all_pes();
        let too_small = self.pes.iter().zip(&windows).find_map(|(pe, windows)| {
            pe.backend.as_ref()?;
            windows.iter().find_map(|(_, window)| {
                let host = window.host?;
                (region.max_iommu_shift < host.page_shift).then_some(HotplugError::PageTooSmall {
                    guest_addr,
                    region_shift: region.max_iommu_shift,
                    liobn: window.geometry.liobn,
                    needed_shift: host.page_shift,
                })
            })
        });
        if let Some(error) = too_small {
            return Err(error);
        }
        self.register_everywhere(&region)?;
        let mut regions = self.ram.regions().to_vec();
        regions.push(region);
        self.ram.publish(guard, RamMap::new(regions));
        drop(windows);
        log::debug!("guest RAM {guest_addr:#x}+{len:#x} added");
        Ok(())
    }

    /// Registers `region` with every container; on failure unregisters it from those that
    /// took it.
    fn register_everywhere(&self, region: &RamRegion) -> Result<(), HotplugError> {
        let Some(vaddr) = region.host_addr else {
            return Ok(());
        };
        for (done, pe) in self.pes.iter().enumerate() {
            let (Some(backend), Some(buid)) = (&pe.backend, pe.buid) else {
                continue;
            };
            let registered = backend.iommu.register_memory(vaddr, region.len);
            self.counters.backend(
                crate::counters::BackendCall::RegisterMemory,
                registered.is_err(),
            );
            if let Err(source) = registered {
                for earlier in &self.pes[..done] {
                    if let Some(backend) = &earlier.backend {
                        if let Err(error) = backend.iommu.unregister_memory(vaddr, region.len) {
                            log::warn!("undoing the registration of {vaddr:#x}: {error}");
                        }
                    }
                }
                return Err(HotplugError::Register {
                    buid,
                    vaddr,
                    size: region.len,
                    source,
                });
            }
        }
        Ok(())
    }

    fn remove_locked(
        &self,
        guard: &MutexGuard<'_, ()>,
        guest_addr: u64,
        policy: RemovePolicy,
    ) -> Result<RamRegion, HotplugError> {
        let region = *self
            .ram
            .regions()
            .iter()
            .find(|r| r.guest_addr == guest_addr)
            .ok_or(HotplugError::NotFound(guest_addr))?;
        let mut windows = self.lock_all_pes();
        match policy {
            RemovePolicy::Refuse => self.refuse_if_mapped(&windows, &region)?,
            RemovePolicy::UnmapFirst => {
                for (pe, windows) in self.pes.iter().zip(windows.iter_mut()) {
                    let backend = pe.backend.as_ref();
                    for slot in 0..crate::pe::SLOT_COUNT {
                        if let Some(window) = windows.get_mut(slot) {
                            self.clear_region(window, backend.map(|b| &b.iommu), &region)?;
                        }
                    }
                }
            }
        }
        // Unregister while every PE lock is still held, so no hcall can map into the region
        // meanwhile, and publish the smaller map only once every container let go: a failed
        // UNREGISTER_MEMORY (EBUSY while KVM still maps it, checklist item 36) must leave the
        // region known, so that a retry or `shutdown` can still give back its pin and its
        // locked_vm charge (item 51).
        self.unregister_all_or_none(&region)?;
        let remaining = self
            .ram
            .regions()
            .iter()
            .filter(|r| r.guest_addr != guest_addr)
            .copied()
            .collect();
        self.ram.publish(guard, RamMap::new(remaining));
        drop(windows);
        log::debug!("guest RAM {guest_addr:#x}+{:#x} removed", region.len);
        Ok(region)
    }

    /// Unregisters `region` from every container, or from none: when one container refuses,
    /// the containers that already let go register it again and the refusal is returned.
    fn unregister_all_or_none(&self, region: &RamRegion) -> Result<(), HotplugError> {
        let Some(vaddr) = region.host_addr else {
            return Ok(());
        };
        for (done, pe) in self.pes.iter().enumerate() {
            let (Some(backend), Some(buid)) = (&pe.backend, pe.buid) else {
                continue;
            };
            if let Err(source) = backend.iommu.unregister_memory(vaddr, region.len) {
                for earlier in &self.pes[..done] {
                    if let Some(backend) = &earlier.backend {
                        let again = backend.iommu.register_memory(vaddr, region.len);
                        self.counters
                            .backend(crate::counters::BackendCall::RegisterMemory, again.is_err());
                        if let Err(error) = again {
                            log::error!(
                                "re-registering {vaddr:#x}+{:#x} after a refused removal: {error}",
                                region.len
                            );
                        }
                    }
                }
                return Err(HotplugError::Unregister {
                    buid,
                    vaddr,
                    size: region.len,
                    source,
                });
            }
        }
        Ok(())
    }

    fn refuse_if_mapped(
        &self,
        windows: &[MutexGuard<'_, PeWindows>],
        region: &RamRegion,
    ) -> Result<(), HotplugError> {
        let mut count = 0u64;
        let mut first = None;
        for (_, window) in windows.iter().flat_map(|w| w.iter()) {
            let page_size = window.geometry.page_size();
            for (index, value) in nonzero_entries(window.table.as_ref()) {
                if maps_into(Tce(value), page_size, region) {
                    count += 1;
                    first.get_or_insert((window.geometry.liobn, index));
                }
            }
        }
        match first {
            None => Ok(()),
            Some((first_liobn, first_index)) => Err(HotplugError::InUse {
                guest_addr: region.guest_addr,
                len: region.len,
                count,
                first_liobn,
                first_index,
            }),
        }
    }

    /// Clears every entry of `window` mapping into `region`: hardware first through the
    /// coalescing path (restored on failure), then the guest view, batch by batch.
    fn clear_region(
        &self,
        window: &mut Window,
        iommu: Option<&C>,
        region: &RamRegion,
    ) -> Result<(), HotplugError> {
        let page_size = window.geometry.page_size();
        let cleared = self
            .clear_entries(window, iommu, |tce| maps_into(tce, page_size, region))
            .map_err(|source| HotplugError::Unmap {
                liobn: window.geometry.liobn,
                source,
            })?;
        if cleared != 0 {
            log::debug!(
                "{}: {cleared} entries into removed guest RAM {:#x} cleared",
                window.geometry.liobn,
                region.guest_addr
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_into_needs_a_valid_overlapping_page() {
        let region = RamRegion {
            guest_addr: 0x100_0000,
            len: 0x100_0000,
            host_addr: None,
            hugetlbfs: false,
            max_iommu_shift: 0,
        };
        assert!(maps_into(Tce(0x100_0001), 0x1000, &region));
        assert!(maps_into(Tce(0x1ff_f002), 0x1000, &region));
        assert!(!maps_into(Tce(0x200_0003), 0x1000, &region));
        assert!(
            !maps_into(Tce(0x100_0000), 0x1000, &region),
            "no permission"
        );
        // A page ending where the region starts does not; one spanning it does.
        assert!(!maps_into(Tce(0xf0_0001), 1 << 20, &region));
        assert!(maps_into(Tce(0x1), 1 << 25, &region));
        assert!(!maps_into(Tce(0xfff_f000_0001), 1 << 24, &region));
    }
}
