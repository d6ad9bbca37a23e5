// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Conversion of a QEMU `spapr_iommu_*` trace into a [`CanonicalTrace`], with the
//! reconstruction rules of `shared/traces/README.md` §3 and §6.
//!
//! The converter tracks the geometry of every window per LIOBN (start-up windows from the
//! layout; `ddw_create` adds a DDW, `ddw_remove` drops it, `ddw_reset` restores the default
//! window and drops the DDW) so that every event's page size `P` and bus offset are known:
//!
//! * put / get: as printed.
//! * stuff: QEMU prints the END IOBA; start = ioba − npages × P.
//! * indirect: `iobaN` is the index of the last entry and `tceN` its TCE; npages = iobaN + 1
//!   and the list is linear: first = tceN − iobaN × P, step P (a Linux guest's lists).
//! * xlate: QEMU prints the offset inside the window; bus address = offset + window bus
//!   offset. The printed mask must be P − 1.
//! * ddw_query: status 0, windows and mask as printed, largest block from the guest log or
//!   unknown (QEMU prints a constant). ddw_create: page_shift = log2(page size), window_shift
//!   = log2(requested), status 0, LIOBN and start as printed.
//! * Failed RTAS calls come from the guest's DDW messages (see [`super::convert_messages`]).
//! * A failed stuff or indirect (ret ≠ 0, none in the recorded boots) cannot be rebuilt
//!   exactly: the stuff start is taken as the printed IOBA and the indirect npages as
//!   iobaN + 1; [`ConvertStats::approximated`] counts them.
//! * `new_table` lines only serve to confirm the layout ([`super::convert_layout`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

use super::cmdline::{machine_from_qemu_cmdline, CmdlineError};
use super::convert_layout::reconcile;
use super::convert_messages::MessagePlan;
use super::ddw_messages::{parse_ddw_messages, DdwMessages, DdwMessagesError};
use super::event::{
    DdwCreate, DdwQuery, DdwRemove, DdwReset, GetTce, PutTce, PutTceIndirect, StuffTce, TceList,
    TraceEvent, Xlate,
};
use super::fold::Folder;
use super::format::CanonicalTrace;
use super::lines::{feed_lines, FeedError, LineSink};
use super::machine::{MachineLayout, WindowGeometry};
use super::qemu_log::{QemuEvent, QemuLine, QemuLogError};

/// Errors converting a QEMU trace.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The QEMU command line is unusable.
    #[error(transparent)]
    Cmdline(#[from] CmdlineError),
    /// The guest's DDW messages do not parse.
    #[error(transparent)]
    Messages(#[from] DdwMessagesError),
    /// A trace line does not parse.
    #[error("trace line {line}: {source}")]
    Log {
        /// 1-based line number.
        line: u64,
        /// The parse error.
        #[source]
        source: QemuLogError,
    },
    /// A trace line contradicts the layout or the tracked windows.
    #[error("trace line {line}: {message}")]
    Inconsistent {
        /// 1-based line number (0: at the end of the trace).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// Reading the trace failed.
    #[error("reading the trace: {0}")]
    Io(#[from] std::io::Error),
    /// The xz stream is corrupt.
    #[error("decompressing the trace: {0}")]
    Xz(String),
}

/// Counters of one conversion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConvertStats {
    /// Lines read.
    pub lines: u64,
    /// Lines skipped: not a `spapr_iommu_*` event this converter knows.
    pub skipped: u64,
    /// `new_table` lines (start-up and later).
    pub new_tables: u64,
    /// LIOBNs of the start-up `new_table` lines, in trace order.
    pub startup_tables: Vec<u64>,
    /// Events produced (after unfolding).
    pub events: u64,
    /// Failed RTAS calls inserted from the guest's DDW messages.
    pub inserted_from_messages: u64,
    /// Failed stuff/indirect calls whose arguments could only be approximated.
    pub approximated: u64,
}

/// A converted trace and the counters of its conversion.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The canonical trace.
    pub trace: CanonicalTrace,
    /// What the conversion saw.
    pub stats: ConvertStats,
}

/// Converts a QEMU trace (plain or xz) given the QEMU command line and, optionally, the
/// guest's DDW messages.
pub fn convert_qemu_log(
    log: impl Read,
    cmdline: &str,
    ddw_messages: Option<&str>,
) -> Result<CanonicalTrace, ConvertError> {
    Ok(Converter::new(cmdline, ddw_messages)?
        .convert(BufReader::new(log))?
        .trace)
}

/// A configured conversion (see the module documentation for the rules).
pub struct Converter {
    machine: MachineLayout,
    messages: MessagePlan,
    startup_done: bool,
    windows: HashMap<u64, WindowGeometry>,
    folder: Folder,
    stats: ConvertStats,
    layout_note: String,
}

impl Converter {
    /// Prepares a conversion from the QEMU command line text and optional DDW messages text.
    pub fn new(cmdline: &str, ddw_messages: Option<&str>) -> Result<Self, ConvertError> {
        let machine = machine_from_qemu_cmdline(cmdline)?;
        let messages = ddw_messages.map(parse_ddw_messages).transpose()?;
        Self::with_layout(machine, messages.unwrap_or_default())
    }

    /// Prepares a conversion from an explicit layout and parsed DDW messages.
    pub fn with_layout(
        machine: MachineLayout,
        messages: DdwMessages,
    ) -> Result<Self, ConvertError> {
        let messages = MessagePlan::new(messages, &machine.rtas)
            .map_err(|message| ConvertError::Inconsistent { line: 0, message })?;
        Ok(Converter {
            machine,
            messages,
            startup_done: false,
            windows: HashMap::new(),
            folder: Folder::default(),
            stats: ConvertStats::default(),
            layout_note: String::new(),
        })
    }

    /// Converts the trace read from `log` (plain or xz, streamed).
    pub fn convert(mut self, log: impl BufRead) -> Result<Conversion, ConvertError> {
        let lines = match feed_lines(log, &mut self) {
            Ok(lines) => lines,
            Err(FeedError::Sink(e)) => return Err(e),
            Err(FeedError::Io(e)) => return Err(ConvertError::Io(e)),
            Err(FeedError::Xz(e)) => return Err(ConvertError::Xz(e)),
        };
        self.finish(lines)
    }

    pub(crate) fn finish(mut self, lines: u64) -> Result<Conversion, ConvertError> {
        let inconsistent = |message| ConvertError::Inconsistent { line: 0, message };
        self.end_startup().map_err(inconsistent)?;
        self.messages.finish().map_err(inconsistent)?;
        self.stats.lines = lines;
        let mut machine = self.machine;
        machine.source = format!(
            "QEMU spapr_iommu trace, {} lines ({} skipped); layout from the QEMU command line{}; \
             {} failed RTAS calls from the guest's DDW messages",
            lines, self.stats.skipped, self.layout_note, self.stats.inserted_from_messages
        );
        let trace = CanonicalTrace {
            machine,
            records: self.folder.finish(),
        };
        Ok(Conversion {
            trace,
            stats: self.stats,
        })
    }

    /// Ends the start-up phase: reconciles the layout and sets up the windows.
    fn end_startup(&mut self) -> Result<(), String> {
        if self.startup_done {
            return Ok(());
        }
        self.startup_done = true;
        let notes = reconcile(&mut self.machine, &self.stats.startup_tables)?;
        if !self.stats.startup_tables.is_empty() {
            self.layout_note = format!(
                " confirmed by {} start-up new_table lines",
                self.stats.startup_tables.len()
            );
        }
        for index in notes.phbs_added {
            self.layout_note += &format!(", PHB {index} added from the trace");
        }
        if notes.vio_from_trace {
            self.layout_note += ", VIO regs from the trace";
        }
        self.windows = self
            .machine
            .initial_windows()
            .into_iter()
            .map(|w| (w.liobn, w))
            .collect();
        Ok(())
    }

    fn emit(&mut self, event: TraceEvent) {
        self.stats.events += 1;
        self.folder.push(event);
    }

    fn window(&self, liobn: u64) -> Result<WindowGeometry, String> {
        self.windows
            .get(&liobn)
            .copied()
            .ok_or_else(|| format!("no window is known for LIOBN {liobn:#x}"))
    }

    /// Converts one parsed trace line.
    fn event(&mut self, line: QemuLine) -> Result<(), String> {
        if let QemuEvent::NewTable { liobn, .. } = line.event {
            self.stats.new_tables += 1;
            if !self.startup_done {
                self.stats.startup_tables.push(liobn);
            }
            return Ok(());
        }
        self.end_startup()?;
        let event = match line.event {
            QemuEvent::NewTable { .. } => return Ok(()),
            QemuEvent::Put {
                liobn,
                ioba,
                tce,
                ret,
            } => TraceEvent::PutTce(PutTce {
                liobn,
                ioba,
                tce,
                ret,
            }),
            QemuEvent::Get {
                liobn,
                ioba,
                ret,
                tce,
            } => TraceEvent::GetTce(GetTce {
                liobn,
                ioba,
                ret,
                tce,
            }),
            QemuEvent::Stuff {
                liobn,
                end_ioba,
                tce_value,
                npages,
                ret,
            } => {
                let span = npages
                    .checked_mul(self.window(liobn)?.page_size())
                    .ok_or("stuff npages × page size overflows")?;
                let ioba = if ret == 0 {
                    end_ioba
                        .checked_sub(span)
                        .ok_or("stuff end IOBA is below npages × page size")?
                } else {
                    self.stats.approximated += 1;
                    end_ioba
                };
                TraceEvent::StuffTce(StuffTce {
                    liobn,
                    ioba,
                    value: tce_value,
                    npages,
                    ret,
                })
            }
            QemuEvent::Indirect {
                liobn,
                ioba,
                tcelist,
                last_index,
                last_tce,
                ret,
            } => {
                let step = self.window(liobn)?.page_size();
                if ret != 0 {
                    self.stats.approximated += 1;
                }
                let first = last_tce.wrapping_sub(last_index.wrapping_mul(step));
                TraceEvent::PutTceIndirect(PutTceIndirect {
                    liobn,
                    ioba,
                    list_gpa: tcelist,
                    npages: last_index.checked_add(1).ok_or("iobaN overflows")?,
                    list: TceList::Linear { first, step },
                    ret,
                })
            }
            QemuEvent::Xlate {
                liobn,
                addr,
                translated,
                perm,
                mask,
            } => {
                let window = self.window(liobn)?;
                if mask != window.page_size().wrapping_sub(1) {
                    return Err(format!(
                        "xlate mask {mask:#x} but LIOBN {liobn:#x} has {:#x}-byte pages",
                        window.page_size()
                    ));
                }
                let bus_addr = window
                    .bus_offset
                    .checked_add(addr)
                    .ok_or("xlate address overflows")?;
                TraceEvent::Xlate(Xlate {
                    liobn,
                    bus_addr,
                    translated,
                    perm,
                })
            }
            QemuEvent::DdwQuery {
                buid,
                config_addr,
                windows_available,
                mask,
                ..
            } => {
                let query = DdwQuery {
                    config_addr,
                    buid,
                    status: 0,
                    windows_available: Some(windows_available),
                    largest_block: None,
                    page_mask: Some(mask),
                };
                return self.traced_rtas(buid, TraceEvent::DdwQuery(query));
            }
            QemuEvent::DdwCreate {
                buid,
                config_addr,
                page_size,
                requested,
                start,
                liobn,
            } => {
                let shift = |value: u64, what: &str| {
                    if value.is_power_of_two() {
                        Ok(value.trailing_zeros())
                    } else {
                        Err(format!(
                            "ddw_create {what} {value:#x} is not a power of two"
                        ))
                    }
                };
                let create = DdwCreate {
                    config_addr,
                    buid,
                    page_shift: shift(page_size, "page size")?,
                    window_shift: shift(requested, "window size")?,
                    status: 0,
                    liobn,
                    start,
                };
                let window = WindowGeometry {
                    liobn,
                    bus_offset: start,
                    size: requested,
                    page_shift: create.page_shift,
                };
                self.windows.insert(liobn, window);
                return self.traced_rtas(buid, TraceEvent::DdwCreate(create));
            }
            QemuEvent::DdwRemove { liobn } => {
                if self.windows.remove(&liobn).is_none() {
                    return Err(format!(
                        "ddw_remove of LIOBN {liobn:#x}, which has no window"
                    ));
                }
                TraceEvent::DdwRemove(DdwRemove { liobn, status: 0 })
            }
            QemuEvent::DdwReset { buid, config_addr } => {
                let phb = self
                    .machine
                    .phb_by_buid(buid)
                    .ok_or_else(|| format!("ddw_reset of unknown BUID {buid:#x}"))?;
                let (ddw, default) = (phb.ddw_liobn, phb.default_window());
                self.windows.remove(&ddw);
                self.windows.insert(default.liobn, default);
                TraceEvent::DdwReset(DdwReset {
                    config_addr,
                    buid,
                    status: 0,
                })
            }
        };
        self.emit(event);
        Ok(())
    }

    /// Emits a traced query or create and the failed calls the guest logged after it.
    fn traced_rtas(&mut self, buid: u64, mut event: TraceEvent) -> Result<(), String> {
        let failed = self.messages.traced(buid, &mut event)?;
        self.emit(event);
        for event in failed {
            self.stats.inserted_from_messages += 1;
            self.emit(event);
        }
        Ok(())
    }
}

impl LineSink for Converter {
    type Error = ConvertError;

    fn line(&mut self, number: u64, line: &[u8]) -> Result<(), ConvertError> {
        let Ok(text) = std::str::from_utf8(line) else {
            self.stats.skipped += 1;
            return Ok(());
        };
        let parsed = QemuLine::parse(text).map_err(|source| ConvertError::Log {
            line: number,
            source,
        })?;
        match parsed {
            None => {
                self.stats.skipped += 1;
                Ok(())
            }
            Some(line) => self
                .event(line)
                .map_err(|message| ConvertError::Inconsistent {
                    line: number,
                    message,
                }),
        }
    }
}
