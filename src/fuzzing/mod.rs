// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The fuzz harness, shared by the cargo-fuzz targets in `fuzz/` and by `cargo test`
//! (`tests/fuzz_corpus.rs` replays every committed corpus file through the same functions).
//!
//! Three targets:
//! * [`run_decode`]: arbitrary hypercall registers and RTAS buffers through every decoder of
//!   `papr-hcall` (never panics, round-trips);
//! * [`run_ops`]: the input decoded into operations ([`Op`]: TCE hypercalls, DDW RTAS calls
//!   written as big-endian buffers into guest memory, TCE-list writes, raw registers) against
//!   the [`layout`] world; after **every** step the world is checked ([`checks`]): the guest
//!   views against an independent [`shadow`] and [`oracle`], the model hardware against the
//!   guest views ([`check_invariants`](crate::check::check_invariants)), hardware inside
//!   registered RAM with no wider permission than its TCE, registration `mapped` counts,
//!   locked_vm and the counters; at the end [`TceAccelerator::shutdown`] must return every
//!   registration and locked_vm charge;
//! * [`run_faults`]: the same with [`Op::Fault`] making container calls fail with arbitrary
//!   errnos, plus an optional failure during setup selected by the first byte.
//!
//! ```
//! use spapr_tce::fuzzing::{encode_ops, run_ops, LiobnSel, IobaSel, GpaSel, Op, TceSel};
//! let input = encode_ops(&[Op::Put {
//!     liobn: LiobnSel::Known(0),
//!     ioba: IobaSel::Entry(5),
//!     tce: TceSel::Page { gpa: GpaSel::Ram(1, 3), permission: 3 },
//! }]);
//! run_ops(&input).unwrap();
//! // Any bytes at all are a valid input.
//! run_ops(b"\xff\x00 arbitrary").unwrap();
//! ```
//!
//! [`TceAccelerator::shutdown`]: crate::TceAccelerator::shutdown

pub mod checks;
mod decode;
mod failure;
mod hotplug_step;
pub mod layout;
mod ops;
mod ops_codec;
pub mod oracle;
mod rtas_rules;
mod rtas_step;
mod run;
pub mod seeds;
mod select;
pub mod shadow;
mod source;
mod world;

pub use decode::run_decode;
pub use failure::{Failure, Violation};
pub use ops::{
    FaultSpec, ListFill, Op, RtasKind, RtasOp, FAULT_ERRNOS, FAULT_OPS, MAX_LIST_TCES, MAX_OPS,
};
pub use ops_codec::{decode_ops, encode_ops};
pub use run::{Mode, Runner};
pub use select::{Codec, CountSel, GpaSel, IobaSel, LiobnSel, PeSel, ShiftSel, TceSel, SHIFTS};
pub use source::{ByteSink, ByteSource};
pub use world::{
    config, guest_memory, host_page_size, Accelerator, Container, Geometry, Memory, Parts, World,
};

use vfio_spapr::IommuOp;

/// The `stateful` target: decodes `data` into operations and runs them against a fresh
/// world without host failures, checking every step and the teardown.
pub fn run_ops(data: &[u8]) -> Result<(), Failure> {
    let world = World::new().map_err(|v| Failure::outside("setup", v))?;
    Runner::new(world, Mode::Stateful).run(&decode_ops(data))
}

/// Container calls made while building the world, one of which the `faults` target's first
/// byte may fail.
const SETUP_FAULT_OPS: [IommuOp; 4] = [
    IommuOp::GetInfo,
    IommuOp::RegisterMemory,
    IommuOp::RemoveWindow,
    IommuOp::CreateWindow,
];

/// The `faults` target: byte 0 optionally fails one container call of the setup (values
/// below 0x80 do not); the rest runs like [`run_ops`] with [`Op::Fault`] enabled. When the
/// setup fails, the containers must give everything back once released.
pub fn run_faults(data: &[u8]) -> Result<(), Failure> {
    let (first, rest) = data.split_first().map_or((0, data), |(&b, r)| (b, r));
    let parts = Parts::new().map_err(|v| Failure::outside("setup", v))?;
    if first >= 0x80 {
        let container = &parts.containers[usize::from(first & 1)];
        let op = SETUP_FAULT_OPS[usize::from(first >> 1) % SETUP_FAULT_OPS.len()];
        let nth = u64::from((first >> 3) & 1) + 1;
        let errno = FAULT_ERRNOS[usize::from(first >> 4) % FAULT_ERRNOS.len()];
        container.inject_fault(op, nth, errno);
    }
    let world = match parts.build() {
        Ok(world) => world,
        Err((parts, error)) => return setup_failed(&parts, &error),
    };
    Runner::new(world, Mode::Faults).run(&decode_ops(rest))
}

/// After a failed setup: the error names a PE, and releasing the containers (closing them)
/// returns every registration and charge.
fn setup_failed(parts: &Parts, error: &crate::SetupError) -> Result<(), Failure> {
    let _ = error.to_string();
    for container in &parts.containers {
        container.release();
    }
    let charged = parts.process.locked_vm_pages();
    let registrations = parts.containers[0].registrations();
    if charged != 0 || !registrations.is_empty() {
        return Err(Failure::outside(
            "failed setup",
            Violation::Teardown(format!(
                "after {error}: {charged} pages charged, registrations {registrations:x?}"
            )),
        ));
    }
    Ok(())
}
