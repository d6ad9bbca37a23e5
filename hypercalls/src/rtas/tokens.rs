// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! RTAS tokens of the four DDW calls, published in `ibm,ddw-applicable` and
//! `ibm,ddw-extensions` (qemu-and-guest.md §0 fact 2, §2.10).

use super::extensions::DdwExtensions;

/// Which DDW call a token names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DdwCall {
    /// `ibm,query-pe-dma-window`.
    Query,
    /// `ibm,create-pe-dma-window`.
    Create,
    /// `ibm,remove-pe-dma-window`.
    Remove,
    /// `ibm,reset-pe-dma-window`.
    Reset,
}

impl DdwCall {
    /// The RTAS service name, as in the `/rtas` node.
    pub fn name(self) -> &'static str {
        match self {
            Self::Query => "ibm,query-pe-dma-window",
            Self::Create => "ibm,create-pe-dma-window",
            Self::Remove => "ibm,remove-pe-dma-window",
            Self::Reset => "ibm,reset-pe-dma-window",
        }
    }
}

/// The tokens a VMM assigns to the DDW calls.
///
/// ```
/// use papr_hcall::rtas::{DdwCall, DdwTokens};
/// let tokens = DdwTokens::default();
/// assert_eq!(tokens.ddw_applicable_cells(), [0x2026, 0x2027, 0x2028]);
/// assert_eq!(tokens.call_for(0x2029), Some(DdwCall::Reset));
/// assert_eq!(tokens.call_for(0x2025), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DdwTokens {
    /// Token of `ibm,query-pe-dma-window`.
    pub query: u32,
    /// Token of `ibm,create-pe-dma-window`.
    pub create: u32,
    /// Token of `ibm,remove-pe-dma-window`.
    pub remove: u32,
    /// Token of `ibm,reset-pe-dma-window`.
    pub reset: u32,
}

impl DdwTokens {
    /// QEMU's tokens, 0x2026..=0x2029 (`RTAS_IBM_QUERY_PE_DMA_WINDOW` … in
    /// `include/hw/ppc/spapr.h`; qemu-and-guest.md §0 fact 2). Guests read tokens from the
    /// device tree, so any distinct values work; these keep traces comparable with QEMU's.
    pub const QEMU: Self = Self {
        query: 0x2026,
        create: 0x2027,
        remove: 0x2028,
        reset: 0x2029,
    };

    /// The PHB property `ibm,ddw-applicable`: query, create, remove tokens, in that order
    /// (LoPAR `app_papr_binding.xml`; Linux `DDW_QUERY_PE_DMA_WIN` … in `pseries/iommu.c`).
    pub fn ddw_applicable_cells(&self) -> [u32; 3] {
        [self.query, self.create, self.remove]
    }

    /// The `ibm,ddw-extensions` that advertise these tokens' reset call, with the optional
    /// query and limited-addressing features as given.
    pub fn extensions(&self, query_six_outputs: bool, limited_addressing: bool) -> DdwExtensions {
        DdwExtensions {
            reset_token: Some(self.reset),
            query_six_outputs,
            limited_addressing,
        }
    }

    /// The DDW call `token` names, if any (the first match if tokens repeat).
    pub fn call_for(&self, token: u32) -> Option<DdwCall> {
        [
            (self.query, DdwCall::Query),
            (self.create, DdwCall::Create),
            (self.remove, DdwCall::Remove),
            (self.reset, DdwCall::Reset),
        ]
        .into_iter()
        .find(|&(t, _)| t == token)
        .map(|(_, call)| call)
    }

    /// The token of a call.
    pub fn token_of(&self, call: DdwCall) -> u32 {
        match call {
            DdwCall::Query => self.query,
            DdwCall::Create => self.create,
            DdwCall::Remove => self.remove,
            DdwCall::Reset => self.reset,
        }
    }
}

impl Default for DdwTokens {
    /// [`DdwTokens::QEMU`].
    fn default() -> Self {
        Self::QEMU
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_extensions_match_its_device_tree() {
        assert_eq!(
            DdwTokens::QEMU.extensions(true, false).to_cells(),
            [2, 0x2029, 1]
        );
    }

    #[test]
    fn token_of_and_call_for_agree() {
        let tokens = DdwTokens {
            query: 7,
            create: 8,
            remove: 9,
            reset: 10,
        };
        for call in [
            DdwCall::Query,
            DdwCall::Create,
            DdwCall::Remove,
            DdwCall::Reset,
        ] {
            assert_eq!(
                tokens.call_for(tokens.token_of(call)),
                Some(call),
                "{}",
                call.name()
            );
        }
        assert_eq!(tokens.call_for(11), None);
    }
}
