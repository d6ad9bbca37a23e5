//! `lab-agent`: the program the pseries lab runs inside the guest.
//!
//! ```text
//! lab-agent smoke GROUP          raw VFIO checks on /dev/vfio/vfio and /dev/vfio/GROUP
//! lab-agent conformance GROUP    the container scenario suite on the real kernel (and model)
//! lab-agent hazards GROUP        requests that oops or taint the guest kernel (observations)
//! lab-agent dma GROUP            the accelerator on the real container, with live edu DMA
//! lab-agent dma-probes GROUP     accelerator configurations the host cannot serve (observations)
//! lab-agent kvm GROUP            a VMM under HV KVM: an L2 vCPU's TCE hcalls with the accelerator
//! ```
//!
//! Every result is a `LAB <part> <name> PASS|FAIL <details>` line on stdout (see `report`);
//! the exit status is 1 when any result failed, 2 on a usage error.

mod arena;
mod conformance;
mod dma;
mod edu;
mod kvm;
mod raw;
mod report;
mod sides;
mod smoke;

use std::process::ExitCode;

use report::Report;

const USAGE: &str = "usage: lab-agent smoke|conformance|hazards|dma|dma-probes|kvm GROUP";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (part, group) = match args.as_slice() {
        [part, group] => match group.parse::<u32>() {
            Ok(g) => (part.as_str(), g),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    let report = match part {
        "smoke" => smoke::run(group),
        "conformance" => conformance_part("conformance", group),
        "hazards" => conformance_part("hazards", group),
        "dma" => dma::run(group),
        "dma-probes" => dma::probes::run(group),
        "kvm" => kvm::run(group),
        _ => return usage(),
    };
    if report.finish() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn conformance_part(part: &'static str, group: u32) -> Report {
    let mut report = Report::new(part);
    let arena = match arena::Arena::new(conformance::suite::ARENA_BYTES as usize) {
        Ok(a) => a,
        Err(e) => {
            report.fail("arena", &format!("mmap of the scenario memory: {e}"));
            return report;
        }
    };
    report.info(
        "arena",
        &format!(
            "{:#x}+{:#x}, host page size {:#x}",
            arena.base(),
            arena.len(),
            arena::host_page_size()
        ),
    );
    let sides = sides::all(group, &arena);
    let refs: Vec<&dyn conformance::Side> = sides.iter().map(|s| s.as_ref()).collect();
    let (scenarios, verdicts) = if part == "hazards" {
        (
            conformance::suite::hazards(),
            conformance::Verdicts::Observe,
        )
    } else {
        (
            conformance::suite::scenarios(),
            conformance::Verdicts::Judge,
        )
    };
    conformance::run(&mut report, &refs, &arena, scenarios, verdicts);
    report
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
