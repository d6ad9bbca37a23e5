// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! What a PE can offer a new window right now: page sizes, free slots, bus placement and the
//! largest window, derived from the configuration, the PE's active windows and, for PEs with
//! a container, the host IOMMU and the RAM backing.
//!
//! Query answers from these values and create checks against the same values, under the
//! same PE lock, so a guest that creates what query advertised succeeds (unless the host
//! itself fails).

use papr_hcall::rtas::PageSizeMask;
use vfio_spapr::{DdwInfo, SpaprTceIommu};

use crate::config::{DdwConfig, WindowConfig};
use crate::host_window::{select_page_shift, table_levels};
use crate::pe::{Pe, PeWindows, WindowEnv, DDW_SLOT, DEFAULT_SLOT};

/// A PowerNV table must reach fewer than 55 bits of bus address:
/// `(level_shift - 3) · levels + page_shift < 55` (kernel-host.md §3.4 TCE_CREATE step 9,
/// §3.5 "Valid parameters").
const HOST_MAX_REACH_BITS: u32 = 55;
/// One table level must be allocatable contiguously: at most 16 MiB with the default
/// `MAX_PAGE_ORDER` (kernel-host.md §3.4 TCE_CREATE step 9, §3.5).
const HOST_MAX_LEVEL_SHIFT: u32 = 24;
/// Largest window shift on a 64-bit bus (LoPAR; `CreateArgs::MAX_WINDOW_SHIFT`).
const BUS_MAX_WINDOW_SHIFT: u32 = 63;

/// What the host side of a PE allows.
#[derive(Clone, Copy, Debug)]
enum HostSide {
    /// Emulated devices only: the guest view is the whole story.
    None,
    /// A container whose GET_INFO reports DDW support.
    Ddw {
        ddw: DdwInfo,
        /// Largest IOMMU page every RAM region can serve (`None`: no RAM mapped).
        ram_shift: Option<u32>,
        host_page_shift: u32,
    },
    /// A container without DDW support: it cannot create windows at all.
    NoDdw,
}

/// The DDW limits of one PE, computed under its lock.
#[derive(Clone, Debug)]
pub(crate) struct DdwLimits {
    /// Page sizes a new window may use (query's mask).
    pub(crate) page_sizes: PageSizeMask,
    /// How many more windows can be created (query's "windows available").
    pub(crate) windows_available: u32,
    /// The slot (and so the LIOBN) the next window gets.
    pub(crate) free_slot: Option<usize>,
    /// Bus address of the next window; `None` when every candidate is taken.
    pub(crate) start: Option<u64>,
    configured_max_shift: u32,
    /// Active windows as `[start, end)`, 128-bit so that the end of a window reaching the top
    /// of the bus cannot overflow.
    active: Vec<(u128, u128)>,
    host: HostSide,
}

impl DdwLimits {
    /// The limits of `pe`, whose DDW configuration is `ddw` and whose locked slots are
    /// `windows`.
    pub(crate) fn new<C: SpaprTceIommu>(
        pe: &Pe<C>,
        ddw: &DdwConfig,
        windows: &PeWindows,
        env: WindowEnv<'_>,
    ) -> Self {
        let host = match pe.backend.as_ref().map(|backend| backend.info.ddw) {
            None => HostSide::None,
            Some(None) => HostSide::NoDdw,
            Some(Some(ddw)) => HostSide::Ddw {
                ddw,
                ram_shift: env.ram.min_iommu_shift(),
                host_page_shift: env.host_page_shift,
            },
        };
        let active: Vec<(u128, u128)> = windows
            .iter()
            .map(|(_, window)| {
                let start = u128::from(window.geometry.bus_offset);
                (start, start + u128::from(window.geometry.size()))
            })
            .collect();
        let offered = PageSizeMask::from_qemu_pgsz(ddw.guest_page_sizes);
        let page_sizes = PageSizeMask::from_page_shifts(
            offered
                .page_shifts()
                .into_iter()
                .filter(|&shift| host_serves(&host, shift)),
        );
        // The dynamic slot first, so that the default window's LIOBN only names a dynamic
        // window once the guest removed the default window and already has a DDW.
        let free_slots: Vec<usize> = [DDW_SLOT, DEFAULT_SLOT]
            .into_iter()
            .filter(|&slot| pe.slot_liobn(slot).is_some() && windows.get(slot).is_none())
            .collect();
        // GET_INFO's window count includes the default window (PowerNV: 2 slots in all,
        // kernel-host.md §3.5); a nested pSeries host may report fewer.
        let host_free = match host {
            HostSide::Ddw { ddw, .. } => ddw
                .max_dynamic_windows_supported
                .saturating_sub(active.len() as u32),
            HostSide::NoDdw => 0,
            HostSide::None => u32::MAX,
        };
        let windows_available = (free_slots.len() as u32).min(host_free);
        let free_slot = free_slots
            .first()
            .copied()
            .filter(|_| windows_available > 0);
        let start = placement(ddw, &pe.default_window, &active);
        Self {
            page_sizes,
            windows_available,
            free_slot,
            start,
            configured_max_shift: ddw.max_window_shift,
            active,
            host,
        }
    }

    /// The largest window shift a new window of guest pages of 2^`page_shift` bytes may
    /// have, or `None` when no such window fits at all.
    ///
    /// The minimum of: the PE's configured maximum; the bus room at [`Self::start`] (no
    /// wrap-around, no overlap with an active window); and, with a container, what the host
    /// can build for the IOMMU page the window would get ([`host_max_window_shift`]).
    pub(crate) fn max_window_shift(&self, page_shift: u32) -> Option<u32> {
        let start = self.start?;
        if page_shift >= 64 || start & ((1u64 << page_shift) - 1) != 0 {
            return None;
        }
        let mut max = self
            .configured_max_shift
            .min(bus_room_shift(start, &self.active)?);
        if let HostSide::Ddw {
            ddw,
            ram_shift,
            host_page_shift,
        } = self.host
        {
            let iommu_shift = select_page_shift(&ddw, page_shift, ram_shift.unwrap_or(page_shift))?;
            max = max.min(host_max_window_shift(&ddw, iommu_shift, host_page_shift));
        }
        (max >= page_shift).then_some(max)
    }

    /// Query's "largest available block": the TCEs of the largest window the PE could create
    /// now at the smallest offered page size; 0 when none fits.
    pub(crate) fn largest_block(&self) -> u64 {
        self.page_sizes
            .smallest_shift()
            .and_then(|shift| {
                let max = self.max_window_shift(shift)?;
                1u64.checked_shl(max - shift)
            })
            .unwrap_or(0)
    }
}

/// True when the host side can back guest TCE pages of 2^`shift` bytes: some supported IOMMU
/// page size no larger than the guest page (so dividing it) that every RAM region can serve
/// (qemu-and-guest.md §6 item 5; the page choice of [`select_page_shift`]).
fn host_serves(host: &HostSide, shift: u32) -> bool {
    match *host {
        HostSide::None => true,
        HostSide::NoDdw => false,
        HostSide::Ddw { ddw, ram_shift, .. } => {
            select_page_shift(&ddw, shift, ram_shift.unwrap_or(shift)).is_some()
        }
    }
}

/// Where the next window goes (qemu-and-guest.md §2.7, QEMU `rtas_ibm_create_pe_dma_window`):
/// the default window's bus offset when no window is active, else the PE's `dma64` address.
/// Addition for the case QEMU gets wrong (a dynamic window at the `dma64` address is active
/// and the default window was removed): the default window's offset, which is also where a
/// PowerNV host puts its free slot 0 (kernel-host.md §3.5). `None` when both are taken.
fn placement(
    ddw: &DdwConfig,
    default_window: &WindowConfig,
    active: &[(u128, u128)],
) -> Option<u64> {
    if active.is_empty() {
        return Some(default_window.bus_offset);
    }
    [ddw.dma64_window_addr, default_window.bus_offset]
        .into_iter()
        .find(|&candidate| {
            let candidate = u128::from(candidate);
            !active
                .iter()
                .any(|&(start, end)| start <= candidate && candidate < end)
        })
}

/// The largest `W <= 63` such that `[start, start + 2^W)` neither leaves the 64-bit bus nor
/// overlaps an active window; `None` when `start` is inside an active window or no window
/// fits at all.
///
/// The window's end must stay below 2^64: a window's `bus_offset + size` must fit in 64 bits
/// (`WindowGeometry::new`), so a window ending exactly at 2^64 could be advertised here but
/// not created (it would fail as a host error, -1, instead of "too big", -3).
fn bus_room_shift(start: u64, active: &[(u128, u128)]) -> Option<u32> {
    let start = u128::from(start);
    let mut room = u128::from(u64::MAX) - start;
    for &(window_start, window_end) in active {
        if window_start <= start && start < window_end {
            return None;
        }
        if window_start > start {
            room = room.min(window_start - start);
        }
    }
    Some(room.checked_ilog2()?.min(BUS_MAX_WINDOW_SHIFT))
}

/// The largest window shift the host can build with IOMMU pages of 2^`iommu_shift` bytes and
/// the table levels [`table_levels`] requests: a PowerNV-style multi-level table must reach
/// fewer than 55 bits and have levels of at most 16 MiB (kernel-host.md §3.4 TCE_CREATE
/// step 9, §3.5). A host reporting one level at most is a nested pSeries host, whose limit is
/// its platform's largest block, which VFIO does not report (kernel-host.md §3.5 "pSeries
/// host"): only the bus and the configuration limit it here, and an oversized request fails
/// at TCE_CREATE (RTAS -1).
pub(crate) fn host_max_window_shift(ddw: &DdwInfo, iommu_shift: u32, host_page_shift: u32) -> u32 {
    if ddw.levels <= 1 {
        return BUS_MAX_WINDOW_SHIFT;
    }
    (iommu_shift..=BUS_MAX_WINDOW_SHIFT)
        .rev()
        .find(|&window_shift| {
            powernv_accepts(window_shift, iommu_shift, host_page_shift, ddw.levels)
        })
        .unwrap_or(iommu_shift)
}

/// The PowerNV TCE_CREATE checks for a window of 2^`window_shift` bytes.
fn powernv_accepts(
    window_shift: u32,
    iommu_shift: u32,
    host_page_shift: u32,
    max_levels: u32,
) -> bool {
    let levels = table_levels(
        1u64 << window_shift,
        iommu_shift,
        host_page_shift,
        max_levels,
    );
    let entries_shift = window_shift - iommu_shift;
    let level_shift = (entries_shift.div_ceil(levels) + 3).max(host_page_shift);
    let reach = (level_shift - 3) * levels + iommu_shift;
    reach < HOST_MAX_REACH_BITS && level_shift <= HOST_MAX_LEVEL_SHIFT
}

#[cfg(test)]
mod tests {
    use super::*;

    const POWERNV: DdwInfo = DdwInfo {
        pgsizes: (1 << 12) | (1 << 16) | (1 << 21) | (1 << 30),
        max_dynamic_windows_supported: 2,
        levels: 5,
    };

    #[test]
    fn powernv_reach_limits_windows_to_54_bits() {
        for host_page_shift in [12, 16] {
            for iommu_shift in [12, 16, 21] {
                let max = host_max_window_shift(&POWERNV, iommu_shift, host_page_shift);
                assert!(
                    max <= 54,
                    "host {host_page_shift} iommu {iommu_shift}: {max}"
                );
                assert!(
                    max >= 50,
                    "host {host_page_shift} iommu {iommu_shift}: {max}"
                );
                assert!(powernv_accepts(max, iommu_shift, host_page_shift, 5));
                assert!(!powernv_accepts(max + 1, iommu_shift, host_page_shift, 5));
            }
        }
        // 4 KiB IOMMU pages on a 64 KiB host: 2^54 needs 2 levels of exactly 16 MiB.
        assert_eq!(host_max_window_shift(&POWERNV, 12, 16), 54);
    }

    #[test]
    fn one_level_hosts_are_limited_by_the_bus_only() {
        let pseries = DdwInfo {
            levels: 1,
            ..POWERNV
        };
        assert_eq!(host_max_window_shift(&pseries, 16, 12), 63);
    }

    #[test]
    fn bus_room() {
        assert_eq!(bus_room_shift(0, &[]), Some(63));
        assert_eq!(bus_room_shift(1 << 59, &[]), Some(63));
        let ddw = (1u128 << 59, (1u128 << 59) + (1 << 32));
        assert_eq!(bus_room_shift(0, &[ddw]), Some(59));
        assert_eq!(bus_room_shift(1 << 59, &[ddw]), None);
        // [2^64 - 4 KiB, 2^64) would end at 2^64, which no window geometry can hold.
        assert_eq!(bus_room_shift(u64::MAX - 4095, &[]), Some(11));
        assert_eq!(bus_room_shift(1 << 63, &[]), Some(62));
        assert_eq!(bus_room_shift(u64::MAX, &[]), None);
        let default = (0u128, 1u128 << 30);
        assert_eq!(bus_room_shift(1 << 59, &[default]), Some(63));
    }
}
