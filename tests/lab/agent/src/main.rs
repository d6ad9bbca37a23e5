//! `lab-agent`: the program the pseries lab runs inside the guest.
//!
//! ```text
//! lab-agent smoke GROUP        raw VFIO checks on /dev/vfio/vfio and /dev/vfio/GROUP
//! ```
//!
//! Every result is a `LAB <part> <name> PASS|FAIL <details>` line on stdout (see `report`);
//! the exit status is 1 when any result failed, 2 on a usage error.

mod raw;
mod report;
mod smoke;

use std::process::ExitCode;

const USAGE: &str = "usage: lab-agent smoke GROUP";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let report = match words.as_slice() {
        ["smoke", group] => match group.parse::<u32>() {
            Ok(g) => smoke::run(g),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    if report.finish() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
