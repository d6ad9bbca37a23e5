// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Decoding a TCE hypercall from registers, and the outcome written back.
//!
//! The register layout is KVM's `papr_hcall` exit: `nr` = r3 (opcode), `args[0..9]` =
//! r4..r12 (kernel-host.md §1.2–§1.3).

use crate::opcode::{H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE};
use crate::status::HcallStatus;
use crate::tce::{Ioba, Liobn, Tce};

/// Most TCEs one `H_PUT_TCE_INDIRECT` may carry: one 4 KiB page of 8-byte entries
/// (LoPAR 2.9 §14.5.4.2.3; KVM returns H_PARAMETER above it, kernel-host.md §7 item 9).
pub const MAX_INDIRECT_TCES: u64 = 512;

/// Most TCEs one `H_STUFF_TCE` may set: LoPAR 2.9 §14.5.4.2.4 answers `H_P4` above 512
/// (qemu-and-guest.md §2.4; Linux guests never exceed it).
pub const MAX_STUFF_TCES: u64 = 512;

/// One TCE hypercall with its arguments, decoded from registers.
///
/// Decoding does not validate: every value is representable so that validation can return
/// the exact PAPR code for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HcallRequest {
    /// `H_PUT_TCE(liobn, ioba, tce)`.
    PutTce {
        /// Window.
        liobn: Liobn,
        /// Bus address of the entry.
        ioba: Ioba,
        /// New entry.
        tce: Tce,
    },
    /// `H_GET_TCE(liobn, ioba)`; the entry is returned in r4.
    GetTce {
        /// Window.
        liobn: Liobn,
        /// Bus address of the entry.
        ioba: Ioba,
    },
    /// `H_STUFF_TCE(liobn, ioba, value, count)`: `count` consecutive entries set to `value`.
    StuffTce {
        /// Window.
        liobn: Liobn,
        /// Bus address of the first entry.
        ioba: Ioba,
        /// Value stored in every entry.
        value: Tce,
        /// Number of entries.
        count: u64,
    },
    /// `H_PUT_TCE_INDIRECT(liobn, ioba, list, count)`: `count` big-endian TCEs read from the
    /// guest-physical address `list`.
    PutTceIndirect {
        /// Window.
        liobn: Liobn,
        /// Bus address of the first entry.
        ioba: Ioba,
        /// Guest-physical address of the list.
        list: u64,
        /// Number of entries in the list.
        count: u64,
    },
}

impl HcallRequest {
    /// Decodes a TCE hypercall. Returns `None` for any other opcode. Never panics.
    pub fn decode(nr: u64, args: &[u64; 9]) -> Option<Self> {
        let liobn = Liobn(args[0]);
        let ioba = Ioba(args[1]);
        Some(match nr {
            H_PUT_TCE => Self::PutTce {
                liobn,
                ioba,
                tce: Tce(args[2]),
            },
            H_GET_TCE => Self::GetTce { liobn, ioba },
            H_STUFF_TCE => Self::StuffTce {
                liobn,
                ioba,
                value: Tce(args[2]),
                count: args[3],
            },
            H_PUT_TCE_INDIRECT => Self::PutTceIndirect {
                liobn,
                ioba,
                list: args[2],
                count: args[3],
            },
            _ => return None,
        })
    }

    /// Encodes the request back into `(nr, args)`; unused argument registers are zero.
    pub fn encode(&self) -> (u64, [u64; 9]) {
        let mut args = [0u64; 9];
        let nr = match *self {
            Self::PutTce { liobn, ioba, tce } => {
                args[..3].copy_from_slice(&[liobn.0, ioba.0, tce.0]);
                H_PUT_TCE
            }
            Self::GetTce { liobn, ioba } => {
                args[..2].copy_from_slice(&[liobn.0, ioba.0]);
                H_GET_TCE
            }
            Self::StuffTce {
                liobn,
                ioba,
                value,
                count,
            } => {
                args[..4].copy_from_slice(&[liobn.0, ioba.0, value.0, count]);
                H_STUFF_TCE
            }
            Self::PutTceIndirect {
                liobn,
                ioba,
                list,
                count,
            } => {
                args[..4].copy_from_slice(&[liobn.0, ioba.0, list, count]);
                H_PUT_TCE_INDIRECT
            }
        };
        (nr, args)
    }

    /// The opcode.
    pub fn opcode(&self) -> u64 {
        self.encode().0
    }

    /// The window the request addresses.
    pub fn liobn(&self) -> Liobn {
        match *self {
            Self::PutTce { liobn, .. }
            | Self::GetTce { liobn, .. }
            | Self::StuffTce { liobn, .. }
            | Self::PutTceIndirect { liobn, .. } => liobn,
        }
    }

    /// The bus address of the first entry.
    pub fn ioba(&self) -> Ioba {
        match *self {
            Self::PutTce { ioba, .. }
            | Self::GetTce { ioba, .. }
            | Self::StuffTce { ioba, .. }
            | Self::PutTceIndirect { ioba, .. } => ioba,
        }
    }

    /// Number of entries the request touches (1 for put/get).
    pub fn entry_count(&self) -> u64 {
        match *self {
            Self::PutTce { .. } | Self::GetTce { .. } => 1,
            Self::StuffTce { count, .. } | Self::PutTceIndirect { count, .. } => count,
        }
    }
}

/// The result of one hypercall: the status for r3 and, for `H_GET_TCE`, the value for r4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HcallOutcome {
    /// Status returned in r3. Never [`HcallStatus::TOO_HARD`] for a completed call.
    pub status: HcallStatus,
    /// Value returned in r4, if the call returns one.
    pub r4: Option<u64>,
}

impl HcallOutcome {
    /// `H_SUCCESS` without an output register.
    pub const SUCCESS: Self = Self {
        status: HcallStatus::SUCCESS,
        r4: None,
    };

    /// A status without an output register.
    pub fn status(status: HcallStatus) -> Self {
        Self { status, r4: None }
    }

    /// `H_SUCCESS` with `value` in r4.
    pub fn with_value(value: u64) -> Self {
        Self {
            status: HcallStatus::SUCCESS,
            r4: Some(value),
        }
    }

    /// Writes the outcome into a `papr_hcall` image: `ret` ← status, `args[0]` (r4) ← value.
    ///
    /// The other argument registers are left as they are: KVM copies all nine back to
    /// r4..r12 on the next `KVM_RUN`, and they still hold the guest's own values
    /// (kernel-host.md §1.3).
    pub fn write_to(&self, ret: &mut u64, args: &mut [u64; 9]) {
        *ret = self.status.to_register();
        if let Some(value) = self.r4 {
            args[0] = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unknown_opcodes_are_not_ours() {
        for nr in [0u64, 0x4, 0x1D, 0x21, 0x134, 0xF000, u64::MAX] {
            assert_eq!(HcallRequest::decode(nr, &[0; 9]), None, "{nr:#x}");
        }
    }

    #[test]
    fn outcome_writes_r3_and_r4_only() {
        let mut ret = 7;
        let mut args = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        HcallOutcome::with_value(0xabc3).write_to(&mut ret, &mut args);
        assert_eq!(ret, 0);
        assert_eq!(args, [0xabc3, 2, 3, 4, 5, 6, 7, 8, 9]);
        HcallOutcome::status(HcallStatus::PARAMETER).write_to(&mut ret, &mut args);
        assert_eq!(ret as i64, -4);
        assert_eq!(args[0], 0xabc3);
    }

    proptest! {
        #[test]
        fn decode_never_panics_and_round_trips(nr in prop_oneof![
            Just(H_GET_TCE), Just(H_PUT_TCE), Just(H_STUFF_TCE), Just(H_PUT_TCE_INDIRECT), any::<u64>()
        ], args in any::<[u64; 9]>()) {
            if let Some(req) = HcallRequest::decode(nr, &args) {
                let (nr2, args2) = req.encode();
                prop_assert_eq!(nr2, nr);
                prop_assert_eq!(HcallRequest::decode(nr2, &args2), Some(req));
                prop_assert_eq!(req.liobn().0, args[0]);
                prop_assert_eq!(req.ioba().0, args[1]);
            }
        }
    }
}
