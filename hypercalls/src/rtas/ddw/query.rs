// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `ibm,query-pe-dma-window`: 3 arguments, 5 or 6 return cells (qemu-and-guest.md §2.6).

use super::{check_shape, pe_from_args};
use crate::rtas::buffer::RtasCall;
use crate::rtas::page_sizes::PageSizeMask;
use crate::rtas::pe_address::{Buid, ConfigAddr};
use crate::rtas::status::RtasStatus;

/// Arguments of `ibm,query-pe-dma-window(config_addr, BUID hi, BUID lo)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueryArgs {
    /// The device whose PE is queried.
    pub config_addr: ConfigAddr,
    /// The PHB.
    pub buid: Buid,
}

impl QueryArgs {
    /// Number of arguments (LoPAR; QEMU `rtas_ibm_query_pe_dma_window`).
    pub const NARGS: u32 = 3;
    /// Return cells of the original form (32-bit largest block).
    pub const NRET: u32 = 5;
    /// Return cells of the LoPAR 2.8 form (64-bit largest block), allowed only when
    /// `ibm,ddw-extensions` index 2 is 1.
    pub const NRET_EXTENDED: u32 = 6;

    /// Decodes a query call. `six_outputs_advertised` is
    /// [`DdwExtensions::query_six_outputs`](crate::rtas::DdwExtensions::query_six_outputs) of
    /// the PHB: without it LoPAR makes `nret` 6 a parameter error. Any other shape than
    /// 3 arguments and 5 (or 6) return cells is [`RtasStatus::PARAMETER_ERROR`], as in QEMU.
    pub fn decode(call: &RtasCall, six_outputs_advertised: bool) -> Result<Self, RtasStatus> {
        if !(six_outputs_advertised && call.has_shape(Self::NARGS, Self::NRET_EXTENDED)) {
            check_shape(call, Self::NARGS, Self::NRET)?;
        }
        let (config_addr, buid) = pe_from_args(call);
        Ok(Self { config_addr, buid })
    }

    /// True when the caller asked for the 6-cell form (pass to [`QueryResult::to_rets`]).
    pub fn wants_six_outputs(call: &RtasCall) -> bool {
        call.nret == Self::NRET_EXTENDED
    }

    /// The argument cells, as a guest passes them.
    pub fn to_args(&self) -> [u32; 3] {
        [self.config_addr.0, self.buid.hi(), self.buid.lo()]
    }
}

/// What the platform reports about a PE's DMA windows.
///
/// ```
/// use papr_hcall::rtas::{PageSizeMask, ddw::QueryResult};
/// // QEMU's answer with one window in use and default `pgsz` (qemu-and-guest.md §2.6).
/// let result = QueryResult {
///     windows_available: 1,
///     largest_block: 1 << 37,
///     page_sizes: PageSizeMask(0x107),
///     migration_capable: 0,
/// };
/// assert_eq!(result.to_rets(true), [0, 1, 0x20, 0, 0x107, 0]);
/// assert_eq!(result.to_rets(false), [0, 1, u32::MAX, 0x107, 0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueryResult {
    /// How many more windows can be created (LoPAR: 0 if the default window still exists
    /// but could be freed by removing it).
    pub windows_available: u32,
    /// Largest number of TCEs one new window may have.
    pub largest_block: u64,
    /// The page sizes a new window may use.
    pub page_sizes: PageSizeMask,
    /// LoPAR's migration mask; QEMU answers 0.
    pub migration_capable: u32,
}

impl QueryResult {
    /// The return cells with [`RtasStatus::SUCCESS`] first: 6 cells (largest block as
    /// hi, lo) when `six_outputs`, else 5 cells with the largest block clamped to
    /// `u32::MAX` (clamping rather than truncating, so the guest never sees a tiny block).
    pub fn to_rets(&self, six_outputs: bool) -> Vec<u32> {
        let mut rets = vec![RtasStatus::SUCCESS.to_cell(), self.windows_available];
        if six_outputs {
            rets.extend([(self.largest_block >> 32) as u32, self.largest_block as u32]);
        } else {
            rets.push(u32::try_from(self.largest_block).unwrap_or(u32::MAX));
        }
        rets.extend([self.page_sizes.0, self.migration_capable]);
        rets
    }

    /// Parses successful return cells (5 or 6, status first), as a guest does.
    pub fn from_rets(rets: &[u32]) -> Option<Self> {
        let (windows_available, largest_block, page_sizes, migration_capable) = match *rets {
            [0, windows, block, mask, migration] => (windows, u64::from(block), mask, migration),
            [0, windows, hi, lo, mask, migration] => (
                windows,
                (u64::from(hi) << 32) | u64::from(lo),
                mask,
                migration,
            ),
            _ => return None,
        };
        Some(Self {
            windows_available,
            largest_block,
            page_sizes: PageSizeMask(page_sizes),
            migration_capable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestAddress;

    fn call(nargs: usize, nret: u32) -> RtasCall {
        let args = [0x0001_0800, 0x0800_0000, 0x2000_0000, 7, 8, 9];
        RtasCall::new(GuestAddress(0x1000), 0x2026, &args[..nargs], nret)
    }

    #[test]
    fn shapes_follow_qemu_and_lopar() {
        let expected = QueryArgs {
            config_addr: ConfigAddr::new(1, 8),
            buid: Buid(0x0800_0000_2000_0000),
        };
        assert_eq!(QueryArgs::decode(&call(3, 5), false), Ok(expected));
        assert_eq!(QueryArgs::decode(&call(3, 5), true), Ok(expected));
        assert_eq!(QueryArgs::decode(&call(3, 6), true), Ok(expected));
        assert_eq!(
            QueryArgs::decode(&call(3, 6), false),
            Err(RtasStatus::PARAMETER_ERROR)
        );
        for (nargs, nret) in [(2, 5), (4, 5), (3, 4), (3, 7), (0, 0), (3, 1)] {
            assert_eq!(
                QueryArgs::decode(&call(nargs, nret), true),
                Err(RtasStatus::PARAMETER_ERROR),
                "nargs {nargs} nret {nret}"
            );
        }
        assert!(QueryArgs::wants_six_outputs(&call(3, 6)));
        assert_eq!(expected.to_args(), [0x0001_0800, 0x0800_0000, 0x2000_0000]);
    }

    #[test]
    fn five_outputs_clamp_and_six_split_the_largest_block() {
        let mut result = QueryResult {
            windows_available: 2,
            largest_block: 0x8000_0000,
            page_sizes: PageSizeMask(0x3),
            migration_capable: 0,
        };
        assert_eq!(result.to_rets(false), [0, 2, 0x8000_0000, 3, 0]);
        assert_eq!(QueryResult::from_rets(&result.to_rets(false)), Some(result));
        result.largest_block = 0x1_0000_0001;
        assert_eq!(result.to_rets(false)[2], u32::MAX);
        assert_eq!(result.to_rets(true), [0, 2, 1, 1, 3, 0]);
        assert_eq!(QueryResult::from_rets(&result.to_rets(true)), Some(result));
        assert_eq!(
            QueryResult::from_rets(&[RtasStatus::BUSY.to_cell(), 0, 0, 0, 0]),
            None
        );
    }
}
