// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Errors of building the accelerator and of managing windows.
//!
//! Hypercall problems are not Rust errors: they become PAPR return codes for the guest.

use papr_hcall::Liobn;
use vfio_spapr::IommuError;

use crate::host_window::HostWindowError;

/// Why a window geometry is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WindowConfigError {
    /// The window has no entries.
    #[error("window size is zero")]
    ZeroSize,
    /// The size is not a multiple of the page size.
    #[error("window size {size:#x} is not a multiple of the {page_size:#x}-byte page")]
    SizeNotPageMultiple {
        /// Size in bytes.
        size: u64,
        /// Page size in bytes.
        page_size: u64,
    },
    /// The bus offset is not a multiple of the page size.
    #[error("bus offset {bus_offset:#x} is not aligned to the {page_size:#x}-byte page")]
    OffsetNotAligned {
        /// Bus offset.
        bus_offset: u64,
        /// Page size in bytes.
        page_size: u64,
    },
    /// The window extends beyond the 64-bit bus address space.
    #[error("window {bus_offset:#x}+{size:#x} overflows the bus address space")]
    Overflow {
        /// Bus offset.
        bus_offset: u64,
        /// Size in bytes.
        size: u64,
    },
}

/// Why the accelerator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A window geometry is invalid.
    #[error("window {liobn}: {source}")]
    InvalidWindow {
        /// The window's LIOBN.
        liobn: Liobn,
        /// What is wrong.
        source: WindowConfigError,
    },
    /// Two windows share a LIOBN.
    #[error("LIOBN {0} is used by more than one window")]
    DuplicateLiobn(Liobn),
    /// Two PEs share a BUID.
    #[error("BUID {0:#x} is used by more than one PE")]
    DuplicateBuid(u64),
    /// A DDW configuration is invalid.
    #[error("PE {buid:#x}: invalid DDW configuration: {reason}")]
    InvalidDdw {
        /// The PE.
        buid: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A configured page size is not a power of two of at least 4 KiB.
    #[error("{what} {size:#x} is not a power of two of at least 4 KiB")]
    InvalidPageSize {
        /// Which setting.
        what: &'static str,
        /// The value given.
        size: u64,
    },
    /// A PE has a container but some guest RAM is not mapped in this process, so it cannot
    /// be pre-registered.
    #[error("guest RAM at {gpa:#x} has no host mapping; VFIO needs one to pre-register it")]
    NoHostMapping {
        /// First guest-physical address of the region.
        gpa: u64,
    },
    /// `VFIO_IOMMU_SPAPR_TCE_GET_INFO` failed.
    #[error("PE {buid:#x}: {source}")]
    Info {
        /// The PE.
        buid: u64,
        /// The container error.
        source: IommuError,
    },
    /// Pre-registering guest RAM failed.
    #[error("PE {buid:#x}: registering guest RAM {vaddr:#x}+{size:#x}: {source}")]
    RegisterMemory {
        /// The PE.
        buid: u64,
        /// Host virtual address.
        vaddr: u64,
        /// Size in bytes.
        size: u64,
        /// The container error.
        source: IommuError,
    },
    /// Suppressing the host's pending default window failed.
    #[error("PE {buid:#x}: removing the host default window: {source}")]
    RemoveDefaultWindow {
        /// The PE.
        buid: u64,
        /// The container error.
        source: IommuError,
    },
    /// A default window could not be created.
    #[error("{}window {liobn}: {source}", buid.map(|b| format!("PE {b:#x}, ")).unwrap_or_default())]
    Window {
        /// The PE (`None` for a VIO window).
        buid: Option<u64>,
        /// The window.
        liobn: Liobn,
        /// What failed.
        source: WindowError,
    },
}

/// Why a window could not be created or removed at run time (DDW, reset).
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// No PE has this BUID.
    #[error("no PE with BUID {0:#x}")]
    UnknownPe(u64),
    /// The PE has no LIOBN for this slot (slot 1 without DDW configuration).
    #[error("window slot {0} does not exist on this PE")]
    NoSuchSlot(usize),
    /// The slot already holds a window.
    #[error("window slot {0} is in use")]
    SlotInUse(usize),
    /// The slot holds no window.
    #[error("window slot {0} is empty")]
    SlotEmpty(usize),
    /// The requested geometry is invalid.
    #[error(transparent)]
    Config(#[from] WindowConfigError),
    /// Creating the host window failed.
    #[error(transparent)]
    Host(#[from] HostWindowError),
    /// Removing the host window failed; the window was kept.
    #[error("removing the host window: {0}")]
    Remove(IommuError),
}
