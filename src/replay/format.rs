// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The canonical trace: a machine layout plus every guest TCE/DDW request with its expected
//! result, and its versioned text format (`docs/TRACE-FORMAT.md` holds the same text).
//!
//! # Text format, version 1
//!
//! UTF-8 text, one item per line, fields separated by spaces. Lines that are empty or start
//! with `#` are comments and are ignored anywhere. A file may be stored xz-compressed
//! (`.tce.xz`); readers detect xz by its magic bytes.
//!
//! Numbers: `0x` followed by hex digits, or decimal digits with an optional leading `-`.
//! Writers use hex for LIOBNs, addresses, TCEs, BUIDs and masks and decimal for return codes,
//! counts, shifts and permissions; readers accept either form in every field.
//!
//! ## Header
//!
//! ```text
//! spapr-tce-trace 1
//! source <free text up to the end of the line>                (optional)
//! ram 0x80000000                                              (guest RAM bytes)
//! maxmem 0x100000000 | maxmem none
//! rtas query=0x2026 create=0x2027 remove=0x2028 reset=0x2029
//! phb <index> buid=.. liobn=.. ddw_liobn=.. dma_win_addr=.. dma_win_size=.. page_shift=..
//!     pgsz=.. ddw=on|off dma64_win_addr=..                    (one line per PHB, 0 or more)
//! vio <reg> device=<type> liobn=.. win_addr=.. win_size=.. page_shift=..  (0 or more)
//! events <number of events after unfolding>
//! ```
//!
//! The first line must be exactly `spapr-tce-trace 1`. `ram`, `maxmem` and `rtas` are
//! required, each once. `phb` and `vio` keys may come in any order but all must be present.
//! `phb` describes a PE's default window (`liobn`, bus address `dma_win_addr`, size
//! `dma_win_size`, IOMMU page `1 << page_shift`), its DDW LIOBN, the DDW page sizes `pgsz`
//! (a bitmask of page shifts, QEMU's property), whether DDW is on, and the DDW bus address.
//! `vio` describes one VIO device's window. These are the windows present at machine start.
//!
//! ## Records
//!
//! After `events N` come records, one per line, then a line `end` (a missing `end` means the
//! file is truncated). `A -> B` separates the call (A) from its expected result (B).
//!
//! ```text
//! put      LIOBN IOBA TCE                               -> RET
//! get      LIOBN IOBA                                   -> RET TCE
//! stuff    LIOBN IOBA VALUE NPAGES                      -> RET
//! indirect LIOBN IOBA LIST_GPA NPAGES linear FIRST STEP -> RET
//! indirect LIOBN IOBA LIST_GPA NPAGES list T0,T1,...    -> RET
//! xlate    LIOBN BUS_ADDR                               -> TRANSLATED PERM
//! query    CONFIG_ADDR BUID                             -> STATUS WINDOWS LARGEST_BLOCK MASK
//! create   CONFIG_ADDR BUID PAGE_SHIFT WINDOW_SHIFT     -> STATUS LIOBN START
//! remove   LIOBN                                        -> STATUS
//! reset    CONFIG_ADDR BUID                             -> STATUS
//! repeat   COUNT { EVENT ; EVENT ; ... }
//! ```
//!
//! * `put`, `get`, `stuff`, `indirect`: H_PUT_TCE, H_GET_TCE, H_STUFF_TCE,
//!   H_PUT_TCE_INDIRECT with the arguments the guest passed (`IOBA` of `stuff` is the FIRST
//!   entry) and the expected return code (and TCE for `get`).
//! * `indirect ... linear FIRST STEP`: entry `i` of the list is `FIRST + i * STEP`; `list`
//!   gives the `NPAGES` entries explicitly, comma separated without spaces.
//! * `xlate`: a DMA by an emulated device. `BUS_ADDR` is the absolute bus address (window bus
//!   offset included); the table must translate it to the page-aligned `TRANSLATED` with
//!   permission `PERM` (TCE bits 0..1: 1 read, 2 write, 3 both, 0 none).
//! * `query`: `ibm,query-pe-dma-window`; `WINDOWS`, `LARGEST_BLOCK` (in TCEs) and `MASK`
//!   (RTAS page-size encoding) are what the guest received, or `?` when the source could not
//!   know (QEMU's trace prints a constant instead of the largest block).
//! * `create`: `ibm,create-pe-dma-window`; on failure `LIOBN` and `START` are what the guest
//!   got back (0). `remove`, `reset`: the other two DDW calls.
//! * `repeat COUNT { ... }`: a folded run. The body holds 1 to 4 `put`/`get`/`stuff`/
//!   `indirect linear`/`xlate` events separated by ` ; `. Any field except `RET`/`PERM` may
//!   be written `BASE+STEP` or `BASE-STEP`: in repetition `k` (from 0) it is
//!   `BASE + k * STEP` (wrapping 64-bit). The run stands for COUNT × body-length events,
//!   body in order, repetition after repetition. Unfolding is exact.
//!
//! Example (the start of the VFIO DDW teardown of `k612-2G`):
//!
//! ```text
//! repeat 262144 { get 0x80000401 0x800000000000000+0x1000 -> 0 0x0 ; put 0x80000401 0x800000000000000+0x1000 0x0 -> 0 }
//! ```
//!
//! The version number changes whenever a reader of an older version would misread a file.

use std::collections::BTreeMap;

use super::event::{EventKind, TraceEvent};
use super::fold::{Folder, Repeat};
use super::machine::MachineLayout;

/// First line of every canonical trace.
pub const FORMAT_MAGIC: &str = "spapr-tce-trace";
/// The format version this module reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// One record of a canonical trace: a single event or a folded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceRecord {
    /// One event.
    Event(TraceEvent),
    /// A lossless run of repeated events.
    Repeat(Repeat),
}

impl TraceRecord {
    /// Number of events this record stands for.
    pub fn event_count(&self) -> u64 {
        match self {
            TraceRecord::Event(_) => 1,
            TraceRecord::Repeat(r) => r.event_count(),
        }
    }
}

/// A machine layout and the ordered events of one recorded boot.
///
/// ```
/// use spapr_tce::replay::{CanonicalTrace, MachineLayout, PhbLayout, PutTce, RtasTokens, TraceEvent};
///
/// let machine = MachineLayout {
///     source: "example".into(),
///     ram_size: 1 << 31,
///     maxmem: None,
///     rtas: RtasTokens::default(),
///     phbs: vec![PhbLayout::qemu_default(0)],
///     vio: vec![],
/// };
/// let events: Vec<TraceEvent> = (0..100)
///     .map(|i| TraceEvent::PutTce(PutTce { liobn: 0x8000_0000, ioba: i << 12, tce: 0, ret: 0 }))
///     .collect();
/// let trace = CanonicalTrace::from_events(machine, events.clone());
/// assert_eq!(trace.records.len(), 1); // one `repeat 100 { put ... }`
/// assert_eq!(trace.events().collect::<Vec<_>>(), events);
///
/// let mut text = Vec::new();
/// trace.write_to(&mut text).unwrap();
/// assert_eq!(CanonicalTrace::parse(&text[..]).unwrap(), trace);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalTrace {
    /// The recorded machine.
    pub machine: MachineLayout,
    /// The events in order, runs folded.
    pub records: Vec<TraceRecord>,
}

/// Numbers of events per kind and per (LIOBN, kind).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Events per kind.
    pub by_kind: BTreeMap<EventKind, u64>,
    /// Events per LIOBN and kind, for the kinds that address one window.
    pub by_liobn: BTreeMap<(u64, EventKind), u64>,
}

impl EventCounts {
    /// Events of `kind` (0 if none).
    pub fn kind(&self, kind: EventKind) -> u64 {
        self.by_kind.get(&kind).copied().unwrap_or(0)
    }

    /// Events of `kind` on `liobn` (0 if none).
    pub fn liobn(&self, liobn: u64, kind: EventKind) -> u64 {
        self.by_liobn.get(&(liobn, kind)).copied().unwrap_or(0)
    }
}

impl CanonicalTrace {
    /// Builds a trace from unfolded events, folding runs.
    pub fn from_events(
        machine: MachineLayout,
        events: impl IntoIterator<Item = TraceEvent>,
    ) -> Self {
        let mut folder = Folder::default();
        for event in events {
            folder.push(event);
        }
        CanonicalTrace {
            machine,
            records: folder.finish(),
        }
    }

    /// The unfolded events, in order.
    pub fn events(&self) -> impl Iterator<Item = TraceEvent> + '_ {
        self.records
            .iter()
            .flat_map(|record| -> Box<dyn Iterator<Item = TraceEvent> + '_> {
                match record {
                    TraceRecord::Event(e) => Box::new(std::iter::once(e.clone())),
                    TraceRecord::Repeat(r) => Box::new(r.events()),
                }
            })
    }

    /// Number of events after unfolding.
    pub fn event_count(&self) -> u64 {
        self.records.iter().map(TraceRecord::event_count).sum()
    }

    /// Counts the events per kind and per LIOBN.
    pub fn counts(&self) -> EventCounts {
        let mut counts = EventCounts::default();
        for event in self.events() {
            *counts.by_kind.entry(event.kind()).or_default() += 1;
            if let Some(liobn) = event.liobn() {
                *counts.by_liobn.entry((liobn, event.kind())).or_default() += 1;
            }
        }
        counts
    }
}
