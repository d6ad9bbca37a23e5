// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The hardware TCE table of one window and its userspace view (`it_userspace`,
//! kernel-host.md §2.4), stored as extents so that a run of N entries costs O(log n).

use std::collections::BTreeMap;

use crate::DmaAccess;

/// A run of consecutive live hardware entries mapping consecutive userspace addresses of
/// one pre-registered region with the same permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    /// Number of entries.
    pub pages: u64,
    /// Userspace address of the first entry's IOMMU page (the userspace view).
    pub vaddr: u64,
    /// Permissions as stored in hardware.
    pub access: DmaAccess,
    /// Start address (key) of the region the entries point into; its `mapped` count holds
    /// one reference per entry.
    pub region: u64,
}

/// Live entries of one window, keyed by absolute entry index (`iova >> page_shift`).
#[derive(Debug, Default)]
pub(crate) struct HwTable {
    page_shift: u32,
    extents: BTreeMap<u64, Extent>,
    live: u64,
}

impl HwTable {
    /// An empty table of IOMMU pages of `1 << page_shift` bytes.
    pub fn new(page_shift: u32) -> Self {
        Self {
            page_shift,
            extents: BTreeMap::new(),
            live: 0,
        }
    }

    /// Number of live entries.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// The userspace address and permissions of entry `index`, if live.
    pub fn get(&self, index: u64) -> Option<(u64, DmaAccess)> {
        let (&start, extent) = self.extents.range(..=index).next_back()?;
        let offset = index - start;
        (offset < extent.pages).then(|| (extent.vaddr + (offset << self.page_shift), extent.access))
    }

    /// All extents, by entry index.
    pub fn extents(&self) -> impl Iterator<Item = (u64, &Extent)> + '_ {
        self.extents.iter().map(|(index, extent)| (*index, extent))
    }

    /// Clears entries `[start, start + pages)`; empty entries are skipped. `released` is told
    /// how many entries of which region were dropped. Returns the number of live entries
    /// cleared.
    pub fn clear(&mut self, start: u64, pages: u64, mut released: impl FnMut(u64, u64)) -> u64 {
        if pages == 0 {
            return 0;
        }
        let end = start.saturating_add(pages);
        let mut keys: Vec<u64> = Vec::new();
        if let Some((&key, extent)) = self.extents.range(..start).next_back() {
            if key + extent.pages > start {
                keys.push(key);
            }
        }
        keys.extend(self.extents.range(start..end).map(|(key, _)| *key));
        let mut cleared = 0;
        for key in keys {
            let Some(extent) = self.extents.remove(&key) else {
                continue;
            };
            let extent_end = key + extent.pages;
            let overlap_start = key.max(start);
            let overlap_end = extent_end.min(end);
            if key < overlap_start {
                self.extents.insert(
                    key,
                    Extent {
                        pages: overlap_start - key,
                        ..extent
                    },
                );
            }
            if overlap_end < extent_end {
                self.extents.insert(
                    overlap_end,
                    Extent {
                        pages: extent_end - overlap_end,
                        vaddr: extent.vaddr + ((overlap_end - key) << self.page_shift),
                        ..extent
                    },
                );
            }
            let dropped = overlap_end - overlap_start;
            released(extent.region, dropped);
            cleared += dropped;
        }
        self.live -= cleared;
        cleared
    }

    /// Clears every entry (see [`clear`](Self::clear)).
    pub fn clear_all(&mut self, mut released: impl FnMut(u64, u64)) -> u64 {
        let cleared = self.live;
        for extent in std::mem::take(&mut self.extents).into_values() {
            released(extent.region, extent.pages);
        }
        self.live = 0;
        cleared
    }

    /// Writes entries `[start, start + extent.pages)`, which must be empty (callers clear
    /// first). Merges with neighbours that continue the same run, so page-by-page mapping of
    /// a contiguous buffer stays one extent.
    pub fn insert(&mut self, start: u64, extent: Extent) {
        if extent.pages == 0 {
            return;
        }
        let mut start = start;
        let mut extent = extent;
        if let Some((&key, before)) = self.extents.range(..start).next_back() {
            if key + before.pages == start && continues(before, &extent, self.page_shift) {
                extent = Extent {
                    pages: before.pages + extent.pages,
                    vaddr: before.vaddr,
                    ..extent
                };
                self.live -= before.pages;
                self.extents.remove(&key);
                start = key;
            }
        }
        let end = start + extent.pages;
        if let Some(after) = self.extents.get(&end).copied() {
            if continues(&extent, &after, self.page_shift) {
                self.extents.remove(&end);
                self.live -= after.pages;
                extent.pages += after.pages;
            }
        }
        self.live += extent.pages;
        self.extents.insert(start, extent);
    }
}

/// True when `next` continues `first`: same region and permissions, and the userspace
/// addresses follow on.
fn continues(first: &Extent, next: &Extent, page_shift: u32) -> bool {
    first.access == next.access
        && first.region == next.region
        && first.vaddr.checked_add(first.pages << page_shift) == Some(next.vaddr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pages: u64, vaddr: u64) -> Extent {
        Extent {
            pages,
            vaddr,
            access: DmaAccess::ReadWrite,
            region: 0,
        }
    }

    #[test]
    fn partial_clear_splits_and_reports_counts() {
        let mut table = HwTable::new(12);
        table.insert(100, run(10, 0x10_0000));
        let mut dropped = 0;
        assert_eq!(table.clear(103, 4, |_, n| dropped += n), 4);
        assert_eq!(dropped, 4);
        assert_eq!(table.live(), 6);
        assert_eq!(table.get(102), Some((0x10_2000, DmaAccess::ReadWrite)));
        assert_eq!(table.get(103), None);
        assert_eq!(table.get(107), Some((0x10_7000, DmaAccess::ReadWrite)));
        assert_eq!(table.get(110), None);
        assert_eq!(table.extents().count(), 2);
    }

    #[test]
    fn page_by_page_inserts_merge() {
        let mut table = HwTable::new(16);
        for i in 0..64u64 {
            table.insert(i, run(1, 0x100_0000 + (i << 16)));
        }
        assert_eq!(table.extents().count(), 1);
        assert_eq!(table.live(), 64);
        // A gap in userspace addresses does not merge.
        table.insert(64, run(1, 0x900_0000));
        assert_eq!(table.extents().count(), 2);
        // Filling a hole merges both sides.
        table.clear(10, 1, |_, _| {});
        assert_eq!(table.extents().count(), 3);
        table.insert(10, run(1, 0x100_0000 + (10 << 16)));
        assert_eq!(table.extents().count(), 2);
        assert_eq!(table.live(), 65);
    }

    #[test]
    fn clear_all_reports_everything() {
        let mut table = HwTable::new(12);
        table.insert(0, run(5, 0));
        table.insert(
            10,
            Extent {
                region: 7,
                ..run(3, 0x9000)
            },
        );
        let mut per_region = Vec::new();
        assert_eq!(table.clear_all(|r, n| per_region.push((r, n))), 8);
        per_region.sort();
        assert_eq!(per_region, vec![(0, 5), (7, 3)]);
        assert_eq!(table.live(), 0);
    }
}
