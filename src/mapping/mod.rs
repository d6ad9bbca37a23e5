// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The one path from guest TCEs to host IOMMU calls: translate each TCE to a host address
//! ([`check_tce`]), plan the fewest `MAP_DMA`/`UNMAP_DMA` calls ([`plan`]), issue them and,
//! on failure, restore the previous state ([`HostMapper`]).
//!
//! Hypercalls, and later window restore and device hotplug, all go through here, so the
//! guest view and the hardware agree entry by entry whatever path changed them.

mod apply;
mod clear;
mod plan;

pub(crate) use apply::HostMapper;
pub(crate) use plan::HardwareState;

use papr_hcall::{PageShift, Tce};
use vfio_spapr::DmaAccess;

use crate::ram::{RamError, RamMap, RamRegion};

/// Where a valid TCE points in this process, for a window with a host IOMMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HostTarget {
    /// Host virtual address of the guest page.
    pub(crate) vaddr: u64,
    /// The registered RAM region that contains the whole page.
    pub(crate) region: usize,
    /// The DMA directions allowed.
    pub(crate) access: DmaAccess,
}

/// One entry a request changes: its old and new guest-view value, and where the new value
/// points on the host (for windows with a host IOMMU and a new value with R or W).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EntryUpdate {
    pub(crate) index: u64,
    pub(crate) old: u64,
    pub(crate) new: u64,
    pub(crate) target: Option<HostTarget>,
}

/// Why a TCE with R or W cannot be accepted; always `H_PARAMETER` for the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TceError {
    /// Checklist item 12: address bits below the window page size are set.
    #[error("address {address:#x} is not aligned to the {page_size:#x}-byte window page")]
    Misaligned { address: u64, page_size: u64 },
    /// LoPAR: the logical address is outside the partition; KVM: no memslot (§1.4 step 3).
    #[error("page {address:#x}+{page_size:#x} is not guest RAM")]
    NotRam { address: u64, page_size: u64 },
    /// Checklist items 21, 48: the page must lie in one pre-registered region.
    #[error("page is not inside one registered RAM region: {0}")]
    NotRegistered(RamError),
    /// Checklist item 21: the region's page size must be at least the host IOMMU page.
    #[error(
        "RAM region {region} serves IOMMU pages up to 2^{region_shift}, the host window needs 2^{needed_shift}"
    )]
    RegionPageTooSmall {
        region: usize,
        region_shift: u32,
        needed_shift: u32,
    },
}

/// Validates one TCE for a window of guest pages of `page_shift` and returns its host
/// target.
///
/// A TCE without R or W is always accepted and has no target (it is stored verbatim and
/// unmaps: checklist items 13, 19). With R or W: the address must be aligned to the guest
/// page, the whole page must be guest RAM and, when the window has a host IOMMU of
/// `host_page_shift`, the page must lie inside one registered region serving that page size.
/// Windows without a host IOMMU get `Ok(None)` for valid TCEs too.
pub(crate) fn check_tce(
    tce: Tce,
    page_shift: PageShift,
    ram: &RamMap,
    host_page_shift: Option<u32>,
) -> Result<Option<HostTarget>, TceError> {
    let Some(access) = DmaAccess::from_tce_bits(tce.0) else {
        return Ok(None);
    };
    let address = tce.address();
    let page_size = page_shift.size();
    if !tce.is_address_aligned(page_shift) {
        return Err(TceError::Misaligned { address, page_size });
    }
    let not_ram = TceError::NotRam { address, page_size };
    let Some(needed_shift) = host_page_shift else {
        return if ram.contains(address, page_size) {
            Ok(None)
        } else {
            Err(not_ram)
        };
    };
    // A page inside one region is RAM: one region lookup per TCE on the hot path; the
    // RAM check only runs to tell the two failures apart, in the order above.
    let host = ram.translate(address, page_size).map_err(|error| {
        if ram.contains(address, page_size) {
            TceError::NotRegistered(error)
        } else {
            not_ram
        }
    })?;
    let region_shift = ram.regions()[host.region].max_iommu_shift;
    if region_shift < needed_shift || host.host_addr & ((1u64 << needed_shift) - 1) != 0 {
        return Err(TceError::RegionPageTooSmall {
            region: host.region,
            region_shift,
            needed_shift,
        });
    }
    Ok(Some(HostTarget {
        vaddr: host.host_addr,
        region: host.region,
        access,
    }))
}

/// [`check_tce`] for the entries of one request: remembers the region the last valid TCE
/// fell in, so that a list of TCEs into one region (every list a Linux guest builds) costs
/// a bounds check per entry instead of a region search. Gives exactly [`check_tce`]'s
/// results: anything the remembered region does not settle goes to [`check_tce`].
pub(crate) struct TceChecker<'a> {
    page_shift: PageShift,
    ram: &'a RamMap,
    host_page_shift: Option<u32>,
    /// The region the last valid TCE was in, and its index in `ram`.
    last: Option<(usize, RamRegion)>,
}

impl<'a> TceChecker<'a> {
    /// A checker for a window of guest pages of `page_shift` (see [`check_tce`]).
    pub(crate) fn new(
        page_shift: PageShift,
        ram: &'a RamMap,
        host_page_shift: Option<u32>,
    ) -> Self {
        Self {
            page_shift,
            ram,
            host_page_shift,
            last: None,
        }
    }

    /// Validates one TCE like [`check_tce`].
    #[cfg(test)]
    pub(crate) fn check(&mut self, tce: Tce) -> Result<Option<HostTarget>, TceError> {
        let mut target = None;
        self.check_into(tce, &mut target).map(|()| target)
    }

    /// Validates one TCE like [`check_tce`] and stores its target in `target` (left alone on
    /// error). Writing in place, rather than returning the target, keeps the per-entry loop
    /// of `H_PUT_TCE_INDIRECT` from copying it through the stack (a store-forwarding stall
    /// that cost a third of its time).
    #[inline]
    pub(crate) fn check_into(
        &mut self,
        tce: Tce,
        target: &mut Option<HostTarget>,
    ) -> Result<(), TceError> {
        // As in check_tce: no permission, no target (a list of clears costs nothing more).
        if DmaAccess::from_tce_bits(tce.0).is_none() {
            *target = None;
            return Ok(());
        }
        if let Some(found) = self.check_in_last_region(tce) {
            *target = found;
            return Ok(());
        }
        *target = self.check_and_remember(tce)?;
        Ok(())
    }

    /// [`check_tce`], remembering the region of a valid TCE for the next ones.
    #[cold]
    #[inline(never)]
    fn check_and_remember(&mut self, tce: Tce) -> Result<Option<HostTarget>, TceError> {
        let result = check_tce(tce, self.page_shift, self.ram, self.host_page_shift);
        if result.is_ok() {
            self.last = self
                .ram
                .translate(tce.address(), self.page_shift.size())
                .ok()
                .and_then(|host| Some((host.region, *self.ram.regions().get(host.region)?)));
        }
        result
    }

    /// The result for a TCE that is valid, aligned and inside the remembered region, and
    /// (with a host IOMMU) serves the host page; `None` for everything else.
    #[inline]
    fn check_in_last_region(&self, tce: Tce) -> Option<Option<HostTarget>> {
        let (index, region) = self.last.as_ref()?;
        let access = DmaAccess::from_tce_bits(tce.0)?;
        let address = tce.address();
        if !tce.is_address_aligned(self.page_shift)
            || !region.contains(address, self.page_shift.size())
        {
            return None;
        }
        let Some(needed_shift) = self.host_page_shift else {
            return Some(None);
        };
        let vaddr = region.host_addr? + (address - region.guest_addr);
        let served =
            region.max_iommu_shift >= needed_shift && vaddr & ((1u64 << needed_shift) - 1) == 0;
        served.then_some(Some(HostTarget {
            vaddr,
            region: *index,
            access,
        }))
    }
}

/// What a set of updates does to the guest view, for the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EntryStats {
    /// Entries that became (or changed) valid mappings.
    pub(crate) mapped: u64,
    /// Valid entries that were cleared.
    pub(crate) unmapped: u64,
    /// Entries needing no host work (clear of an invalid entry, identical rewrite).
    pub(crate) skipped: u64,
}

impl EntryStats {
    pub(crate) fn of(updates: &[EntryUpdate]) -> Self {
        let mut stats = Self::default();
        for update in updates {
            let (old, new) = (Tce(update.old), Tce(update.new));
            if new.is_valid() && update.new != update.old {
                stats.mapped += 1;
            } else if !new.is_valid() && old.is_valid() {
                stats.unmapped += 1;
            } else {
                stats.skipped += 1;
            }
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ram::RamRegion;

    fn ram() -> RamMap {
        RamMap::new(vec![
            RamRegion {
                guest_addr: 0,
                len: 1 << 26,
                host_addr: Some(0x7f00_0000_0000),
                hugetlbfs: false,
                max_iommu_shift: 16,
            },
            RamRegion {
                guest_addr: 1 << 26,
                len: 1 << 26,
                host_addr: Some(0x7e00_0000_0000),
                hugetlbfs: false,
                max_iommu_shift: 12,
            },
        ])
    }

    #[test]
    fn tce_without_permission_is_always_fine() {
        for value in [0, 0x1000, 0xdead_beef_0000_0ffc, !3] {
            assert_eq!(
                check_tce(Tce(value), PageShift::SZ_64K, &ram(), Some(16)),
                Ok(None)
            );
        }
    }

    #[test]
    fn valid_tce_rules_in_order() {
        let ram = ram();
        let shift = PageShift::SZ_64K;
        assert_eq!(
            check_tce(Tce(0x1_0003), shift, &ram, Some(16)),
            Ok(Some(HostTarget {
                vaddr: 0x7f00_0001_0000,
                region: 0,
                access: DmaAccess::ReadWrite
            }))
        );
        assert!(matches!(
            check_tce(Tce(0x1_1001 | 0x1000), shift, &ram, Some(16)),
            Err(TceError::Misaligned { .. })
        ));
        assert!(matches!(
            check_tce(Tce((1 << 27) | 2), shift, &ram, Some(16)),
            Err(TceError::NotRam { .. })
        ));
        // Emulated windows only need RAM, even across the region boundary.
        let across = PageShift::new(27).unwrap();
        assert_eq!(check_tce(Tce(1), across, &ram, None), Ok(None));
        assert!(matches!(
            check_tce(Tce(1), across, &ram, Some(16)),
            Err(TceError::NotRegistered(RamError::SpansRegions { .. }))
        ));
        assert!(matches!(
            check_tce(Tce((1 << 26) | 1), shift, &ram, Some(16)),
            Err(TceError::RegionPageTooSmall {
                region: 1,
                region_shift: 12,
                needed_shift: 16
            })
        ));
    }

    #[test]
    fn checker_agrees_with_check_tce_whatever_it_remembers() {
        let ram = ram();
        let tces: Vec<u64> = [
            0x1_0003,
            0x2_0001,
            0x1_1003,
            (1 << 26) - 0x1_0000 + 3,
            (1 << 26) | 1,
            (1 << 26) + 0x2_0002,
            (1 << 27) | 2,
            0,
            0x3_0000,
            0x4_0002,
            (1 << 26) - 0x1000 + 3,
            u64::MAX,
        ]
        .into();
        for shift in [12, 16, 24] {
            let page_shift = PageShift::new(shift).unwrap();
            for host in [None, Some(12), Some(16)] {
                let mut checker = TceChecker::new(page_shift, &ram, host);
                for &tce in tces.iter().chain(tces.iter().rev()) {
                    assert_eq!(
                        checker.check(Tce(tce)),
                        check_tce(Tce(tce), page_shift, &ram, host),
                        "tce {tce:#x}, page shift {shift}, host {host:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn stats_classify_entries() {
        let update = |old, new| EntryUpdate {
            index: 0,
            old,
            new,
            target: None,
        };
        let stats = EntryStats::of(&[
            update(0, 0x1003),
            update(0x1003, 0x1003),
            update(0x1003, 0x2003),
            update(0x1003, 0),
            update(0, 0),
            update(0x1000, 0),
            update(0x1001, 0x1000),
        ]);
        assert_eq!(
            stats,
            EntryStats {
                mapped: 2,
                unmapped: 2,
                skipped: 3
            }
        );
    }
}
