// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! What backs the simulated address space: the model cannot see real pages, so tests
//! describe hugetlbfs ranges and unpinnable ranges explicitly. Everything not described is
//! ordinary memory of the host page size (kernel-host.md §4.3).

use std::collections::BTreeMap;

/// What backs a range of the simulated address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backing {
    /// Pinnable memory in pages of `1 << page_shift` bytes: the host page size for ordinary
    /// (anonymous, THP, shmem) memory, more for hugetlbfs memory. THP is deliberately not
    /// describable: the kernel treats it like small pages for the region page size, and the
    /// compound-page check can then never be the failing one.
    Pages {
        /// Page shift of the (huge) pages.
        page_shift: u32,
    },
    /// Memory that `pin_user_pages(FOLL_WRITE | FOLL_LONGTERM)` refuses: unmapped or
    /// read-only (kernel-host.md §4.2 "new").
    Unpinnable,
}

/// A rejected backing description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackingError {
    /// The page shift is below 12 or above 63.
    #[error("backing page shift {0} is not in 12..=63")]
    BadPageShift(u32),
    /// `vaddr` or `size` is not a multiple of the backing page size.
    #[error("range {vaddr:#x}+{size:#x} is not aligned to the backing page size {page_size:#x}")]
    Misaligned {
        /// Start of the range.
        vaddr: u64,
        /// Length of the range.
        size: u64,
        /// The backing page size.
        page_size: u64,
    },
    /// The range is empty or wraps around the address space.
    #[error("range {vaddr:#x}+{size:#x} is empty or wraps")]
    BadRange {
        /// Start of the range.
        vaddr: u64,
        /// Length of the range.
        size: u64,
    },
}

/// One piece of a backing walk: `[start, end)` backed as `backing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BackingSpan {
    pub start: u64,
    pub end: u64,
    pub backing: Backing,
}

/// Non-overlapping described ranges, keyed by start; value = (end, backing).
#[derive(Clone, Debug, Default)]
pub(crate) struct BackingMap {
    ranges: BTreeMap<u64, (u64, Backing)>,
}

impl BackingMap {
    /// Validates and records `backing` for `[vaddr, vaddr + size)`, replacing what was there.
    pub fn set(&mut self, vaddr: u64, size: u64, backing: Backing) -> Result<(), BackingError> {
        let end = vaddr
            .checked_add(size)
            .filter(|_| size != 0)
            .ok_or(BackingError::BadRange { vaddr, size })?;
        if let Backing::Pages { page_shift } = backing {
            if !(12..=63).contains(&page_shift) {
                return Err(BackingError::BadPageShift(page_shift));
            }
            let page_size = 1u64 << page_shift;
            if vaddr % page_size != 0 || size % page_size != 0 {
                return Err(BackingError::Misaligned {
                    vaddr,
                    size,
                    page_size,
                });
            }
        }
        self.remove(vaddr, end);
        self.ranges.insert(vaddr, (end, backing));
        Ok(())
    }

    /// Forgets descriptions inside `[start, end)`, trimming ranges that stick out.
    fn remove(&mut self, start: u64, end: u64) {
        let mut keys: Vec<u64> = Vec::new();
        if let Some((&key, &(range_end, _))) = self.ranges.range(..start).next_back() {
            if range_end > start {
                keys.push(key);
            }
        }
        keys.extend(self.ranges.range(start..end).map(|(key, _)| *key));
        for key in keys {
            let Some((range_end, backing)) = self.ranges.remove(&key) else {
                continue;
            };
            if key < start {
                self.ranges.insert(key, (start, backing));
            }
            if range_end > end {
                self.ranges.insert(end, (range_end, backing));
            }
        }
    }

    /// The backing of `[start, end)` in address order, gaps filled with ordinary pages of
    /// `1 << default_shift` bytes. Described page shifts below `default_shift` count as
    /// `default_shift` (a host cannot have pages smaller than its page size).
    pub fn walk(&self, start: u64, end: u64, default_shift: u32) -> Vec<BackingSpan> {
        let normal = Backing::Pages {
            page_shift: default_shift,
        };
        let mut spans = Vec::new();
        let mut cursor = start;
        let first_key = self
            .ranges
            .range(..=start)
            .next_back()
            .map_or(start, |(key, _)| *key);
        for (&key, &(range_end, backing)) in self.ranges.range(first_key..end) {
            if range_end <= cursor {
                continue;
            }
            if key > cursor {
                spans.push(BackingSpan {
                    start: cursor,
                    end: key,
                    backing: normal,
                });
                cursor = key;
            }
            let backing = match backing {
                Backing::Pages { page_shift } => Backing::Pages {
                    page_shift: page_shift.max(default_shift),
                },
                Backing::Unpinnable => Backing::Unpinnable,
            };
            let span_end = range_end.min(end);
            spans.push(BackingSpan {
                start: cursor,
                end: span_end,
                backing,
            });
            cursor = span_end;
        }
        if cursor < end {
            spans.push(BackingSpan {
                start: cursor,
                end,
                backing: normal,
            });
        }
        spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HUGE_2M: Backing = Backing::Pages { page_shift: 21 };

    #[test]
    fn walk_fills_gaps_and_clips() {
        let mut map = BackingMap::default();
        map.set(0x20_0000, 0x40_0000, HUGE_2M).expect("valid");
        let spans = map.walk(0x10_0000, 0x70_0000, 12);
        assert_eq!(
            spans,
            vec![
                BackingSpan {
                    start: 0x10_0000,
                    end: 0x20_0000,
                    backing: Backing::Pages { page_shift: 12 }
                },
                BackingSpan {
                    start: 0x20_0000,
                    end: 0x60_0000,
                    backing: HUGE_2M
                },
                BackingSpan {
                    start: 0x60_0000,
                    end: 0x70_0000,
                    backing: Backing::Pages { page_shift: 12 }
                },
            ]
        );
        // Starting inside a described range clips it.
        let inner = map.walk(0x30_0000, 0x40_0000, 12);
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0].start, 0x30_0000);
        assert_eq!(inner[0].backing, HUGE_2M);
    }

    #[test]
    fn set_replaces_overlapping_parts() {
        let mut map = BackingMap::default();
        map.set(0, 0x80_0000, HUGE_2M).expect("valid");
        map.set(0x20_0000, 0x1000, Backing::Unpinnable)
            .expect("valid");
        let spans = map.walk(0, 0x80_0000, 16);
        let kinds: Vec<_> = spans.iter().map(|s| (s.start, s.end, s.backing)).collect();
        assert_eq!(
            kinds,
            vec![
                (0, 0x20_0000, HUGE_2M),
                (0x20_0000, 0x20_1000, Backing::Unpinnable),
                (0x20_1000, 0x80_0000, HUGE_2M),
            ]
        );
    }

    #[test]
    fn set_rejects_bad_descriptions() {
        let mut map = BackingMap::default();
        assert!(matches!(
            map.set(0x1000, 0x20_0000, HUGE_2M),
            Err(BackingError::Misaligned { .. })
        ));
        assert_eq!(
            map.set(0, 0x1000, Backing::Pages { page_shift: 11 }),
            Err(BackingError::BadPageShift(11))
        );
        assert!(matches!(
            map.set(u64::MAX - 0xfff, 0x2000, Backing::Unpinnable),
            Err(BackingError::BadRange { .. })
        ));
        assert!(matches!(
            map.set(0, 0, Backing::Unpinnable),
            Err(BackingError::BadRange { .. })
        ));
    }
}
