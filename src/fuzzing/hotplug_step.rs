// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Memory hotplug operations and their rules (the `lifecycle` module's contract;
//! kernel-host.md §4.2, §7 items 36, 47; qemu-and-guest.md §3.5):
//!
//! * adding a region that is already guest RAM fails and changes nothing; adding an absent
//!   one makes it RAM (and registered with both containers, checked by the accounting check)
//!   without touching any guest view, unless a host window uses IOMMU pages larger than the
//!   region can serve (a window created while no RAM was present picks its host page from the
//!   guest page alone): then it fails and changes nothing;
//! * removing a region that is not RAM fails and changes nothing;
//! * removing with the refuse policy fails and changes nothing while any valid TCE of any
//!   window maps a byte of the region, and otherwise removes it without touching any view;
//! * removing with the unmap-first policy clears exactly the valid TCEs that map into the
//!   region (guest view and hardware) and removes it;
//! * with injected host failures an operation may fail; then the RAM map is the old one or
//!   the new one, and entries may only have been cleared.

use std::collections::{BTreeMap, BTreeSet};

use papr_hcall::Tce;
use vm_memory::{GuestAddress, GuestMemoryBackend};

use super::failure::Violation;
use super::layout::{HOTPLUG, REGIONS};
use super::run::{Mode, Runner};
use super::shadow::{describe_entry_diff, Shadow};
use crate::lifecycle::RemovePolicy;

/// True when the valid `tce` of a window with pages of `page` bytes maps a byte of
/// `[start, start + len)`.
fn maps_into(tce: u64, page: u64, (start, len): (u64, u64)) -> bool {
    let tce = Tce(tce);
    tce.is_valid()
        && u128::from(tce.address()) < u128::from(start) + u128::from(len)
        && u128::from(tce.address()) + u128::from(page) > u128::from(start)
}

/// `before` with every valid entry mapping into `region` cleared.
fn without_region(before: &Shadow, region: (u64, u64)) -> Shadow {
    let mut expected = before.clone();
    for window in expected.windows.values_mut() {
        let page = window.geometry.page_size();
        window
            .entries
            .retain(|_, &mut tce| !maps_into(tce, page, region));
    }
    expected
}

impl Runner {
    /// (host address, length) of every RAM region, as containers register them.
    fn ram_registrations(&self) -> BTreeSet<(u64, u64)> {
        self.world
            .acc
            .ram()
            .regions()
            .iter()
            .filter_map(|r| Some((r.host_addr?, r.len)))
            .collect()
    }

    /// Adds or removes region `index % 3` of [`REGIONS`] and [`HOTPLUG`].
    pub(super) fn hotplug(
        &mut self,
        index: u8,
        add: bool,
        unmap_first: bool,
    ) -> Result<(), Violation> {
        let region = match index % 3 {
            2 => HOTPLUG,
            i => REGIONS[usize::from(i)],
        };
        let world = &self.world;
        let ram_before = world.ram_regions();
        let present = ram_before.contains(&region);
        let before = self.shadow.clone();
        let failed_before = world.acc.counters().backend;
        let result = if add {
            let added = if region == HOTPLUG {
                world.acc.add_memory_region(&*world.hotplug)
            } else {
                match world.mem.find_region(GuestAddress(region.0)) {
                    Some(boot) => world.acc.add_memory_region(boot),
                    None => return Err(Violation::Setup("boot region missing".into())),
                }
            };
            added.map_err(|e| e.to_string())
        } else {
            let policy = if unmap_first {
                RemovePolicy::UnmapFirst
            } else {
                RemovePolicy::Refuse
            };
            world
                .acc
                .remove_memory_region(region.0, policy)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let failed_after = world.acc.counters().backend;
        let failed = (failed_after.map_dma_failed + failed_after.unmap_dma_failed)
            - (failed_before.map_dma_failed + failed_before.unmap_dma_failed);
        if failed >= 2 {
            // The host refused an unmap and its rollback: the documented limit (see
            // `Runner::tainted`).
            self.tainted = true;
        }
        let world = &self.world;
        let ram_after = world.ram_regions();
        let after = Shadow::capture(world);
        let mut ram_added = ram_before.clone();
        ram_added.push(region);
        ram_added.sort_unstable();
        let ram_removed: Vec<_> = ram_before
            .iter()
            .copied()
            .filter(|&r| r != region)
            .collect();
        let mapped = without_region(&before, region) != before;
        // A host window with IOMMU pages larger than ordinary memory serves (possible only when
        // it was created while no RAM was present) cannot map the new region: refused.
        let host_page_shift = self.world.acc.host_page_shift();
        let blocked = self
            .world
            .acc
            .windows()
            .iter()
            .any(|w| w.host.is_some_and(|h| h.page_shift > host_page_shift));
        let (expect_ok, ram_expected, shadow_expected) = match (add, present) {
            (true, true) | (false, false) => (false, ram_before.clone(), before.clone()),
            (true, false) if blocked => (false, ram_before.clone(), before.clone()),
            (true, false) => (true, ram_added, before.clone()),
            (false, true) if unmap_first => (true, ram_removed, without_region(&before, region)),
            (false, true) if mapped => (false, ram_before.clone(), before.clone()),
            (false, true) => (true, ram_removed, before.clone()),
        };
        let what = format!(
            "{} region {region:x?} (present {present}, mapped {mapped}, unmap first {unmap_first})",
            if add { "adding" } else { "removing" }
        );
        if result.is_ok() == expect_ok && ram_after == ram_expected && after == shadow_expected {
            self.shadow = after;
            return Ok(());
        }
        // A host failure may leave the old or the new map, and entries only cleared.
        if self.mode == Mode::Faults && result.is_err() && expect_ok {
            let map_ok = ram_after == ram_before || ram_after == ram_expected;
            if map_ok && only_cleared(&before, &after) {
                // A refused removal re-registers the region where it had already been
                // unregistered; if the host refuses that too (a second failure in a row, like
                // the rollback limit of `mapping/apply.rs`), a container lacks a RAM region.
                if !add && !self.every_container_references_ram() {
                    self.tainted = true;
                }
                self.note_leaks();
                self.shadow = after;
                return Ok(());
            }
        }
        Err(Violation::GuestView {
            liobn: papr_hcall::Liobn(0),
            detail: format!(
                "{what}: answered {result:?} (expected ok {expect_ok}); RAM {ram_after:x?}, \
                 expected {ram_expected:x?}; views: {}",
                diff(&shadow_expected, &after)
            ),
        })
    }
}

impl Runner {
    /// True when every container references every RAM region (with a host address).
    fn every_container_references_ram(&self) -> bool {
        let ram = self.ram_registrations();
        self.world.containers.iter().all(|container| {
            let referenced: BTreeSet<(u64, u64)> = container
                .registrations()
                .iter()
                .filter(|r| r.in_this_container)
                .map(|r| (r.vaddr, r.size))
                .collect();
            ram.is_subset(&referenced)
        })
    }

    /// Records registrations that are no longer RAM: a hot-remove that failed in
    /// `UNREGISTER_MEMORY` after removing the region from the map. Reported limitation: the
    /// accelerator forgets them (a retry answers NotFound, shutdown does not see them), so
    /// they stay pinned and charged until the container is closed.
    fn note_leaks(&mut self) {
        let ram = self.ram_registrations();
        for region in self.world.containers[0].registrations() {
            if !ram.contains(&(region.vaddr, region.size)) {
                self.leaked.insert((region.vaddr, region.size));
            }
        }
    }
}

/// Every entry of `after` is the one of `before` (windows unchanged, entries only cleared).
fn only_cleared(before: &Shadow, after: &Shadow) -> bool {
    before.windows.len() == after.windows.len()
        && before.windows.iter().all(|(liobn, window)| {
            after.windows.get(liobn).is_some_and(|now| {
                now.geometry == window.geometry
                    && now
                        .entries
                        .iter()
                        .all(|(index, value)| window.entries.get(index) == Some(value))
            })
        })
}

fn diff(expected: &Shadow, found: &Shadow) -> String {
    let empty = BTreeMap::new();
    expected
        .windows
        .iter()
        .filter_map(|(liobn, window)| {
            let now = found.windows.get(liobn).map_or(&empty, |w| &w.entries);
            (now != &window.entries)
                .then(|| format!("{liobn:#x}: {}", describe_entry_diff(&window.entries, now)))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_overlapping_a_region_edge_map_into_it() {
        let region = (0x100_0000, 0x100_0000);
        assert!(maps_into(0x1ff_f001, 0x1000, region));
        assert!(!maps_into(0x200_0001, 0x1000, region));
        assert!(
            maps_into(0x3, 0x100_0000 + 0x1000, region),
            "a large page ending inside"
        );
        assert!(!maps_into(0xff_f000, 0x1000, (0x100_0000, 0x100_0000)));
        assert!(!maps_into(0x100_0000, 0x1000, region), "no permission bits");
    }
}
