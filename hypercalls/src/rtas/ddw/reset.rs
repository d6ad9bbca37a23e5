// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `ibm,reset-pe-dma-window`: 3 arguments (4 with limited addressing), 1 return cell
//! (qemu-and-guest.md §2.9).

use super::{check_shape, pe_from_args};
use crate::rtas::buffer::RtasCall;
use crate::rtas::pe_address::{Buid, ConfigAddr};
use crate::rtas::status::RtasStatus;

/// Arguments of `ibm,reset-pe-dma-window(config_addr, BUID hi, BUID lo [, flags])`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResetArgs {
    /// The device whose PE is reset.
    pub config_addr: ConfigAddr,
    /// The PHB.
    pub buid: Buid,
    /// The 4th argument of the LoPAR 2.13 form (Linux passes 1 to enter limited addressing
    /// mode); `None` for the 3-argument form.
    pub limited_addressing: Option<u32>,
}

impl ResetArgs {
    /// Number of arguments of the LoPAR 2.7 form.
    pub const NARGS: u32 = 3;
    /// Number of arguments of the LoPAR 2.13 limited-addressing form (`ibm,ddw-extensions`
    /// index 3; Linux `limited_dma_window` in `pseries/iommu.c`).
    pub const NARGS_LIMITED: u32 = 4;
    /// Number of return cells: the status.
    pub const NRET: u32 = 1;

    /// Decodes a reset call: 3 arguments, or 4 when `limited_addressing_advertised`
    /// ([`DdwExtensions::limited_addressing`](crate::rtas::DdwExtensions::limited_addressing)),
    /// and 1 return cell; else [`RtasStatus::PARAMETER_ERROR`] (QEMU, which does not
    /// advertise index 3, rejects the 4-argument form the same way).
    pub fn decode(
        call: &RtasCall,
        limited_addressing_advertised: bool,
    ) -> Result<Self, RtasStatus> {
        let limited =
            limited_addressing_advertised && call.has_shape(Self::NARGS_LIMITED, Self::NRET);
        if !limited {
            check_shape(call, Self::NARGS, Self::NRET)?;
        }
        let (config_addr, buid) = pe_from_args(call);
        Ok(Self {
            config_addr,
            buid,
            limited_addressing: if limited { call.arg(3) } else { None },
        })
    }

    /// The argument cells, as a guest passes them (3 or 4).
    pub fn to_args(&self) -> Vec<u32> {
        [self.config_addr.0, self.buid.hi(), self.buid.lo()]
            .into_iter()
            .chain(self.limited_addressing)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestAddress;

    #[test]
    fn four_arguments_only_when_advertised() {
        let pe = [0x0001_0800, 0x0800_0000, 0x2000_0000];
        let three = RtasCall::new(GuestAddress(0), 0x2029, &pe, 1);
        let four = RtasCall::new(GuestAddress(0), 0x2029, &[pe[0], pe[1], pe[2], 1], 1);
        let plain = ResetArgs::decode(&three, false).unwrap();
        assert_eq!(plain.limited_addressing, None);
        assert_eq!(plain.to_args(), pe);
        assert_eq!(ResetArgs::decode(&three, true), Ok(plain));
        assert_eq!(
            ResetArgs::decode(&four, false),
            Err(RtasStatus::PARAMETER_ERROR)
        );
        let limited = ResetArgs::decode(&four, true).unwrap();
        assert_eq!(limited.limited_addressing, Some(1));
        assert_eq!(limited.buid, plain.buid);
        assert_eq!(limited.to_args(), four.args);
    }

    #[test]
    fn other_shapes_are_parameter_errors() {
        for (nargs, nret) in [(2, 1), (5, 1), (3, 0), (3, 2), (4, 0)] {
            let call = RtasCall::new(GuestAddress(0), 0x2029, &[0; 5][..nargs], nret);
            assert_eq!(
                ResetArgs::decode(&call, true),
                Err(RtasStatus::PARAMETER_ERROR),
                "nargs {nargs} nret {nret}"
            );
        }
    }
}
