// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `ibm,create-pe-dma-window`: 5 arguments, 4 return cells (qemu-and-guest.md §2.7).

use super::{check_shape, pe_from_args};
use crate::rtas::buffer::RtasCall;
use crate::rtas::page_sizes::PageSizeMask;
use crate::rtas::pe_address::{Buid, ConfigAddr};
use crate::rtas::status::RtasStatus;
use crate::tce::PageShift;

/// Arguments of `ibm,create-pe-dma-window(config_addr, BUID hi, BUID lo, page shift,
/// window shift)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CreateArgs {
    /// The device whose PE gets the window.
    pub config_addr: ConfigAddr,
    /// The PHB.
    pub buid: Buid,
    /// IOMMU page size of the window, log2 bytes (LoPAR: 0..11 invalid).
    pub page_shift: u32,
    /// Window size, log2 bytes.
    pub window_shift: u32,
}

impl CreateArgs {
    /// Number of arguments (LoPAR; QEMU `rtas_ibm_create_pe_dma_window`).
    pub const NARGS: u32 = 5;
    /// Number of return cells: status, LIOBN, start hi, start lo.
    pub const NRET: u32 = 4;
    /// Largest window shift [`Self::check_geometry`] accepts: the window size must fit in a
    /// 64-bit bus address. QEMU sets no upper bound (qemu-and-guest.md §1 "Window limits").
    pub const MAX_WINDOW_SHIFT: u32 = 63;

    /// Decodes a create call: exactly 5 arguments and 4 return cells, else
    /// [`RtasStatus::PARAMETER_ERROR`] (QEMU's first check). The values are not validated
    /// here; see [`Self::check_geometry`].
    pub fn decode(call: &RtasCall) -> Result<Self, RtasStatus> {
        check_shape(call, Self::NARGS, Self::NRET)?;
        let (config_addr, buid) = pe_from_args(call);
        Ok(Self {
            config_addr,
            buid,
            page_shift: call.arg(3).unwrap_or_default(),
            window_shift: call.arg(4).unwrap_or_default(),
        })
    }

    /// The argument cells, as a guest passes them.
    pub fn to_args(&self) -> [u32; 5] {
        [
            self.config_addr.0,
            self.buid.hi(),
            self.buid.lo(),
            self.page_shift,
            self.window_shift,
        ]
    }

    /// QEMU's geometry checks, in its order (qemu-and-guest.md §2.7): the page size must be
    /// one the PHB offers, and the window at least one page; additionally the window must
    /// fit in 64 bits ([`Self::MAX_WINDOW_SHIFT`]). All failures are
    /// [`RtasStatus::PARAMETER_ERROR`]. A guest that derives its window from
    /// `ibm,lrdr-capacity` = 0 asks for window shift 0 and lands here (qemu-and-guest.md §0
    /// fact 9).
    pub fn check_geometry(&self, offered: PageSizeMask) -> Result<PageShift, RtasStatus> {
        let page_shift = PageShift::new(self.page_shift)
            .filter(|_| offered.contains_shift(self.page_shift))
            .ok_or(RtasStatus::PARAMETER_ERROR)?;
        if self.window_shift < self.page_shift || self.window_shift > Self::MAX_WINDOW_SHIFT {
            return Err(RtasStatus::PARAMETER_ERROR);
        }
        Ok(page_shift)
    }

    /// Window size in bytes, if it fits in 64 bits.
    pub fn window_size(&self) -> Option<u64> {
        1u64.checked_shl(self.window_shift)
    }

    /// Number of TCEs of the window, `2^(window_shift - page_shift)`, if the window holds at
    /// least one page and fits in 64 bits.
    pub fn tce_count(&self) -> Option<u64> {
        let order = self.window_shift.checked_sub(self.page_shift)?;
        self.window_size()?;
        1u64.checked_shl(order)
    }
}

/// The new window, as returned to the guest.
///
/// ```
/// use papr_hcall::rtas::ddw::CreateResult;
/// let result = CreateResult { liobn: 0x8000_0001, start: 1 << 59 };
/// assert_eq!(result.to_rets(), [0, 0x8000_0001, 0x0800_0000, 0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CreateResult {
    /// The window's LIOBN, used by the guest in TCE hypercalls and remove.
    pub liobn: u32,
    /// Bus address of the window's first byte.
    pub start: u64,
}

impl CreateResult {
    /// The return cells: [`RtasStatus::SUCCESS`], LIOBN, start hi, start lo.
    pub fn to_rets(&self) -> [u32; 4] {
        [
            RtasStatus::SUCCESS.to_cell(),
            self.liobn,
            (self.start >> 32) as u32,
            self.start as u32,
        ]
    }

    /// Parses successful return cells, as a guest does.
    pub fn from_rets(rets: &[u32]) -> Option<Self> {
        match *rets {
            [0, liobn, hi, lo] => Some(Self {
                liobn,
                start: (u64::from(hi) << 32) | u64::from(lo),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestAddress;

    fn args(page_shift: u32, window_shift: u32) -> CreateArgs {
        CreateArgs {
            config_addr: ConfigAddr::new(0, 8),
            buid: Buid(0x0800_0000_2000_0000),
            page_shift,
            window_shift,
        }
    }

    #[test]
    fn decode_needs_exactly_five_and_four() {
        let good = args(24, 33);
        let call = RtasCall::new(GuestAddress(0), 0x2027, &good.to_args(), 4);
        assert_eq!(CreateArgs::decode(&call), Ok(good));
        for nret in [0, 1, 3, 5, 16] {
            let call = RtasCall::new(GuestAddress(0), 0x2027, &good.to_args(), nret);
            assert_eq!(CreateArgs::decode(&call), Err(RtasStatus::PARAMETER_ERROR));
        }
        let call = RtasCall::new(GuestAddress(0), 0x2027, &good.to_args()[..4], 4);
        assert_eq!(CreateArgs::decode(&call), Err(RtasStatus::PARAMETER_ERROR));
    }

    #[test]
    fn geometry_follows_qemu_order() {
        let offered = PageSizeMask(0x107);
        assert_eq!(args(24, 33).check_geometry(offered), Ok(PageShift::SZ_16M));
        assert_eq!(args(24, 24).check_geometry(offered), Ok(PageShift::SZ_16M));
        for bad in [
            args(24, 0),
            args(25, 33),
            args(11, 33),
            args(24, 64),
            args(24, 23),
        ] {
            assert_eq!(
                bad.check_geometry(offered),
                Err(RtasStatus::PARAMETER_ERROR),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sizes_do_not_overflow() {
        assert_eq!(args(16, 32).tce_count(), Some(1 << 16));
        assert_eq!(args(16, 32).window_size(), Some(1 << 32));
        assert_eq!(args(12, 63).tce_count(), Some(1 << 51));
        assert_eq!(args(16, 64).window_size(), None);
        assert_eq!(args(16, 64).tce_count(), None);
        assert_eq!(args(16, u32::MAX).tce_count(), None);
        assert_eq!(args(24, 0).tce_count(), None);
    }

    #[test]
    fn result_round_trips() {
        let result = CreateResult {
            liobn: 0x8000_0001,
            start: 0x0800_0000_0000_1000,
        };
        assert_eq!(CreateResult::from_rets(&result.to_rets()), Some(result));
        assert_eq!(CreateResult::from_rets(&[u32::MAX, 1, 2, 3]), None);
    }
}
