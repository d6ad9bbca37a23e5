// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! An invariant checker comparing the accelerator's guest view with the hardware state of the
//! reference model ([`vfio_spapr::model::ModelContainer`]), for tests, fuzzers and replays.
//!
//! For every PE with a container it checks, both ways:
//! * every guest-view entry with R or W is mapped in hardware, each host IOMMU page of it at
//!   the host address its guest page translates to, with the same permission (PowerNV stores
//!   write-only as read-write, kernel-host.md §7 item 44, so the model's profile decides);
//! * hardware holds no other mapping (no stale or extra entries);
//! * each guest window has its host window at the same bus start and page size, and the
//!   container has no other window;
//! * every guest RAM region is pre-registered with the container.

use std::sync::Arc;

use papr_hcall::{Liobn, Tce};
use vfio_spapr::model::{HwEntry, HwExtent, ModelContainer};
use vfio_spapr::{DmaAccess, SpaprTceIommu};
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use crate::accelerator::TceAccelerator;
use crate::table::nonzero_entries;

/// Access to the reference model behind a container type.
pub trait ModelAccess {
    /// The model.
    fn model(&self) -> &ModelContainer;
}

impl ModelAccess for ModelContainer {
    fn model(&self) -> &ModelContainer {
        self
    }
}

impl<T: ModelAccess + ?Sized> ModelAccess for &T {
    fn model(&self) -> &ModelContainer {
        (**self).model()
    }
}

impl<T: ModelAccess + ?Sized> ModelAccess for Arc<T> {
    fn model(&self) -> &ModelContainer {
        (**self).model()
    }
}

impl<T: ModelAccess + ?Sized> ModelAccess for Box<T> {
    fn model(&self) -> &ModelContainer {
        (**self).model()
    }
}

/// One disagreement between the guest view and the model's hardware.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    /// A valid guest entry is not mapped as expected.
    #[error(
        "{liobn} entry {index} ({tce}): hardware at {iova:#x} holds {found:?}, expected vaddr {vaddr:#x} {access:?}"
    )]
    WrongMapping {
        /// The window.
        liobn: Liobn,
        /// Guest entry index.
        index: u64,
        /// Guest entry.
        tce: Tce,
        /// Bus address of the host page.
        iova: u64,
        /// Expected host address.
        vaddr: u64,
        /// Expected permission.
        access: DmaAccess,
        /// What hardware holds.
        found: Option<HwEntry>,
    },
    /// A valid guest entry does not translate to registered RAM.
    #[error("{liobn} entry {index} ({tce}) does not translate to registered RAM")]
    Untranslatable {
        /// The window.
        liobn: Liobn,
        /// Guest entry index.
        index: u64,
        /// Guest entry.
        tce: Tce,
    },
    /// Hardware maps a page no valid guest entry covers (or covers differently).
    #[error("PE {buid:#x}: hardware maps {iova:#x} -> {vaddr:#x} {access:?} without a matching guest entry")]
    ExtraMapping {
        /// The PE.
        buid: u64,
        /// Bus address.
        iova: u64,
        /// Host address.
        vaddr: u64,
        /// Permission.
        access: DmaAccess,
    },
    /// A guest window has no host window with its start and page size.
    #[error("{liobn}: no host window at {start:#x} with 2^{page_shift} pages")]
    MissingHostWindow {
        /// The window.
        liobn: Liobn,
        /// Expected start.
        start: u64,
        /// Expected page shift.
        page_shift: u32,
    },
    /// The container has a window no guest window accounts for.
    #[error("PE {buid:#x}: unexpected host window at {start:#x} (slot {slot})")]
    ExtraHostWindow {
        /// The PE.
        buid: u64,
        /// Its start.
        start: u64,
        /// Its slot.
        slot: usize,
    },
    /// A guest RAM region is not registered with the container.
    #[error("PE {buid:#x}: guest RAM {vaddr:#x}+{size:#x} is not pre-registered")]
    NotRegistered {
        /// The PE.
        buid: u64,
        /// Host address.
        vaddr: u64,
        /// Size.
        size: u64,
    },
}

/// What a successful check covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InvariantReport {
    /// Windows with a host window that were compared.
    pub windows: u64,
    /// Valid guest entries compared.
    pub valid_entries: u64,
    /// Host IOMMU pages compared.
    pub host_pages: u64,
}

/// The live hardware entries of one container, sorted by bus address.
struct Hardware {
    extents: Vec<HwExtent>,
}

impl Hardware {
    fn new(mut extents: Vec<HwExtent>) -> Self {
        extents.sort_by_key(|e| e.iova);
        Self { extents }
    }

    fn end(extent: &HwExtent) -> u64 {
        extent.iova + (extent.pages << extent.page_shift)
    }

    /// Checks that `[iova, iova + len)` is mapped, without gaps, to `[vaddr, vaddr + len)`
    /// with `access`; otherwise returns the first bus address that is not, and what
    /// hardware holds there.
    fn verify(
        &self,
        iova: u64,
        len: u64,
        vaddr: u64,
        access: DmaAccess,
    ) -> Result<(), (u64, Option<HwEntry>)> {
        let end = iova + len;
        let mut at = iova;
        let mut next = self.extents.partition_point(|e| Self::end(e) <= at);
        while at < end {
            let extent = match self.extents.get(next) {
                Some(extent) if extent.iova <= at => extent,
                _ => return Err((at, None)),
            };
            let found = HwEntry {
                vaddr: extent.vaddr + (at - extent.iova),
                access: extent.access,
            };
            if found.vaddr != vaddr + (at - iova) || found.access != access {
                return Err((at, Some(found)));
            }
            at = Self::end(extent).min(end);
            next += 1;
        }
        Ok(())
    }
}

/// At most this many violations are collected.
const MAX_VIOLATIONS: usize = 32;

/// Compares every PE's guest view with its model container; see the module documentation.
pub fn check_invariants<AS, C>(
    accelerator: &TceAccelerator<AS, C>,
) -> Result<InvariantReport, Vec<InvariantViolation>>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu + ModelAccess,
{
    let mut report = InvariantReport::default();
    let mut violations = Vec::new();
    let ram = &accelerator.ram;
    for pe in &accelerator.pes {
        let (Some(backend), Some(buid)) = (&pe.backend, pe.buid) else {
            continue;
        };
        let model = backend.iommu.model();
        let write_as_rw = model.profile().write_only_as_read_write;
        let registrations = model.registrations();
        for region in ram.regions() {
            let vaddr = region.host_addr.unwrap_or(0);
            if !registrations
                .iter()
                .any(|r| r.vaddr == vaddr && r.size == region.len && r.in_this_container)
            {
                violations.push(InvariantViolation::NotRegistered {
                    buid,
                    vaddr,
                    size: region.len,
                });
            }
        }

        let windows = pe.lock();
        let hardware = Hardware::new(model.hw_extents());
        let mut host_windows = model.windows();
        let mut expected_pages = 0u64;
        for (_, window) in windows.iter() {
            let Some(host) = window.host else { continue };
            let liobn = window.geometry.liobn;
            match host_windows
                .iter()
                .position(|w| w.start == host.start && w.page_shift == host.page_shift)
            {
                Some(found) => {
                    host_windows.remove(found);
                }
                None => violations.push(InvariantViolation::MissingHostWindow {
                    liobn,
                    start: host.start,
                    page_shift: host.page_shift,
                }),
            }
            report.windows += 1;
            let guest_page = window.geometry.page_size();
            for (index, value) in nonzero_entries(window.table.as_ref()) {
                let tce = Tce(value);
                let Some(access) = DmaAccess::from_tce_bits(value) else {
                    continue;
                };
                report.valid_entries += 1;
                let Ok(target) = ram.translate(tce.address(), guest_page) else {
                    violations.push(InvariantViolation::Untranslatable { liobn, index, tce });
                    continue;
                };
                let access = match access {
                    DmaAccess::Write if write_as_rw => DmaAccess::ReadWrite,
                    other => other,
                };
                expected_pages += guest_page >> host.page_shift;
                let ioba = window.geometry.ioba(index);
                if let Err((iova, found)) =
                    hardware.verify(ioba, guest_page, target.host_addr, access)
                {
                    violations.push(InvariantViolation::WrongMapping {
                        liobn,
                        index,
                        tce,
                        iova,
                        vaddr: target.host_addr + (iova - ioba),
                        access,
                        found,
                    });
                }
            }
        }
        report.host_pages += expected_pages;
        for extra in host_windows {
            violations.push(InvariantViolation::ExtraHostWindow {
                buid,
                start: extra.start,
                slot: extra.slot,
            });
        }

        // Every expected page was found above at a distinct bus address; if hardware holds
        // more pages than that, find the extra ones.
        let live: u64 = hardware.extents.iter().map(|e| e.pages).sum();
        if live != expected_pages {
            for extent in &hardware.extents {
                let page = 1u64 << extent.page_shift;
                for i in 0..extent.pages {
                    let (iova, vaddr) = (extent.iova + i * page, extent.vaddr + i * page);
                    let covered = windows.iter().any(|(_, window)| {
                        let Some(index) = window.geometry.index_containing(iova) else {
                            return false;
                        };
                        let tce = Tce(window.table.get(index));
                        let offset = iova - window.geometry.ioba(index);
                        tce.is_valid()
                            && ram
                                .translate(tce.address(), window.geometry.page_size())
                                .is_ok_and(|t| t.host_addr + offset == vaddr)
                    });
                    if !covered && violations.len() < MAX_VIOLATIONS {
                        violations.push(InvariantViolation::ExtraMapping {
                            buid,
                            iova,
                            vaddr,
                            access: extent.access,
                        });
                    }
                }
            }
        }
        if violations.len() >= MAX_VIOLATIONS {
            break;
        }
    }
    if violations.is_empty() {
        Ok(report)
    } else {
        violations.truncate(MAX_VIOLATIONS);
        Err(violations)
    }
}
