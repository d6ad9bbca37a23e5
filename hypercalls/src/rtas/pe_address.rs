// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! How DDW RTAS calls name a Partitionable Endpoint: the PHB's BUID and a PCI
//! configuration address (qemu-and-guest.md §2.6; kernel-host.md Appendix A).

use std::fmt;

/// A PHB's Bus Unit IDentifier, passed as two cells (high, low).
///
/// QEMU numbers its PHBs `0x800000020000000 + index` (`spapr_phb_realize`,
/// qemu-and-guest.md §1 "Multiple PHBs").
///
/// ```
/// use papr_hcall::rtas::Buid;
/// let buid = Buid::from_cells(0x0800_0000, 0x2000_0000);
/// assert_eq!(buid, Buid(0x0800_0000_2000_0000));
/// assert_eq!((buid.hi(), buid.lo()), (0x0800_0000, 0x2000_0000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Buid(pub u64);

impl Buid {
    /// Joins the two argument cells.
    pub fn from_cells(hi: u32, lo: u32) -> Self {
        Self((u64::from(hi) << 32) | u64::from(lo))
    }

    /// The high cell.
    pub fn hi(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The low cell.
    pub fn lo(self) -> u32 {
        self.0 as u32
    }
}

impl fmt::Display for Buid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A PCI configuration address: `(bus << 16) | (devfn << 8) | register`, the register bits
/// being zero in DDW calls (LoPAR "PCI Configuration Address"; Linux `pseries/iommu.c`,
/// kernel-host.md Appendix A).
///
/// QEMU ignores it in DDW calls (the PHB is the PE, qemu-and-guest.md §2.6); a VMM with one PE
/// per device would use it.
///
/// ```
/// use papr_hcall::rtas::ConfigAddr;
/// let addr = ConfigAddr::new(1, 0x08); // bus 1, device 1, function 0
/// assert_eq!(addr, ConfigAddr(0x0001_0800));
/// assert_eq!((addr.bus(), addr.devfn(), addr.device(), addr.function()), (1, 8, 1, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigAddr(pub u32);

impl ConfigAddr {
    /// The address of function `devfn` on `bus`, register 0.
    pub fn new(bus: u8, devfn: u8) -> Self {
        Self((u32::from(bus) << 16) | (u32::from(devfn) << 8))
    }

    /// Bus number (bits 16..23).
    pub fn bus(self) -> u8 {
        (self.0 >> 16) as u8
    }

    /// Device and function (bits 8..15): `device << 3 | function`.
    pub fn devfn(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// Device number (5 bits).
    pub fn device(self) -> u8 {
        self.devfn() >> 3
    }

    /// Function number (3 bits).
    pub fn function(self) -> u8 {
        self.devfn() & 0x7
    }

    /// The register bits (0..7, and the extended register bits 24..27): zero for a
    /// well-formed DDW call.
    pub fn register_bits(self) -> u32 {
        self.0 & 0x0F00_00FF
    }
}

impl fmt::Display for ConfigAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}:{:02x}.{}",
            self.bus(),
            self.device(),
            self.function()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_addr_fields_do_not_overlap() {
        let addr = ConfigAddr::new(0xff, 0xff);
        assert_eq!(addr.0, 0x00ff_ff00);
        assert_eq!(addr.register_bits(), 0);
        assert_eq!(ConfigAddr(0x0a01_0844).register_bits(), 0x0a00_0044);
        assert_eq!(ConfigAddr::new(0, 0x0a).to_string(), "00:01.2");
    }

    #[test]
    fn buid_display_is_hex() {
        assert_eq!(Buid(0x0800_0000_2000_0001).to_string(), "0x800000020000001");
    }
}
