// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Fast paths of `H_PUT_TCE_INDIRECT` for the lists Linux guests send.
//!
//! Linux builds every list from consecutive guest pages with one permission (its direct
//! map and `dma_map_*`: entry `i + 1` is entry `i` plus one window page;
//! shared/traces/README.md §6), and clears with lists of zeros. For such a list the
//! per-entry checks of [`check_tce`](crate::mapping::check_tce) collapse into one check
//! of the whole run: every page of `[first address, last address + page)` is guest RAM
//! exactly when that range is, and every page lies in one registered region serving the
//! host IOMMU page exactly when the range does (the pages then share the region, and their
//! host addresses advance by the guest page, so the first one's alignment decides).
//!
//! Only the cases whose effect is obvious from the old entries in bulk are taken here, with
//! the same host calls, guest view, counters and rollback as the per-entry path
//! (`commit`); anything else, and anything that would be refused, goes the per-entry way,
//! which then gives the exact refusal:
//! * a linear list into entries that all hold invalid values: one `MAP_DMA`;
//! * a linear list identical to the entries (known hardware): no host call;
//! * a list of one value without R or W over entries all valid, or all invalid: one
//!   `UNMAP_DMA`, or none when the hardware is known to hold nothing there.

use std::cell::Cell;

use papr_hcall::Tce;
use vfio_spapr::{DmaAccess, SpaprTceIommu};
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::Refusal;
use crate::accelerator::TceAccelerator;
use crate::mapping::{HostMapper, HostTarget};
use crate::pe::PeBackend;
use crate::ram::RamMap;
use crate::window::Window;

thread_local! {
    /// Set while [`TceAccelerator::with_per_entry_indirect`] runs on this thread.
    static PER_ENTRY_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// False while [`TceAccelerator::with_per_entry_indirect`] runs on this thread.
#[inline]
pub(super) fn fast_path_enabled() -> bool {
    !PER_ENTRY_ONLY.with(Cell::get)
}

/// What a list does, when the fast paths can carry it out.
#[derive(Clone, Copy, Debug)]
enum UniformList {
    /// Linear valid TCEs into entries all invalid (`true`) or identical to the list.
    Linear { into_invalid: bool },
    /// One invalid value everywhere over entries all valid (`true`) or all invalid.
    Clear { old_valid: bool },
}

/// True when `tces[i] == tces[0] + i * page` for every `i`, without overflow.
#[inline]
fn is_linear(tces: &[u64], page: u64) -> bool {
    let Some(&head) = tces.first() else {
        return false;
    };
    let steps = tces.len() as u64 - 1;
    if steps
        .checked_mul(page)
        .and_then(|span| head.checked_add(span))
        .is_none()
    {
        return false;
    }
    tces.windows(2)
        .all(|pair| pair[1] == pair[0].wrapping_add(page))
}

/// Classifies `tces` over the `old` entries (same length); `None` for the general path.
fn classify(tces: &[u64], old: &[u64], page: u64, hardware_known: bool) -> Option<UniformList> {
    let head = Tce(*tces.first()?);
    if head.is_valid() {
        if !is_linear(tces, page) {
            return None;
        }
        if old.iter().all(|&value| !Tce(value).is_valid()) {
            return Some(UniformList::Linear { into_invalid: true });
        }
        return (hardware_known && old == tces).then_some(UniformList::Linear {
            into_invalid: false,
        });
    }
    if !tces.iter().all(|&tce| tce == head.0) {
        return None;
    }
    if old.iter().all(|&value| Tce(value).is_valid()) {
        return Some(UniformList::Clear { old_valid: true });
    }
    old.iter()
        .all(|&value| !Tce(value).is_valid())
        .then_some(UniformList::Clear { old_valid: false })
}

/// Validates the linear run of `count` pages from the valid TCE `head` as a whole: `None`
/// when some entry would be refused (the per-entry path then finds which), else the host
/// target of the first page (`Some(None)` without a host IOMMU), as
/// [`check_tce`](crate::mapping::check_tce) gives it.
fn check_run(window: &Window, ram: &RamMap, head: Tce, count: u64) -> Option<Option<HostTarget>> {
    let page_shift = window.geometry.page_shift;
    let access = DmaAccess::from_tce_bits(head.0)?;
    if !head.is_address_aligned(page_shift) {
        return None;
    }
    let address = head.address();
    let span = count.checked_mul(page_shift.size())?;
    let Some(needed_shift) = window.host.map(|host| host.page_shift) else {
        return ram.contains(address, span).then_some(None);
    };
    // Host addresses advance by one guest page: the first page's IOMMU alignment holds for
    // all only when the guest page is at least the IOMMU page.
    if page_shift.get() < needed_shift {
        return None;
    }
    let host = ram.translate(address, span).ok()?;
    let region = ram.regions().get(host.region)?;
    let mask = 1u64.checked_shl(needed_shift)? - 1;
    let served = region.max_iommu_shift >= needed_shift && host.host_addr & mask == 0;
    served.then_some(Some(HostTarget {
        vaddr: host.host_addr,
        region: host.region,
        access,
    }))
}

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Carries out the validated-format list `tces` (decoded, `old` the entries it
    /// replaces) if a fast path applies; `Ok(false)` leaves everything untouched for the
    /// per-entry path. Errors and their effects are those of `commit`.
    pub(super) fn try_uniform_list(
        &self,
        window: &mut Window,
        backend: Option<&PeBackend<C>>,
        first: u64,
        tces: &[u64],
        old: &[u64],
    ) -> Result<bool, Refusal> {
        let hardware_known = !window.table.hardware_may_lag();
        let page = window.geometry.page_size();
        let Some(kind) = classify(tces, old, page, hardware_known) else {
            return Ok(false);
        };
        let count = tces.len() as u64;
        let ram: &RamMap = &self.ram;
        let target = match kind {
            UniformList::Linear { .. } => match check_run(window, ram, Tce(tces[0]), count) {
                Some(target) => target,
                None => return Ok(false),
            },
            UniformList::Clear { .. } => None,
        };
        if let (Some(backend), Some(host)) = (backend, window.host.as_ref()) {
            let mapper = HostMapper {
                iommu: &backend.iommu,
                host,
                geometry: &window.geometry,
                ram,
                counters: &self.counters,
            };
            let applied = match (kind, target) {
                (UniformList::Linear { into_invalid: true }, Some(target)) => {
                    mapper.map_run_into_invalid(first, count, target)
                }
                (UniformList::Clear { old_valid }, _) if old_valid || !hardware_known => {
                    mapper.unmap_run(first, old)
                }
                _ => Ok(()),
            };
            if let Err(failure) = applied {
                for &index in &failure.cleared {
                    window.table.set(index, 0);
                }
                return Err(Refusal::Backend(failure.error));
            }
        }
        let (mapped, unmapped, skipped) = match kind {
            UniformList::Linear { into_invalid: true } => (count, 0, 0),
            UniformList::Clear { old_valid: true } => (0, count, 0),
            _ => (0, 0, count),
        };
        self.counters.entries(mapped, unmapped, skipped);
        window.table.set_run(first, tces);
        Ok(true)
    }

    /// Runs `f` with the `H_PUT_TCE_INDIRECT` fast paths off on this thread, so that tests
    /// can compare them with the per-entry path they must match exactly.
    #[doc(hidden)]
    pub fn with_per_entry_indirect<R>(&self, f: impl FnOnce(&Self) -> R) -> R {
        let before = PER_ENTRY_ONLY.with(|flag| flag.replace(true));
        let result = f(self);
        PER_ENTRY_ONLY.with(|flag| flag.set(before));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linearity_and_overflow() {
        assert!(is_linear(&[0x1003, 0x2003, 0x3003], 0x1000));
        assert!(is_linear(&[0x1003], 0x1000));
        assert!(!is_linear(&[], 0x1000));
        assert!(!is_linear(&[0x1003, 0x2003, 0x4003], 0x1000));
        assert!(!is_linear(&[0x1003, 0x2001], 0x1000));
        assert!(!is_linear(&[u64::MAX - 0xffc, 0x3], 0x1000));
    }

    #[test]
    fn classification_needs_bulk_old_entries() {
        let list = [0x1003, 0x2003];
        assert!(matches!(
            classify(&list, &[0, 0x5000], 0x1000, true),
            Some(UniformList::Linear { into_invalid: true })
        ));
        assert!(matches!(
            classify(&list, &list, 0x1000, true),
            Some(UniformList::Linear {
                into_invalid: false
            })
        ));
        assert!(classify(&list, &list, 0x1000, false).is_none());
        assert!(classify(&list, &[0, 0x9003], 0x1000, true).is_none());
        assert!(matches!(
            classify(&[0, 0], &[0x1001, 0x7002], 0x1000, true),
            Some(UniformList::Clear { old_valid: true })
        ));
        assert!(matches!(
            classify(&[0, 0], &[0, 0x7000], 0x1000, true),
            Some(UniformList::Clear { old_valid: false })
        ));
        assert!(classify(&[0, 0], &[0, 0x7001], 0x1000, true).is_none());
        assert!(classify(&[0, 4], &[0, 0], 0x1000, true).is_none());
    }
}
