// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Writer of the canonical text format (specified in [`super::format`]).

use std::io::{self, Write};

use super::event::{TceList, TraceEvent};
use super::fold::{FoldFields, Steps, MAX_WIDE};
use super::format::{CanonicalTrace, TraceRecord, FORMAT_MAGIC, FORMAT_VERSION};
use super::machine::MachineLayout;
use super::text::{format_stepped, format_u64, layout, Radix, Slot, ARROW};

impl CanonicalTrace {
    /// Writes the trace in the canonical text format (uncompressed).
    pub fn write_to(&self, out: impl Write) -> io::Result<()> {
        let mut out = io::BufWriter::new(out);
        write_header(&mut out, &self.machine, self.event_count())?;
        for record in &self.records {
            writeln!(out, "{}", record_text(record))?;
        }
        writeln!(out, "end")?;
        out.flush()
    }

    /// The trace in the canonical text format.
    pub fn to_text(&self) -> String {
        let mut text = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_to(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    }
}

fn hex(value: u64) -> String {
    format_u64(value, Radix::Hex)
}

fn write_header(out: &mut impl Write, machine: &MachineLayout, events: u64) -> io::Result<()> {
    writeln!(out, "{FORMAT_MAGIC} {FORMAT_VERSION}")?;
    let source = machine.source.replace(['\n', '\r'], " ");
    if !source.is_empty() {
        writeln!(out, "source {source}")?;
    }
    writeln!(out, "ram {}", hex(machine.ram_size))?;
    match machine.maxmem {
        Some(maxmem) => writeln!(out, "maxmem {}", hex(maxmem))?,
        None => writeln!(out, "maxmem none")?,
    }
    let rtas = machine.rtas;
    writeln!(
        out,
        "rtas query={:#x} create={:#x} remove={:#x} reset={:#x}",
        rtas.query, rtas.create, rtas.remove, rtas.reset
    )?;
    for phb in &machine.phbs {
        writeln!(
            out,
            "phb {} buid={:#x} liobn={:#x} ddw_liobn={:#x} dma_win_addr={:#x} dma_win_size={:#x} \
             page_shift={} pgsz={:#x} ddw={} dma64_win_addr={:#x}",
            phb.index,
            phb.buid,
            phb.default_liobn,
            phb.ddw_liobn,
            phb.dma_win_addr,
            phb.dma_win_size,
            phb.page_shift,
            phb.pgsz,
            if phb.ddw { "on" } else { "off" },
            phb.dma64_win_addr
        )?;
    }
    for vio in &machine.vio {
        writeln!(
            out,
            "vio {:#x} device={} liobn={:#x} win_addr={:#x} win_size={:#x} page_shift={}",
            vio.reg, vio.device, vio.liobn, vio.bus_offset, vio.size, vio.page_shift
        )?;
    }
    writeln!(out, "events {events}")?;
    writeln!(
        out,
        "# put LIOBN IOBA TCE -> RET | get LIOBN IOBA -> RET TCE"
    )?;
    writeln!(out, "# stuff LIOBN IOBA(first) VALUE NPAGES -> RET")?;
    writeln!(
        out,
        "# indirect LIOBN IOBA LIST_GPA NPAGES linear FIRST STEP -> RET"
    )?;
    writeln!(out, "# xlate LIOBN BUS_ADDR -> TRANSLATED PERM")?;
    writeln!(
        out,
        "# query CONFIG BUID -> STATUS WINDOWS LARGEST_BLOCK MASK | create CONFIG BUID \
         PAGE_SHIFT WINDOW_SHIFT -> STATUS LIOBN START | remove LIOBN -> STATUS | reset CONFIG \
         BUID -> STATUS"
    )?;
    writeln!(
        out,
        "# repeat COUNT {{ EVENT ; ... }}: FIELD+STEP advances per repetition"
    )
}

/// The text of one record (without the line end).
pub(crate) fn record_text(record: &TraceRecord) -> String {
    match record {
        TraceRecord::Event(event) => event_text(event),
        TraceRecord::Repeat(repeat) => {
            let body: Vec<String> = repeat
                .body()
                .iter()
                .map(|(fields, steps)| foldable_text(fields, steps))
                .collect();
            format!("repeat {} {{ {} }}", repeat.count(), body.join(" ; "))
        }
    }
}

/// The text of one event.
pub(crate) fn event_text(event: &TraceEvent) -> String {
    if let Some(fields) = FoldFields::of(event) {
        return foldable_text(&fields, &[0; MAX_WIDE]);
    }
    let optional = |value: Option<u64>| value.map_or_else(|| "?".to_string(), hex);
    match event {
        TraceEvent::PutTceIndirect(e) => {
            let list = match &e.list {
                TceList::Explicit(entries) => {
                    let entries: Vec<String> = entries.iter().copied().map(hex).collect();
                    format!("list {}", entries.join(","))
                }
                TceList::Linear { first, step } => format!("linear {} {}", hex(*first), hex(*step)),
            };
            format!(
                "indirect {} {} {} {} {list} {ARROW} {}",
                hex(e.liobn),
                hex(e.ioba),
                hex(e.list_gpa),
                e.npages,
                e.ret
            )
        }
        TraceEvent::DdwQuery(e) => format!(
            "query {:#x} {} {ARROW} {} {} {} {}",
            e.config_addr,
            hex(e.buid),
            e.status,
            e.windows_available
                .map_or_else(|| "?".to_string(), |w| w.to_string()),
            optional(e.largest_block),
            optional(e.page_mask.map(u64::from)),
        ),
        TraceEvent::DdwCreate(e) => format!(
            "create {:#x} {} {} {} {ARROW} {} {} {}",
            e.config_addr,
            hex(e.buid),
            e.page_shift,
            e.window_shift,
            e.status,
            hex(e.liobn),
            hex(e.start)
        ),
        TraceEvent::DdwRemove(e) => format!("remove {} {ARROW} {}", hex(e.liobn), e.status),
        TraceEvent::DdwReset(e) => format!(
            "reset {:#x} {} {ARROW} {}",
            e.config_addr,
            hex(e.buid),
            e.status
        ),
        // Foldable kinds were handled above.
        TraceEvent::PutTce(_)
        | TraceEvent::GetTce(_)
        | TraceEvent::StuffTce(_)
        | TraceEvent::Xlate(_) => String::new(),
    }
}

/// The text of a foldable event with per-field steps.
fn foldable_text(fields: &FoldFields, steps: &Steps) -> String {
    let (keyword, slots) = layout(fields.kind);
    let mut text = keyword.to_string();
    for slot in slots {
        text.push(' ');
        match *slot {
            Slot::Wide(i, radix) => text.push_str(&format_stepped(fields.wide[i], steps[i], radix)),
            Slot::Fixed => text.push_str(&fields.fixed.to_string()),
            Slot::Word(word) => text.push_str(word),
        }
    }
    text
}
