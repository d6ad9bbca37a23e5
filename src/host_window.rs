// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The host window behind a guest window: IOMMU page size, table levels, creation and
//! removal. The default window at setup and the DDW RTAS calls both go through here.
//!
//! Rules (kernel-host.md §3.4 TCE_CREATE, §3.5; qemu-and-guest.md §6 items 5 and 8):
//! * page size: the largest size the host IOMMU supports that is no larger than the guest
//!   TCE page and no larger than what every RAM region can serve (a guest page larger than
//!   the host page then drives several host entries, checklist item 20);
//! * size: the guest window size rounded up to a power of two (TCE_CREATE step 7);
//! * levels: derived deterministically (below) instead of QEMU's retry loop;
//! * the bus start the host returns must equal the guest window's bus offset: the hardware
//!   translates the guest's bus addresses unchanged.

use vfio_spapr::{DdwInfo, IommuError, SpaprIommuInfo, SpaprTceIommu, WindowRequest};

use crate::counters::{BackendCall, Counters};
use crate::window::WindowGeometry;

/// A host window created for a guest window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostWindow {
    /// Bus address of the first byte (equal to the guest window's bus offset).
    pub start: u64,
    /// Size in bytes (a power of two, at least the guest window's size).
    pub size: u64,
    /// Host IOMMU page shift.
    pub page_shift: u32,
    /// Table levels requested.
    pub levels: u32,
}

/// Why no host window could be made for a guest window.
#[derive(Debug, thiserror::Error)]
pub enum HostWindowError {
    /// The container reports no dynamic window support, so windows cannot be created.
    #[error("the host IOMMU does not support creating windows (no DDW in GET_INFO)")]
    NoDynamicWindows,
    /// No supported host page size fits.
    #[error(
        "no host IOMMU page size (supported mask {pgsizes:#x}) fits guest pages of 2^{guest_shift} \
         and guest RAM serving up to 2^{ram_shift}"
    )]
    NoPageSize {
        /// Guest TCE page shift.
        guest_shift: u32,
        /// Largest IOMMU page shift every RAM region can serve.
        ram_shift: u32,
        /// Host-supported page sizes (byte mask).
        pgsizes: u64,
    },
    /// The window size cannot be rounded up to a power of two.
    #[error("window size {0:#x} is too large")]
    TooLarge(u64),
    /// `VFIO_IOMMU_SPAPR_TCE_CREATE` failed.
    #[error(transparent)]
    Create(IommuError),
    /// The host placed the window elsewhere; it was removed again.
    #[error(
        "the host placed the window at {actual:#x} but the guest window starts at {expected:#x}; \
         on PowerNV slot 0 is at 0 and slot 1 at 2^59"
    )]
    StartMismatch {
        /// The guest window's bus offset.
        expected: u64,
        /// What the host returned.
        actual: u64,
    },
}

/// The largest host IOMMU page shift not above `guest_shift` nor `ram_shift`.
pub(crate) fn select_page_shift(ddw: &DdwInfo, guest_shift: u32, ram_shift: u32) -> Option<u32> {
    ddw.page_shifts()
        .filter(|&shift| shift <= guest_shift && shift <= ram_shift)
        .max()
}

/// Table levels for a window: the fewest levels such that no level is larger than 256 host
/// pages (16 MiB with 64 KiB pages, the largest block the kernel allocates contiguously,
/// kernel-host.md §3.4 TCE_CREATE step 9), capped by the platform's maximum (1 on a nested
/// pSeries host, 5 on PowerNV).
///
/// The table has `2^(window_shift - page_shift)` entries of 8 bytes; each level indexes
/// `host_page_shift + 8` bits of that.
pub(crate) fn table_levels(
    window_size: u64,
    page_shift: u32,
    host_page_shift: u32,
    max_levels: u32,
) -> u32 {
    let entry_bits = window_size
        .trailing_zeros()
        .saturating_sub(page_shift)
        .saturating_add(3);
    let bits_per_level = host_page_shift + 8;
    entry_bits
        .div_ceil(bits_per_level)
        .clamp(1, max_levels.max(1))
}

/// The `TCE_CREATE` request for a guest window.
pub(crate) fn plan(
    info: &SpaprIommuInfo,
    guest: &WindowGeometry,
    ram_shift: Option<u32>,
    host_page_shift: u32,
) -> Result<WindowRequest, HostWindowError> {
    let ddw = info.ddw.ok_or(HostWindowError::NoDynamicWindows)?;
    let guest_shift = guest.page_shift.get();
    // Without any RAM the limit does not matter: nothing will ever be mapped.
    let ram_shift = ram_shift.unwrap_or(guest_shift);
    let page_shift =
        select_page_shift(&ddw, guest_shift, ram_shift).ok_or(HostWindowError::NoPageSize {
            guest_shift,
            ram_shift,
            pgsizes: ddw.pgsizes,
        })?;
    let window_size = guest
        .size()
        .checked_next_power_of_two()
        .ok_or(HostWindowError::TooLarge(guest.size()))?;
    Ok(WindowRequest {
        page_shift,
        window_size,
        levels: table_levels(window_size, page_shift, host_page_shift, ddw.levels),
    })
}

/// Creates the host window for `guest` and checks where the host placed it.
pub(crate) fn create<C: SpaprTceIommu + ?Sized>(
    iommu: &C,
    info: &SpaprIommuInfo,
    guest: &WindowGeometry,
    ram_shift: Option<u32>,
    host_page_shift: u32,
    counters: &Counters,
) -> Result<HostWindow, HostWindowError> {
    let request = plan(info, guest, ram_shift, host_page_shift)?;
    let created = iommu.create_window(request);
    counters.backend(BackendCall::CreateWindow, created.is_err());
    let start = created.map_err(HostWindowError::Create)?;
    let window = HostWindow {
        start,
        size: request.window_size,
        page_shift: request.page_shift,
        levels: request.levels,
    };
    if start != guest.bus_offset {
        if let Err(error) = remove(iommu, &window, counters) {
            log::warn!("removing the misplaced host window at {start:#x} failed: {error}");
        }
        return Err(HostWindowError::StartMismatch {
            expected: guest.bus_offset,
            actual: start,
        });
    }
    log::debug!(
        "host window for {} at {start:#x}: 2^{} bytes of 2^{} pages, {} levels",
        guest.liobn,
        window.size.trailing_zeros(),
        window.page_shift,
        window.levels
    );
    Ok(window)
}

/// Removes a host window; the kernel clears all its entries (§3.4 TCE_REMOVE step 6).
pub(crate) fn remove<C: SpaprTceIommu + ?Sized>(
    iommu: &C,
    window: &HostWindow,
    counters: &Counters,
) -> Result<(), IommuError> {
    let removed = iommu.remove_window(window.start);
    counters.backend(BackendCall::RemoveWindow, removed.is_err());
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WindowConfig;
    use papr_hcall::{Liobn, PageShift};

    const POWER9: DdwInfo = DdwInfo {
        pgsizes: (1 << 12) | (1 << 16) | (1 << 21) | (1 << 30),
        max_dynamic_windows_supported: 2,
        levels: 5,
    };

    fn info(ddw: Option<DdwInfo>) -> SpaprIommuInfo {
        SpaprIommuInfo {
            dma32_window_start: 0,
            dma32_window_size: 1 << 31,
            ddw,
        }
    }

    fn guest(bus_offset: u64, size: u64, shift: u32) -> WindowGeometry {
        WindowGeometry::new(&WindowConfig {
            liobn: Liobn(0x8000_0000),
            bus_offset,
            size,
            page_shift: PageShift::new(shift).unwrap(),
        })
        .unwrap()
    }

    #[test]
    fn page_shift_is_the_largest_that_fits_guest_and_ram() {
        assert_eq!(select_page_shift(&POWER9, 24, 16), Some(16));
        assert_eq!(select_page_shift(&POWER9, 24, 24), Some(21));
        assert_eq!(select_page_shift(&POWER9, 12, 24), Some(12));
        assert_eq!(select_page_shift(&POWER9, 34, 30), Some(30));
        assert_eq!(select_page_shift(&POWER9, 24, 11), None);
    }

    #[test]
    fn levels_are_deterministic() {
        // 1 GiB of 4 KiB pages on a 64 KiB host: 2 MiB table, one level.
        assert_eq!(table_levels(1 << 30, 12, 16, 5), 1);
        // 1 TiB of 64 KiB pages: 2^24 entries = 128 MiB of TCEs, needs 2 levels of <= 16 MiB.
        assert_eq!(table_levels(1 << 40, 16, 16, 5), 2);
        // 2^54 bytes of 4 KiB pages on a 4 KiB host: 45 bits over 20-bit levels -> 3.
        assert_eq!(table_levels(1 << 54, 12, 12, 5), 3);
        // Capped by the platform (nested pSeries host: 1 level), and never 0.
        assert_eq!(table_levels(1 << 40, 16, 16, 1), 1);
        assert_eq!(table_levels(1 << 40, 16, 16, 0), 1);
    }

    #[test]
    fn plan_rounds_the_size_up() {
        let request = plan(&info(Some(POWER9)), &guest(0, 3 << 28, 24), Some(16), 16).unwrap();
        assert_eq!(request.page_shift, 16);
        assert_eq!(request.window_size, 1 << 30);
        assert_eq!(request.levels, 1);
    }

    #[test]
    fn plan_errors() {
        assert!(matches!(
            plan(&info(None), &guest(0, 1 << 30, 12), Some(16), 16),
            Err(HostWindowError::NoDynamicWindows)
        ));
        let only_64k = DdwInfo {
            pgsizes: 1 << 16,
            ..POWER9
        };
        assert!(matches!(
            plan(&info(Some(only_64k)), &guest(0, 1 << 30, 12), Some(16), 16),
            Err(HostWindowError::NoPageSize {
                guest_shift: 12,
                ram_shift: 16,
                ..
            })
        ));
        assert!(matches!(
            plan(
                &info(Some(POWER9)),
                &guest(0, (1 << 63) + (1 << 12), 12),
                Some(16),
                16
            ),
            Err(HostWindowError::TooLarge(_))
        ));
    }
}
