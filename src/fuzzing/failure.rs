// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! What a fuzz run (or a hostile-input test) can find.

use papr_hcall::{HcallStatus, Liobn};
use vfio_spapr::DmaAccess;

use crate::check::InvariantViolation;

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// The world could not be built.
    #[error("setup failed: {0}")]
    Setup(String),
    /// The guest view and the model's hardware disagree ([`check_invariants`](crate::check::check_invariants)).
    #[error("guest view and hardware disagree: {0:#?}")]
    Invariants(Vec<InvariantViolation>),
    /// A hypercall answered something the rules do not allow.
    #[error("{call}: status {status}, expected {expected}")]
    Status {
        /// The request.
        call: String,
        /// What the accelerator answered.
        status: HcallStatus,
        /// What the rules say (several codes are listed when a host failure allows them).
        expected: String,
    },
    /// A guest view changed in a way the last operation does not explain.
    #[error("{liobn}: {detail}")]
    GuestView {
        /// The window.
        liobn: Liobn,
        /// What differs.
        detail: String,
    },
    /// A hardware entry maps memory outside registered guest RAM.
    #[error("PE {pe}: hardware maps iova {iova:#x} -> {vaddr:#x} outside registered guest RAM")]
    OutsideRam {
        /// The PE index.
        pe: usize,
        /// Bus address.
        iova: u64,
        /// Host address.
        vaddr: u64,
    },
    /// A hardware entry allows more than its guest TCE.
    #[error("PE {pe}: hardware iova {iova:#x} allows {hw:?} but the TCE is {tce:#x}")]
    WiderPermission {
        /// The PE index.
        pe: usize,
        /// Bus address.
        iova: u64,
        /// Hardware permission.
        hw: DmaAccess,
        /// The guest TCE covering it.
        tce: u64,
    },
    /// Registrations, their `mapped` counts or locked_vm are inconsistent.
    #[error("accounting: {0}")]
    Accounting(String),
    /// The accelerator's counters disagree with what happened.
    #[error("counters: {0}")]
    Counters(String),
    /// An RTAS call misbehaved.
    #[error("RTAS: {0}")]
    Rtas(String),
    /// A call that is not a TCE hypercall was claimed, or the reverse.
    #[error("dispatch: {0}")]
    Dispatch(String),
    /// Teardown left something behind.
    #[error("teardown: {0}")]
    Teardown(String),
    /// A decoder broke its contract (decode target).
    #[error("decoding: {0}")]
    Decode(String),
}

/// A violation with the operation that exposed it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("after step {step} ({op}): {violation}")]
pub struct Failure {
    /// Index of the operation (`usize::MAX` for setup and teardown).
    pub step: usize,
    /// The operation, as `Debug` text.
    pub op: String,
    /// What broke.
    pub violation: Violation,
}

impl Failure {
    /// A failure outside any step (setup, teardown, decoding).
    pub fn outside(what: &str, violation: Violation) -> Self {
        Self {
            step: usize::MAX,
            op: what.to_string(),
            violation,
        }
    }
}
