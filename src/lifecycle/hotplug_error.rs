// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Why a memory hotplug operation failed.

use papr_hcall::Liobn;
use vfio_spapr::IommuError;

/// Why a hotplug operation failed. Every failure leaves guest view, hardware and RAM map in
/// agreement; see each variant for what changed.
#[derive(Debug, thiserror::Error)]
pub enum HotplugError {
    /// The region is empty or wraps around the address space. Nothing changed.
    #[error("guest RAM {guest_addr:#x}+{len:#x} is empty or wraps around")]
    InvalidRegion {
        /// First guest-physical address.
        guest_addr: u64,
        /// Length in bytes.
        len: u64,
    },
    /// The region overlaps one the accelerator already has. Nothing changed.
    #[error(
        "guest RAM {guest_addr:#x}+{len:#x} overlaps the existing region {existing_addr:#x}+{existing_len:#x}"
    )]
    Overlap {
        /// First guest-physical address.
        guest_addr: u64,
        /// Length in bytes.
        len: u64,
        /// The existing region's first address.
        existing_addr: u64,
        /// The existing region's length.
        existing_len: u64,
    },
    /// The region is not mapped in this process, so no container can register it. Nothing
    /// changed.
    #[error("guest RAM at {guest_addr:#x} has no host mapping; VFIO maps only memory the VMM has mapped")]
    NoHostMapping {
        /// First guest-physical address.
        guest_addr: u64,
    },
    /// The region cannot serve the IOMMU page size of an active host window, so the guest
    /// could not map it there. Nothing changed (registrations were undone).
    #[error(
        "guest RAM {guest_addr:#x} serves IOMMU pages up to 2^{region_shift}, but window {liobn} \
         maps 2^{needed_shift} pages: back hot-added memory like boot memory (same hugepage size, \
         aligned to it)"
    )]
    PageTooSmall {
        /// First guest-physical address.
        guest_addr: u64,
        /// Largest IOMMU page shift the region serves.
        region_shift: u32,
        /// The window needing larger pages.
        liobn: Liobn,
        /// Its host IOMMU page shift.
        needed_shift: u32,
    },
    /// `VFIO_IOMMU_SPAPR_REGISTER_MEMORY` failed (ENOMEM: RLIMIT_MEMLOCK, see
    /// [`crate::lifecycle::LockedMemoryPlan`]). Earlier registrations were undone.
    #[error("PE {buid:#x}: registering guest RAM {vaddr:#x}+{size:#x}: {source}")]
    Register {
        /// The PE.
        buid: u64,
        /// Host virtual address.
        vaddr: u64,
        /// Size in bytes.
        size: u64,
        /// The container error.
        source: IommuError,
    },
    /// No region starts at this guest-physical address. Nothing changed.
    #[error("no guest RAM region starts at {0:#x}")]
    NotFound(u64),
    /// [`RemovePolicy::Refuse`](super::RemovePolicy::Refuse): TCEs still map the region. Nothing changed.
    #[error(
        "guest RAM {guest_addr:#x}+{len:#x} is still mapped by {count} TCEs (first: {first_liobn} \
         entry {first_index}); the guest must clear them (H_STUFF_TCE) before the memory goes, \
         or remove with RemovePolicy::UnmapFirst"
    )]
    InUse {
        /// First guest-physical address.
        guest_addr: u64,
        /// Length in bytes.
        len: u64,
        /// Valid TCEs mapping into the region.
        count: u64,
        /// The window of the first one.
        first_liobn: Liobn,
        /// Its entry index.
        first_index: u64,
    },
    /// [`RemovePolicy::UnmapFirst`](super::RemovePolicy::UnmapFirst): an `UNMAP_DMA` failed. The region stays; entries already
    /// cleared stay cleared (guest view and hardware agree).
    #[error("{liobn}: unmapping entries into removed guest RAM: {source}")]
    Unmap {
        /// The window.
        liobn: Liobn,
        /// The container error.
        source: IommuError,
    },
    /// `VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY` failed after the region was removed from the
    /// accelerator (nothing maps it and nothing can map it any more); the kernel keeps the
    /// pages pinned until the container is closed.
    #[error("PE {buid:#x}: unregistering guest RAM {vaddr:#x}+{size:#x}: {source}")]
    Unregister {
        /// The PE.
        buid: u64,
        /// Host virtual address.
        vaddr: u64,
        /// Size in bytes.
        size: u64,
        /// The container error.
        source: IommuError,
    },
}
