// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `ibm,remove-pe-dma-window`: 1 argument, 1 return cell (qemu-and-guest.md §2.8).

use super::check_shape;
use crate::rtas::buffer::RtasCall;
use crate::rtas::status::RtasStatus;
use crate::tce::Liobn;

/// Arguments of `ibm,remove-pe-dma-window(LIOBN)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemoveArgs {
    /// The window to remove, as returned by create (or from `ibm,dma-window`).
    pub liobn: u32,
}

impl RemoveArgs {
    /// Number of arguments (LoPAR; QEMU `rtas_ibm_remove_pe_dma_window`).
    pub const NARGS: u32 = 1;
    /// Number of return cells: the status.
    pub const NRET: u32 = 1;

    /// Decodes a remove call: exactly 1 argument and 1 return cell, else
    /// [`RtasStatus::PARAMETER_ERROR`].
    pub fn decode(call: &RtasCall) -> Result<Self, RtasStatus> {
        check_shape(call, Self::NARGS, Self::NRET)?;
        Ok(Self {
            liobn: call.arg(0).unwrap_or_default(),
        })
    }

    /// The LIOBN widened to the hypercall type (TCE hypercalls pass 64-bit LIOBNs).
    pub fn window(&self) -> Liobn {
        Liobn(u64::from(self.liobn))
    }

    /// The argument cells, as a guest passes them.
    pub fn to_args(&self) -> [u32; 1] {
        [self.liobn]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestAddress;

    #[test]
    fn decode_needs_exactly_one_and_one() {
        let call = RtasCall::new(GuestAddress(0), 0x2028, &[0x8000_0001], 1);
        let args = RemoveArgs::decode(&call).unwrap();
        assert_eq!(args.liobn, 0x8000_0001);
        assert_eq!(args.window(), Liobn(0x8000_0001));
        for (argv, nret) in [(&[][..], 1), (&[1, 2][..], 1), (&[1][..], 0), (&[1][..], 2)] {
            let call = RtasCall::new(GuestAddress(0), 0x2028, argv, nret);
            assert_eq!(RemoveArgs::decode(&call), Err(RtasStatus::PARAMETER_ERROR));
        }
    }
}
