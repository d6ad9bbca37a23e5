// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The hostile-input catalogue: named requests a malicious or broken guest can make, each
//! with its exact PAPR/RTAS answer and its exact effect (nothing at all, for refusals),
//! with the rule and its source (kernel-host.md, qemu-and-guest.md, LoPAR). Tables live in
//! `tests/hostile/`; the racing-threads case is a separate test.

#![cfg(feature = "model")]

mod hostile;

use std::collections::HashSet;

#[test]
fn put_and_get() {
    hostile::run_table(&hostile::put_get::cases());
}

#[test]
fn stuff() {
    hostile::run_table(&hostile::stuff::cases());
}

#[test]
fn indirect() {
    hostile::run_table(&hostile::indirect::cases());
}

#[test]
fn rtas() {
    hostile::run_table(&hostile::rtas::cases());
}

#[test]
fn racing_threads() {
    hostile::concurrency::run();
}

#[test]
fn catalogue_has_at_least_60_uniquely_named_cases_with_rules() {
    let cases: Vec<hostile::Case> = [
        hostile::put_get::cases(),
        hostile::stuff::cases(),
        hostile::indirect::cases(),
        hostile::rtas::cases(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let names: HashSet<&str> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len(), "duplicate case names");
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    assert!(cases.iter().all(|c| !c.rule.is_empty()));
}

/// The runner itself can fail: a wrong code, and a wrong "unchanged" claim, are reported.
#[test]
fn runner_detects_wrong_answers_and_unexpected_changes() {
    use hostile::{put, Act, Case, Effect, Expect, DATA, OK};
    use spapr_tce::fuzzing::layout::PE0_DEFAULT;
    let wrong_code = Case {
        name: "wrong code",
        rule: "self-test",
        prepare: hostile::nothing,
        act: Act::Hcall(|_| put(papr_hcall::Liobn(0x8000_0002), 0, DATA | 3)),
        expect: Expect::H(OK),
        effect: Effect::Unchanged,
    };
    assert!(hostile::run_case(&wrong_code).is_err());
    let changed = Case {
        name: "claims unchanged",
        rule: "self-test",
        prepare: hostile::nothing,
        act: Act::Hcall(|_| put(PE0_DEFAULT, 0x1000, DATA | 3)),
        expect: Expect::H(OK),
        effect: Effect::Unchanged,
    };
    let error = hostile::run_case(&changed).expect_err("a mapping changed the state");
    assert!(error.contains("state changed"), "{error}");
}

/// When `UNREGISTER_MEMORY` fails during a hot-remove (a real kernel answers EBUSY while KVM
/// still maps the region, kernel-host.md §7 item 36), the removal is refused as a whole: the
/// region stays in the RAM map and registered everywhere, so a retry or `shutdown` still gives
/// back every registration and locked_vm charge (item 51). Found by the `faults` fuzz target.
#[test]
fn hot_remove_with_failed_unregister_gives_everything_back() {
    use spapr_tce::fuzzing::layout::HOTPLUG;
    use spapr_tce::lifecycle::RemovePolicy;
    use vfio_spapr::IommuOp;
    let world = hostile::populated();
    world
        .acc
        .add_memory_region(&*world.hotplug)
        .expect("hot-add");
    world.containers[1].inject_fault(IommuOp::UnregisterMemory, 1, libc::EBUSY);
    assert!(world
        .acc
        .remove_memory_region(HOTPLUG.0, RemovePolicy::Refuse)
        .is_err());
    // Whatever the accelerator answered, it must still be able to give the region back.
    let _ = world
        .acc
        .remove_memory_region(HOTPLUG.0, RemovePolicy::Refuse);
    world.acc.shutdown().expect("shutdown");
    assert_eq!(world.containers[0].registrations(), vec![]);
    assert_eq!(world.process.locked_vm_pages(), 0);
}
