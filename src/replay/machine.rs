// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The machine layout a trace needs for replay: RAM, PHBs with their windows, VIO windows and
//! RTAS tokens (`shared/traces/README.md` §2, `qemu-and-guest.md` §1 "PHB knobs").

/// BUID of PHB index 0 on a QEMU pseries machine; PHB `n` has `BUID_BASE + n`.
pub const BUID_BASE: u64 = 0x0800_0000_2000_0000;
/// Bit 31 set: PCI LIOBNs are `0x8000_0000 | index << 8 | window`.
pub const PCI_LIOBN_BASE: u64 = 0x8000_0000;
/// QEMU's default `dma_win_addr` (bus address of the default window).
pub const DEFAULT_DMA_WIN_ADDR: u64 = 0;
/// QEMU's default `dma_win_size` (1 GiB).
pub const DEFAULT_DMA_WIN_SIZE: u64 = 0x4000_0000;
/// QEMU's default `dma64_win_addr` (bus address of a DDW, 2^59).
pub const DEFAULT_DMA64_WIN_ADDR: u64 = 0x0800_0000_0000_0000;
/// QEMU's default `pgsz`: bitmask of page shifts 12 | 16 | 21 | 24 (4K, 64K, 2M, 16M).
pub const DEFAULT_PGSZ: u64 = 0x0121_1000;
/// Page shift of every default window and VIO window (4K IOMMU pages).
pub const TCE_PAGE_SHIFT: u32 = 12;
/// Size of the DMA window of a VIO device with a TCE table (spapr-vlan, spapr-vscsi).
pub const VIO_WINDOW_SIZE: u64 = 0x1000_0000;
/// First VIO `reg` QEMU hands out; the LIOBN of a VIO window equals the device's `reg`.
pub const VIO_REG_BASE: u32 = 0x7100_0000;

/// BUID of PHB `index`.
///
/// ```
/// assert_eq!(spapr_tce::replay::phb_buid(4), 0x800000020000004);
/// ```
pub fn phb_buid(index: u32) -> u64 {
    BUID_BASE + u64::from(index)
}

/// LIOBN of window `window` (0 default, 1 DDW) of PHB `index`.
///
/// ```
/// assert_eq!(spapr_tce::replay::phb_liobn(4, 1), 0x80000401);
/// ```
pub fn phb_liobn(index: u32, window: u32) -> u64 {
    PCI_LIOBN_BASE | u64::from(index) << 8 | u64::from(window)
}

/// RTAS tokens of the four DDW calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtasTokens {
    /// `ibm,query-pe-dma-window`.
    pub query: u32,
    /// `ibm,create-pe-dma-window`.
    pub create: u32,
    /// `ibm,remove-pe-dma-window`.
    pub remove: u32,
    /// `ibm,reset-pe-dma-window`.
    pub reset: u32,
}

impl Default for RtasTokens {
    /// QEMU's tokens: 0x2026..0x2029.
    fn default() -> Self {
        RtasTokens {
            query: 0x2026,
            create: 0x2027,
            remove: 0x2028,
            reset: 0x2029,
        }
    }
}

/// Geometry of one DMA window (one TCE table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowGeometry {
    /// LIOBN of the window.
    pub liobn: u64,
    /// Bus address of entry 0.
    pub bus_offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// log2 of the IOMMU page size.
    pub page_shift: u32,
}

impl WindowGeometry {
    /// IOMMU page size in bytes (0 if the shift is out of range).
    pub fn page_size(&self) -> u64 {
        1u64.checked_shl(self.page_shift).unwrap_or(0)
    }

    /// Number of TCEs in the window.
    pub fn entries(&self) -> u64 {
        self.size.checked_shr(self.page_shift).unwrap_or(0)
    }

    /// Entry index of bus address `ioba`, or `None` outside the window.
    ///
    /// ```
    /// use spapr_tce::replay::WindowGeometry;
    /// let w = WindowGeometry { liobn: 0x80000401, bus_offset: 1 << 59, size: 1 << 30, page_shift: 12 };
    /// assert_eq!(w.index_of((1 << 59) + 0x3000), Some(3));
    /// assert_eq!(w.index_of(0x3000), None);
    /// ```
    pub fn index_of(&self, ioba: u64) -> Option<u64> {
        let index = ioba
            .checked_sub(self.bus_offset)?
            .checked_shr(self.page_shift)?;
        (index < self.entries()).then_some(index)
    }
}

/// One sPAPR PCI host bridge (one PE) and its DMA window parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhbLayout {
    /// PHB index (0 is the machine's own `pci.0`).
    pub index: u32,
    /// BUID, normally [`phb_buid`]`(index)`.
    pub buid: u64,
    /// LIOBN of the default window, normally [`phb_liobn`]`(index, 0)`.
    pub default_liobn: u64,
    /// LIOBN a DDW gets, normally [`phb_liobn`]`(index, 1)`.
    pub ddw_liobn: u64,
    /// Bus address of the default window (`dma_win_addr`).
    pub dma_win_addr: u64,
    /// Size of the default window (`dma_win_size`).
    pub dma_win_size: u64,
    /// Page shift of the default window (QEMU: always 12).
    pub page_shift: u32,
    /// Supported DDW page sizes as a bitmask of page shifts (`pgsz`).
    pub pgsz: u64,
    /// Whether the PHB offers DDW RTAS calls (`ddw`).
    pub ddw: bool,
    /// Bus address of a DDW (`dma64_win_addr`).
    pub dma64_win_addr: u64,
}

impl PhbLayout {
    /// PHB `index` with QEMU's default properties.
    pub fn qemu_default(index: u32) -> Self {
        PhbLayout {
            index,
            buid: phb_buid(index),
            default_liobn: phb_liobn(index, 0),
            ddw_liobn: phb_liobn(index, 1),
            dma_win_addr: DEFAULT_DMA_WIN_ADDR,
            dma_win_size: DEFAULT_DMA_WIN_SIZE,
            page_shift: TCE_PAGE_SHIFT,
            pgsz: DEFAULT_PGSZ,
            ddw: true,
            dma64_win_addr: DEFAULT_DMA64_WIN_ADDR,
        }
    }

    /// The default window as created at machine start and on every reset.
    pub fn default_window(&self) -> WindowGeometry {
        WindowGeometry {
            liobn: self.default_liobn,
            bus_offset: self.dma_win_addr,
            size: self.dma_win_size,
            page_shift: self.page_shift,
        }
    }

    /// `pgsz` in the encoding of the RTAS query output (LoPAR: 4K 0x1, 64K 0x2, 16M 0x4,
    /// 32M 0x8, 64M 0x10, 128M 0x20, 256M 0x40, 16G 0x80, 2M 0x100; other sizes are dropped).
    ///
    /// ```
    /// let phb = spapr_tce::replay::PhbLayout::qemu_default(0);
    /// assert_eq!(phb.query_page_mask(), 0x107);
    /// ```
    pub fn query_page_mask(&self) -> u32 {
        const ENCODING: [(u32, u32); 9] = [
            (12, 0x1),
            (16, 0x2),
            (24, 0x4),
            (25, 0x8),
            (26, 0x10),
            (27, 0x20),
            (28, 0x40),
            (34, 0x80),
            (21, 0x100),
        ];
        ENCODING
            .iter()
            .filter(|(shift, _)| self.pgsz >> shift & 1 == 1)
            .fold(0, |mask, (_, bit)| mask | bit)
    }
}

/// The DMA window of one VIO device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VioWindow {
    /// The device's `reg` (0x71000000 + n).
    pub reg: u32,
    /// QEMU device type, e.g. `spapr-vlan` (`unknown` if only the trace knew the window).
    pub device: String,
    /// LIOBN of the window (equals `reg` on QEMU).
    pub liobn: u64,
    /// Bus address of the window.
    pub bus_offset: u64,
    /// Size of the window.
    pub size: u64,
    /// Page shift (QEMU: 12).
    pub page_shift: u32,
}

impl VioWindow {
    /// The window's geometry.
    pub fn window(&self) -> WindowGeometry {
        WindowGeometry {
            liobn: self.liobn,
            bus_offset: self.bus_offset,
            size: self.size,
            page_shift: self.page_shift,
        }
    }
}

/// Everything about the recorded machine that replay needs besides the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineLayout {
    /// Free text: where the trace came from (one line).
    pub source: String,
    /// Guest RAM size in bytes.
    pub ram_size: u64,
    /// `maxmem` in bytes if the machine had one (it then sets `ibm,lrdr-capacity`).
    pub maxmem: Option<u64>,
    /// RTAS tokens of the DDW calls.
    pub rtas: RtasTokens,
    /// PCI host bridges, by ascending index.
    pub phbs: Vec<PhbLayout>,
    /// VIO windows, by ascending `reg`.
    pub vio: Vec<VioWindow>,
}

impl MachineLayout {
    /// The windows present at machine start: every default window and every VIO window.
    pub fn initial_windows(&self) -> Vec<WindowGeometry> {
        let vio = self.vio.iter().map(VioWindow::window);
        self.phbs
            .iter()
            .map(PhbLayout::default_window)
            .chain(vio)
            .collect()
    }

    /// The PHB with BUID `buid`.
    pub fn phb_by_buid(&self, buid: u64) -> Option<&PhbLayout> {
        self.phbs.iter().find(|p| p.buid == buid)
    }

    /// The PHB whose default window or DDW has LIOBN `liobn`.
    pub fn phb_by_liobn(&self, liobn: u64) -> Option<&PhbLayout> {
        self.phbs
            .iter()
            .find(|p| p.default_liobn == liobn || p.ddw_liobn == liobn)
    }
}
