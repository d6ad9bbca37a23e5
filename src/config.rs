// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! What the VMM tells the accelerator: its PEs (one per PHB / IOMMU group), their default and
//! dynamic DMA windows, VIO windows, and host facts that cannot be probed portably.

use papr_hcall::{Liobn, PageShift};

/// One guest TCE window: which LIOBN names it, where it sits on the bus and its page size.
///
/// ```
/// use papr_hcall::{Liobn, PageShift};
/// use spapr_tce::WindowConfig;
/// // QEMU's default PCI window: 1 GiB of 4 KiB pages at bus address 0.
/// let window = WindowConfig {
///     liobn: Liobn(0x8000_0000),
///     bus_offset: 0,
///     size: 1 << 30,
///     page_shift: PageShift::SZ_4K,
/// };
/// assert_eq!(window.entries(), 262_144);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowConfig {
    /// The LIOBN the guest passes to the TCE hypercalls.
    pub liobn: Liobn,
    /// Bus address of the first byte; a multiple of the page size.
    pub bus_offset: u64,
    /// Size in bytes; a non-zero multiple of the page size.
    pub size: u64,
    /// The guest's TCE page size.
    pub page_shift: PageShift,
}

impl WindowConfig {
    /// Number of TCEs in the window.
    pub fn entries(&self) -> u64 {
        self.size >> self.page_shift.get()
    }
}

/// How a PE's Dynamic DMA Window is offered to the guest (used by the DDW RTAS calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DdwConfig {
    /// LIOBN of the dynamic window (window slot 1).
    pub liobn: Liobn,
    /// Bus address of a dynamic window created while another window is active (QEMU's
    /// `dma64_win_addr`, 2^59: where POWER8/9 PHBs place their second window).
    pub dma64_window_addr: u64,
    /// Guest TCE page sizes offered, as a bitmask of shifts (bit `s` set: 2^s bytes), like
    /// QEMU's `pgsz` property; e.g. [`DdwConfig::QEMU_PAGE_SIZES`].
    pub guest_page_sizes: u64,
    /// Largest window the guest may request, as log2 of its size in bytes.
    pub max_window_shift: u32,
}

impl DdwConfig {
    /// QEMU's default `pgsz`: 4 KiB | 64 KiB | 2 MiB | 16 MiB.
    pub const QEMU_PAGE_SIZES: u64 = (1 << 12) | (1 << 16) | (1 << 21) | (1 << 24);
    /// QEMU's `dma64_win_addr`.
    pub const QEMU_DMA64_WINDOW_ADDR: u64 = 1 << 59;
    /// The largest window a PowerNV host table can reach: the kernel rejects tables with 55 or
    /// more address bits (kernel-host.md §3.4 TCE_CREATE step 9).
    pub const MAX_HOST_WINDOW_SHIFT: u32 = 54;

    /// True when guest TCE pages of 2^`shift` bytes are offered.
    pub fn offers_page_shift(&self, shift: u32) -> bool {
        shift < 64 && self.guest_page_sizes & (1u64 << shift) != 0
    }
}

/// One Partitionable Endpoint: a PHB of the guest (QEMU models one PE per PHB) with its
/// default window, optional dynamic window and, for passed-through devices, the VFIO
/// container of its IOMMU group.
#[derive(Debug)]
pub struct PeConfig<C> {
    /// The PHB's bus unit ID, as passed to the DDW RTAS calls.
    pub buid: u64,
    /// The window every boot starts with (window slot 0), published as `ibm,dma-window`.
    pub default_window: WindowConfig,
    /// Dynamic DMA Window support; `None` disables DDW for this PE.
    pub ddw: Option<DdwConfig>,
    /// The VFIO SPAPR TCE v2 container; `None` for PEs of emulated devices only.
    pub container: Option<C>,
}

impl<C> PeConfig<C> {
    /// QEMU's BUID of PHB 0 (`SPAPR_PCI_BASE_BUID`); PHB `n` has this plus `n`.
    pub const QEMU_BUID_BASE: u64 = 0x0800_0000_2000_0000;
    /// QEMU's default window size (`dma_win_size`, 1 GiB).
    pub const QEMU_DEFAULT_WINDOW_SIZE: u64 = 1 << 30;

    /// A PE laid out like QEMU's `spapr-pci-host-bridge` number `index`: BUID
    /// `0x800000020000000 + index`, a 1 GiB default window of 4 KiB pages at bus address 0
    /// and a DDW at 2^59 with QEMU's page sizes, LIOBNs from `scheme`
    /// (qemu-and-guest.md §0 fact 1, §1).
    ///
    /// ```
    /// use papr_hcall::Liobn;
    /// use spapr_tce::{LiobnScheme, PeConfig};
    /// let pe = PeConfig::<()>::qemu_phb(1, &LiobnScheme::QEMU, None);
    /// assert_eq!(pe.buid, 0x0800_0000_2000_0001);
    /// assert_eq!(pe.default_window.liobn, Liobn(0x8000_0100));
    /// assert_eq!(pe.ddw.unwrap().liobn, Liobn(0x8000_0101));
    /// ```
    pub fn qemu_phb(index: u32, scheme: &LiobnScheme, container: Option<C>) -> Self {
        Self {
            buid: Self::QEMU_BUID_BASE + u64::from(index),
            default_window: WindowConfig {
                liobn: scheme.liobn(index, 0),
                bus_offset: 0,
                size: Self::QEMU_DEFAULT_WINDOW_SIZE,
                page_shift: PageShift::SZ_4K,
            },
            ddw: Some(DdwConfig {
                liobn: scheme.liobn(index, 1),
                dma64_window_addr: DdwConfig::QEMU_DMA64_WINDOW_ADDR,
                guest_page_sizes: DdwConfig::QEMU_PAGE_SIZES,
                max_window_shift: DdwConfig::MAX_HOST_WINDOW_SHIFT,
            }),
            container,
        }
    }
}

/// How LIOBNs of PHB windows are numbered: `base | phb << phb_shift | window`.
///
/// ```
/// use papr_hcall::Liobn;
/// use spapr_tce::LiobnScheme;
/// assert_eq!(LiobnScheme::QEMU.liobn(2, 1), Liobn(0x8000_0201));
/// let custom = LiobnScheme { base: 0x4000_0000, phb_shift: 4 };
/// assert_eq!(custom.liobn(3, 1), Liobn(0x4000_0031));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LiobnScheme {
    /// Bits common to all PHB LIOBNs.
    pub base: u64,
    /// Position of the PHB index.
    pub phb_shift: u32,
}

impl LiobnScheme {
    /// QEMU's `SPAPR_PCI_LIOBN(phb, window) = 0x80000000 | phb << 8 | window`.
    pub const QEMU: Self = Self {
        base: 0x8000_0000,
        phb_shift: 8,
    };

    /// The LIOBN of window `window` (0 = default, 1 = DDW) of PHB `phb`.
    pub fn liobn(&self, phb: u32, window: u32) -> Liobn {
        let phb_bits = u64::from(phb).checked_shl(self.phb_shift).unwrap_or(0);
        Liobn(self.base | phb_bits | u64::from(window))
    }
}

impl Default for LiobnScheme {
    fn default() -> Self {
        Self::QEMU
    }
}

/// Everything needed to build a [`TceAccelerator`](crate::TceAccelerator).
#[derive(Debug)]
pub struct AcceleratorConfig<C> {
    /// PCI PEs.
    pub pes: Vec<PeConfig<C>>,
    /// VIO windows (vscsi, veth, ...): emulated, one fixed window each, no PE.
    pub vio_windows: Vec<WindowConfig>,
    /// Host page size in bytes; `None` asks the OS. Determines which IOMMU page sizes
    /// ordinary memory can serve and the table levels of host windows.
    pub host_page_size: Option<u64>,
    /// Page size of hugetlbfs-backed guest RAM; `None` treats it like ordinary memory.
    pub hugepage_size: Option<u64>,
}

impl<C> Default for AcceleratorConfig<C> {
    fn default() -> Self {
        Self {
            pes: Vec::new(),
            vio_windows: Vec::new(),
            host_page_size: None,
            hugepage_size: None,
        }
    }
}
