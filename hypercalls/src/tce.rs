// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Logical I/O bus numbers, bus addresses, TCEs and IOMMU page sizes
//! (`asm/tce.h`, LoPAR "TCE Definition"; kernel-host.md §2.1).

use std::fmt;

/// A Logical I/O Bus Number: names one TCE window of the partition.
///
/// Compared as a full 64-bit value, like KVM's `kvmppc_find_table` (kernel-host.md §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Liobn(pub u64);

impl fmt::Display for Liobn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// An I/O bus address in bytes (not an index): includes the window's bus offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ioba(pub u64);

impl fmt::Display for Ioba {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// The base-2 logarithm of an IOMMU (TCE) page size.
///
/// Valid shifts are 12 (4 KiB) to 34 (16 GiB): the range KVM accepts for a guest-view table
/// (`KVM_CREATE_SPAPR_TCE_64`, kernel-host.md §5.2) and the range of LoPAR's page-size mask.
///
/// ```
/// use papr_hcall::PageShift;
/// let p = PageShift::new(16).unwrap();
/// assert_eq!(p.size(), 0x10000);
/// assert!(PageShift::new(11).is_none());
/// assert!(PageShift::new(35).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageShift(u8);

impl PageShift {
    /// Smallest valid shift (4 KiB).
    pub const MIN: u32 = 12;
    /// Largest valid shift (16 GiB).
    pub const MAX: u32 = 34;
    /// 4 KiB pages.
    pub const SZ_4K: Self = Self(12);
    /// 64 KiB pages.
    pub const SZ_64K: Self = Self(16);
    /// 2 MiB pages.
    pub const SZ_2M: Self = Self(21);
    /// 16 MiB pages.
    pub const SZ_16M: Self = Self(24);

    /// Returns the page shift if `shift` is within [`Self::MIN`]..=[`Self::MAX`].
    pub fn new(shift: u32) -> Option<Self> {
        (Self::MIN..=Self::MAX)
            .contains(&shift)
            .then_some(Self(shift as u8))
    }

    /// The shift.
    pub fn get(self) -> u32 {
        u32::from(self.0)
    }

    /// The page size in bytes.
    pub fn size(self) -> u64 {
        1u64 << self.0
    }

    /// The mask of the offset bits inside a page.
    pub fn offset_mask(self) -> u64 {
        self.size() - 1
    }

    /// True when `value` is a multiple of the page size.
    pub fn is_aligned(self, value: u64) -> bool {
        value & self.offset_mask() == 0
    }
}

/// Which DMA directions a TCE allows (bits 0 and 1 of a TCE).
///
/// "Read" means the device may **read** memory (DMA to the device), "write" that it may write
/// memory (kernel-host.md §2.1: `TCE_PCI_READ` = 0x1, `TCE_PCI_WRITE` = 0x2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcePermission {
    /// Neither bit: the entry is invalid (a page fault for the device); other bits are ignored.
    None,
    /// Bit 0: the device may read memory.
    ReadOnly,
    /// Bit 1: the device may write memory.
    WriteOnly,
    /// Both bits.
    ReadWrite,
}

impl TcePermission {
    /// Decodes the two low bits of a TCE.
    pub fn from_bits(bits: u64) -> Self {
        match bits & Tce::PERMISSION_MASK {
            0 => Self::None,
            1 => Self::ReadOnly,
            2 => Self::WriteOnly,
            _ => Self::ReadWrite,
        }
    }

    /// The two low bits.
    pub fn bits(self) -> u64 {
        match self {
            Self::None => 0,
            Self::ReadOnly => Tce::READ,
            Self::WriteOnly => Tce::WRITE,
            Self::ReadWrite => Tce::READ | Tce::WRITE,
        }
    }

    /// True if the device may read memory.
    pub fn device_may_read(self) -> bool {
        matches!(self, Self::ReadOnly | Self::ReadWrite)
    }

    /// True if the device may write memory.
    pub fn device_may_write(self) -> bool {
        matches!(self, Self::WriteOnly | Self::ReadWrite)
    }

    /// True unless [`TcePermission::None`].
    pub fn is_valid(self) -> bool {
        self != Self::None
    }
}

/// A raw 64-bit Translation Control Entry as the guest writes it.
///
/// The address is a byte address with the two permission bits masked off (`tce & !3`), not a
/// page number; for a page of 2^s bytes its bits 2..s-1 must be zero (kernel-host.md §2.1).
/// Any value is representable: an entry without permission bits is stored verbatim
/// (checklist items 13–14).
///
/// ```
/// use papr_hcall::{PageShift, Tce, TcePermission};
/// let tce = Tce(0x7f00_0003);
/// assert_eq!(tce.permission(), TcePermission::ReadWrite);
/// assert_eq!(tce.address(), 0x7f00_0000);
/// assert!(tce.is_address_aligned(PageShift::SZ_16M));
/// assert!(!Tce(0x7f00_1001).is_address_aligned(PageShift::SZ_64K));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Tce(pub u64);

impl Tce {
    /// `TCE_PCI_READ`: the device may read memory.
    pub const READ: u64 = 0x1;
    /// `TCE_PCI_WRITE`: the device may write memory.
    pub const WRITE: u64 = 0x2;
    /// Both permission bits.
    pub const PERMISSION_MASK: u64 = Self::READ | Self::WRITE;

    /// Builds a TCE from a page address and a permission.
    pub fn new(address: u64, permission: TcePermission) -> Self {
        Self((address & !Self::PERMISSION_MASK) | permission.bits())
    }

    /// The permission bits.
    pub fn permission(self) -> TcePermission {
        TcePermission::from_bits(self.0)
    }

    /// True when at least one permission bit is set.
    pub fn is_valid(self) -> bool {
        self.permission().is_valid()
    }

    /// The byte address (`tce & !3`).
    pub fn address(self) -> u64 {
        self.0 & !Self::PERMISSION_MASK
    }

    /// True when the address is aligned to the page size (bits 2..shift-1 are zero).
    pub fn is_address_aligned(self, shift: PageShift) -> bool {
        shift.is_aligned(self.address())
    }
}

impl fmt::Display for Tce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn permission_bits_match_tce_h() {
        assert_eq!(Tce(0x1000).permission(), TcePermission::None);
        assert_eq!(Tce(0x1001).permission(), TcePermission::ReadOnly);
        assert_eq!(Tce(0x1002).permission(), TcePermission::WriteOnly);
        assert_eq!(Tce(0x1003).permission(), TcePermission::ReadWrite);
        assert!(TcePermission::ReadOnly.device_may_read());
        assert!(!TcePermission::ReadOnly.device_may_write());
        assert!(TcePermission::WriteOnly.device_may_write());
    }

    #[test]
    fn alignment_ignores_permission_bits_only() {
        assert!(Tce(0x1003).is_address_aligned(PageShift::SZ_4K));
        assert!(!Tce(0x1007).is_address_aligned(PageShift::SZ_4K));
        assert!(!Tce(0x1000).is_address_aligned(PageShift::SZ_64K));
    }

    proptest! {
        #[test]
        fn new_round_trips(addr in any::<u64>(), bits in 0u64..4) {
            let perm = TcePermission::from_bits(bits);
            let tce = Tce::new(addr, perm);
            prop_assert_eq!(tce.permission(), perm);
            prop_assert_eq!(tce.address(), addr & !3);
            prop_assert_eq!(perm.bits(), bits);
        }

        #[test]
        fn page_shift_accepts_exactly_12_to_34(shift in any::<u32>()) {
            let p = PageShift::new(shift);
            prop_assert_eq!(p.is_some(), (12..=34).contains(&shift));
            if let Some(p) = p {
                prop_assert_eq!(p.size(), 1u64 << shift);
                prop_assert!(p.is_aligned(p.size() * 3));
                prop_assert!(!p.is_aligned(p.size() / 2));
            }
        }
    }
}
