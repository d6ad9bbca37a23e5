// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Platform profiles: the host facts the kernel's answers depend on (kernel-host.md §2.2,
//! §2.4, §3.4 GET_INFO, §3.5) plus the pseries values measured in the lab
//! (`shared/lab/README.md` §9.2, `results-summary.md`).

use crate::{DdwInfo, SpaprIommuInfo};

/// 4 KiB.
const SZ_4K: u64 = 1 << 12;
/// 64 KiB.
const SZ_64K: u64 = 1 << 16;
/// 2 MiB.
const SZ_2M: u64 = 1 << 21;
/// 16 MiB.
const SZ_16M: u64 = 1 << 24;
/// 256 MiB.
const SZ_256M: u64 = 1 << 28;
/// 1 GiB.
const SZ_1G: u64 = 1 << 30;

/// Bus address of the second PowerNV window: "TVE #1 is selected by PCI address bit 59"
/// (`pe->tce_bypass_base`, kernel-host.md §3.5). QEMU's pseries DDW starts there too
/// (lab: `start_addr=0x800000000000000`).
pub const BUS_ADDRESS_BIT_59: u64 = 1 << 59;

/// Largest physically contiguous block the kernel allocates for one table level with the
/// default `MAX_PAGE_ORDER` (kernel-host.md §3.5).
pub const DEFAULT_MAX_CONTIGUOUS_ALLOC: u64 = 16 << 20;

/// The platform code behind the container's table-group ops; selects the table-size
/// formula, the window placement and the platform's own `create_table` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Bare-metal PowerNV, PHB3/PHB4 IODA2 (`pci-ioda.c`, `pci-ioda-tce.c`): slot 0 starts at
    /// `dma32_window_start`, slot 1 at `slot1_start`; multi-level tables; windows smaller
    /// than `PAGE_SIZE / 8` entries are rounded up (kernel-host.md §2.4).
    PowerNv {
        /// Bus start of slot 1 (`1 << 59` on real hardware).
        slot1_start: u64,
    },
    /// A pSeries host (nested KVM on PowerVM or QEMU; 6.12 `pseries/iommu.c`
    /// `spapr_tce_create_table`): one level; a slot-0 request with 4 KiB pages and a size up
    /// to `dma32_window_size` re-creates the default window at `dma32_window_start`; every
    /// other request creates a DDW at the address the platform returns (`ddw_start`).
    Pseries {
        /// Bus start of every DDW (`1 << 59` under QEMU, measured).
        ddw_start: u64,
        /// `largest_available_block` of `ibm,query-pe-dma-window`, in IOMMU pages; a DDW
        /// with more entries fails with EINVAL. `None`: never limiting.
        largest_ddw_block: Option<u64>,
    },
}

/// What the simulated host looks like. All fields are public so tests can derive variants
/// from the constructors (`PlatformProfile { locked_vm_limit_pages: Some(64), ..p }`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PlatformProfile {
    /// Short name for messages.
    pub name: &'static str,
    /// Platform code: placement, table-size formula, platform checks.
    pub platform: Platform,
    /// Host kernel `PAGE_SHIFT` (12 or 16): registration alignment, accounting unit, level
    /// rounding (kernel-host.md §0).
    pub host_page_shift: u32,
    /// Supported IOMMU page sizes, bitmask of byte sizes (GET_INFO `ddw.pgsizes`).
    pub pgsizes: u64,
    /// GET_INFO `ddw.max_dynamic_windows_supported`; 0 reports no DDW. The container always
    /// has the kernel's two slots (`IOMMU_TABLE_GROUP_MAX_TABLES`), whatever this says.
    pub max_windows: u32,
    /// GET_INFO `ddw.levels`: most table levels a window may have.
    pub max_levels: u32,
    /// Bus start of the default window and of slot 0 (`tce32_start`).
    pub dma32_window_start: u32,
    /// Size of the default window (`tce32_size`).
    pub dma32_window_size: u32,
    /// True when a write-only mapping is stored as R|W in hardware (PowerNV IODA2,
    /// kernel-host.md §2.4, §7 item 44). pSeries stores the permission bits as given
    /// (`tce_exchange_pseries` uses `iommu_direction_to_tce_perm`).
    pub write_only_as_read_write: bool,
    /// Largest allocation for one table level (PowerNV: 16 MiB); a bigger first level fails
    /// TCE_CREATE with ENOMEM (kernel-host.md §3.4 CREATE step 9).
    pub max_contiguous_alloc: u64,
    /// RLIMIT_MEMLOCK in host pages for processes created from this profile; `None` models
    /// CAP_IPC_LOCK (no limit).
    pub locked_vm_limit_pages: Option<u64>,
}

impl PlatformProfile {
    /// Bare-metal POWER8 (PHB3), 64 KiB host pages: IOMMU pages 4K/64K/16M/256M, 2 GiB default
    /// window at 0, slot 1 at `1 << 59`, 5 levels (kernel-host.md §2.2, §3.5; the page sizes
    /// are the typical firmware values).
    pub fn powernv_power8() -> Self {
        Self {
            name: "powernv-power8",
            platform: Platform::PowerNv {
                slot1_start: BUS_ADDRESS_BIT_59,
            },
            host_page_shift: 16,
            pgsizes: SZ_4K | SZ_64K | SZ_16M | SZ_256M,
            max_windows: 2,
            max_levels: 5,
            dma32_window_start: 0,
            dma32_window_size: 0x8000_0000,
            write_only_as_read_write: true,
            max_contiguous_alloc: DEFAULT_MAX_CONTIGUOUS_ALLOC,
            locked_vm_limit_pages: None,
        }
    }

    /// Bare-metal POWER9 (PHB4), 64 KiB host pages: like POWER8 with IOMMU pages
    /// 4K/64K/2M/1G.
    pub fn powernv_power9() -> Self {
        Self {
            name: "powernv-power9",
            pgsizes: SZ_4K | SZ_64K | SZ_2M | SZ_1G,
            ..Self::powernv_power8()
        }
    }

    /// A pSeries host kernel (Linux 6.12.95, 4 KiB pages) as measured in the lab under QEMU:
    /// GET_INFO `dma32_window_start=0 dma32_window_size=0x10000000 pgsizes=0x1211000
    /// max_dynamic_windows_supported=2 levels=1`; DDWs at `0x800000000000000`; a slot-0
    /// default-sized request comes back at 0 (lab README §9.2).
    pub fn pseries_nested() -> Self {
        Self {
            name: "pseries-nested",
            platform: Platform::Pseries {
                ddw_start: BUS_ADDRESS_BIT_59,
                largest_ddw_block: None,
            },
            host_page_shift: 12,
            pgsizes: SZ_4K | SZ_64K | SZ_2M | SZ_16M,
            max_windows: 2,
            max_levels: 1,
            dma32_window_start: 0,
            dma32_window_size: 0x1000_0000,
            write_only_as_read_write: false,
            max_contiguous_alloc: DEFAULT_MAX_CONTIGUOUS_ALLOC,
            locked_vm_limit_pages: None,
        }
    }

    /// A PowerNV-like host whose page size matches this machine, for tests that register
    /// real anonymous memory (e.g. 4 KiB on x86): IOMMU pages 4K/64K/2M/16M/256M/1G, 2 GiB
    /// default window at 0, slot 1 at `1 << 59`, 5 levels, no locked-memory limit.
    /// `host_page_size` must be a power of two (else 4 KiB is used).
    pub fn for_host(host_page_size: u64) -> Self {
        let host_page_shift = if host_page_size.is_power_of_two() {
            host_page_size.trailing_zeros()
        } else {
            12
        };
        Self {
            name: "host",
            host_page_shift,
            pgsizes: SZ_4K | SZ_64K | SZ_2M | SZ_16M | SZ_256M | SZ_1G,
            ..Self::powernv_power8()
        }
    }

    /// Host `PAGE_SIZE` in bytes.
    pub fn host_page_size(&self) -> u64 {
        1 << self.host_page_shift
    }

    /// True when IOMMU pages of `1 << page_shift` bytes are supported.
    pub fn supports_page_shift(&self, page_shift: u32) -> bool {
        page_shift < 64 && self.pgsizes & (1u64 << page_shift) != 0
    }

    /// What `VFIO_IOMMU_SPAPR_TCE_GET_INFO` reports on this host (kernel-host.md §3.4).
    pub fn info(&self) -> SpaprIommuInfo {
        SpaprIommuInfo {
            dma32_window_start: self.dma32_window_start,
            dma32_window_size: self.dma32_window_size,
            ddw: (self.max_windows != 0).then_some(DdwInfo {
                pgsizes: self.pgsizes,
                max_dynamic_windows_supported: self.max_windows,
                levels: self.max_levels,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseries_matches_lab_get_info() {
        let info = PlatformProfile::pseries_nested().info();
        assert_eq!(info.dma32_window_start, 0);
        assert_eq!(info.dma32_window_size, 0x1000_0000);
        let ddw = info.ddw.expect("ddw");
        assert_eq!(ddw.pgsizes, 0x121_1000);
        assert_eq!(ddw.max_dynamic_windows_supported, 2);
        assert_eq!(ddw.levels, 1);
    }

    #[test]
    fn for_host_uses_given_page_size() {
        assert_eq!(PlatformProfile::for_host(4096).host_page_shift, 12);
        assert_eq!(PlatformProfile::for_host(65536).host_page_shift, 16);
        assert_eq!(PlatformProfile::for_host(3000).host_page_shift, 12);
        assert!(PlatformProfile::for_host(4096).supports_page_shift(30));
        assert!(!PlatformProfile::powernv_power8().supports_page_shift(21));
        assert!(PlatformProfile::powernv_power9().supports_page_shift(21));
    }
}
