// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The DDW page-size mask returned by `ibm,query-pe-dma-window`, and conversions from the
//! page-size bitmaps used by QEMU (`pgsz`) and VFIO (`ddw.pgsizes`).

use std::fmt;

use crate::tce::PageShift;

/// LoPAR's encoding of IOMMU page sizes in the query output: one bit per size, in a fixed
/// order that is not monotonic (2 MiB was added later as bit 8).
///
/// LoPAR 2.9 `sec_rtas_dma_window.xml` (bit 31 = 4K … bit 24 = 16G in IBM numbering),
/// QEMU `spapr_page_mask_to_query_mask`, Linux `pseries/iommu.c` (qemu-and-guest.md §1 "Page
/// sizes", §2.6; kernel-host.md Appendix A). Pairs of (mask bit, page shift).
const LOPAR_PAGE_SIZES: [(u32, u32); 9] = [
    (0x001, 12), // 4 KiB
    (0x002, 16), // 64 KiB
    (0x004, 24), // 16 MiB
    (0x008, 25), // 32 MiB
    (0x010, 26), // 64 MiB
    (0x020, 27), // 128 MiB
    (0x040, 28), // 256 MiB
    (0x080, 34), // 16 GiB
    (0x100, 21), // 2 MiB
];

/// A set of IOMMU page sizes in LoPAR's query-mask encoding.
///
/// | bit | 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 |
/// |-----|-----|-----|-----|-----|------|------|------|------|-------|
/// | size| 4K  | 64K | 16M | 32M | 64M  | 128M | 256M | 16G  | 2M    |
///
/// Bits outside this table are kept as they are but name no page size.
///
/// ```
/// use papr_hcall::rtas::PageSizeMask;
/// // QEMU's default `pgsz`: 4K | 64K | 2M | 16M.
/// let mask = PageSizeMask::from_qemu_pgsz(0x121_1000);
/// assert_eq!(mask, PageSizeMask(0x107));
/// assert_eq!(mask.page_shifts(), [12, 16, 21, 24]);
/// assert_eq!(mask.largest_shift(), Some(24)); // what a Linux guest picks
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PageSizeMask(pub u32);

impl PageSizeMask {
    /// 4 KiB (LoPAR bit 31, value 0x1).
    pub const SZ_4K: Self = Self(0x001);
    /// 64 KiB (LoPAR bit 30, value 0x2).
    pub const SZ_64K: Self = Self(0x002);
    /// 16 MiB (LoPAR bit 29, value 0x4).
    pub const SZ_16M: Self = Self(0x004);
    /// 32 MiB (LoPAR bit 28, value 0x8).
    pub const SZ_32M: Self = Self(0x008);
    /// 64 MiB (LoPAR bit 27, value 0x10).
    pub const SZ_64M: Self = Self(0x010);
    /// 128 MiB (LoPAR bit 26, value 0x20).
    pub const SZ_128M: Self = Self(0x020);
    /// 256 MiB (LoPAR bit 25, value 0x40).
    pub const SZ_256M: Self = Self(0x040);
    /// 16 GiB (LoPAR bit 24, value 0x80).
    pub const SZ_16G: Self = Self(0x080);
    /// 2 MiB (value 0x100, added after LoPAR 2.9's table; Linux's "out of order" entry).
    pub const SZ_2M: Self = Self(0x100);
    /// Every bit that names a page size.
    pub const KNOWN_BITS: u32 = 0x1FF;

    /// The mask bit for a page shift, if LoPAR can express that size.
    pub fn bit_for_shift(shift: u32) -> Option<u32> {
        LOPAR_PAGE_SIZES
            .iter()
            .find(|&&(_, s)| s == shift)
            .map(|&(bit, _)| bit)
    }

    /// The page shift a single mask bit stands for.
    pub fn shift_for_bit(bit: u32) -> Option<u32> {
        LOPAR_PAGE_SIZES
            .iter()
            .find(|&&(b, _)| b == bit)
            .map(|&(_, shift)| shift)
    }

    /// The mask of the given page shifts. Shifts LoPAR cannot express (e.g. 13 or 22) are
    /// skipped: a guest cannot be offered them.
    pub fn from_page_shifts<I: IntoIterator<Item = u32>>(shifts: I) -> Self {
        Self(
            shifts
                .into_iter()
                .filter_map(Self::bit_for_shift)
                .fold(0, |mask, bit| mask | bit),
        )
    }

    /// The page shifts in the mask, ascending. Unknown bits are ignored.
    pub fn page_shifts(self) -> Vec<u32> {
        let mut shifts: Vec<u32> = LOPAR_PAGE_SIZES
            .iter()
            .filter(|&&(bit, _)| self.0 & bit != 0)
            .map(|&(_, shift)| shift)
            .collect();
        shifts.sort_unstable();
        shifts
    }

    /// True when the mask offers pages of 2^`shift` bytes.
    pub fn contains_shift(self, shift: u32) -> bool {
        Self::bit_for_shift(shift).is_some_and(|bit| self.0 & bit != 0)
    }

    /// The largest page shift in the mask: the one a Linux guest picks for its DDW
    /// (kernel-host.md Appendix A).
    pub fn largest_shift(self) -> Option<u32> {
        self.page_shifts().last().copied()
    }

    /// The smallest page shift in the mask.
    pub fn smallest_shift(self) -> Option<u32> {
        self.page_shifts().first().copied()
    }

    /// The largest page size as a [`PageShift`].
    pub fn largest_page_shift(self) -> Option<PageShift> {
        self.largest_shift().and_then(PageShift::new)
    }

    /// True when no known page size is in the mask.
    pub fn is_empty(self) -> bool {
        self.0 & Self::KNOWN_BITS == 0
    }

    /// Bits set that name no page size.
    pub fn unknown_bits(self) -> u32 {
        self.0 & !Self::KNOWN_BITS
    }

    /// The sizes present in both masks (e.g. what the VMM offers ∩ what the host IOMMU does).
    pub fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The sizes present in either mask.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Converts a bitmap of page sizes in bytes (bit n set = pages of 2^n bytes). Sizes LoPAR
    /// cannot express are dropped.
    pub fn from_size_bitmap(sizes: u64) -> Self {
        Self::from_page_shifts((0..64).filter(|n| sizes & (1u64 << n) != 0))
    }

    /// The bitmap of page sizes in bytes (bit n set = pages of 2^n bytes).
    pub fn to_size_bitmap(self) -> u64 {
        self.page_shifts()
            .into_iter()
            .fold(0, |sizes, shift| sizes | (1u64 << shift))
    }

    /// Converts QEMU's `spapr-pci-host-bridge` property `pgsz` (bitmap of page sizes, default
    /// `0x1211000` = 4K|64K|2M|16M; QEMU `spapr_phb_properties`, qemu-and-guest.md §1).
    pub fn from_qemu_pgsz(pgsz: u64) -> Self {
        Self::from_size_bitmap(pgsz)
    }

    /// The QEMU `pgsz` bitmap of this mask.
    pub fn to_qemu_pgsz(self) -> u64 {
        self.to_size_bitmap()
    }

    /// Converts VFIO's `vfio_iommu_spapr_tce_info.ddw.pgsizes` (bitmap of page sizes the
    /// host IOMMU supports; kernel-host.md §3.1, qemu-and-guest.md §2.11). Same encoding as
    /// QEMU's `pgsz`.
    pub fn from_vfio_pgsizes(pgsizes: u64) -> Self {
        Self::from_size_bitmap(pgsizes)
    }

    /// The VFIO `pgsizes` bitmap of this mask.
    pub fn to_vfio_pgsizes(self) -> u64 {
        self.to_size_bitmap()
    }
}

impl fmt::Display for PageSizeMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x} [", self.0)?;
        for (i, shift) in self.page_shifts().into_iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            match shift {
                30.. => write!(f, "{sep}{}G", 1u64 << (shift - 30))?,
                20..=29 => write!(f, "{sep}{}M", 1u64 << (shift - 20))?,
                _ => write!(f, "{sep}{}K", 1u64 << (shift - 10))?,
            }
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_lopar_and_linux() {
        let expected = [
            (PageSizeMask::SZ_4K, 12),
            (PageSizeMask::SZ_64K, 16),
            (PageSizeMask::SZ_16M, 24),
            (PageSizeMask::SZ_32M, 25),
            (PageSizeMask::SZ_64M, 26),
            (PageSizeMask::SZ_128M, 27),
            (PageSizeMask::SZ_256M, 28),
            (PageSizeMask::SZ_16G, 34),
            (PageSizeMask::SZ_2M, 21),
        ];
        let mut all = 0;
        for (mask, shift) in expected {
            assert_eq!(mask.0.count_ones(), 1);
            assert_eq!(PageSizeMask::bit_for_shift(shift), Some(mask.0));
            assert_eq!(PageSizeMask::shift_for_bit(mask.0), Some(shift));
            all |= mask.0;
        }
        assert_eq!(all, PageSizeMask::KNOWN_BITS);
        for shift in [0, 11, 13, 20, 22, 23, 29, 33, 35, 64] {
            assert_eq!(PageSizeMask::bit_for_shift(shift), None, "shift {shift}");
        }
    }

    #[test]
    fn qemu_default_pgsz() {
        let mask = PageSizeMask::from_qemu_pgsz((1 << 12) | (1 << 16) | (1 << 21) | (1 << 24));
        assert_eq!(mask.0, 0x107);
        assert_eq!(mask.to_qemu_pgsz(), 0x121_1000);
        assert_eq!(mask.to_string(), "0x107 [4K 64K 2M 16M]");
        // QEMU's pseries-4.1 compat value 4K|64K.
        assert_eq!(PageSizeMask::from_qemu_pgsz(0x11000), PageSizeMask(0x3));
    }

    #[test]
    fn unknown_bits_name_no_size() {
        let mask = PageSizeMask(0x8000_0200 | 0x80);
        assert_eq!(mask.page_shifts(), [34]);
        assert_eq!(mask.unknown_bits(), 0x8000_0200);
        assert!(!mask.is_empty());
        assert!(PageSizeMask(0x200).is_empty());
        assert_eq!(mask.to_string(), "0x80000280 [16G]");
    }
}
