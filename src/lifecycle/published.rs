// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The accelerator's guest RAM map, replaceable while vCPUs keep issuing hypercalls.
//!
//! Readers (every hypercall, every DDW RTAS call) get a plain `&RamMap` through [`Deref`]: one
//! atomic load and two already-initialised [`OnceLock`] reads, no lock and no reference
//! count. That is possible because a published map is never freed while the accelerator
//! lives: the maps form an append-only list and publishing a new one only moves the "current"
//! index. Memory hotplug is rare and bounded (KVM allows a few hundred memory slots), and a
//! map is a few dozen bytes per region, so keeping the old maps costs little.
//!
//! Consistency: maps are only published while every PE lock is held
//! ([`super::hotplug`]), and every path that creates a DMA mapping reads the map under its
//! PE's lock, so one hypercall sees one map from its first check to its last host call.

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::ram::RamMap;

/// Segment `k` holds `2^k` maps, so 48 segments hold more maps than can ever be published.
const SEGMENTS: usize = 48;

/// Where published map number `index` lives: segment and position inside it.
fn locate(index: usize) -> (usize, usize) {
    let biased = index + 1;
    let segment = (usize::BITS - 1 - biased.leading_zeros()) as usize;
    (segment, biased - (1 << segment))
}

/// The current guest RAM map and every earlier one (see the module documentation).
pub(crate) struct PublishedRam {
    segments: [OnceLock<Box<[OnceLock<RamMap>]>>; SEGMENTS],
    current: AtomicUsize,
    /// Serialises memory hotplug operations (taken before any PE lock).
    hotplug: Mutex<()>,
    /// Page shift of hugetlbfs-backed RAM, to snapshot regions added later like the first.
    pub(crate) hugepage_shift: Option<u32>,
}

impl PublishedRam {
    /// Publishes `initial` as map number 0.
    pub(crate) fn new(initial: RamMap, hugepage_shift: Option<u32>) -> Self {
        let published = Self {
            segments: std::array::from_fn(|_| OnceLock::new()),
            current: AtomicUsize::new(0),
            hotplug: Mutex::new(()),
            hugepage_shift,
        };
        published.store(0, initial);
        published
    }

    fn store(&self, index: usize, map: RamMap) {
        let (segment, position) = locate(index);
        let slots = self.segments[segment]
            .get_or_init(|| (0..1usize << segment).map(|_| OnceLock::new()).collect());
        // Each index is stored once: by `new` (0) or by `publish` under the hotplug lock.
        if slots[position].set(map).is_err() {
            log::error!("RAM map {index} was published twice; keeping the first");
        }
    }

    /// Makes `map` the current map. The caller holds [`Self::lock_hotplug`] and every PE lock.
    pub(crate) fn publish(&self, _hotplug: &MutexGuard<'_, ()>, map: RamMap) {
        let next = self.current.load(Ordering::Relaxed) + 1;
        self.store(next, map);
        self.current.store(next, Ordering::Release);
    }

    /// Serialises hotplug operations. A panic inside one leaves the published maps intact, so
    /// a poisoned lock is taken over.
    pub(crate) fn lock_hotplug(&self) -> MutexGuard<'_, ()> {
        self.hotplug
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many maps were published after the first.
    pub(crate) fn generation(&self) -> usize {
        self.current.load(Ordering::Acquire)
    }
}

impl Deref for PublishedRam {
    type Target = RamMap;

    fn deref(&self) -> &RamMap {
        let (segment, position) = locate(self.current.load(Ordering::Acquire));
        self.segments[segment]
            .get()
            .and_then(|slots| slots.get(position))
            .and_then(OnceLock::get)
            // `current` is only advanced after its map was stored (Release/Acquire above).
            .expect("the current RAM map is always stored")
    }
}

impl std::fmt::Debug for PublishedRam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedRam")
            .field("generation", &self.generation())
            .field("current", &**self)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ram::RamRegion;

    fn map(regions: u64) -> RamMap {
        RamMap::new(
            (0..regions)
                .map(|i| RamRegion {
                    guest_addr: i << 20,
                    len: 1 << 20,
                    host_addr: Some(0x7f00_0000_0000 + (i << 20)),
                    hugetlbfs: false,
                    max_iommu_shift: 12,
                })
                .collect(),
        )
    }

    #[test]
    fn segments_cover_indices_without_gaps() {
        let mut expected = (0, 0);
        for index in 0..1000 {
            assert_eq!(locate(index), expected, "index {index}");
            expected.1 += 1;
            if expected.1 == 1 << expected.0 {
                expected = (expected.0 + 1, 0);
            }
        }
    }

    #[test]
    fn references_stay_valid_across_publications() {
        let published = PublishedRam::new(map(1), None);
        let first: &RamMap = &published;
        let guard = published.lock_hotplug();
        for regions in 2..40 {
            published.publish(&guard, map(regions));
            assert_eq!(published.regions().len() as u64, regions);
        }
        assert_eq!(published.generation(), 38);
        assert_eq!(
            first.regions().len(),
            1,
            "an old map is never freed or changed"
        );
    }
}
