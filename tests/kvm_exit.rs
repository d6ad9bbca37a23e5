// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `handle_papr_hcall_exit` over byte images of `struct kvm_run`, with fields placed at the
//! kernel's offsets by hand (exit_reason @8, nr @32, ret @40, args[i] @48+8i; kernel-host.md
//! §1.3), so the view's offsets are checked independently of its own constants.

use std::cell::Cell;

use papr_hcall::{HcallOutcome, HcallStatus, H_GET_TCE, H_PUT_TCE, H_RTAS, H_STUFF_TCE};
use proptest::prelude::*;
use spapr_tce::kvm::{
    handle_papr_hcall_exit, ExitAction, KvmRunTooShort, PaprHcallExit, PaprHcallHandler,
    RtasHandler,
};

const KVM_EXIT_PAPR_HCALL: u32 = 19;
/// What the VMM's mmap of kvm_run looks like before the exit: not zero, so writes show.
const FILL: u8 = 0x5A;

/// A kvm_run image as the kernel leaves it at a PAPR hcall exit.
fn kvm_run_image(exit_reason: u32, nr: u64, args: [u64; 9]) -> Vec<u8> {
    let mut run = vec![FILL; 4096];
    run[8..12].copy_from_slice(&exit_reason.to_ne_bytes());
    run[32..40].copy_from_slice(&nr.to_ne_bytes());
    for (i, arg) in args.iter().enumerate() {
        run[48 + 8 * i..56 + 8 * i].copy_from_slice(&arg.to_ne_bytes());
    }
    run
}

fn ret_of(run: &[u8]) -> u64 {
    u64::from_ne_bytes(run[40..48].try_into().expect("8 bytes"))
}

/// Answers with a fixed outcome and records what it was asked.
struct Recorder {
    answer: Option<HcallOutcome>,
    seen: Cell<Option<(u64, [u64; 9])>>,
}

impl Recorder {
    fn answering(answer: Option<HcallOutcome>) -> Self {
        Self {
            answer,
            seen: Cell::new(None),
        }
    }
}

impl PaprHcallHandler for Recorder {
    fn handle_hcall(&self, nr: u64, args: &[u64; 9]) -> Option<HcallOutcome> {
        self.seen.set(Some((nr, *args)));
        self.answer
    }
}

struct Rtas {
    answer: Option<HcallStatus>,
    seen: Cell<Option<u64>>,
}

impl RtasHandler for Rtas {
    fn handle_rtas(&self, buffer: u64) -> Option<HcallStatus> {
        self.seen.set(Some(buffer));
        self.answer
    }
}

const ARGS: [u64; 9] = [0x8000_0001, 0x3000, 0x1_0003, 4, 5, 6, 7, 8, 9];

fn run(
    run: &mut [u8],
    hcalls: &dyn PaprHcallHandler,
    rtas: Option<&dyn RtasHandler>,
) -> ExitAction {
    let mut exit = PaprHcallExit::from_bytes(run).expect("long enough");
    handle_papr_hcall_exit(&mut exit, hcalls, rtas)
}

#[test]
fn other_exits_are_left_alone() {
    let mut image = kvm_run_image(2, H_PUT_TCE, ARGS); // KVM_EXIT_IO
    let before = image.clone();
    let handler = Recorder::answering(Some(HcallOutcome::SUCCESS));
    assert_eq!(
        run(&mut image, &handler, None),
        ExitAction::NotPaprHcall { exit_reason: 2 }
    );
    assert!(ExitAction::NotPaprHcall { exit_reason: 2 }.needs_vmm());
    assert_eq!(handler.seen.get(), None);
    assert_eq!(image, before);
}

#[test]
fn a_completed_put_writes_only_ret() {
    let mut image = kvm_run_image(KVM_EXIT_PAPR_HCALL, H_PUT_TCE, ARGS);
    let before = image.clone();
    let handler = Recorder::answering(Some(HcallOutcome::SUCCESS));
    let action = run(&mut image, &handler, None);
    assert_eq!(
        action,
        ExitAction::Completed {
            nr: H_PUT_TCE,
            outcome: HcallOutcome::SUCCESS
        }
    );
    assert!(!action.needs_vmm());
    assert_eq!(handler.seen.get(), Some((H_PUT_TCE, ARGS)));
    assert_eq!(ret_of(&image), 0);
    assert_eq!(image[..40], before[..40]);
    assert_eq!(image[48..], before[48..]);
}

#[test]
fn get_tce_returns_its_value_in_args0() {
    let mut image = kvm_run_image(KVM_EXIT_PAPR_HCALL, H_GET_TCE, ARGS);
    let before = image.clone();
    let handler = Recorder::answering(Some(HcallOutcome::with_value(0x7700_0003)));
    run(&mut image, &handler, None);
    assert_eq!(ret_of(&image), 0);
    assert_eq!(image[48..56], 0x7700_0003u64.to_ne_bytes());
    assert_eq!(
        image[56..],
        before[56..],
        "args[1..] keep the guest's values"
    );
}

#[test]
fn error_statuses_are_sign_extended() {
    let mut image = kvm_run_image(KVM_EXIT_PAPR_HCALL, H_STUFF_TCE, ARGS);
    let handler = Recorder::answering(Some(HcallOutcome::status(HcallStatus::PARAMETER)));
    run(&mut image, &handler, None);
    assert_eq!(ret_of(&image) as i64, -4);
}

#[test]
fn unimplemented_hcalls_get_h_function_never_too_hard() {
    for answer in [None, Some(HcallOutcome::status(HcallStatus::TOO_HARD))] {
        let mut image = kvm_run_image(KVM_EXIT_PAPR_HCALL, 0x64, ARGS);
        let before = image.clone();
        let handler = Recorder::answering(answer);
        assert_eq!(
            run(&mut image, &handler, None),
            ExitAction::Unsupported { nr: 0x64 }
        );
        assert_eq!(ret_of(&image) as i64, -2, "H_FUNCTION for {answer:?}");
        assert_eq!(image[48..], before[48..]);
    }
}

#[test]
fn rtas_without_a_handler_is_left_to_the_vmm() {
    let mut image = kvm_run_image(
        KVM_EXIT_PAPR_HCALL,
        H_RTAS,
        [0x7ff_0000, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    let before = image.clone();
    let hcalls = Recorder::answering(Some(HcallOutcome::SUCCESS));
    let action = run(&mut image, &hcalls, None);
    assert_eq!(action, ExitAction::RtasPending { buffer: 0x7ff_0000 });
    assert!(action.needs_vmm());
    assert_eq!(hcalls.seen.get(), None, "H_RTAS is not a TCE hcall");
    assert_eq!(image, before);

    // A handler that does not implement the token: same.
    let rtas = Rtas {
        answer: None,
        seen: Cell::new(None),
    };
    let action = run(&mut image, &hcalls, Some(&rtas));
    assert_eq!(action, ExitAction::RtasPending { buffer: 0x7ff_0000 });
    assert_eq!(rtas.seen.get(), Some(0x7ff_0000));
    assert_eq!(image, before);
}

#[test]
fn rtas_with_a_handler_writes_its_status() {
    let mut image = kvm_run_image(
        KVM_EXIT_PAPR_HCALL,
        H_RTAS,
        [0x10_0000, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    let hcalls = Recorder::answering(None);
    let rtas = Rtas {
        answer: Some(HcallStatus::PARAMETER),
        seen: Cell::new(None),
    };
    assert_eq!(
        run(&mut image, &hcalls, Some(&rtas)),
        ExitAction::RtasCompleted {
            buffer: 0x10_0000,
            status: HcallStatus::PARAMETER
        }
    );
    assert_eq!(ret_of(&image) as i64, -4);
}

#[test]
fn chained_handlers_ask_the_second_only_when_the_first_declines() {
    let first = Recorder::answering(None);
    let second = Recorder::answering(Some(HcallOutcome::with_value(1)));
    let mut image = kvm_run_image(KVM_EXIT_PAPR_HCALL, 0x2C, ARGS);
    run(&mut image, &(&first, &second), None);
    assert_eq!(first.seen.get().map(|(nr, _)| nr), Some(0x2C));
    assert_eq!(second.seen.get().map(|(nr, _)| nr), Some(0x2C));
    assert_eq!(image[48..56], 1u64.to_ne_bytes());

    let first = Recorder::answering(Some(HcallOutcome::SUCCESS));
    let second = Recorder::answering(Some(HcallOutcome::with_value(1)));
    let mut image = kvm_run_image(KVM_EXIT_PAPR_HCALL, 0x2C, ARGS);
    run(&mut image, &(&first, &second), None);
    assert_eq!(second.seen.get(), None);
}

#[test]
fn images_must_hold_papr_hcall_but_need_no_alignment() {
    let mut short = vec![0u8; 119];
    assert_eq!(
        PaprHcallExit::from_bytes(&mut short).unwrap_err(),
        KvmRunTooShort { len: 119 }
    );
    // 120 bytes starting at an odd address.
    let mut storage = kvm_run_image(KVM_EXIT_PAPR_HCALL, H_GET_TCE, ARGS);
    storage.insert(0, 0);
    let mut exit = PaprHcallExit::from_bytes(&mut storage[1..121]).expect("120 bytes");
    assert!(exit.is_papr_hcall());
    assert_eq!(exit.nr(), H_GET_TCE);
    assert_eq!(exit.args(), ARGS);
    assert_eq!(exit.arg(8), Some(9));
    assert_eq!(exit.arg(9), None);
    assert!(!exit.set_arg(9, 1));
    assert!(exit.set_arg(8, 0x99));
    assert_eq!(storage[1 + 112..1 + 120], 0x99u64.to_ne_bytes());
}

proptest! {
    #[test]
    fn completion_touches_only_ret_and_r4(
        nr in any::<u64>().prop_filter("not H_RTAS", |nr| *nr != H_RTAS),
        args in any::<[u64; 9]>(),
        status in any::<i64>().prop_filter("not H_TOO_HARD", |s| *s != 9999),
        r4 in any::<Option<u64>>(),
    ) {
        let mut image = kvm_run_image(KVM_EXIT_PAPR_HCALL, nr, args);
        let before = image.clone();
        let outcome = HcallOutcome { status: HcallStatus(status), r4 };
        let handler = Recorder::answering(Some(outcome));
        prop_assert_eq!(run(&mut image, &handler, None), ExitAction::Completed { nr, outcome });
        prop_assert_eq!(handler.seen.get(), Some((nr, args)));
        prop_assert_eq!(ret_of(&image), status as u64);
        let expected_r4 = r4.unwrap_or(args[0]);
        prop_assert_eq!(&image[48..56], &expected_r4.to_ne_bytes()[..]);
        prop_assert_eq!(&image[..40], &before[..40]);
        prop_assert_eq!(&image[56..], &before[56..]);
    }
}
