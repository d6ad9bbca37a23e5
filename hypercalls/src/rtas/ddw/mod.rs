// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The four Dynamic DMA Window RTAS calls: argument decoding and result encoding
//! (LoPAR 2.9 `sec_rtas_dma_window.xml`; qemu-and-guest.md §2.6–§2.9; kernel-host.md
//! Appendix A).
//!
//! Decoders check only the buffer's shape (`nargs`/`nret`), exactly as QEMU and LoPAR do,
//! and answer [`RtasStatus::PARAMETER_ERROR`] for a guest that lies about it. Whether the
//! BUID names a PHB, the LIOBN a window, the page size is offered … is for the platform
//! that executes the call. Decoders do not log; the caller, which knows the call's context,
//! logs a refusal together with `call.nargs`/`call.nret`.

pub mod create;
pub mod query;
pub mod remove;
pub mod reset;

pub use create::{CreateArgs, CreateResult};
pub use query::{QueryArgs, QueryResult};
pub use remove::RemoveArgs;
pub use reset::ResetArgs;

use super::buffer::RtasCall;
use super::extensions::DdwExtensions;
use super::pe_address::{Buid, ConfigAddr};
use super::status::RtasStatus;
use super::tokens::{DdwCall, DdwTokens};

/// One decoded DDW call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DdwRequest {
    /// `ibm,query-pe-dma-window`; `six_outputs` when the guest asked for 6 return cells.
    Query {
        /// The arguments.
        args: QueryArgs,
        /// Reply with [`QueryResult::to_rets`]`(six_outputs)`.
        six_outputs: bool,
    },
    /// `ibm,create-pe-dma-window`.
    Create(CreateArgs),
    /// `ibm,remove-pe-dma-window`.
    Remove(RemoveArgs),
    /// `ibm,reset-pe-dma-window`.
    Reset(ResetArgs),
}

impl DdwRequest {
    /// Decodes `call` if its token is one of `tokens`: `None` when it is not a DDW call,
    /// `Some(Err(status))` when it is one with the wrong shape (write `status` back with
    /// [`RtasCall::write_status`]). The extensions say which optional forms are accepted.
    pub fn decode(
        call: &RtasCall,
        tokens: &DdwTokens,
        extensions: &DdwExtensions,
    ) -> Option<Result<Self, RtasStatus>> {
        let decoded = match tokens.call_for(call.token)? {
            DdwCall::Query => {
                QueryArgs::decode(call, extensions.query_six_outputs).map(|args| Self::Query {
                    args,
                    six_outputs: QueryArgs::wants_six_outputs(call),
                })
            }
            DdwCall::Create => CreateArgs::decode(call).map(Self::Create),
            DdwCall::Remove => RemoveArgs::decode(call).map(Self::Remove),
            DdwCall::Reset => {
                ResetArgs::decode(call, extensions.limited_addressing).map(Self::Reset)
            }
        };
        Some(decoded)
    }

    /// Which call this is.
    pub fn call(&self) -> DdwCall {
        match self {
            Self::Query { .. } => DdwCall::Query,
            Self::Create(_) => DdwCall::Create,
            Self::Remove(_) => DdwCall::Remove,
            Self::Reset(_) => DdwCall::Reset,
        }
    }
}

/// [`RtasStatus::PARAMETER_ERROR`] unless the guest declared exactly `nargs`/`nret`.
fn check_shape(call: &RtasCall, nargs: u32, nret: u32) -> Result<(), RtasStatus> {
    if call.has_shape(nargs, nret) {
        Ok(())
    } else {
        Err(RtasStatus::PARAMETER_ERROR)
    }
}

/// The PE address in arguments 0..2 (config_addr, BUID hi, BUID lo) of query, create and
/// reset. Missing cells read as 0; callers check the shape first.
fn pe_from_args(call: &RtasCall) -> (ConfigAddr, Buid) {
    let cell = |i| call.arg(i).unwrap_or_default();
    (ConfigAddr(cell(0)), Buid::from_cells(cell(1), cell(2)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestAddress;

    #[test]
    fn dispatch_by_token() {
        let tokens = DdwTokens::QEMU;
        let ext = DdwExtensions::QEMU;
        let pe = [0x0001_0800, 0x0800_0000, 0x2000_0000];
        let query = RtasCall::new(GuestAddress(0), 0x2026, &pe, 6);
        let Some(Ok(DdwRequest::Query { six_outputs, args })) =
            DdwRequest::decode(&query, &tokens, &ext)
        else {
            panic!("query not decoded");
        };
        assert!(six_outputs);
        assert_eq!(args.buid, Buid(0x0800_0000_2000_0000));
        let remove = RtasCall::new(GuestAddress(0), 0x2028, &[5], 1);
        assert_eq!(
            DdwRequest::decode(&remove, &tokens, &ext),
            Some(Ok(DdwRequest::Remove(RemoveArgs { liobn: 5 })))
        );
        let bad_create = RtasCall::new(GuestAddress(0), 0x2027, &pe, 4);
        assert_eq!(
            DdwRequest::decode(&bad_create, &tokens, &ext),
            Some(Err(RtasStatus::PARAMETER_ERROR))
        );
        let other = RtasCall::new(GuestAddress(0), 0x2001, &pe, 1);
        assert_eq!(DdwRequest::decode(&other, &tokens, &ext), None);
        let reset4 = RtasCall::new(GuestAddress(0), 0x2029, &[0, 0, 0, 1], 1);
        assert_eq!(
            DdwRequest::decode(&reset4, &tokens, &ext),
            Some(Err(RtasStatus::PARAMETER_ERROR))
        );
    }
}
