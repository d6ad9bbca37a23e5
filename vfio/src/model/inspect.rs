// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Read-only views of a model container, for invariant checkers, replays and fuzzers.

use super::ModelContainer;
use crate::DmaAccess;

/// One window as the container holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowSnapshot {
    /// Slot (0 or 1).
    pub slot: usize,
    /// Bus address of the first entry.
    pub start: u64,
    /// IOMMU page shift.
    pub page_shift: u32,
    /// Size in bytes as created (TCE_CREATE `window_size`, or `dma32_window_size`).
    pub size: u64,
    /// Entries of the hardware table (`it_size`): on PowerNV at least `PAGE_SIZE / 8`
    /// (kernel-host.md §2.4); MAP/UNMAP accept the whole range.
    pub hw_entries: u64,
    /// Table levels as created.
    pub levels: u32,
    /// True for the lazily created default window.
    pub is_default: bool,
    /// Pages charged to locked_vm for this window.
    pub locked_pages: u64,
    /// Live entries.
    pub mapped_entries: u64,
}

impl WindowSnapshot {
    /// One past the last bus address the hardware table covers.
    pub fn hw_end(&self) -> u128 {
        u128::from(self.start) + (u128::from(self.hw_entries) << self.page_shift)
    }
}

/// One live hardware entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HwEntry {
    /// Userspace address of this IOMMU page (the `it_userspace` view).
    pub vaddr: u64,
    /// Permissions as stored in hardware (PowerNV stores write-only as read-write).
    pub access: DmaAccess,
}

/// A run of live hardware entries mapping consecutive userspace addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HwExtent {
    /// Bus address of the first entry.
    pub iova: u64,
    /// Number of entries.
    pub pages: u64,
    /// IOMMU page shift of the window.
    pub page_shift: u32,
    /// Userspace address of the first entry's page.
    pub vaddr: u64,
    /// Permissions as stored in hardware.
    pub access: DmaAccess,
}

/// One pre-registered region of the container's process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegionSnapshot {
    /// Start (userspace address).
    pub vaddr: u64,
    /// Length in bytes.
    pub size: u64,
    /// Largest IOMMU page shift it can back (kernel-host.md §4.3).
    pub page_shift: u32,
    /// Containers referencing it (`used`).
    pub used: u64,
    /// Biased mapping count: 1 + live hardware entries pointing into it, from every
    /// container of the process (`mapped`, §4.1).
    pub mapped: u64,
    /// True when this container references it (its `prereg_list`).
    pub in_this_container: bool,
}

impl ModelContainer {
    /// The windows, by slot.
    pub fn windows(&self) -> Vec<WindowSnapshot> {
        let state = self.state();
        state
            .windows
            .iter()
            .enumerate()
            .filter_map(|(slot, window)| {
                let w = window.as_ref()?;
                Some(WindowSnapshot {
                    slot,
                    start: w.start,
                    page_shift: w.page_shift,
                    size: w.size,
                    hw_entries: w.hw_entries,
                    levels: w.levels,
                    is_default: w.is_default,
                    locked_pages: w.charged_pages,
                    mapped_entries: w.table.live(),
                })
            })
            .collect()
    }

    /// The live entry for the IOMMU page containing bus address `iova`, if any.
    pub fn hw_entry(&self, iova: u64) -> Option<HwEntry> {
        let state = self.state();
        let slot = state.find_window(iova)?;
        let window = state.windows[slot].as_ref()?;
        let (vaddr, access) = window.table.get(iova >> window.page_shift)?;
        Some(HwEntry { vaddr, access })
    }

    /// Every live entry as runs, sorted by bus address (adjacent runs are not necessarily
    /// merged).
    pub fn hw_extents(&self) -> Vec<HwExtent> {
        let state = self.state();
        let mut extents: Vec<HwExtent> = state
            .windows
            .iter()
            .flatten()
            .flat_map(|w| {
                w.table.extents().map(move |(index, e)| HwExtent {
                    iova: index << w.page_shift,
                    pages: e.pages,
                    page_shift: w.page_shift,
                    vaddr: e.vaddr,
                    access: e.access,
                })
            })
            .collect();
        extents.sort_by_key(|e| e.iova);
        extents
    }

    /// Live hardware entries in all windows.
    pub fn mapped_pages(&self) -> u64 {
        let state = self.state();
        state.windows.iter().flatten().map(|w| w.table.live()).sum()
    }

    /// The process's pre-registered regions, by address.
    pub fn registrations(&self) -> Vec<RegionSnapshot> {
        let state = self.state();
        let mm = self.process.mm();
        mm.mm_iommu
            .regions()
            .map(|r| RegionSnapshot {
                vaddr: r.ua,
                size: r.size,
                page_shift: r.page_shift,
                used: r.used,
                mapped: r.mapped,
                in_this_container: state.prereg.contains(&(r.ua, r.size)),
            })
            .collect()
    }

    /// Pages charged to the process's `locked_vm` (shared by its containers).
    pub fn locked_vm_pages(&self) -> u64 {
        self.process.locked_vm_pages()
    }

    /// True while the default window will still be created by the next MAP, UNMAP or
    /// CREATE.
    pub fn default_window_pending(&self) -> bool {
        self.state().def_window_pending
    }

    /// True once a REGISTER_MEMORY succeeded (MAP/UNMAP are allowed).
    pub fn is_enabled(&self) -> bool {
        self.state().enabled
    }

    /// True after the last group left: every call fails with EINVAL.
    pub fn is_released(&self) -> bool {
        self.state().released
    }
}
