// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Developer tool: converts a QEMU `spapr_iommu_*` trace into a canonical trace (this is how
//! the fixtures in `tests/fixtures/` were made).
//!
//! ```text
//! cargo run --release --example convert-trace -- <qemu-trace.log[.xz]> \
//!     [--qemu-cmdline FILE] [--ddw-messages FILE | --no-ddw-messages] [--name NAME] \
//!     -o out.tce[.xz]
//! ```
//!
//! `--qemu-cmdline` defaults to `qemu-cmdline.txt` beside the log, `--ddw-messages` to
//! `kernel-ddw-messages.txt` beside it if present, `--name` to the log's directory name. An
//! output ending in `.xz` is compressed with the `xz` program if it is installed (`xz -9e`),
//! otherwise with `lzma_rs::xz_compress`, which writes a valid but uncompressed xz stream.
//! The tool prints the conversion counters, the events per kind and the self-consistency
//! report, and fails if the trace is not self-consistent.

#[cfg(feature = "replay")]
mod tool {
    use std::fs::File;
    use std::io::{BufReader, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use spapr_tce::replay::{CanonicalTrace, Converter, EventKind};

    struct Args {
        log: PathBuf,
        cmdline: Option<PathBuf>,
        messages: Option<PathBuf>,
        no_messages: bool,
        name: Option<String>,
        output: PathBuf,
    }

    fn parse_args() -> Result<Args, String> {
        let mut args = std::env::args().skip(1);
        let (mut log, mut cmdline, mut messages, mut name, mut output) =
            (None, None, None, None, None);
        let mut no_messages = false;
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--qemu-cmdline" => cmdline = Some(PathBuf::from(value()?)),
                "--ddw-messages" => messages = Some(PathBuf::from(value()?)),
                "--no-ddw-messages" => no_messages = true,
                "--name" => name = Some(value()?),
                "-o" | "--output" => output = Some(PathBuf::from(value()?)),
                _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
                _ if log.is_none() => log = Some(PathBuf::from(arg)),
                _ => return Err(format!("unexpected argument {arg}")),
            }
        }
        Ok(Args {
            log: log.ok_or("no trace log given")?,
            cmdline,
            messages,
            no_messages,
            name,
            output: output.ok_or("no output (-o) given")?,
        })
    }

    fn read(path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Compresses `text` with the `xz` program, or stores it in an xz container.
    fn compress(text: &[u8]) -> Result<Vec<u8>, String> {
        let child = Command::new("xz")
            .args(["-9e", "-T1", "-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn();
        if let Ok(mut child) = child {
            let mut stdin = child.stdin.take().ok_or("xz has no stdin")?;
            let input = text.to_vec();
            let writer = std::thread::spawn(move || stdin.write_all(&input));
            let output = child.wait_with_output().map_err(|e| e.to_string())?;
            writer
                .join()
                .map_err(|_| "xz writer panicked")?
                .map_err(|e| e.to_string())?;
            if output.status.success() {
                return Ok(output.stdout);
            }
        }
        eprintln!("warning: no working `xz` program; writing an uncompressed xz container");
        let mut out = Vec::new();
        lzma_rs::xz_compress(&mut &text[..], &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    pub fn run() -> Result<(), String> {
        let args = parse_args()?;
        let dir = args.log.parent().unwrap_or(Path::new("."));
        let cmdline_path = args.cmdline.unwrap_or_else(|| dir.join("qemu-cmdline.txt"));
        let cmdline = read(&cmdline_path)?;
        let messages_path = match args.messages {
            Some(path) => Some(path),
            None if args.no_messages => None,
            None => Some(dir.join("kernel-ddw-messages.txt")).filter(|p| p.exists()),
        };
        let messages = messages_path.as_deref().map(read).transpose()?;
        let log = File::open(&args.log).map_err(|e| format!("{}: {e}", args.log.display()))?;
        let conversion = Converter::new(&cmdline, messages.as_deref())
            .and_then(|c| c.convert(BufReader::new(log)))
            .map_err(|e| format!("{}: {e}", args.log.display()))?;
        let mut trace: CanonicalTrace = conversion.trace;
        let name = args.name.unwrap_or_else(|| {
            let dir_name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
            dir_name.unwrap_or_else(|| "trace".into())
        });
        let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        let inputs: Vec<String> = [
            Some(args.log.as_path()),
            Some(&cmdline_path),
            messages_path.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(file_name)
        .collect();
        trace.machine.source = format!(
            "{name} ({}) via examples/convert-trace.rs: {}",
            inputs.join(", "),
            trace.machine.source
        );

        let stats = &conversion.stats;
        println!("{}", trace.machine.source);
        println!(
            "lines {} skipped {} new_table {} events {} records {} inserted {} approximated {}",
            stats.lines,
            stats.skipped,
            stats.new_tables,
            stats.events,
            trace.records.len(),
            stats.inserted_from_messages,
            stats.approximated
        );
        let counts = trace.counts();
        for kind in EventKind::ALL {
            println!("  {:<8} {}", kind.keyword(), counts.kind(kind));
        }
        let report = trace.check_self_consistency();
        println!(
            "self-consistency: gets {}/{} xlates {}/{} out-of-window {}",
            report.gets_checked - report.get_mismatches,
            report.gets_checked,
            report.xlates_checked - report.xlate_mismatches,
            report.xlates_checked,
            report.out_of_window
        );
        for problem in &report.problems {
            println!("  {problem}");
        }

        let mut text = Vec::new();
        trace.write_to(&mut text).map_err(|e| e.to_string())?;
        let compressed = args.output.extension().is_some_and(|e| e == "xz");
        let bytes = if compressed {
            compress(&text)?
        } else {
            text.clone()
        };
        std::fs::write(&args.output, &bytes)
            .map_err(|e| format!("{}: {e}", args.output.display()))?;
        println!(
            "wrote {} ({} bytes, {} bytes of text)",
            args.output.display(),
            bytes.len(),
            text.len()
        );
        if report.is_consistent() {
            Ok(())
        } else {
            Err("the trace is not self-consistent".into())
        }
    }
}

#[cfg(feature = "replay")]
fn main() {
    if let Err(error) = tool::run() {
        eprintln!("convert-trace: {error}");
        std::process::exit(1);
    }
}

#[cfg(not(feature = "replay"))]
fn main() {
    eprintln!("convert-trace needs the `replay` feature");
    std::process::exit(2);
}
