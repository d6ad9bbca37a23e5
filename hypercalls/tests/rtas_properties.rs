// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Round trips of the DDW encodings: page-size masks, BUIDs, configuration addresses and
//! `ibm,ddw-extensions` cells.

use papr_hcall::rtas::{Buid, ConfigAddr, DdwExtensions, DdwTokens, PageSizeMask};
use papr_hcall::PageShift;
use proptest::prelude::*;

/// The page shifts LoPAR's query mask can express, written out independently of the crate's
/// table (qemu-and-guest.md §1 "Page sizes": 4K, 64K, 16M, 32M, 64M, 128M, 256M, 16G, 2M).
const LOPAR_SHIFTS: [u32; 9] = [12, 16, 24, 25, 26, 27, 28, 34, 21];

fn sorted_unique(mut shifts: Vec<u32>) -> Vec<u32> {
    shifts.sort_unstable();
    shifts.dedup();
    shifts
}

#[test]
fn qemu_default_pgsz_is_0x107() {
    let mask = PageSizeMask::from_qemu_pgsz(0x121_1000);
    assert_eq!(mask, PageSizeMask(0x107));
    assert_eq!(mask.to_qemu_pgsz(), 0x121_1000);
    assert_eq!(mask.page_shifts(), [12, 16, 21, 24]);
    assert_eq!(mask.largest_page_shift(), Some(PageShift::SZ_16M));
    assert_eq!(mask.smallest_shift(), Some(12));
}

#[test]
fn vfio_pgsizes_of_a_64k_host() {
    // POWER9 host IOMMU with 64 KiB system pages: 4K | 64K | 2M | 1G.
    let pgsizes = (1u64 << 12) | (1 << 16) | (1 << 21) | (1 << 30);
    let mask = PageSizeMask::from_vfio_pgsizes(pgsizes);
    // 1 GiB has no LoPAR bit and is dropped.
    assert_eq!(mask.page_shifts(), [12, 16, 21]);
    assert_eq!(mask.to_vfio_pgsizes(), pgsizes & !(1 << 30));
    // What the VMM may offer: its own list intersected with the host's.
    let offered = PageSizeMask::from_qemu_pgsz(0x121_1000).intersection(mask);
    assert_eq!(offered.largest_shift(), Some(21));
}

#[test]
fn qemu_ddw_extensions_and_applicable() {
    assert_eq!(DdwExtensions::QEMU.to_cells(), [2, 0x2029, 1]);
    assert_eq!(
        DdwExtensions::from_cells(&[2, 0x2029, 1]),
        DdwExtensions {
            reset_token: Some(0x2029),
            query_six_outputs: true,
            limited_addressing: false,
        }
    );
    assert_eq!(
        DdwTokens::default().ddw_applicable_cells(),
        [0x2026, 0x2027, 0x2028]
    );
}

proptest! {
    #[test]
    fn page_shifts_round_trip(shifts in proptest::collection::vec(proptest::sample::select(&LOPAR_SHIFTS[..]), 0..12)) {
        let mask = PageSizeMask::from_page_shifts(shifts.iter().copied());
        let expected = sorted_unique(shifts.clone());
        prop_assert_eq!(mask.page_shifts(), expected.clone());
        prop_assert_eq!(mask.0.count_ones() as usize, expected.len());
        prop_assert_eq!(mask.largest_shift(), expected.last().copied());
        prop_assert_eq!(mask.is_empty(), expected.is_empty());
        for shift in 0..64 {
            prop_assert_eq!(mask.contains_shift(shift), expected.contains(&shift));
        }
        prop_assert_eq!(PageSizeMask::from_page_shifts(mask.page_shifts()), mask);
        // Through QEMU's pgsz and VFIO's pgsizes (bit n = 2^n bytes).
        let pgsz: u64 = expected.iter().map(|s| 1u64 << s).sum();
        prop_assert_eq!(mask.to_qemu_pgsz(), pgsz);
        prop_assert_eq!(PageSizeMask::from_qemu_pgsz(pgsz), mask);
        prop_assert_eq!(PageSizeMask::from_vfio_pgsizes(mask.to_vfio_pgsizes()), mask);
    }

    #[test]
    fn arbitrary_bitmaps_keep_only_expressible_sizes(sizes in any::<u64>(), raw in any::<u32>()) {
        let mask = PageSizeMask::from_qemu_pgsz(sizes);
        let expressible: u64 = LOPAR_SHIFTS.iter().map(|s| 1u64 << s).sum();
        prop_assert_eq!(mask.to_qemu_pgsz(), sizes & expressible);
        prop_assert_eq!(mask.unknown_bits(), 0);
        // Any raw mask from a guest or a test decodes without panicking; unknown bits are
        // neither sizes nor lost.
        let raw_mask = PageSizeMask(raw);
        let shifts = raw_mask.page_shifts();
        prop_assert!(shifts.windows(2).all(|w| w[0] < w[1]));
        prop_assert_eq!(PageSizeMask::from_page_shifts(shifts).0 | raw_mask.unknown_bits(), raw);
    }

    #[test]
    fn bit_for_shift_is_one_bit_or_none(shift in any::<u32>()) {
        match PageSizeMask::bit_for_shift(shift) {
            Some(bit) => {
                prop_assert!(LOPAR_SHIFTS.contains(&shift));
                prop_assert_eq!(bit.count_ones(), 1);
                prop_assert_eq!(PageSizeMask::shift_for_bit(bit), Some(shift));
            }
            None => prop_assert!(!LOPAR_SHIFTS.contains(&shift)),
        }
    }

    #[test]
    fn buid_cells_round_trip(buid in any::<u64>(), hi in any::<u32>(), lo in any::<u32>()) {
        let b = Buid(buid);
        prop_assert_eq!(Buid::from_cells(b.hi(), b.lo()), b);
        let c = Buid::from_cells(hi, lo);
        prop_assert_eq!((c.hi(), c.lo()), (hi, lo));
        prop_assert_eq!(c.0, u64::from(hi) * 0x1_0000_0000 + u64::from(lo));
    }

    #[test]
    fn config_addr_round_trips(bus in any::<u8>(), devfn in any::<u8>(), raw in any::<u32>()) {
        let addr = ConfigAddr::new(bus, devfn);
        prop_assert_eq!((addr.bus(), addr.devfn()), (bus, devfn));
        prop_assert_eq!(addr.0, u32::from(bus) * 0x1_0000 + u32::from(devfn) * 0x100);
        prop_assert_eq!(addr.device() * 8 + addr.function(), devfn);
        prop_assert_eq!(addr.register_bits(), 0);
        let any_addr = ConfigAddr(raw);
        prop_assert_eq!(
            ConfigAddr::new(any_addr.bus(), any_addr.devfn()).0 | any_addr.register_bits() | (raw & 0xF000_0000),
            raw
        );
    }

    #[test]
    fn extensions_round_trip(
        reset_token in proptest::option::of(0u32..u32::MAX),
        query_six_outputs in any::<bool>(),
        limited_addressing in any::<bool>(),
    ) {
        let ext = DdwExtensions { reset_token, query_six_outputs, limited_addressing };
        let cells = ext.to_cells();
        prop_assert_eq!(cells[0] as usize, cells.len() - 1);
        prop_assert_eq!(DdwExtensions::from_cells(&cells), ext);
        if let Some(token) = reset_token {
            prop_assert_eq!(cells[1], token);
        }
    }

    #[test]
    fn extensions_parse_arbitrary_cells(cells in proptest::collection::vec(any::<u32>(), 0..6)) {
        let ext = DdwExtensions::from_cells(&cells);
        let count = cells.first().copied().unwrap_or(0) as usize;
        let present = |i: usize| i <= count && i < cells.len();
        prop_assert_eq!(ext.reset_token.is_some(), present(1) && cells[1] != u32::MAX);
        prop_assert_eq!(ext.query_six_outputs, present(2) && cells[2] == 1);
        prop_assert_eq!(ext.limited_addressing, present(3) && cells[3] != 0);
    }
}
