// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Recorded guest traces (feature `replay`): the project's canonical trace format and the
//! converter from QEMU `spapr_iommu_*` trace logs.
//!
//! * [`CanonicalTrace`]: a [`MachineLayout`] and the guest's TCE hypercalls, DDW RTAS calls
//!   and device DMA translations, each with its expected result ([`TraceEvent`]); runs are
//!   folded losslessly ([`Repeat`]) and [`CanonicalTrace::events`] unfolds them. Text format
//!   (versioned, specified in [`format`](mod@format) and `docs/TRACE-FORMAT.md`):
//!   [`CanonicalTrace::write_to`], [`CanonicalTrace::parse`] (plain or xz).
//! * [`convert_qemu_log`] / [`Converter`]: QEMU trace + command line (+ the guest's DDW
//!   messages for the failed calls QEMU does not trace) → canonical trace, with the rules of
//!   `shared/traces/README.md` §3 and §6.
//! * [`CanonicalTrace::check_self_consistency`]: rebuilds the tables from the trace and
//!   checks every recorded H_GET_TCE and translation.
//! * [`load`]: a canonical trace (`.tce`, `.tce.xz`) or a QEMU log with `qemu-cmdline.txt`
//!   (and optionally `kernel-ddw-messages.txt`) beside it.

mod cmdline;
mod consistency;
mod convert;
mod convert_layout;
mod convert_messages;
#[cfg(test)]
mod convert_tests;
mod ddw_messages;
pub mod engine;
mod event;
mod fold;
pub mod format;
mod header;
mod lines;
mod machine;
mod qemu_log;
mod text;
mod text_parse;
mod text_write;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

pub use cmdline::{
    machine_from_qemu_cmdline, parse_qemu_size, split_qemu_options, split_shell_words, CmdlineError,
};
pub use consistency::ConsistencyReport;
pub use convert::{convert_qemu_log, Conversion, ConvertError, ConvertStats, Converter};
pub use ddw_messages::{
    parse_ddw_messages, DdwMessage, DdwMessageCall, DdwMessages, DdwMessagesError,
};
pub use event::{
    DdwCreate, DdwQuery, DdwRemove, DdwReset, EventKind, GetTce, PutTce, PutTceIndirect, StuffTce,
    TceList, TraceEvent, Xlate,
};
pub use fold::{Repeat, MAX_PERIOD, MIN_REPEATS};
pub use format::{CanonicalTrace, EventCounts, TraceRecord, FORMAT_MAGIC, FORMAT_VERSION};
pub use lines::XZ_MAGIC;
pub use machine::{
    phb_buid, phb_liobn, MachineLayout, PhbLayout, RtasTokens, VioWindow, WindowGeometry,
    BUID_BASE, DEFAULT_DMA64_WIN_ADDR, DEFAULT_DMA_WIN_ADDR, DEFAULT_DMA_WIN_SIZE, DEFAULT_PGSZ,
    PCI_LIOBN_BASE, TCE_PAGE_SHIFT, VIO_REG_BASE, VIO_WINDOW_SIZE,
};
pub use qemu_log::{QemuEvent, QemuLine, QemuLogError};
pub use text_parse::FormatError;

use lines::{feed_lines, FeedError, LineSink};
use text_parse::TextParser;

/// Name of the QEMU command line file [`load`] looks for beside a QEMU log.
pub const QEMU_CMDLINE_FILE: &str = "qemu-cmdline.txt";
/// Name of the guest DDW messages file [`load`] uses if it is beside a QEMU log.
pub const DDW_MESSAGES_FILE: &str = "kernel-ddw-messages.txt";

/// Errors of [`load`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The canonical trace is malformed.
    #[error("{}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: FormatError,
    },
    /// The QEMU log cannot be converted.
    #[error("{}: {source}", path.display())]
    Convert {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: ConvertError,
    },
    /// A QEMU log without `qemu-cmdline.txt` beside it.
    #[error("{}: not a canonical trace, and no {QEMU_CMDLINE_FILE} beside it", path.display())]
    NoCmdline {
        /// The file.
        path: PathBuf,
    },
}

/// Reads a canonical trace (plain or xz), or converts a QEMU trace log (plain or xz) using
/// the `qemu-cmdline.txt` and, if present, `kernel-ddw-messages.txt` in the same directory.
/// The kind is decided by the first line (`spapr-tce-trace ...` is canonical).
pub fn load(path: impl AsRef<Path>) -> Result<CanonicalTrace, LoadError> {
    let path = path.as_ref();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LoadError::Io { path, source }
    };
    let beside = |name: &str| -> Result<Option<String>, LoadError> {
        let file = path.with_file_name(name);
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&file)(e)),
        }
    };
    let mut sink = Sniffer::Undecided {
        cmdline: beside(QEMU_CMDLINE_FILE)?,
        messages: beside(DDW_MESSAGES_FILE)?,
    };
    let input = BufReader::new(File::open(path).map_err(io(path))?);
    let lines = match feed_lines(input, &mut sink) {
        Ok(lines) => lines,
        Err(FeedError::Sink(e)) => return Err(e.at(path)),
        Err(FeedError::Io(e)) => return Err(io(path)(e)),
        Err(FeedError::Xz(e)) => return Err(SniffError::Format(FormatError::Xz(e)).at(path)),
    };
    match sink {
        Sniffer::Undecided { .. } | Sniffer::Canonical(_) => {
            let parser = match sink {
                Sniffer::Canonical(parser) => parser,
                _ => TextParser::default(),
            };
            parser
                .finish(lines)
                .map_err(|e| SniffError::Format(e).at(path))
        }
        Sniffer::Qemu(converter) => {
            let mut trace = converter
                .finish(lines)
                .map_err(|e| SniffError::Convert(e).at(path))?
                .trace;
            trace.machine.source = format!("{}: {}", short_name(path), trace.machine.source);
            Ok(trace)
        }
    }
}

/// The last two components of `path` (e.g. `k612-2G/qemu-trace.log.xz`).
fn short_name(path: &Path) -> String {
    let mut parts: Vec<String> = path
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.reverse();
    parts.join("/")
}

/// Decides on the first line whether the input is canonical or a QEMU log.
enum Sniffer {
    Undecided {
        cmdline: Option<String>,
        messages: Option<String>,
    },
    Canonical(TextParser),
    Qemu(Box<Converter>),
}

enum SniffError {
    Format(FormatError),
    Convert(ConvertError),
    NoCmdline,
}

impl SniffError {
    fn at(self, path: &Path) -> LoadError {
        let path = path.to_path_buf();
        match self {
            SniffError::Format(source) => LoadError::Format { path, source },
            SniffError::Convert(source) => LoadError::Convert { path, source },
            SniffError::NoCmdline => LoadError::NoCmdline { path },
        }
    }
}

impl LineSink for Sniffer {
    type Error = SniffError;

    fn line(&mut self, number: u64, line: &[u8]) -> Result<(), SniffError> {
        if let Sniffer::Undecided { cmdline, messages } = self {
            *self = if line.starts_with(FORMAT_MAGIC.as_bytes()) {
                Sniffer::Canonical(TextParser::default())
            } else {
                let cmdline = cmdline.as_deref().ok_or(SniffError::NoCmdline)?;
                let converter =
                    Converter::new(cmdline, messages.as_deref()).map_err(SniffError::Convert)?;
                Sniffer::Qemu(Box::new(converter))
            };
        }
        match self {
            Sniffer::Canonical(parser) => parser.line(number, line).map_err(SniffError::Format),
            Sniffer::Qemu(converter) => converter.line(number, line).map_err(SniffError::Convert),
            Sniffer::Undecided { .. } => Ok(()),
        }
    }
}
