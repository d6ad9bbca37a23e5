// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The vCPU glue: completing a `KVM_EXIT_PAPR_HCALL` exit with the accelerator.
//!
//! When the kernel does not complete a hypercall itself (unknown LIOBN, disabled hcall, a TCE
//! it cannot translate, …) the vCPU exits with `nr`/`args` holding r3/r4..r12; the VMM writes
//! `ret` (and outputs into `args`) and calls `KVM_RUN` again, which copies them back to
//! r3..r12 (kernel-host.md §1.3, checklist items 1–2).

use std::sync::Arc;

use papr_hcall::{HcallOutcome, HcallStatus, H_RTAS};

use super::bindings::PAPR_HCALL_ARG_COUNT;
use super::run::PaprHcallExit;

/// Something that executes PAPR hypercalls given their number and argument registers.
///
/// The accelerator implements it for the TCE hcalls; a VMM with more hcalls of its own can
/// chain handlers with a tuple `(first, second)`, which asks `second` when `first` returns
/// `None`.
pub trait PaprHcallHandler {
    /// Executes hcall `nr` with `args` = r4..r12. `None`: not an hcall this handler
    /// implements. A returned status must never be `H_TOO_HARD`.
    fn handle_hcall(&self, nr: u64, args: &[u64; PAPR_HCALL_ARG_COUNT]) -> Option<HcallOutcome>;
}

/// Something that executes RTAS calls passed through `KVMPPC_H_RTAS` (0xF000).
pub trait RtasHandler {
    /// Executes the RTAS call whose argument buffer is at guest-physical address `buffer`
    /// (r4), writing the RTAS status into the buffer, and returns the hcall's own status for
    /// r3 (normally `H_SUCCESS`). `None`: the call's token is not one this handler implements;
    /// the buffer must then be untouched.
    fn handle_rtas(&self, buffer: u64) -> Option<HcallStatus>;
}

/// What [`handle_papr_hcall_exit`] did, and whether the VMM still has work before the next
/// `KVM_RUN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitAction {
    /// The exit is not `KVM_EXIT_PAPR_HCALL`; nothing was read or written.
    NotPaprHcall {
        /// `kvm_run.exit_reason`.
        exit_reason: u32,
    },
    /// The handler executed the hcall; `ret` (and `args[0]` if it has an output) are written.
    Completed {
        /// The hcall number.
        nr: u64,
        /// The handler's answer.
        outcome: HcallOutcome,
    },
    /// No handler implements the hcall: `ret` is `H_FUNCTION`.
    Unsupported {
        /// The hcall number.
        nr: u64,
    },
    /// The RTAS handler executed the `H_RTAS` call; `ret` is written.
    RtasCompleted {
        /// Guest-physical address of the RTAS argument buffer.
        buffer: u64,
        /// The hcall status written to `ret`.
        status: HcallStatus,
    },
    /// `H_RTAS` for a call no RTAS handler took; nothing was written: the VMM must execute
    /// it and set `ret` before the next `KVM_RUN`.
    RtasPending {
        /// Guest-physical address of the RTAS argument buffer (r4).
        buffer: u64,
    },
}

impl ExitAction {
    /// True when the VMM must still handle the exit itself before the next `KVM_RUN`.
    pub fn needs_vmm(&self) -> bool {
        matches!(self, Self::NotPaprHcall { .. } | Self::RtasPending { .. })
    }
}

/// Completes a `KVM_EXIT_PAPR_HCALL` exit.
///
/// * Not a PAPR hcall exit → [`ExitAction::NotPaprHcall`], nothing touched.
/// * `H_RTAS` (0xF000) → `rtas`, if given and it implements the call; otherwise
///   [`ExitAction::RtasPending`] for the VMM's own RTAS.
/// * Anything else → `hcalls`. Its outcome's status goes to `ret`; its r4 output, if any
///   (`H_GET_TCE`'s TCE), to `args[0]`; `args[1..]` keep the guest's values.
///
/// The guest never sees `H_TOO_HARD` (checklist item 1): an hcall that `hcalls` does not
/// implement (`None`) is answered **`H_FUNCTION`**, as PAPR specifies for an unimplemented
/// function. A VMM that implements further hcalls chains its own handler (see
/// [`PaprHcallHandler`]). A handler answer of `H_TOO_HARD`, which is a bug, is also turned
/// into `H_FUNCTION`.
///
/// ```
/// use papr_hcall::{HcallOutcome, HcallStatus, H_GET_TCE};
/// use spapr_tce::kvm::{
///     bindings::KVM_EXIT_PAPR_HCALL, handle_papr_hcall_exit, ExitAction, PaprHcallExit,
///     PaprHcallHandler,
/// };
///
/// /// Every entry of every window reads 0x1003.
/// struct Fixed;
/// impl PaprHcallHandler for Fixed {
///     fn handle_hcall(&self, nr: u64, _args: &[u64; 9]) -> Option<HcallOutcome> {
///         (nr == H_GET_TCE).then(|| HcallOutcome::with_value(0x1003))
///     }
/// }
///
/// let mut image = vec![0u8; 2048];
/// image[8..12].copy_from_slice(&KVM_EXIT_PAPR_HCALL.to_ne_bytes());
/// image[32..40].copy_from_slice(&H_GET_TCE.to_ne_bytes());
/// let mut run = PaprHcallExit::from_bytes(&mut image)?;
/// let action = handle_papr_hcall_exit(&mut run, &Fixed, None);
/// assert!(!action.needs_vmm());
/// assert_eq!((run.ret(), run.arg(0)), (0, Some(0x1003)));
///
/// image[32..40].copy_from_slice(&0x64u64.to_ne_bytes()); // some other hcall
/// let mut run = PaprHcallExit::from_bytes(&mut image)?;
/// assert_eq!(handle_papr_hcall_exit(&mut run, &Fixed, None), ExitAction::Unsupported { nr: 0x64 });
/// assert_eq!(run.ret(), HcallStatus::FUNCTION.to_register());
/// # Ok::<(), spapr_tce::kvm::KvmRunTooShort>(())
/// ```
pub fn handle_papr_hcall_exit<H: PaprHcallHandler + ?Sized>(
    run: &mut PaprHcallExit<'_>,
    hcalls: &H,
    rtas: Option<&dyn RtasHandler>,
) -> ExitAction {
    if !run.is_papr_hcall() {
        return ExitAction::NotPaprHcall {
            exit_reason: run.exit_reason(),
        };
    }
    let nr = run.nr();
    let args = run.args();
    if nr == H_RTAS {
        let buffer = args[0];
        return match rtas.and_then(|rtas| rtas.handle_rtas(buffer)) {
            Some(status) => {
                run.set_ret(status.to_register());
                ExitAction::RtasCompleted { buffer, status }
            }
            None => ExitAction::RtasPending { buffer },
        };
    }
    match hcalls.handle_hcall(nr, &args) {
        Some(outcome) if outcome.status != HcallStatus::TOO_HARD => {
            run.complete(&outcome);
            ExitAction::Completed { nr, outcome }
        }
        answer => {
            if answer.is_some() {
                log::warn!(
                    "hcall {nr:#x}: the handler answered H_TOO_HARD; the guest gets H_FUNCTION"
                );
            } else {
                log::debug!("hcall {nr:#x} is not implemented: answering H_FUNCTION");
            }
            run.set_ret(HcallStatus::FUNCTION.to_register());
            ExitAction::Unsupported { nr }
        }
    }
}

impl<T: PaprHcallHandler + ?Sized> PaprHcallHandler for &T {
    fn handle_hcall(&self, nr: u64, args: &[u64; PAPR_HCALL_ARG_COUNT]) -> Option<HcallOutcome> {
        (**self).handle_hcall(nr, args)
    }
}

impl<T: PaprHcallHandler + ?Sized> PaprHcallHandler for Box<T> {
    fn handle_hcall(&self, nr: u64, args: &[u64; PAPR_HCALL_ARG_COUNT]) -> Option<HcallOutcome> {
        (**self).handle_hcall(nr, args)
    }
}

impl<T: PaprHcallHandler + ?Sized> PaprHcallHandler for Arc<T> {
    fn handle_hcall(&self, nr: u64, args: &[u64; PAPR_HCALL_ARG_COUNT]) -> Option<HcallOutcome> {
        (**self).handle_hcall(nr, args)
    }
}

/// `first`, then `second` for the hcalls `first` does not implement.
impl<A: PaprHcallHandler, B: PaprHcallHandler> PaprHcallHandler for (A, B) {
    fn handle_hcall(&self, nr: u64, args: &[u64; PAPR_HCALL_ARG_COUNT]) -> Option<HcallOutcome> {
        self.0
            .handle_hcall(nr, args)
            .or_else(|| self.1.handle_hcall(nr, args))
    }
}

impl<T: RtasHandler + ?Sized> RtasHandler for &T {
    fn handle_rtas(&self, buffer: u64) -> Option<HcallStatus> {
        (**self).handle_rtas(buffer)
    }
}

impl<T: RtasHandler + ?Sized> RtasHandler for Box<T> {
    fn handle_rtas(&self, buffer: u64) -> Option<HcallStatus> {
        (**self).handle_rtas(buffer)
    }
}

impl<T: RtasHandler + ?Sized> RtasHandler for Arc<T> {
    fn handle_rtas(&self, buffer: u64) -> Option<HcallStatus> {
        (**self).handle_rtas(buffer)
    }
}

/// `first`, then `second` for the RTAS calls `first` does not implement.
impl<A: RtasHandler, B: RtasHandler> RtasHandler for (A, B) {
    fn handle_rtas(&self, buffer: u64) -> Option<HcallStatus> {
        self.0
            .handle_rtas(buffer)
            .or_else(|| self.1.handle_rtas(buffer))
    }
}
