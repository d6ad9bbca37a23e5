// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! RTAS status codes, written into the first return cell of an RTAS buffer
//! (LoPAR 2.9 "RTAS Call Operation"; qemu-and-guest.md §2.1).

use std::fmt;

/// An RTAS status as the guest sees it in `rets[0]`.
///
/// A newtype rather than an enum, like [`HcallStatus`](crate::HcallStatus): any 32-bit value
/// can appear in a cell, and reading one back must never fail.
///
/// ```
/// use papr_hcall::rtas::RtasStatus;
/// assert_eq!(RtasStatus::PARAMETER_ERROR.to_cell(), 0xFFFF_FFFD);
/// assert_eq!(RtasStatus::from_cell(0xFFFF_FFFD), RtasStatus::PARAMETER_ERROR);
/// assert_eq!(RtasStatus(9902).extended_delay_ms(), Some(100));
/// assert_eq!(RtasStatus::BUSY.to_string(), "RTAS_BUSY (-2)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct RtasStatus(pub i32);

impl RtasStatus {
    /// `0`: the call completed (LoPAR "RTAS Status Word"; QEMU `RTAS_OUT_SUCCESS`).
    pub const SUCCESS: Self = Self(0);
    /// `-1`: hardware error. QEMU answers it from `ibm,create-pe-dma-window` when no LIOBN is
    /// free or the table cannot be allocated (qemu-and-guest.md §2.7).
    pub const HARDWARE_ERROR: Self = Self(-1);
    /// `-2`: busy, call again; Linux retries through `rtas_busy_delay`
    /// (LoPAR `sec_rtas_dma_window.xml`, create; qemu-and-guest.md §2.7).
    pub const BUSY: Self = Self(-2);
    /// `-3`: parameter error, including a wrong `nargs`/`nret` (qemu-and-guest.md §2.6–§2.9).
    pub const PARAMETER_ERROR: Self = Self(-3);
    /// `9900`: the first "extended delay" code; `990x` asks the caller to wait 10^x ms before
    /// calling again (LoPAR "RTAS Status Word"; qemu-and-guest.md §2.1, §2.7).
    pub const EXTENDED_DELAY_MIN: Self = Self(9900);
    /// `9905`: the last "extended delay" code (wait 100 s).
    pub const EXTENDED_DELAY_MAX: Self = Self(9905);

    /// True for [`Self::SUCCESS`].
    pub fn is_success(self) -> bool {
        self == Self::SUCCESS
    }

    /// True for a code that asks the caller to repeat the call: [`Self::BUSY`] or an extended
    /// delay (the codes Linux's `rtas_busy_delay` loops on, kernel-host.md Appendix A).
    pub fn is_retry(self) -> bool {
        self == Self::BUSY || self.is_extended_delay()
    }

    /// True for 9900..=9905.
    pub fn is_extended_delay(self) -> bool {
        (Self::EXTENDED_DELAY_MIN.0..=Self::EXTENDED_DELAY_MAX.0).contains(&self.0)
    }

    /// The extended-delay code asking for a wait of 10^`order` ms, for `order` 0..=5.
    pub fn extended_delay(order: u32) -> Option<Self> {
        (order <= 5).then(|| Self(Self::EXTENDED_DELAY_MIN.0 + order as i32))
    }

    /// The wait in milliseconds an extended-delay code asks for.
    pub fn extended_delay_ms(self) -> Option<u64> {
        self.is_extended_delay()
            .then(|| 10u64.pow((self.0 - Self::EXTENDED_DELAY_MIN.0) as u32))
    }

    /// The big-endian cell image (two's complement), as stored in `rets[0]`.
    pub fn to_cell(self) -> u32 {
        self.0 as u32
    }

    /// Reads a status back from a cell.
    pub fn from_cell(cell: u32) -> Self {
        Self(cell as i32)
    }

    /// The symbolic name of a known code, for logs (`RTAS_` + the constant's name; extended
    /// delays name their wait).
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "RTAS_SUCCESS",
            -1 => "RTAS_HARDWARE_ERROR",
            -2 => "RTAS_BUSY",
            -3 => "RTAS_PARAMETER_ERROR",
            9900 => "RTAS_EXTENDED_DELAY_1MS",
            9901 => "RTAS_EXTENDED_DELAY_10MS",
            9902 => "RTAS_EXTENDED_DELAY_100MS",
            9903 => "RTAS_EXTENDED_DELAY_1S",
            9904 => "RTAS_EXTENDED_DELAY_10S",
            9905 => "RTAS_EXTENDED_DELAY_100S",
            _ => return None,
        })
    }
}

impl fmt::Display for RtasStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_lopar() {
        let table = [
            (RtasStatus::SUCCESS, 0),
            (RtasStatus::HARDWARE_ERROR, -1),
            (RtasStatus::BUSY, -2),
            (RtasStatus::PARAMETER_ERROR, -3),
            (RtasStatus::EXTENDED_DELAY_MIN, 9900),
            (RtasStatus::EXTENDED_DELAY_MAX, 9905),
        ];
        for (status, value) in table {
            assert_eq!(status.0, value, "{status}");
            assert!(status.name().is_some());
        }
        assert_eq!(RtasStatus(-9999).to_string(), "-9999");
        assert_eq!(
            RtasStatus(9903).to_string(),
            "RTAS_EXTENDED_DELAY_1S (9903)"
        );
    }

    #[test]
    fn extended_delays_cover_exactly_9900_to_9905() {
        assert!(!RtasStatus(9899).is_extended_delay());
        assert!(!RtasStatus(9906).is_extended_delay());
        assert_eq!(RtasStatus::extended_delay(6), None);
        for order in 0..=5u32 {
            let status = RtasStatus::extended_delay(order).unwrap();
            assert!(status.is_retry());
            assert_eq!(status.extended_delay_ms(), Some(10u64.pow(order)));
        }
        assert!(RtasStatus::BUSY.is_retry());
        assert!(!RtasStatus::PARAMETER_ERROR.is_retry());
        assert_eq!(RtasStatus::BUSY.extended_delay_ms(), None);
    }

    #[test]
    fn cell_image_is_twos_complement() {
        assert_eq!(RtasStatus::HARDWARE_ERROR.to_cell(), 0xFFFF_FFFF);
        assert_eq!(RtasStatus::from_cell(9900), RtasStatus::EXTENDED_DELAY_MIN);
        for v in [i32::MIN, -3, 0, 9905, i32::MAX] {
            assert_eq!(RtasStatus::from_cell(RtasStatus(v).to_cell()).0, v);
        }
    }
}
