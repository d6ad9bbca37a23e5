// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `mm_iommu` pre-registration (`arch/powerpc/mm/book3s64/iommu_api.c`, kernel-host.md §4):
//! regions keyed by exact (vaddr, size), `used` and biased `mapped` counts, the region page
//! size, and the per-IOMMU-page lookup MAP_DMA does.

use std::collections::BTreeMap;

use super::accounting::LockedVm;
use super::backing::{Backing, BackingSpan};

/// One pre-registered region (`struct mm_iommu_table_group_mem_t`, §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    /// Start (`ua`).
    pub ua: u64,
    /// Length in bytes (`entries << PAGE_SHIFT`).
    pub size: u64,
    /// Largest IOMMU page shift the region can back (`pageshift`, §4.3).
    pub page_shift: u32,
    /// Containers referencing it.
    pub used: u64,
    /// 1 + live hardware entries pointing into it (biased, §4.1).
    pub mapped: u64,
    /// Snapshot at registration of the compound page shift backing each part
    /// (`tce_page_is_contained`; §7 item 50: later address-space changes are not seen).
    pub compound: Vec<(u64, u64, u32)>,
}

impl Region {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.ua + self.size
    }
}

/// A run of IOMMU pages that MAP_DMA may install: `pages` pages starting at page `first`
/// of the request, backed by the region starting at `region`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MapChunk {
    pub first: u64,
    pub pages: u64,
    pub region: u64,
}

/// Outcome of checking a MAP_DMA source range page by page (§3.4 MAP_DMA step 8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MapCheck {
    /// Installable runs, in order, covering pages `0..good`.
    pub chunks: Vec<MapChunk>,
    /// Pages before the first failing one.
    pub good: u64,
    /// The failing page's errno (EINVAL or EPERM), if any.
    pub error: Option<i32>,
}

/// The regions of one process.
#[derive(Debug, Default)]
pub(crate) struct MmIommu {
    regions: BTreeMap<u64, Region>,
}

impl MmIommu {
    /// All regions by address.
    pub fn regions(&self) -> impl Iterator<Item = &Region> + '_ {
        self.regions.values()
    }

    /// `mm_iommu_get`: the region with exactly this start and size.
    pub fn get_exact(&self, ua: u64, size: u64) -> Option<&Region> {
        self.regions.get(&ua).filter(|region| region.size == size)
    }

    /// Takes one more reference on an exact match (§4.2 "get").
    pub fn add_user(&mut self, ua: u64) {
        if let Some(region) = self.regions.get_mut(&ua) {
            region.used += 1;
        }
    }

    /// `mm_iommu_new` (§4.2 "new", §3.4 REGISTER step 5): charge, pin, reject overlaps,
    /// compute the page size, publish with `used = 1`, `mapped = 1`. `spans` is the backing
    /// of `[ua, ua + size)`. Errors undo the charge.
    pub fn create(
        &mut self,
        locked_vm: &mut LockedVm,
        ua: u64,
        size: u64,
        host_page_shift: u32,
        spans: &[BackingSpan],
    ) -> Result<(), i32> {
        // The kernel allocates `entries` slots; zero fails there (unverified errno).
        if size == 0 {
            return Err(libc::ENOMEM);
        }
        let pages = size >> host_page_shift;
        locked_vm.charge(pages)?;
        if spans.iter().any(|s| s.backing == Backing::Unpinnable) {
            locked_vm.uncharge(pages);
            return Err(libc::EFAULT);
        }
        let end = ua + size;
        if self.regions.values().any(|r| r.ua < end && ua < r.end()) {
            locked_vm.uncharge(pages);
            return Err(libc::EINVAL);
        }
        let region = Region {
            ua,
            size,
            page_shift: region_page_shift(ua, size, host_page_shift, spans),
            used: 1,
            mapped: 1,
            compound: spans
                .iter()
                .map(|s| (s.start, s.end, span_shift(s, host_page_shift)))
                .collect(),
        };
        self.regions.insert(ua, region);
        Ok(())
    }

    /// `mm_iommu_put` of the region at `ua` (§4.2 "put"): 0 while other users remain;
    /// EBUSY (reference kept) when this is the last user and entries still point into it;
    /// otherwise the region is freed and its pages uncharged.
    pub fn put(
        &mut self,
        ua: u64,
        locked_vm: &mut LockedVm,
        host_page_shift: u32,
    ) -> Result<(), i32> {
        let region = self.regions.get_mut(&ua).ok_or(libc::ENOENT)?;
        if region.used == 0 {
            return Err(libc::ENOENT);
        }
        if region.used > 1 {
            region.used -= 1;
            return Ok(());
        }
        if region.mapped != 1 {
            return Err(libc::EBUSY);
        }
        let size = region.size;
        self.regions.remove(&ua);
        locked_vm.uncharge(size >> host_page_shift);
        Ok(())
    }

    /// `mm_iommu_mapped_inc` × `pages`.
    pub fn mapped_inc(&mut self, region: u64, pages: u64) {
        if let Some(region) = self.regions.get_mut(&region) {
            region.mapped += pages;
        }
    }

    /// `mm_iommu_mapped_dec` × `pages` (never below 1).
    pub fn mapped_dec(&mut self, region: u64, pages: u64) {
        if let Some(region) = self.regions.get_mut(&region) {
            region.mapped = region.mapped.saturating_sub(pages).max(1);
        }
    }

    /// `mm_iommu_lookup`: the region holding all of `[ua, ua + len)`; a range straddling two
    /// adjacent regions is not found (§7 item 48).
    fn lookup(&self, ua: u64, len: u64) -> Option<&Region> {
        let end = ua.checked_add(len)?;
        let (_, region) = self.regions.range(..=ua).next_back()?;
        (end <= region.end()).then_some(region)
    }

    /// Checks `pages` IOMMU pages of `1 << page_shift` bytes from `vaddr`, in order, like
    /// `tce_iommu_build_v2`: each must lie in one region whose page size is large enough
    /// (else EINVAL), and the compound page at its start must be at least that large (else
    /// EPERM). Works per region run, not per page.
    pub fn check_map(&self, vaddr: u64, pages: u64, page_shift: u32) -> MapCheck {
        let page_size = 1u64 << page_shift;
        let mut chunks = Vec::new();
        let mut done = 0u64;
        let mut error = None;
        while done < pages {
            let ua = u128::from(done) * u128::from(page_size) + u128::from(vaddr);
            let Some(region) = u64::try_from(ua)
                .ok()
                .and_then(|ua| self.lookup(ua, page_size).map(|region| (ua, region)))
                .filter(|(_, region)| region.page_shift >= page_shift)
            else {
                error = Some(libc::EINVAL);
                break;
            };
            let (ua, region) = region;
            let run = ((region.end() - ua) >> page_shift).min(pages - done);
            let small = first_small_page(region, ua, run, page_shift);
            let ok = small.unwrap_or(run);
            if ok > 0 {
                chunks.push(MapChunk {
                    first: done,
                    pages: ok,
                    region: region.ua,
                });
            }
            done += ok;
            if small.is_some() {
                error = Some(libc::EPERM);
                break;
            }
        }
        MapCheck {
            chunks,
            good: done,
            error,
        }
    }
}

/// Index (within the run of `run` IOMMU pages from `ua`) of the first page whose first host
/// page belongs to a compound page smaller than the IOMMU page.
fn first_small_page(region: &Region, ua: u64, run: u64, page_shift: u32) -> Option<u64> {
    let page_size = 1u64 << page_shift;
    let run_end = ua + (run << page_shift);
    region
        .compound
        .iter()
        .filter(|(start, end, shift)| *shift < page_shift && *end > ua && *start < run_end)
        .find_map(|(start, end, _)| {
            let from = (*start).max(ua);
            let index = (from - ua).div_ceil(page_size);
            let page_start = ua + index * page_size;
            (index < run && page_start < *end).then_some(index)
        })
}

/// Compound page shift of a backing span (ordinary memory: the host page).
fn span_shift(span: &BackingSpan, host_page_shift: u32) -> u32 {
    match span.backing {
        Backing::Pages { page_shift } => page_shift,
        Backing::Unpinnable => host_page_shift,
    }
}

/// Region page size (§4.3): natural alignment of `ua | size`, then the page scan where only
/// hugetlbfs pages raise the running value, which carries over to following small pages
/// (kernel quirk, reproduced: a small page after a huge one does not lower it).
pub(crate) fn region_page_shift(
    ua: u64,
    size: u64,
    host_page_shift: u32,
    spans: &[BackingSpan],
) -> u32 {
    let mut shift = (ua | size).trailing_zeros();
    let mut carried = host_page_shift;
    for span in spans {
        let page_shift = span_shift(span, host_page_shift);
        if shift > host_page_shift && page_shift > host_page_shift {
            carried = page_shift;
        }
        shift = shift.min(carried);
    }
    shift
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u64, end: u64, page_shift: u32) -> BackingSpan {
        BackingSpan {
            start,
            end,
            backing: Backing::Pages { page_shift },
        }
    }

    #[test]
    fn region_page_shift_rules() {
        // Ordinary memory: host page size whatever the alignment.
        assert_eq!(
            region_page_shift(
                0x4000_0000,
                0x4000_0000,
                16,
                &[span(0x4000_0000, 0x8000_0000, 16)]
            ),
            16
        );
        // All 16M hugetlb, 1G aligned: 24.
        assert_eq!(
            region_page_shift(
                0x4000_0000,
                0x4000_0000,
                16,
                &[span(0x4000_0000, 0x8000_0000, 24)]
            ),
            24
        );
        // Alignment limits: 32 MiB-aligned size on 1G pages.
        assert_eq!(
            region_page_shift(
                0x4000_0000,
                0x200_0000,
                12,
                &[span(0x4000_0000, 0x4200_0000, 30)]
            ),
            25
        );
        // Small pages first: host page size.
        let mixed = [span(0, 0x100_0000, 12), span(0x100_0000, 0x200_0000, 24)];
        assert_eq!(region_page_shift(0, 0x200_0000, 12, &mixed), 12);
        // Huge first, then small: the huge value carries over (kernel quirk).
        let quirk = [span(0, 0x100_0000, 24), span(0x100_0000, 0x200_0000, 12)];
        assert_eq!(region_page_shift(0, 0x200_0000, 12, &quirk), 24);
    }

    #[test]
    fn check_map_reports_first_failing_page() {
        let mut mm = MmIommu::default();
        let mut vm = LockedVm::new(None);
        let quirk = [span(0, 0x100_0000, 24), span(0x100_0000, 0x200_0000, 12)];
        mm.create(&mut vm, 0, 0x200_0000, 12, &quirk)
            .expect("register");
        assert_eq!(vm.pages, 0x2000);
        // 16M pages: the first is huge-backed, the second is not (EPERM at page 1).
        let check = mm.check_map(0, 2, 24);
        assert_eq!(check.good, 1);
        assert_eq!(check.error, Some(libc::EPERM));
        assert_eq!(
            check.chunks,
            vec![MapChunk {
                first: 0,
                pages: 1,
                region: 0
            }]
        );
        // Past the region's end: EINVAL at the first page outside.
        let check = mm.check_map(0x1ff_0000, 3, 16);
        assert_eq!((check.good, check.error), (0, Some(libc::EPERM)));
        let check = mm.check_map(0x1fe_0000, 4, 12);
        assert_eq!((check.good, check.error), (4, None));
        let check = mm.check_map(0x1ff_e000, 4, 12);
        assert_eq!((check.good, check.error), (2, Some(libc::EINVAL)));
    }

    #[test]
    fn put_refuses_last_user_while_mapped() {
        let mut mm = MmIommu::default();
        let mut vm = LockedVm::new(None);
        mm.create(&mut vm, 0x10000, 0x10000, 16, &[span(0x10000, 0x20000, 16)])
            .expect("register");
        mm.mapped_inc(0x10000, 1);
        assert_eq!(mm.put(0x10000, &mut vm, 16), Err(libc::EBUSY));
        mm.mapped_dec(0x10000, 5);
        assert_eq!(mm.put(0x10000, &mut vm, 16), Ok(()));
        assert_eq!(vm.pages, 0);
        assert!(mm.get_exact(0x10000, 0x10000).is_none());
    }
}
