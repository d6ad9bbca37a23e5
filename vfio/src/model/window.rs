// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! DMA windows: the two slots, the table-size formula used for locked_vm, the hardware
//! entry count, placement and the platform's TCE_CREATE checks (kernel-host.md §2.4, §3.4
//! TCE_CREATE, §3.5).

use super::hw_table::HwTable;
use super::profile::{Platform, PlatformProfile};
use crate::WindowRequest;

/// Number of window slots (`IOMMU_TABLE_GROUP_MAX_TABLES`).
pub(crate) const SLOTS: usize = 2;

/// Levels PowerNV tables can have at most (`POWERNV_IOMMU_MAX_LEVELS`).
const POWERNV_MAX_LEVELS: u32 = 5;

/// Bits of bus address a PowerNV table may reach (`pnv_pci_ioda2_table_alloc_pages`).
const POWERNV_MAX_REACH_BITS: u32 = 55;

/// What the platform made of a window; the pSeries rules depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WindowKind {
    /// A PowerNV IODA2 table.
    PowerNv,
    /// The (re-created, possibly shrunk) firmware default window of a pSeries host.
    PseriesDefault,
    /// A pSeries dynamic DMA window.
    PseriesDdw,
}

/// One window of the container.
#[derive(Debug)]
pub(crate) struct Window {
    /// Bus address of the first entry (`it_offset << it_page_shift`).
    pub start: u64,
    /// IOMMU page shift.
    pub page_shift: u32,
    /// Size in bytes as requested.
    pub size: u64,
    /// Entries the hardware table has (`it_size`, possibly rounded up).
    pub hw_entries: u64,
    /// Table levels as requested.
    pub levels: u32,
    /// Created lazily as the default window.
    pub is_default: bool,
    /// Pages charged to locked_vm for it.
    pub charged_pages: u64,
    /// Platform view.
    pub kind: WindowKind,
    /// Live entries.
    pub table: HwTable,
}

impl Window {
    /// First entry index (`it_offset`).
    pub fn offset(&self) -> u64 {
        self.start >> self.page_shift
    }

    /// True when the entry `iova >> page_shift` is inside `[it_offset, it_offset + it_size)`
    /// (`tce_iommu_find_table`).
    pub fn contains(&self, iova: u64) -> bool {
        let index = iova >> self.page_shift;
        index >= self.offset() && index - self.offset() < self.hw_entries
    }

    /// The entry range of `size` bytes at `iova`, checked like `iommu_tce_check_ioba` plus
    /// the window-end check the kernel omits.
    ///
    /// Deviation (kernel-host.md §7 item 8, "Recommendation:"): the kernel checks only the
    /// first entry; the model also rejects a range whose end is past the window (or
    /// overflows) with EINVAL, before changing anything.
    pub fn entry_range(&self, iova: u64, size: u64) -> Result<(u64, u64), i32> {
        if iova & ((1u64 << self.page_shift) - 1) != 0 || !self.contains(iova) {
            return Err(libc::EINVAL);
        }
        let first = iova >> self.page_shift;
        let pages = size >> self.page_shift;
        let end = first.checked_add(pages).ok_or(libc::EINVAL)?;
        if end - self.offset() > self.hw_entries {
            return Err(libc::EINVAL);
        }
        Ok((first, pages))
    }
}

/// Where and how the platform creates a window (the part of TCE_CREATE after accounting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    pub start: u64,
    pub hw_entries: u64,
    pub kind: WindowKind,
}

/// `log2(window) - page_shift`, if the window is a power of two of at least one page.
fn entries_shift(page_shift: u32, window_size: u64) -> Option<u32> {
    if !window_size.is_power_of_two() || page_shift >= 64 {
        return None;
    }
    window_size.trailing_zeros().checked_sub(page_shift)
}

impl PlatformProfile {
    /// The table size the kernel charges to locked_vm for a window, in bytes
    /// (`get_table_size`); `None` where the kernel returns 0 (→ EINVAL).
    ///
    /// PowerNV (`pnv_pci_ioda2_get_table_size`, kernel-host.md §3.5): `E = log2(window) -
    /// page_shift`, `flat = max(4096, 8·2^E)`, `L = ceil(E/levels)`, `chunk =
    /// 2^max(L+3, PAGE_SHIFT)`; `levels` times: `bytes += roundup(rem, chunk)`, `rem =
    /// max(rem / chunk · 8, chunk)`; result `2·bytes` (table + userspace view). `None` for
    /// levels 0 or above the maximum, or a size that is not a power of two.
    ///
    /// pSeries (`spapr_tce_get_table_size`): `0xFFFF_FFFF` when levels > 1, else
    /// `window >> (page_shift - 3)`; the power-of-two check comes later, in the platform.
    ///
    /// Both: a window smaller than one IOMMU page gives `None` (the kernel's unsigned
    /// arithmetic wraps there; the model refuses).
    pub fn window_table_bytes(
        &self,
        page_shift: u32,
        window_size: u64,
        levels: u32,
    ) -> Option<u64> {
        if page_shift >= 64 || window_size < (1u64 << page_shift) {
            return None;
        }
        match self.platform {
            Platform::PowerNv { .. } => {
                if levels == 0 || levels > self.max_levels.min(POWERNV_MAX_LEVELS) {
                    return None;
                }
                let e = entries_shift(page_shift, window_size)?;
                let chunk = 1u128 << (e.div_ceil(levels) + 3).max(self.host_page_shift);
                let mut remaining = (8u128 << e).max(4096);
                let mut bytes = 0u128;
                for _ in 0..levels {
                    bytes += remaining.div_ceil(chunk) * chunk;
                    remaining = (remaining / chunk * 8).max(chunk);
                }
                u64::try_from(2 * bytes).ok()
            }
            Platform::Pseries { .. } => {
                if levels > 1 {
                    return Some(0xFFFF_FFFF);
                }
                let bytes = window_size >> (page_shift - 3);
                (bytes != 0).then_some(bytes)
            }
        }
    }

    /// Pages TCE_CREATE charges to locked_vm (`table_size >> PAGE_SHIFT`).
    pub fn window_locked_pages(
        &self,
        page_shift: u32,
        window_size: u64,
        levels: u32,
    ) -> Option<u64> {
        self.window_table_bytes(page_shift, window_size, levels)
            .map(|bytes| bytes >> self.host_page_shift)
    }

    /// Entries the hardware table gets (`it_size`): PowerNV rounds up to
    /// `2^max(E+3, PAGE_SHIFT) / 8` (kernel-host.md §2.4, §7 item 46); pSeries uses
    /// `window >> page_shift`.
    pub fn window_hw_entries(&self, page_shift: u32, window_size: u64) -> Option<u64> {
        let e = entries_shift(page_shift, window_size);
        match self.platform {
            Platform::PowerNv { .. } => {
                let e = e?;
                let table_shift = (e + 3).max(self.host_page_shift);
                1u64.checked_shl(table_shift - 3)
            }
            Platform::Pseries { .. } => (page_shift < 64).then(|| window_size >> page_shift),
        }
    }

    /// The platform's `create_table` (TCE_CREATE step 9) for `slot`: its checks and the bus
    /// start it picks. `windows` are the container's current windows.
    pub(crate) fn place_window(
        &self,
        slot: usize,
        request: &WindowRequest,
        windows: &[Option<Window>; SLOTS],
    ) -> Result<Placement, i32> {
        match self.platform {
            Platform::PowerNv { slot1_start } => {
                let e =
                    entries_shift(request.page_shift, request.window_size).ok_or(libc::EINVAL)?;
                let levels = request.levels.max(1);
                let level_shift = (e.div_ceil(levels) + 3).max(self.host_page_shift);
                let reach =
                    u64::from(level_shift - 3) * u64::from(levels) + u64::from(request.page_shift);
                if reach >= u64::from(POWERNV_MAX_REACH_BITS) {
                    return Err(libc::EINVAL);
                }
                if level_shift >= 64 || (1u64 << level_shift) > self.max_contiguous_alloc {
                    return Err(libc::ENOMEM);
                }
                let start = if slot == 0 {
                    u64::from(self.dma32_window_start)
                } else {
                    slot1_start
                };
                Ok(Placement {
                    start,
                    hw_entries: self
                        .window_hw_entries(request.page_shift, request.window_size)
                        .ok_or(libc::EINVAL)?,
                    kind: WindowKind::PowerNv,
                })
            }
            Platform::Pseries {
                ddw_start,
                largest_ddw_block,
            } => self.place_pseries(slot, request, windows, ddw_start, largest_ddw_block),
        }
    }

    /// `spapr_tce_create_table` (6.12 `pseries/iommu.c`): one level; slot 0 refuses while a
    /// DDW exists (EPERM); a slot-0 request with 4 KiB pages up to `dma32_window_size`
    /// re-creates the default window at `dma32_window_start`; anything else is a DDW at
    /// `ddw_start` (EINVAL if larger than the platform's largest block). A second DDW while
    /// one exists is refused by the platform; the model answers ENODEV, the kernel's code
    /// for a failed `ibm,create-pe-dma-window` (derived from code, not measured). Levels 0
    /// passes: neither VFIO nor this platform checks it (derived from code, not measured).
    fn place_pseries(
        &self,
        slot: usize,
        request: &WindowRequest,
        windows: &[Option<Window>; SLOTS],
        ddw_start: u64,
        largest_ddw_block: Option<u64>,
    ) -> Result<Placement, i32> {
        if !request.window_size.is_power_of_two() || request.levels > 1 {
            return Err(libc::EINVAL);
        }
        let entries = request.window_size >> request.page_shift;
        let ddw_exists = windows
            .iter()
            .flatten()
            .any(|w| w.kind == WindowKind::PseriesDdw);
        let default_request =
            request.page_shift == 12 && request.window_size <= u64::from(self.dma32_window_size);
        if slot == 0 && ddw_exists {
            return Err(libc::EPERM);
        }
        if slot == 0 && default_request {
            return Ok(Placement {
                start: u64::from(self.dma32_window_start),
                hw_entries: entries,
                kind: WindowKind::PseriesDefault,
            });
        }
        if largest_ddw_block.is_some_and(|largest| entries > largest) {
            return Err(libc::EINVAL);
        }
        if ddw_exists {
            return Err(libc::ENODEV);
        }
        Ok(Placement {
            start: ddw_start,
            hw_entries: entries,
            kind: WindowKind::PseriesDdw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_window_charges_8_mib() {
        let p8 = PlatformProfile::powernv_power8();
        assert_eq!(p8.window_table_bytes(12, 1 << 31, 1), Some(8 << 20));
        assert_eq!(p8.window_locked_pages(12, 1 << 31, 1), Some(128));
        assert_eq!(p8.window_hw_entries(12, 1 << 31), Some(1 << 19));
    }

    #[test]
    fn multi_level_sizes() {
        let p9 = PlatformProfile::powernv_power9();
        // 1 TiB of 64K pages, 2 levels: E = 24, L = 12, chunk = 2^16 (PAGE_SHIFT wins).
        // Level 1: 8·2^24 = 128 MiB; level 2: 128 MiB / 64 KiB · 8 = 16 KiB → one chunk.
        assert_eq!(
            p9.window_table_bytes(16, 1 << 40, 2),
            Some(2 * ((128 << 20) + (64 << 10)))
        );
        assert_eq!(p9.window_table_bytes(16, 3 << 30, 1), None);
        assert_eq!(p9.window_table_bytes(16, 1 << 30, 0), None);
        assert_eq!(p9.window_table_bytes(16, 1 << 30, 6), None);
        assert_eq!(p9.window_table_bytes(16, 1 << 15, 1), None);
    }

    #[test]
    fn small_windows_round_up_on_powernv_only() {
        let p8 = PlatformProfile::powernv_power8();
        // 1 MiB of 64K pages on a 64K host: 8192 entries (512 MiB), §2.4.
        assert_eq!(p8.window_hw_entries(16, 1 << 20), Some(8192));
        let pseries = PlatformProfile::pseries_nested();
        assert_eq!(pseries.window_hw_entries(16, 1 << 20), Some(16));
        assert_eq!(pseries.window_table_bytes(12, 1 << 30, 1), Some(2 << 20));
        assert_eq!(
            pseries.window_table_bytes(12, 1 << 30, 2),
            Some(0xFFFF_FFFF)
        );
    }
}
