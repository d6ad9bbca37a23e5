// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Turning entry changes into the fewest host IOMMU calls.
//!
//! QEMU issues one `MAP_DMA`/`UNMAP_DMA` per TCE, even for clears of empty entries
//! (qemu-and-guest.md §6 item 1). Here consecutive entries that are contiguous in bus
//! address **and** host address, with equal permissions, inside one registered region become
//! one `MAP_DMA`; consecutive clears of valid entries become one `UNMAP_DMA`; clears of
//! invalid entries and identical rewrites issue nothing. The kernel accepts any multiple of
//! the IOMMU page within one window and one registered region (§3.4 MAP_DMA/UNMAP_DMA), so a
//! guest page larger than the host IOMMU page is simply part of a longer call.

use papr_hcall::Tce;
use vfio_spapr::DmaAccess;

use super::{EntryUpdate, HostTarget};
use crate::window::WindowGeometry;

/// One host IOMMU call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DmaOp {
    /// `VFIO_IOMMU_MAP_DMA`.
    Map {
        iova: u64,
        size: u64,
        vaddr: u64,
        access: DmaAccess,
    },
    /// `VFIO_IOMMU_UNMAP_DMA`.
    Unmap { iova: u64, size: u64 },
}

/// A host call and the guest entries it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PlannedOp {
    pub(crate) op: DmaOp,
    pub(crate) first: u64,
    pub(crate) count: u64,
}

impl PlannedOp {
    /// The covered guest entry indices.
    pub(crate) fn indices(&self) -> std::ops::Range<u64> {
        self.first..self.first + self.count
    }
}

#[derive(Clone, Copy, Debug)]
enum Run {
    Map {
        first: u64,
        count: u64,
        vaddr: u64,
        access: DmaAccess,
        region: usize,
    },
    Unmap {
        first: u64,
        count: u64,
    },
}

/// Accumulates per-entry map/unmap requests, given in increasing index order, into
/// coalesced calls.
pub(crate) struct Planner {
    geometry: WindowGeometry,
    open: Option<Run>,
    ops: Vec<PlannedOp>,
}

impl Planner {
    pub(crate) fn new(geometry: &WindowGeometry) -> Self {
        Self {
            geometry: *geometry,
            open: None,
            ops: Vec::new(),
        }
    }

    /// Entry `index` must map `target`.
    pub(crate) fn map(&mut self, index: u64, target: HostTarget) {
        let page = self.geometry.page_size();
        if let Some(Run::Map {
            first,
            count,
            vaddr,
            access,
            region,
        }) = &mut self.open
        {
            let contiguous = index == *first + *count
                && *access == target.access
                && *region == target.region
                && vaddr.checked_add(*count * page) == Some(target.vaddr);
            if contiguous {
                *count += 1;
                return;
            }
        }
        self.close();
        self.open = Some(Run::Map {
            first: index,
            count: 1,
            vaddr: target.vaddr,
            access: target.access,
            region: target.region,
        });
    }

    /// Entries `first..first + count` must map consecutive host pages from `target`: the
    /// same as `count` calls of [`map`](Self::map) with `target.vaddr` advancing by one
    /// guest page each, in O(1).
    pub(crate) fn map_run(&mut self, first: u64, count: u64, target: HostTarget) {
        if count == 0 {
            return;
        }
        self.map(first, target);
        if let Some(Run::Map { count: open, .. }) = &mut self.open {
            *open += count - 1;
        }
    }

    /// Entries `first..first + count` must be unmapped: `count` calls of
    /// [`unmap`](Self::unmap) in O(1).
    pub(crate) fn unmap_run(&mut self, first: u64, count: u64) {
        if count == 0 {
            return;
        }
        self.unmap(first);
        if let Some(Run::Unmap { count: open, .. }) = &mut self.open {
            *open += count - 1;
        }
    }

    /// Entry `index` must be unmapped.
    pub(crate) fn unmap(&mut self, index: u64) {
        if let Some(Run::Unmap { first, count }) = &mut self.open {
            if index == *first + *count {
                *count += 1;
                return;
            }
        }
        self.close();
        self.open = Some(Run::Unmap {
            first: index,
            count: 1,
        });
    }

    fn close(&mut self) {
        let shift = self.geometry.page_shift.get();
        let planned = match self.open.take() {
            None => return,
            Some(Run::Map {
                first,
                count,
                vaddr,
                access,
                ..
            }) => PlannedOp {
                op: DmaOp::Map {
                    iova: self.geometry.ioba(first),
                    size: count << shift,
                    vaddr,
                    access,
                },
                first,
                count,
            },
            Some(Run::Unmap { first, count }) => PlannedOp {
                op: DmaOp::Unmap {
                    iova: self.geometry.ioba(first),
                    size: count << shift,
                },
                first,
                count,
            },
        };
        self.ops.push(planned);
    }

    /// The calls, in index order.
    pub(crate) fn finish(mut self) -> Vec<PlannedOp> {
        self.close();
        self.ops
    }
}

/// What the hardware is known to hold for the entries of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum HardwareState {
    /// Exactly the `old` values: unchanged entries and clears of invalid entries need no call.
    MatchesOld,
    /// Unknown: every entry is programmed to its `new` value. For windows whose table KVM
    /// shares with a VFIO table: a hcall the kernel punted may already have changed the
    /// hardware without the guest view (kernel-host.md §1.5 step 6, §1.7 step 4, §5.5);
    /// repeating a map or unmap is harmless (checklist items 42, 43).
    Unknown,
}

/// The calls that take the hardware from the `old` values of `updates` (which it is known
/// to hold) to their `new` values. `updates` must be in increasing index order.
#[cfg(test)]
pub(crate) fn plan_diff(geometry: &WindowGeometry, updates: &[EntryUpdate]) -> Vec<PlannedOp> {
    plan_updates(geometry, updates, HardwareState::MatchesOld)
}

/// The calls that take the hardware to the `new` values of `updates` (increasing index
/// order), from the state `hardware`.
pub(crate) fn plan_updates(
    geometry: &WindowGeometry,
    updates: &[EntryUpdate],
    hardware: HardwareState,
) -> Vec<PlannedOp> {
    let known = hardware == HardwareState::MatchesOld;
    let mut planner = Planner::new(geometry);
    for update in updates {
        let (old, new) = (Tce(update.old), Tce(update.new));
        match (new.is_valid(), update.target) {
            (true, Some(_)) if known && update.new == update.old => {}
            (true, Some(target)) => planner.map(update.index, target),
            // A valid value without a target cannot be mapped; never leave a stale mapping.
            (true, None) => planner.unmap(update.index),
            (false, _) if old.is_valid() || !known => planner.unmap(update.index),
            (false, _) => {}
        }
    }
    planner.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WindowConfig;
    use papr_hcall::{Liobn, PageShift};

    fn geometry(shift: PageShift) -> WindowGeometry {
        WindowGeometry::new(&WindowConfig {
            liobn: Liobn(1),
            bus_offset: 1 << 59,
            size: 1 << 40,
            page_shift: shift,
        })
        .unwrap()
    }

    fn target(vaddr: u64, access: DmaAccess) -> Option<HostTarget> {
        Some(HostTarget {
            vaddr,
            region: 0,
            access,
        })
    }

    fn linear(first: u64, count: u64, page: u64) -> Vec<EntryUpdate> {
        (0..count)
            .map(|i| EntryUpdate {
                index: first + i,
                old: 0,
                new: (i * page) | 3,
                target: target(0x7f00_0000_0000 + i * page, DmaAccess::ReadWrite),
            })
            .collect()
    }

    #[test]
    fn linear_run_is_one_map() {
        let g = geometry(PageShift::SZ_4K);
        let ops = plan_diff(&g, &linear(10, 512, 0x1000));
        assert_eq!(
            ops,
            vec![PlannedOp {
                op: DmaOp::Map {
                    iova: (1 << 59) + 10 * 0x1000,
                    size: 512 * 0x1000,
                    vaddr: 0x7f00_0000_0000,
                    access: DmaAccess::ReadWrite
                },
                first: 10,
                count: 512
            }]
        );
    }

    #[test]
    fn breaks_on_permission_host_gap_and_region() {
        let g = geometry(PageShift::SZ_16M);
        let page = 1 << 24;
        let mut updates = linear(0, 6, page);
        updates[2].target = target(0x7f00_0000_0000 + 2 * page, DmaAccess::Read);
        updates[4].target = target(0x7f00_0000_0000 + 9 * page, DmaAccess::ReadWrite);
        if let Some(t) = updates[5].target.as_mut() {
            t.vaddr = 0x7f00_0000_0000 + 10 * page;
            t.region = 1;
        }
        let ops = plan_diff(&g, &updates);
        let ranges: Vec<_> = ops.iter().map(|op| (op.first, op.count)).collect();
        assert_eq!(ranges, vec![(0, 2), (2, 1), (3, 1), (4, 1), (5, 1)]);
        assert!(
            matches!(ops[1].op, DmaOp::Map { size, access: DmaAccess::Read, .. } if size == page)
        );
    }

    #[test]
    fn noops_are_skipped_and_unmaps_coalesce() {
        let g = geometry(PageShift::SZ_64K);
        let update = |index, old, new| EntryUpdate {
            index,
            old,
            new,
            target: None,
        };
        let updates = vec![
            update(0, 0, 0),
            update(1, 0x10000, 0),   // poison cleared: no host work
            update(2, 0x20003, 0),   // unmap
            update(3, 0x30001, 0x5), // invalid new value: unmap
            update(4, 0x40002, 0),   // unmap
            update(5, 0, 0),
            update(6, 0x60003, 0), // unmap, new run
        ];
        let ops = plan_diff(&g, &updates);
        assert_eq!(
            ops,
            vec![
                PlannedOp {
                    op: DmaOp::Unmap {
                        iova: (1 << 59) + 2 * 0x10000,
                        size: 3 * 0x10000
                    },
                    first: 2,
                    count: 3
                },
                PlannedOp {
                    op: DmaOp::Unmap {
                        iova: (1 << 59) + 6 * 0x10000,
                        size: 0x10000
                    },
                    first: 6,
                    count: 1
                }
            ]
        );
        let same = EntryUpdate {
            index: 9,
            old: 0x3,
            new: 0x3,
            target: target(0x7f00_0000_0000, DmaAccess::ReadWrite),
        };
        assert!(plan_diff(&g, &[same]).is_empty(), "identical rewrite");
    }

    #[test]
    fn unknown_hardware_redoes_unchanged_entries() {
        let g = geometry(PageShift::SZ_64K);
        let updates = [
            EntryUpdate {
                index: 4,
                old: 0x3,
                new: 0x3,
                target: target(0x7f00_0000_0000, DmaAccess::ReadWrite),
            },
            EntryUpdate {
                index: 5,
                old: 0x1_0003,
                new: 0x1_0003,
                target: target(0x7f00_0001_0000, DmaAccess::ReadWrite),
            },
            EntryUpdate {
                index: 6,
                old: 0,
                new: 0,
                target: None,
            },
            EntryUpdate {
                index: 7,
                old: 0x5000,
                new: 0,
                target: None,
            },
        ];
        assert!(plan_diff(&g, &updates).is_empty());
        let ops = plan_updates(&g, &updates, HardwareState::Unknown);
        assert_eq!(
            ops,
            vec![
                PlannedOp {
                    op: DmaOp::Map {
                        iova: (1 << 59) + 4 * 0x10000,
                        size: 2 * 0x10000,
                        vaddr: 0x7f00_0000_0000,
                        access: DmaAccess::ReadWrite
                    },
                    first: 4,
                    count: 2
                },
                PlannedOp {
                    op: DmaOp::Unmap {
                        iova: (1 << 59) + 6 * 0x10000,
                        size: 2 * 0x10000
                    },
                    first: 6,
                    count: 2
                }
            ]
        );
    }

    #[test]
    fn runs_match_entry_by_entry_requests() {
        let g = geometry(PageShift::SZ_64K);
        let page = 0x10000;
        let base = HostTarget {
            vaddr: 0x7f00_0000_0000,
            region: 0,
            access: DmaAccess::Read,
        };
        let mut by_entry = Planner::new(&g);
        for i in 0..3 {
            by_entry.map(
                7 + i,
                HostTarget {
                    vaddr: base.vaddr + i * page,
                    ..base
                },
            );
        }
        for i in 10..14 {
            by_entry.unmap(i);
        }
        let mut by_run = Planner::new(&g);
        by_run.map_run(7, 3, base);
        by_run.map_run(10, 0, base);
        by_run.unmap_run(10, 4);
        by_run.unmap_run(14, 0);
        let runs = by_run.finish();
        assert_eq!(runs, by_entry.finish());
        assert_eq!(runs.len(), 2);
    }

    #[test]
    fn map_and_unmap_runs_interleave() {
        let g = geometry(PageShift::SZ_4K);
        let mut updates = linear(0, 4, 0x1000);
        updates[1] = EntryUpdate {
            index: 1,
            old: 0x5003,
            new: 0,
            target: None,
        };
        let ops = plan_diff(&g, &updates);
        let kinds: Vec<_> = ops
            .iter()
            .map(|op| (matches!(op.op, DmaOp::Map { .. }), op.first, op.count))
            .collect();
        assert_eq!(kinds, vec![(true, 0, 1), (false, 1, 1), (true, 2, 2)]);
    }
}
