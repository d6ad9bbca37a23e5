// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! One disagreement between the replay and the recording.

use std::fmt;

use crate::check::InvariantViolation;
use crate::replay::text_write::event_text;
use crate::replay::TraceEvent;

/// Where an event sits in the trace. The canonical format keeps no source line numbers, so
/// an event is located by its position among the unfolded events and by its record (a line
/// of the canonical text after the header; for a `repeat` record, the repetition).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventLocation {
    /// Position among the unfolded events, from 0 (as in `CanonicalTrace::events().nth(..)`).
    pub index: u64,
    /// Index of the record in `CanonicalTrace::records`, from 0.
    pub record: usize,
    /// For an event of a `repeat` record: the repetition (from 0) and the run's count.
    pub repetition: Option<(u64, u64)>,
}

impl fmt::Display for EventLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event #{} (record #{}", self.index, self.record)?;
        if let Some((repetition, count)) = self.repetition {
            write!(f, ", repetition {repetition} of {count}")?;
        }
        write!(f, ")")
    }
}

/// What disagreed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MismatchKind {
    /// A hypercall returned another status than recorded.
    ReturnCode {
        /// Recorded.
        expected: i64,
        /// Returned by the accelerator.
        got: i64,
    },
    /// H_GET_TCE returned another TCE (`None`: no value in r4).
    GetValue {
        /// Recorded.
        expected: u64,
        /// Returned by the accelerator.
        got: Option<u64>,
    },
    /// A translation differs: page-aligned address and permission bits (`None`: the
    /// accelerator does not translate the address, i.e. permission 0).
    Translation {
        /// Recorded page-aligned address.
        expected_addr: u64,
        /// Recorded permission (0: not mapped).
        expected_perm: u8,
        /// Page-aligned address and permission the accelerator translates to.
        got: Option<(u64, u8)>,
    },
    /// An RTAS status differs.
    RtasStatus {
        /// Recorded.
        expected: i64,
        /// Returned in the buffer.
        got: i64,
    },
    /// A DDW result field differs.
    DdwField {
        /// `liobn`, `start`, `windows`, `largest block` or `mask`.
        field: &'static str,
        /// Recorded.
        expected: u64,
        /// Returned in the buffer.
        got: u64,
    },
    /// The accelerator did not handle the request at all, or its answer could not be read.
    NotHandled {
        /// Why.
        reason: String,
    },
    /// The invariant checker found the guest view and the model's hardware apart.
    Invariants {
        /// The violations reported (the checker stops collecting after a few dozen).
        violations: Vec<InvariantViolation>,
    },
}

impl fmt::Display for MismatchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReturnCode { expected, got } => {
                write!(f, "return code: expected {expected}, got {got}")
            }
            Self::GetValue { expected, got } => match got {
                Some(got) => write!(f, "H_GET_TCE value: expected {expected:#x}, got {got:#x}"),
                None => write!(f, "H_GET_TCE value: expected {expected:#x}, got none"),
            },
            Self::Translation {
                expected_addr,
                expected_perm,
                got,
            } => {
                write!(f, "translation: expected ")?;
                match expected_perm {
                    0 => write!(f, "not mapped")?,
                    perm => write!(f, "{expected_addr:#x} perm {perm}")?,
                }
                match got {
                    Some((addr, perm)) => write!(f, ", got {addr:#x} perm {perm}"),
                    None => write!(f, ", got not mapped"),
                }
            }
            Self::RtasStatus { expected, got } => {
                write!(f, "RTAS status: expected {expected}, got {got}")
            }
            Self::DdwField {
                field,
                expected,
                got,
            } => write!(f, "{field}: expected {expected:#x}, got {got:#x}"),
            Self::NotHandled { reason } => write!(f, "not handled: {reason}"),
            Self::Invariants { violations } => {
                write!(f, "{} invariant violation(s)", violations.len())?;
                for violation in violations.iter().take(8) {
                    write!(f, "\n      {violation}")?;
                }
                if violations.len() > 8 {
                    write!(f, "\n      ...")?;
                }
                Ok(())
            }
        }
    }
}

/// One mismatch, in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Where: the event (for a periodic invariant check, the event after which it ran; for
    /// the final check, one past the last event and the last record).
    pub location: EventLocation,
    /// The event (`None` for the invariant check at the end).
    pub event: Option<TraceEvent>,
    /// What disagreed.
    pub kind: MismatchKind,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.event {
            Some(event) => write!(
                f,
                "{}: {}\n    {}",
                self.location,
                event_text(event),
                self.kind
            ),
            None => write!(f, "after the last event: {}", self.kind),
        }
    }
}
