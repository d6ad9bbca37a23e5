//! Part `conformance`: the same scenario suite on every side, step by step, compared with
//! kernel-host.md and with each other.
//!
//! Sides: the real kernel (`VfioSpaprContainer` on the guest's VFIO group) and, when built
//! in, the reference model (`ModelContainer` with `PlatformProfile::pseries_nested()`).
//! A scenario passes when every side's outcome at every step is what the reference
//! documents (`Expect::Any` excepted) and every other side's outcome equals the first
//! side's (the kernel's). Each difference is reported on the scenario's result line.

pub mod scenario;
pub mod suite;

use crate::arena::Arena;
use crate::report::Report;
use scenario::{Expect, Outcome, Scenario};

/// The name of the real kernel's side: the reference every other side is compared with, and
/// the only side held to the kernel's expectation where a model deviation is documented.
pub const KERNEL: &str = "kernel";

/// One implementation of the container under test.
pub trait Side {
    /// Short name for result lines (`kernel`, `model`).
    fn name(&self) -> &'static str;

    /// Runs `scenario` on a container in its initial state (one group attached, the v2 IOMMU
    /// set, nothing registered or mapped) in a process of its own, whose memory starts at
    /// `base`: pre-registrations belong to the process, not the container (kernel-host.md
    /// §4.1), so scenarios must not share one. Returns one outcome per step.
    fn run(&self, scenario: &Scenario, base: u64) -> Result<Vec<Outcome>, String>;
}

/// How [`run`] reports a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdicts {
    /// PASS or FAIL per scenario.
    Judge,
    /// INFO lines only: the outcomes and disagreements are observations (hazards).
    Observe,
}

/// Runs `scenarios` on every side; one result line per scenario.
pub fn run(
    report: &mut Report,
    sides: &[&dyn Side],
    arena: &Arena,
    scenarios: Vec<Scenario>,
    verdicts: Verdicts,
) {
    let names: Vec<&str> = sides.iter().map(|s| s.name()).collect();
    report.info("sides", &names.join(","));
    for scenario in scenarios {
        let mut runs: Vec<(&str, Vec<Outcome>)> = Vec::new();
        let mut problems = Vec::new();
        for side in sides {
            match side.run(&scenario, arena.base()) {
                Ok(outcomes) => runs.push((side.name(), outcomes)),
                Err(e) => problems.push(format!("{}: not run: {e}", side.name())),
            }
        }
        problems.extend(judge(&scenario, &runs));
        let details = summarize(&scenario, &runs, verdicts == Verdicts::Observe);
        if verdicts == Verdicts::Observe {
            problems.push(details);
            report.info(scenario.name, &problems.join("; "));
        } else if problems.is_empty() {
            report.pass(scenario.name, &details);
        } else {
            report.fail(
                scenario.name,
                &format!("{}; {details}", problems.join("; ")),
            );
        }
    }
}

/// Every disagreement of `runs` (side name, outcomes) with the documented expectations and
/// with the first run (normally [`KERNEL`]'s). Sides other than [`KERNEL`] are held to a
/// step's documented model deviation where there is one. Empty when the scenario passes.
pub fn judge(scenario: &Scenario, runs: &[(&str, Vec<Outcome>)]) -> Vec<String> {
    let mut problems = Vec::new();
    let reference = runs.first();
    for (side, outcomes) in runs {
        if outcomes.len() != scenario.steps.len() {
            problems.push(format!(
                "{side}: {} outcomes for {} steps",
                outcomes.len(),
                scenario.steps.len()
            ));
            continue;
        }
        let is_reference = *side == KERNEL;
        for (index, (checked, outcome)) in scenario.steps.iter().zip(outcomes).enumerate() {
            let deviation = checked.deviation.filter(|_| !is_reference);
            let (expect, rule) = deviation.unwrap_or((checked.expect, checked.rule));
            if !expect.admits(*outcome) {
                problems.push(format!(
                    "{side} step {} {}: got {outcome}, documented {expect} ({rule})",
                    index + 1,
                    checked.step,
                ));
            }
            if let Some((first, first_outcomes)) = reference {
                let theirs = first_outcomes.get(index);
                if !is_reference
                    && deviation.is_none()
                    && theirs.is_some()
                    && theirs != Some(outcome)
                {
                    problems.push(format!(
                        "{side} differs from {first} at step {} {}: {outcome} vs {}",
                        index + 1,
                        checked.step,
                        theirs.map(|o| o.to_string()).unwrap_or_default()
                    ));
                }
            }
        }
    }
    problems
}

/// Step count, plus the first side's outcome of every step the reference leaves open (of
/// every step with `all`).
fn summarize(scenario: &Scenario, runs: &[(&str, Vec<Outcome>)], all: bool) -> String {
    let mut text = format!("{} steps", scenario.steps.len());
    if let Some((side, outcomes)) = runs.first() {
        let open: Vec<String> = scenario
            .steps
            .iter()
            .zip(outcomes)
            .filter(|(checked, _)| all || checked.expect == Expect::Any)
            .map(|(checked, outcome)| format!("{}={outcome}", checked.step))
            .collect();
        if !open.is_empty() {
            let what = if all { "outcomes" } else { "undocumented" };
            text.push_str(&format!("; {what}, {side}: {}", open.join(" ")));
        }
    }
    let deviations = scenario
        .steps
        .iter()
        .filter(|c| c.deviation.is_some())
        .count();
    if deviations > 0 && runs.len() > 1 {
        text.push_str(&format!("; {deviations} known model deviations"));
    }
    text
}

#[cfg(test)]
mod tests;
