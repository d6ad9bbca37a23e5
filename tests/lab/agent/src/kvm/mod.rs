//! Part `kvm`: the accelerator under HV KVM, with a real L2 vCPU (nested KVM-HV API v2 in
//! the lab's L1, shared/lab/README.md §12).
//!
//! This program is a small VMM: an HV VM whose only memory slot is the guest RAM mapping
//! the accelerator also pre-registers with the VFIO container, one vCPU in PAPR mode
//! running a hand-assembled command loop ([`program`]), and a `TceAccelerator` for `edu`'s
//! PHB built with a `KvmConfig`, so that its windows' tables live in KVM with the group
//! attached. The L2 issues the TCE hypercalls and the DDW RTAS calls itself; after each one
//! a marker hcall exits to the VMM, which checks the exits in between (a hypercall the
//! kernel completed causes none), the shared table, the accelerator's host calls and the
//! device's DMA into the L2's RAM.
//!
//! Two VMMs run one after the other, each torn down with `TceAccelerator::shutdown`:
//! 1. [`kernel_path`], [`punts`], [`ddw`]: the multi-TCE hcalls enabled in the kernel;
//! 2. [`user_path`]: built with `in_kernel_multitce(false)`, so `H_PUT_TCE_INDIRECT` and
//!    `H_STUFF_TCE` take the userspace path.

mod asm;
mod checks;
mod ddw;
mod kernel_path;
mod logger;
mod machine;
mod program;
mod punts;
mod setup;
mod sys;
#[cfg(test)]
mod tests;
mod user_path;

use std::time::Instant;

use vm_memory::{GuestAddress, GuestMemoryMmap};

use crate::report::Report;
use kernel_path::State;
use machine::Machine;

/// The L2's RAM: one memory slot at gpa 0 (room for every place `dma::scenario` uses).
pub const L2_RAM: u64 = 16 << 20;

type Check = fn(&mut Machine<'_>, &mut State) -> Result<String, String>;

/// One VMM's configuration and steps.
struct Phase<'a> {
    /// Prefix of its result names.
    prefix: &'static str,
    /// `KvmConfig::in_kernel_multitce`.
    multitce: bool,
    /// Its steps, in order.
    steps: &'a [(&'static str, Check)],
    /// Hypercalls that must exit to the VMM over all steps.
    expected_punts: u64,
}

/// Runs the part with `/dev/vfio/<group>` and `/dev/kvm`.
pub fn run(group: u32) -> Report {
    let mut report = Report::new("kvm");
    logger::install();
    if let Err(e) = machine::install_watchdog() {
        report.fail("watchdog", &format!("sigaction(SIGALRM): {e}"));
        return report;
    }
    let kernel_steps: [(&str, Check); 12] = [
        ("put-tce", kernel_path::put_tce),
        ("indirect", kernel_path::indirect),
        ("stuff", kernel_path::stuff),
        ("punt-outside-memslot", punts::outside_memslot),
        ("punt-misaligned-tce", punts::misaligned_tce),
        ("punt-indirect-bad-entry", punts::indirect_bad_entry),
        ("punt-unknown-liobn", punts::unknown_liobn),
        ("ddw-create", ddw::create),
        ("ddw-indirect", ddw::indirect),
        ("ddw-stuff", ddw::stuff),
        ("ddw-remove", ddw::remove),
        ("reset", ddw::reset),
    ];
    let kernel = Phase {
        prefix: "",
        multitce: true,
        steps: &kernel_steps,
        // The four punts, DDW create, DDW remove, the removed LIOBN, reset.
        expected_punts: 8,
    };
    run_phase(&mut report, group, &kernel);
    let user_steps: [(&str, Check); 2] = [
        ("user-indirect", user_path::indirect),
        ("user-stuff", user_path::stuff),
    ];
    let user = Phase {
        prefix: "user-",
        multitce: false,
        steps: &user_steps,
        expected_punts: 2,
    };
    run_phase(&mut report, group, &user);
    report
}

fn run_phase(report: &mut Report, group: u32, phase: &Phase<'_>) {
    let started = Instant::now();
    let name = |what: &str| format!("{}{what}", phase.prefix);
    let mem = match GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), L2_RAM as usize)]) {
        Ok(mem) => mem,
        Err(e) => return report.fail(&name("vm"), &format!("L2 RAM: {e}")),
    };
    match setup::start(&mem, group, phase.multitce) {
        Ok((mut machine, found)) => {
            report.pass(&name("vm"), &format!("{}; edu {}", found.vm, found.edu));
            let caps = found.caps;
            report.record(
                &name("caps"),
                caps.kernel_tables() && caps.kernel_vfio() && caps.kernel_multitce(),
                &format!(
                    "{caps:?}; KVM_CHECK_EXTENSION on the VM: {}",
                    found.caps_text
                ),
            );
            run_steps(report, &mut machine, phase, &name);
        }
        Err(e) => report.fail(&name("vm"), &e),
    }
    crate_log(report, &name("log"));
    report.info(
        &name("time"),
        &format!("{:.2} s", started.elapsed().as_secs_f64()),
    );
}

fn run_steps(
    report: &mut Report,
    m: &mut Machine<'_>,
    phase: &Phase<'_>,
    name: &dyn Fn(&str) -> String,
) {
    let mut state = State::default();
    let tables = kernel_path::tables_in_kernel(m, &mut state);
    record(report, &name("tables-in-kernel"), tables);
    for (step, check) in phase.steps {
        let outcome = check(m, &mut state);
        record(report, step, outcome);
    }
    let t = m.tally;
    let accounted = t.runs == t.markers + t.punted;
    report.record(
        &name("exits"),
        accounted && t.punted == phase.expected_punts,
        &format!(
            "{} KVM_RUN exits: {} markers, {} hypercalls left to the VMM (expected {}); \
             first KVM_RUN {} us, {} us per exit on average",
            t.runs,
            t.markers,
            t.punted,
            phase.expected_punts,
            t.first_run.as_micros(),
            t.busy.as_micros() / u128::from(t.runs.max(1))
        ),
    );
    let shutdown = checks::shutdown(m, kernel_path::default_liobn());
    record(report, &name("shutdown"), shutdown);
}

fn record(report: &mut Report, name: &str, outcome: Result<String, String>) {
    match outcome {
        Ok(details) => report.pass(name, &details),
        Err(details) => report.fail(name, &details),
    }
}

/// The crates' warnings, and the first of their other records, as INFO lines.
fn crate_log(report: &Report, name: &str) {
    const MAX_OTHERS: usize = 40;
    let lines = logger::take();
    let total = lines.len();
    let mut others = 0;
    for line in lines {
        let warning = line.starts_with("WARN") || line.starts_with("ERROR");
        if warning || others < MAX_OTHERS {
            others += usize::from(!warning);
            report.info(name, &line);
        }
    }
    if others == MAX_OTHERS {
        report.info(name, &format!("({total} records in all)"));
    }
}
