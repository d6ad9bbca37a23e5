// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `tce-replay`: replays a recorded pseries guest boot through the accelerator on the kernel
//! reference model and checks every result against the recording.
//!
//! ```text
//! cargo run --release --bin tce-replay -- <trace> [--qemu-cmdline FILE] [--ddw-messages FILE]
//!     [--max-mismatches N] [--check-every N]
//! ```
//!
//! `<trace>` is a canonical trace (`.tce`, `.tce.xz`) or a QEMU `spapr_iommu_*` trace log
//! (plain or xz), converted on the fly with `--qemu-cmdline` (default: `qemu-cmdline.txt`
//! beside the log) and `--ddw-messages` (default: `kernel-ddw-messages.txt` beside it, if
//! present). Prints the report table and the first mismatches in full, and ends with exactly
//! one line `replay: events=.. mismatches=.. backend_calls=.. baseline_calls=.. ratio=..
//! ns_per_event=..`. Exits 0 when nothing disagreed, 1 on mismatches, 2 on errors.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use spapr_tce::replay::engine::{replay, ReplayOptions};
use spapr_tce::replay::{load, CanonicalTrace, Converter, DDW_MESSAGES_FILE, QEMU_CMDLINE_FILE};

const USAGE: &str = "usage: tce-replay <trace.tce[.xz] | qemu-trace.log[.xz]> \
[--qemu-cmdline FILE] [--ddw-messages FILE] [--max-mismatches N] [--check-every N]";

struct Args {
    trace: PathBuf,
    cmdline: Option<PathBuf>,
    messages: Option<PathBuf>,
    options: ReplayOptions,
}

fn parse_number(option: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{option} needs a number, not {value:?}"))
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = args.into_iter();
    let (mut trace, mut cmdline, mut messages) = (None, None, None);
    let mut options = ReplayOptions::default();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--qemu-cmdline" => cmdline = Some(PathBuf::from(value()?)),
            "--ddw-messages" => messages = Some(PathBuf::from(value()?)),
            "--max-mismatches" => {
                let n = parse_number(&arg, &value()?)?;
                options.max_mismatches = usize::try_from(n).unwrap_or(usize::MAX);
            }
            "--check-every" => options.check_every = Some(parse_number(&arg, &value()?)?),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ if trace.is_none() => trace = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    Ok(Some(Args {
        trace: trace.ok_or("no trace given")?,
        cmdline,
        messages,
        options,
    }))
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads the trace. Without `--qemu-cmdline`/`--ddw-messages`, [`load`] decides by the first
/// line (canonical, or a QEMU log with the files beside it); with either, the file is a QEMU
/// log converted with the given files (the other one defaulting to the file beside it).
fn load_trace(args: &Args) -> Result<CanonicalTrace, String> {
    let explicit = args.cmdline.is_some() || args.messages.is_some();
    if !explicit {
        return load(&args.trace).map_err(|e| e.to_string());
    }
    let dir = args.trace.parent().unwrap_or(Path::new("."));
    let cmdline_path = args
        .cmdline
        .clone()
        .unwrap_or_else(|| dir.join(QEMU_CMDLINE_FILE));
    let messages_path = args
        .messages
        .clone()
        .or_else(|| Some(dir.join(DDW_MESSAGES_FILE)).filter(|p| p.exists()));
    let cmdline = read_text(&cmdline_path)?;
    let messages = messages_path.as_deref().map(read_text).transpose()?;
    let log = File::open(&args.trace).map_err(|e| format!("{}: {e}", args.trace.display()))?;
    let mut trace = Converter::new(&cmdline, messages.as_deref())
        .and_then(|converter| converter.convert(BufReader::new(log)))
        .map_err(|e| format!("{}: {e}", args.trace.display()))?
        .trace;
    trace.machine.source = format!("{}: {}", args.trace.display(), trace.machine.source);
    Ok(trace)
}

fn run(args: &Args) -> Result<bool, String> {
    let trace = load_trace(args)?;
    let report = replay(&trace, &args.options).map_err(|e| e.to_string())?;
    println!("{report}");
    println!("{}", report.summary_line());
    Ok(report.is_clean())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("tce-replay: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("tce-replay: {error}");
            ExitCode::from(2)
        }
    }
}
