// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Hypercall return codes, placed in r3 (`asm/hvcall.h`; kernel-host.md §1.1,
//! qemu-and-guest.md §2.1).

use std::fmt;

/// A PAPR hypercall return code as the guest sees it in r3.
///
/// A newtype rather than an enum: the guest may receive any value, and decoding a status
/// read back from a `kvm_run` must never fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct HcallStatus(pub i64);

impl HcallStatus {
    /// `H_SUCCESS` (0).
    pub const SUCCESS: Self = Self(0);
    /// `H_BUSY` (1).
    pub const BUSY: Self = Self(1);
    /// `H_PARTIAL` (5): LoPAR's H_GET_TCE result for a page not owned by the partition.
    pub const PARTIAL: Self = Self(5);
    /// `H_HARDWARE` (-1): the hypervisor could not complete the request (host IOMMU failure).
    pub const HARDWARE: Self = Self(-1);
    /// `H_FUNCTION` (-2): hypercall not supported.
    pub const FUNCTION: Self = Self(-2);
    /// `H_PRIVILEGE` (-3).
    pub const PRIVILEGE: Self = Self(-3);
    /// `H_PARAMETER` (-4): a parameter is invalid.
    pub const PARAMETER: Self = Self(-4);
    /// `H_NOT_FOUND` (-7).
    pub const NOT_FOUND: Self = Self(-7);
    /// `H_NO_MEM` (-9).
    pub const NO_MEM: Self = Self(-9);
    /// `H_AUTHORITY` (-10).
    pub const AUTHORITY: Self = Self(-10);
    /// `H_PERMISSION` (-11).
    pub const PERMISSION: Self = Self(-11);
    /// `H_RESOURCE` (-16).
    pub const RESOURCE: Self = Self(-16);
    /// `H_NOT_ENOUGH_RESOURCES` (-44): Linux guests undo a partial mapping and fail the DMA
    /// mapping cleanly on this code (qemu-and-guest.md §3.5).
    pub const NOT_ENOUGH_RESOURCES: Self = Self(-44);
    /// `H_P2` (-55): parameter 2 invalid.
    pub const P2: Self = Self(-55);
    /// `H_P3` (-56): parameter 3 invalid.
    pub const P3: Self = Self(-56);
    /// `H_P4` (-57): parameter 4 invalid (LoPAR: H_STUFF_TCE count above 512).
    pub const P4: Self = Self(-57);
    /// `H_TOO_BIG` (-64).
    pub const TOO_BIG: Self = Self(-64);
    /// `H_UNSUPPORTED` (-67).
    pub const UNSUPPORTED: Self = Self(-67);
    /// `H_OVERLAP` (-68).
    pub const OVERLAP: Self = Self(-68);
    /// `H_STATE` (-75).
    pub const STATE: Self = Self(-75);
    /// `H_IN_USE` (-77).
    pub const IN_USE: Self = Self(-77);
    /// `H_TOO_HARD` (9999): **KVM-internal** "punt to userspace"; never delivered to a guest
    /// (kernel-host.md §7 item 1). Present so that exits carrying it can be recognised.
    pub const TOO_HARD: Self = Self(9999);

    /// True for `H_SUCCESS`.
    pub fn is_success(self) -> bool {
        self == Self::SUCCESS
    }

    /// The value as the unsigned 64-bit register image that goes into r3 / `papr_hcall.ret`.
    pub fn to_register(self) -> u64 {
        self.0 as u64
    }

    /// Reads a status back from a register image.
    pub fn from_register(reg: u64) -> Self {
        Self(reg as i64)
    }

    /// The symbolic name of a known code.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::SUCCESS => "H_SUCCESS",
            Self::BUSY => "H_BUSY",
            Self::PARTIAL => "H_PARTIAL",
            Self::HARDWARE => "H_HARDWARE",
            Self::FUNCTION => "H_FUNCTION",
            Self::PRIVILEGE => "H_PRIVILEGE",
            Self::PARAMETER => "H_PARAMETER",
            Self::NOT_FOUND => "H_NOT_FOUND",
            Self::NO_MEM => "H_NO_MEM",
            Self::AUTHORITY => "H_AUTHORITY",
            Self::PERMISSION => "H_PERMISSION",
            Self::RESOURCE => "H_RESOURCE",
            Self::NOT_ENOUGH_RESOURCES => "H_NOT_ENOUGH_RESOURCES",
            Self::P2 => "H_P2",
            Self::P3 => "H_P3",
            Self::P4 => "H_P4",
            Self::TOO_BIG => "H_TOO_BIG",
            Self::UNSUPPORTED => "H_UNSUPPORTED",
            Self::OVERLAP => "H_OVERLAP",
            Self::STATE => "H_STATE",
            Self::IN_USE => "H_IN_USE",
            Self::TOO_HARD => "H_TOO_HARD",
            _ => return None,
        })
    }
}

impl fmt::Display for HcallStatus {
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
    fn register_image_round_trips_negative_codes() {
        assert_eq!(HcallStatus::PARAMETER.to_register(), 0xFFFF_FFFF_FFFF_FFFC);
        assert_eq!(
            HcallStatus::from_register(0xFFFF_FFFF_FFFF_FFFC),
            HcallStatus::PARAMETER
        );
    }

    #[test]
    fn values_match_hvcall_h() {
        let table = [
            (HcallStatus::SUCCESS, 0),
            (HcallStatus::HARDWARE, -1),
            (HcallStatus::FUNCTION, -2),
            (HcallStatus::PARAMETER, -4),
            (HcallStatus::NOT_ENOUGH_RESOURCES, -44),
            (HcallStatus::P2, -55),
            (HcallStatus::P3, -56),
            (HcallStatus::P4, -57),
            (HcallStatus::TOO_HARD, 9999),
        ];
        for (status, value) in table {
            assert_eq!(status.0, value, "{status}");
        }
        assert_eq!(HcallStatus(-4).to_string(), "H_PARAMETER (-4)");
        assert_eq!(HcallStatus(-1234).to_string(), "-1234");
    }
}
