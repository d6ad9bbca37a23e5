// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Replays a [`CanonicalTrace`](super::CanonicalTrace) through the accelerator on the kernel
//! reference model, and checks every result against the recording.
//!
//! [`replay`] builds a [`ReplayMachine`] from the trace's layout (guest RAM of the recorded
//! size, every PHB a PE with its own [`ModelContainer`](vfio_spapr::model::ModelContainer),
//! VIO windows without one) and feeds every event, in order, through the accelerator's
//! public entry points exactly as a VMM would:
//!
//! * `put`, `get`, `stuff`, `indirect`: [`TceAccelerator::handle_hcall`](crate::TceAccelerator::handle_hcall)
//!   with the recorded arguments; before an `indirect` the list is written, big-endian, at
//!   the recorded guest-physical list address;
//! * `query`, `create`, `remove`, `reset`: an RTAS argument buffer written into guest RAM
//!   and `handle_hcall(H_RTAS, [buffer, ..])`; the return cells are read back from the buffer;
//! * `xlate`: [`TceAccelerator::translate`](crate::TceAccelerator::translate).
//!
//! It compares every return code, every H_GET_TCE value, every translation (address and
//! permission; a recorded permission 0 means "not mapped"), every DDW result (status;
//! create's LIOBN and start; query's windows available, page-size mask and, when the trace
//! knows it, the largest block), and runs the invariant checker
//! ([`check_invariants`](crate::check::check_invariants)) at the end and optionally every N
//! events. The [`ReplayReport`] counts events, TCEs, the host IOMMU calls made
//! (backend calls) against QEMU's ([`QemuBaseline`]) and the mismatches.
//!
//! ```no_run
//! use spapr_tce::replay::{engine::{replay, ReplayOptions}, load};
//! let trace = load("tests/fixtures/k61-2G.tce.xz").unwrap();
//! let report = replay(&trace, &ReplayOptions::default()).unwrap();
//! println!("{report}");
//! println!("{}", report.summary_line());
//! assert_eq!(report.mismatch_count, 0);
//! ```

mod baseline;
mod ddw;
mod machine;
mod mismatch;
mod report;
mod run;

pub use baseline::{qemu_tce_updates, QemuBaseline};
pub use machine::{ReplayAccelerator, ReplayMachine, ReplayMemory, QEMU_LARGEST_BLOCK_SHIFT};
pub use mismatch::{EventLocation, Mismatch, MismatchKind};
pub use report::{Comparisons, ReplayReport};
pub use run::replay;

/// How to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Mismatches kept in full in the report; later ones are only counted.
    pub max_mismatches: usize,
    /// Run the invariant checker after every this many events too (it always runs once at
    /// the end); `None` or 0: only at the end.
    pub check_every: Option<u64>,
    /// Compare a query's largest block when the trace knows it (`true` by default). Traces
    /// converted from QEMU logs know it only from the guest's DDW messages; QEMU's own trace
    /// line prints a constant (`shared/traces/README.md` §3), which the converter records as
    /// unknown.
    pub compare_largest_block: bool,
}

impl Default for ReplayOptions {
    /// 20 mismatches in full, invariants checked at the end only, largest block compared.
    fn default() -> Self {
        Self {
            max_mismatches: 20,
            check_every: None,
            compare_largest_block: true,
        }
    }
}

/// Why a replay could not run (mismatches are not errors: they are in the report).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The layout cannot be turned into a machine.
    #[error("machine layout: {0}")]
    Layout(String),
    /// Guest RAM could not be mapped.
    #[error("mapping {size:#x} bytes of guest RAM: {source}")]
    GuestMemory {
        /// Requested size.
        size: u64,
        /// vm-memory's error.
        #[source]
        source: vm_memory::mmap::FromRangesError,
    },
    /// The accelerator refused the configuration.
    #[error("building the accelerator: {0}")]
    Setup(#[from] crate::SetupError),
}
