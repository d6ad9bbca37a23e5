// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! One guest TCE window: its geometry and bus-address checks, its guest-view table and the
//! host window behind it.

use papr_hcall::{Liobn, PageShift, Tce, TcePermission};

use crate::config::WindowConfig;
use crate::error::WindowConfigError;
use crate::host_window::HostWindow;
use crate::kvm::accel::WindowTable;

/// A validated window geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct WindowGeometry {
    pub(crate) liobn: Liobn,
    pub(crate) bus_offset: u64,
    pub(crate) page_shift: PageShift,
    pub(crate) entries: u64,
}

/// Why a bus address (range) is refused; every case is `H_PARAMETER` (checklist items 7–8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IobaError {
    /// kernel-host.md §1.4 `iommu_tce_check_ioba` rule 1.
    #[error("ioba {ioba:#x} is not aligned to the {page_size:#x}-byte window page")]
    Misaligned { ioba: u64, page_size: u64 },
    /// Rules 2–3: the first entry is outside the window.
    #[error("ioba {ioba:#x} is outside the window")]
    Outside { ioba: u64 },
    /// Checklist item 8 recommendation: the last entry (or `ioba + count·page`) is outside the
    /// window or overflows; the kernel itself only checks the first entry.
    #[error("{count} entries from ioba {ioba:#x} run past the window end")]
    RunsPastEnd { ioba: u64, count: u64 },
}

impl WindowGeometry {
    /// Validates `config`.
    pub(crate) fn new(config: &WindowConfig) -> Result<Self, WindowConfigError> {
        let page_size = config.page_shift.size();
        if config.size == 0 {
            return Err(WindowConfigError::ZeroSize);
        }
        if !config.page_shift.is_aligned(config.size) {
            return Err(WindowConfigError::SizeNotPageMultiple {
                size: config.size,
                page_size,
            });
        }
        if !config.page_shift.is_aligned(config.bus_offset) {
            return Err(WindowConfigError::OffsetNotAligned {
                bus_offset: config.bus_offset,
                page_size,
            });
        }
        if config.bus_offset.checked_add(config.size).is_none() {
            return Err(WindowConfigError::Overflow {
                bus_offset: config.bus_offset,
                size: config.size,
            });
        }
        Ok(Self {
            liobn: config.liobn,
            bus_offset: config.bus_offset,
            page_shift: config.page_shift,
            entries: config.entries(),
        })
    }

    pub(crate) fn page_size(&self) -> u64 {
        self.page_shift.size()
    }

    pub(crate) fn size(&self) -> u64 {
        self.entries << self.page_shift.get()
    }

    /// The bus address of entry `index`.
    pub(crate) fn ioba(&self, index: u64) -> u64 {
        self.bus_offset + (index << self.page_shift.get())
    }

    /// The index of the entry at `ioba`, which must be page aligned and inside the window
    /// (kernel-host.md §1.4 `kvmppc_ioba_validate`).
    pub(crate) fn first_index(&self, ioba: u64) -> Result<u64, IobaError> {
        if !self.page_shift.is_aligned(ioba) {
            return Err(IobaError::Misaligned {
                ioba,
                page_size: self.page_size(),
            });
        }
        match ioba.checked_sub(self.bus_offset) {
            Some(offset) if offset >> self.page_shift.get() < self.entries => {
                Ok(offset >> self.page_shift.get())
            }
            _ => Err(IobaError::Outside { ioba }),
        }
    }

    /// Checks that `count` entries from `first` stay inside the window (checklist item 8).
    pub(crate) fn check_count(&self, first: u64, count: u64) -> Result<(), IobaError> {
        match first.checked_add(count) {
            Some(end) if end <= self.entries => Ok(()),
            _ => Err(IobaError::RunsPastEnd {
                ioba: self.ioba(first),
                count,
            }),
        }
    }

    /// The index of the entry containing the byte at `ioba` (any alignment).
    pub(crate) fn index_containing(&self, ioba: u64) -> Option<u64> {
        let index = ioba.checked_sub(self.bus_offset)? >> self.page_shift.get();
        (index < self.entries).then_some(index)
    }
}

/// Where an emulated device's DMA to a bus address goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Translation {
    /// Guest-physical address of the byte at the translated bus address.
    pub guest_addr: u64,
    /// What the device may do there (never [`TcePermission::None`]).
    pub permission: TcePermission,
    /// The window's page size: the translation holds up to the end of this page.
    pub page_shift: PageShift,
}

/// A snapshot of one active window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowInfo {
    /// The LIOBN.
    pub liobn: Liobn,
    /// Bus address of the first byte.
    pub bus_offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Guest TCE page size.
    pub page_shift: PageShift,
    /// The PE's window slot (0 = default window, 1 = dynamic window).
    pub slot: usize,
    /// The host window behind it, for PEs with a container.
    pub host: Option<HostWindow>,
    /// Memory used by the guest-view table.
    pub table_memory_bytes: usize,
}

/// An active window.
pub(crate) struct Window {
    pub(crate) geometry: WindowGeometry,
    /// The guest view: in this process, or KVM's (`crate::kvm::accel`).
    pub(crate) table: WindowTable,
    pub(crate) host: Option<HostWindow>,
}

impl Window {
    /// An empty window backed by an in-process sparse table.
    #[cfg(test)]
    pub(crate) fn new(geometry: WindowGeometry, host: Option<HostWindow>) -> Self {
        Self::with_table(geometry, WindowTable::sparse(geometry.entries), host)
    }

    /// A window over `table`, which must have `geometry.entries` entries.
    pub(crate) fn with_table(
        geometry: WindowGeometry,
        table: WindowTable,
        host: Option<HostWindow>,
    ) -> Self {
        Self {
            geometry,
            table,
            host,
        }
    }

    pub(crate) fn info(&self, slot: usize) -> WindowInfo {
        WindowInfo {
            liobn: self.geometry.liobn,
            bus_offset: self.geometry.bus_offset,
            size: self.geometry.size(),
            page_shift: self.geometry.page_shift,
            slot,
            host: self.host,
            table_memory_bytes: self.table.memory_bytes(),
        }
    }

    /// Translates the bus address `ioba` through the guest view.
    pub(crate) fn translate(&self, ioba: u64) -> Option<Translation> {
        let index = self.geometry.index_containing(ioba)?;
        let tce = Tce(self.table.get(index));
        let permission = tce.permission();
        permission.is_valid().then(|| Translation {
            guest_addr: tce.address() | (ioba & self.geometry.page_shift.offset_mask()),
            permission,
            page_shift: self.geometry.page_shift,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(
        bus_offset: u64,
        size: u64,
        shift: u32,
    ) -> Result<WindowGeometry, WindowConfigError> {
        WindowGeometry::new(&WindowConfig {
            liobn: Liobn(1),
            bus_offset,
            size,
            page_shift: PageShift::new(shift).unwrap(),
        })
    }

    #[test]
    fn invalid_geometries() {
        assert_eq!(geometry(0, 0, 12), Err(WindowConfigError::ZeroSize));
        assert!(matches!(
            geometry(0, 0x1800, 12),
            Err(WindowConfigError::SizeNotPageMultiple { .. })
        ));
        assert!(matches!(
            geometry(0x800, 0x1000, 12),
            Err(WindowConfigError::OffsetNotAligned { .. })
        ));
        assert!(matches!(
            geometry(u64::MAX - 0xFFF, 0x2000, 12),
            Err(WindowConfigError::Overflow { .. })
        ));
    }

    #[test]
    fn ioba_checks() {
        let g = geometry(1 << 59, 1 << 30, 16).unwrap();
        assert_eq!(g.entries, 1 << 14);
        assert_eq!(g.first_index(1 << 59), Ok(0));
        assert_eq!(g.first_index((1 << 59) + 0x2_0000), Ok(2));
        assert!(matches!(
            g.first_index((1 << 59) + 0x1000),
            Err(IobaError::Misaligned { .. })
        ));
        assert!(matches!(g.first_index(0), Err(IobaError::Outside { .. })));
        assert!(matches!(
            g.first_index((1 << 59) + (1 << 30)),
            Err(IobaError::Outside { .. })
        ));
        assert_eq!(g.check_count(0, 1 << 14), Ok(()));
        assert_eq!(g.check_count((1 << 14) - 1, 1), Ok(()));
        assert!(g.check_count((1 << 14) - 1, 2).is_err());
        assert!(g.check_count(5, u64::MAX).is_err());
        assert_eq!(g.index_containing((1 << 59) + 0x1_0001), Some(1));
        assert_eq!(g.index_containing(3), None);
    }

    #[test]
    fn translate_adds_the_offset_inside_the_page() {
        let mut w = Window::new(geometry(0x1000_0000, 1 << 20, 12).unwrap(), None);
        w.table.set(3, 0x7700_0001);
        w.table.set(4, 0x7800_0000);
        let t = w.translate(0x1000_3abc).unwrap();
        assert_eq!(t.guest_addr, 0x7700_0abc);
        assert_eq!(t.permission, TcePermission::ReadOnly);
        assert_eq!(w.translate(0x1000_4000), None, "no permission bits");
        assert_eq!(w.translate(0x0fff_ffff), None);
        assert_eq!(w.info(0).size, 1 << 20);
    }
}
