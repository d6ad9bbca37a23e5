use std::collections::HashSet;

use super::judge;
use super::scenario::{Bus, Checked, Expect, Outcome, Scenario, Step};
use super::suite::{hazards, scenarios, ARENA_BYTES};

#[test]
fn suite_is_well_formed() {
    let regular = scenarios();
    assert!(regular.len() >= 15, "only {} scenarios", regular.len());
    let mut all = regular;
    all.extend(hazards());
    let mut names = HashSet::new();
    for s in &all {
        assert!(names.insert(s.name), "duplicate scenario {}", s.name);
        assert!(!s.name.contains(char::is_whitespace), "{}", s.name);
        assert!(!s.steps.is_empty(), "{} has no steps", s.name);
        let mut creates_expected_ok = 0;
        for c in &s.steps {
            let memory = match c.step {
                Step::Register { off, len } | Step::Unregister { off, len } => Some((off, len)),
                Step::Map { off, len, .. } => Some((off, len)),
                _ => None,
            };
            if let Some((off, len)) = memory {
                assert!(
                    off + len <= ARENA_BYTES,
                    "{}: {} leaves the arena",
                    s.name,
                    c.step
                );
            }
            let bus = match c.step {
                Step::Remove { at } => Some(at),
                Step::Map { iova, .. } | Step::Unmap { iova, .. } => Some(iova),
                _ => None,
            };
            if let Some(Bus::Created(n, _)) = bus {
                assert!(
                    n < creates_expected_ok,
                    "{}: {} names window {n} before it is created",
                    s.name,
                    c.step
                );
            }
            if matches!(c.step, Step::Create { .. })
                && matches!(c.expect, Expect::Ok | Expect::CreatedAt(_))
            {
                creates_expected_ok += 1;
            }
        }
    }
}

#[test]
fn expectations_admit_only_their_outcomes() {
    assert!(Expect::Ok.admits(Outcome::Ok));
    assert!(Expect::Ok.admits(Outcome::Created(5)));
    assert!(!Expect::Ok.admits(Outcome::Err(libc::EINVAL)));
    assert!(Expect::CreatedAt(1 << 59).admits(Outcome::Created(1 << 59)));
    assert!(!Expect::CreatedAt(1 << 59).admits(Outcome::Created(0)));
    assert!(Expect::Err(libc::EBUSY).admits(Outcome::Err(libc::EBUSY)));
    assert!(!Expect::Err(libc::EBUSY).admits(Outcome::Err(libc::EINVAL)));
    assert!(!Expect::Err(libc::EBUSY).admits(Outcome::Ok));
    assert!(!Expect::Ok.admits(Outcome::Unresolved));
    assert!(Expect::Any.admits(Outcome::Unresolved));
}

fn two_steps() -> Scenario {
    Scenario {
        name: "t",
        steps: vec![
            Checked {
                step: Step::Register { off: 0, len: 4096 },
                expect: Expect::Ok,
                rule: "r1",
                deviation: None,
            },
            Checked {
                step: Step::Register { off: 0, len: 0 },
                expect: Expect::Any,
                rule: "r2",
                deviation: None,
            },
        ],
    }
}

#[test]
fn judge_accepts_agreement_with_the_documentation_and_between_sides() {
    let runs = vec![
        ("kernel", vec![Outcome::Ok, Outcome::Err(libc::ENOMEM)]),
        ("model", vec![Outcome::Ok, Outcome::Err(libc::ENOMEM)]),
    ];
    assert!(judge(&two_steps(), &runs).is_empty());
}

#[test]
fn judge_reports_each_difference() {
    // The kernel contradicts the documentation at step 1; the model differs at step 2 (where
    // the documentation is open) but still matches the documentation at step 1.
    let runs = vec![
        ("kernel", vec![Outcome::Err(libc::EINVAL), Outcome::Ok]),
        ("model", vec![Outcome::Ok, Outcome::Err(libc::ENOMEM)]),
    ];
    let problems = judge(&two_steps(), &runs);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[0].starts_with("kernel step 1 register(+0x0,0x1000): got EINVAL, documented ok")
    );
    assert!(problems[1].starts_with("model differs from kernel at step 1"));
    assert!(problems[2].contains("step 2") && problems[2].contains("ENOMEM vs ok"));
}

#[test]
fn judge_holds_other_sides_to_documented_deviations() {
    let mut scenario = two_steps();
    scenario.steps[0] = scenario.steps[0].deviates(Expect::Err(libc::EBUSY), "model refuses");
    let kernel = ("kernel", vec![Outcome::Ok, Outcome::Ok]);
    let deviating = ("model", vec![Outcome::Err(libc::EBUSY), Outcome::Ok]);
    assert!(judge(&scenario, &[kernel.clone(), deviating]).is_empty());
    // Agreeing with the kernel where a deviation is documented is a failure too: the
    // documentation is then out of date.
    let agreeing = ("model", vec![Outcome::Ok, Outcome::Ok]);
    let problems = judge(&scenario, &[kernel.clone(), agreeing]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("documented EBUSY (model refuses)"));
    // The kernel itself is still held to the main expectation.
    let wrong_kernel = ("kernel", vec![Outcome::Err(libc::EBUSY), Outcome::Ok]);
    assert_eq!(judge(&scenario, &[wrong_kernel]).len(), 1);
}

#[test]
fn judge_reports_missing_outcomes() {
    let runs = vec![("kernel", vec![Outcome::Ok])];
    assert_eq!(
        judge(&two_steps(), &runs),
        vec!["kernel: 1 outcomes for 2 steps"]
    );
}

#[test]
fn outcomes_survive_encoding() {
    use vfio_spapr::{DdwInfo, SpaprIommuInfo};
    let info = SpaprIommuInfo {
        dma32_window_start: 0,
        dma32_window_size: 0x1000_0000,
        ddw: Some(DdwInfo {
            pgsizes: 0x121_1000,
            max_dynamic_windows_supported: 2,
            levels: 1,
        }),
    };
    for outcome in [
        Outcome::Ok,
        Outcome::Created(1 << 59),
        Outcome::Err(libc::EBUSY),
        Outcome::Unresolved,
        Outcome::Info(info),
        Outcome::Info(SpaprIommuInfo { ddw: None, ..info }),
    ] {
        assert_eq!(Outcome::decode(&outcome.encode()), Some(outcome));
    }
    assert_eq!(Outcome::decode("err x"), None);
    assert_eq!(Outcome::decode(""), None);
}

/// The model on its own, against the documented and observed expectations: the host-side
/// half of the lab's comparison (the guest adds the real kernel).
#[test]
fn model_meets_the_expectations() {
    use crate::conformance::Side;
    let base = 0x7f00_0000_0000;
    let mut problems = Vec::new();
    for scenario in scenarios() {
        let outcomes = crate::sides::Model
            .run(&scenario, base)
            .expect("the model always runs");
        problems.extend(
            judge(&scenario, &[("model", outcomes)])
                .into_iter()
                .map(|p| format!("{}: {p}", scenario.name)),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
