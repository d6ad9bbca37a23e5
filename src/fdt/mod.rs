// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Device-tree properties a pseries guest reads to use TCE windows and DDW
//! (qemu-and-guest.md §2.10; LoPAR `app_papr_binding.xml`; kernel-host.md Appendix A).
//!
//! The VMM builds its own device tree; this module gives it the property values (as cells
//! and as the big-endian bytes stored in the blob) for:
//! * each PHB (PE) node: `ibm,dma-window`, `ibm,#dma-address-cells`, `ibm,#dma-size-cells`,
//!   and with DDW on `ibm,ddw-applicable` and `ibm,ddw-extensions` ([`PeDeviceTree`]);
//! * each VIO device node: `ibm,my-dma-window` and the two cell counts ([`VioDeviceTree`]);
//! * the `/rtas` node: the four DDW token properties, the TCE entries of
//!   `ibm,hypertas-functions` and a correct `ibm,lrdr-capacity` ([`RtasDeviceTree`],
//!   [`LrdrCapacity`]).
//!
//! Each set can be written into the node the VMM is building with vm-fdt's [`FdtWriter`].
//!
//! ```
//! use spapr_tce::fdt::LrdrCapacity;
//! use spapr_tce::{NoContainer, TceAccelerator};
//! use vm_fdt::FdtWriter;
//! use vm_memory::{GuestAddress, GuestMemoryMmap};
//!
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();
//! let acc = TceAccelerator::<_, NoContainer>::builder(&mem).qemu_phb(0, None).build().unwrap();
//!
//! let mut fdt = FdtWriter::new().unwrap();
//! let root = fdt.begin_node("").unwrap();
//! let phb = fdt.begin_node("pci@800000020000000").unwrap();
//! let pe = acc.pe_device_tree(0x0800_0000_2000_0000).unwrap().unwrap();
//! assert_eq!(pe.dma_window, [0x8000_0000, 0, 0, 0, 0x4000_0000]);
//! pe.write_to(&mut fdt).unwrap();
//! fdt.end_node(phb).unwrap();
//! let rtas_node = fdt.begin_node("rtas").unwrap();
//! let lrdr = LrdrCapacity::for_ram(acc.ram(), None, LrdrCapacity::QEMU_LMB_SIZE, 1).unwrap();
//! assert_eq!(lrdr.max_memory_address, 16 << 20, "end of RAM without hotplug, never 0");
//! acc.rtas_device_tree(lrdr).write_to(&mut fdt).unwrap();
//! fdt.end_node(rtas_node).unwrap();
//! fdt.end_node(root).unwrap();
//! let blob = fdt.finish().unwrap();
//! assert_eq!(&blob[..4], &[0xd0, 0x0d, 0xfe, 0xed]);
//! ```

mod nodes;

pub use nodes::{
    LrdrCapacity, PeDeviceTree, RtasDeviceTree, VioDeviceTree, HYPERTAS_TCE_FUNCTIONS,
};

use papr_hcall::Liobn;
use vm_fdt::FdtWriter;

use crate::config::WindowConfig;

/// Value of `ibm,#dma-address-cells` and `ibm,#dma-size-cells`: bus addresses and window
/// sizes take two cells each (QEMU `spapr_dma_dt`; qemu-and-guest.md §2.10).
pub const DMA_CELLS: u32 = 2;

/// Why property values cannot be produced or written.
#[derive(Debug, thiserror::Error)]
pub enum FdtError {
    /// A LIOBN does not fit in the one cell the binding gives it.
    #[error("LIOBN {0} does not fit in a 32-bit device-tree cell")]
    LiobnTooWide(Liobn),
    /// `ibm,lrdr-capacity` would advertise a maximum memory address of 0, which makes Linux
    /// 6.12.y/6.15+ guests ask for a window shift of 0 and lose DDW (qemu-and-guest.md §0
    /// fact 9).
    #[error("the maximum memory address of ibm,lrdr-capacity must not be 0")]
    ZeroMaxMemory,
    /// The LMB size is not a power of two of at least 4 KiB (QEMU uses 256 MiB).
    #[error("LMB size {0:#x} is not a power of two of at least 4 KiB")]
    InvalidLmbSize(u64),
    /// vm-fdt refused a property.
    #[error("writing property {name}: {source}")]
    Writer {
        /// The property.
        name: &'static str,
        /// vm-fdt's error.
        source: vm_fdt::Error,
    },
}

/// The value of one property.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PropertyValue {
    /// 32-bit cells, stored big-endian.
    Cells(Vec<u32>),
    /// A string list, each NUL-terminated.
    Strings(Vec<String>),
}

impl PropertyValue {
    /// The bytes stored in the blob.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Cells(cells) => cells.iter().flat_map(|cell| cell.to_be_bytes()).collect(),
            Self::Strings(strings) => strings
                .iter()
                .flat_map(|s| s.bytes().chain(std::iter::once(0)))
                .collect(),
        }
    }
}

/// One property: name and value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Property {
    /// The property name, e.g. `ibm,dma-window`.
    pub name: &'static str,
    /// Its value.
    pub value: PropertyValue,
}

impl Property {
    fn cells(name: &'static str, cells: &[u32]) -> Self {
        Self {
            name,
            value: PropertyValue::Cells(cells.to_vec()),
        }
    }
}

/// Writes `properties` into the node `fdt` is building (between `begin_node` and
/// `end_node`).
pub fn write_properties(fdt: &mut FdtWriter, properties: &[Property]) -> Result<(), FdtError> {
    for property in properties {
        fdt.property(property.name, &property.value.to_bytes())
            .map_err(|source| FdtError::Writer {
                name: property.name,
                source,
            })?;
    }
    Ok(())
}

/// The 5 cells of `ibm,dma-window` / `ibm,my-dma-window` for `window`: LIOBN, bus address
/// (2 cells), size (2 cells), with [`DMA_CELLS`] address and size cells (LoPAR
/// `app_papr_binding.xml`; QEMU `spapr_dma_dt`, which writes only 32 bits of the size).
///
/// ```
/// use papr_hcall::{Liobn, PageShift};
/// use spapr_tce::{fdt::dma_window_cells, WindowConfig};
/// let window = WindowConfig {
///     liobn: Liobn(0x8000_0000),
///     bus_offset: 0,
///     size: 1 << 30,
///     page_shift: PageShift::SZ_4K,
/// };
/// assert_eq!(dma_window_cells(&window).unwrap(), [0x8000_0000, 0, 0, 0, 0x4000_0000]);
/// ```
pub fn dma_window_cells(window: &WindowConfig) -> Result<[u32; 5], FdtError> {
    let liobn = u32::try_from(window.liobn.0).map_err(|_| FdtError::LiobnTooWide(window.liobn))?;
    Ok([
        liobn,
        (window.bus_offset >> 32) as u32,
        window.bus_offset as u32,
        (window.size >> 32) as u32,
        window.size as u32,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use papr_hcall::PageShift;

    #[test]
    fn values_are_big_endian_and_nul_terminated() {
        assert_eq!(
            PropertyValue::Cells(vec![0x2026, 1]).to_bytes(),
            [0, 0, 0x20, 0x26, 0, 0, 0, 1]
        );
        assert_eq!(
            PropertyValue::Strings(vec!["hcall-tce".into(), "x".into()]).to_bytes(),
            b"hcall-tce\0x\0"
        );
    }

    #[test]
    fn large_windows_use_both_cells() {
        let window = WindowConfig {
            liobn: Liobn(0x8000_0001),
            bus_offset: 1 << 59,
            size: 1 << 40,
            page_shift: PageShift::SZ_16M,
        };
        assert_eq!(
            dma_window_cells(&window).unwrap(),
            [0x8000_0001, 0x0800_0000, 0, 0x100, 0]
        );
        let wide = WindowConfig {
            liobn: Liobn(1 << 32),
            ..window
        };
        assert!(matches!(
            dma_window_cells(&wide),
            Err(FdtError::LiobnTooWide(_))
        ));
    }
}
