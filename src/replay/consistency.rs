// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Self-consistency check of a canonical trace: rebuild every table from the trace's own
//! calls, as the script of `shared/traces/README.md` §6 does, and verify every recorded
//! H_GET_TCE result, every `xlate` translation and permission, and that every entry touched
//! lies inside its window.

use std::collections::HashMap;

use super::event::TraceEvent;
use super::format::CanonicalTrace;
use super::machine::WindowGeometry;

/// How many problem descriptions a report keeps.
const KEPT_PROBLEMS: usize = 10;

/// Result of [`CanonicalTrace::check_self_consistency`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsistencyReport {
    /// Successful H_GET_TCE events checked.
    pub gets_checked: u64,
    /// Of those, results that differ from the rebuilt table.
    pub get_mismatches: u64,
    /// `xlate` events checked.
    pub xlates_checked: u64,
    /// Of those, translations or permissions that differ from the rebuilt table.
    pub xlate_mismatches: u64,
    /// Successful calls or translations on an unknown LIOBN or outside their window.
    pub out_of_window: u64,
    /// The first few problems, with their event index.
    pub problems: Vec<String>,
}

impl ConsistencyReport {
    /// Total number of problems.
    pub fn mismatches(&self) -> u64 {
        self.get_mismatches + self.xlate_mismatches + self.out_of_window
    }

    /// Whether the trace explains itself completely.
    pub fn is_consistent(&self) -> bool {
        self.mismatches() == 0
    }

    fn problem(&mut self, index: u64, text: String) {
        if self.problems.len() < KEPT_PROBLEMS {
            self.problems.push(format!("event {index}: {text}"));
        }
    }
}

/// A window and its non-zero entries.
struct Table {
    window: WindowGeometry,
    entries: HashMap<u64, u64>,
}

impl Table {
    fn new(window: WindowGeometry) -> Self {
        Table {
            window,
            entries: HashMap::new(),
        }
    }

    fn set(&mut self, index: u64, tce: u64) {
        if tce == 0 {
            self.entries.remove(&index);
        } else {
            self.entries.insert(index, tce);
        }
    }

    fn get(&self, index: u64) -> u64 {
        self.entries.get(&index).copied().unwrap_or(0)
    }

    /// Index of the `n`-th page from `ioba`, if inside the window.
    fn index(&self, ioba: u64, n: u64) -> Option<u64> {
        let first = self.window.index_of(ioba)?;
        let index = first.checked_add(n)?;
        (index < self.window.entries()).then_some(index)
    }
}

struct Checker<'a> {
    trace: &'a CanonicalTrace,
    tables: HashMap<u64, Table>,
    report: ConsistencyReport,
}

impl Checker<'_> {
    /// The table and entry index of page `n` from `ioba` on `liobn`; counts a miss.
    fn locate(&mut self, at: u64, liobn: u64, ioba: u64, n: u64) -> Option<(&mut Table, u64)> {
        let found = self
            .tables
            .get_mut(&liobn)
            .and_then(|t| t.index(ioba, n).map(|i| (t, i)));
        if found.is_none() {
            self.report.out_of_window += 1;
            let text = format!("LIOBN {liobn:#x} IOBA {ioba:#x} + {n} pages: outside any window");
            self.report.problem(at, text);
        }
        found
    }

    fn event(&mut self, at: u64, event: &TraceEvent) {
        match event {
            TraceEvent::PutTce(e) if e.ret == 0 => {
                if let Some((table, i)) = self.locate(at, e.liobn, e.ioba, 0) {
                    table.set(i, e.tce);
                }
            }
            TraceEvent::GetTce(e) if e.ret == 0 => {
                self.report.gets_checked += 1;
                if let Some((table, i)) = self.locate(at, e.liobn, e.ioba, 0) {
                    let rebuilt = table.get(i);
                    if rebuilt != e.tce {
                        self.report.get_mismatches += 1;
                        let text = format!(
                            "get {:#x}: trace {:#x}, rebuilt {rebuilt:#x}",
                            e.ioba, e.tce
                        );
                        self.report.problem(at, text);
                    }
                }
            }
            TraceEvent::StuffTce(e) if e.ret == 0 => {
                for n in 0..e.npages {
                    let Some((table, i)) = self.locate(at, e.liobn, e.ioba, n) else {
                        break;
                    };
                    table.set(i, e.value);
                }
            }
            TraceEvent::PutTceIndirect(e) if e.ret == 0 => {
                for n in 0..e.npages {
                    let Some(tce) = e.list.entry(n) else {
                        self.report.out_of_window += 1;
                        self.report
                            .problem(at, format!("indirect list has no entry {n}"));
                        break;
                    };
                    let Some((table, i)) = self.locate(at, e.liobn, e.ioba, n) else {
                        break;
                    };
                    table.set(i, tce);
                }
            }
            TraceEvent::Xlate(e) => {
                self.report.xlates_checked += 1;
                if let Some((table, i)) = self.locate(at, e.liobn, e.bus_addr, 0) {
                    let tce = table.get(i);
                    let page_mask = table.window.page_size().wrapping_sub(1);
                    let perm_ok = tce & 3 == u64::from(e.perm);
                    if !perm_ok || (e.perm != 0 && tce & !page_mask != e.translated) {
                        self.report.xlate_mismatches += 1;
                        let text = format!(
                            "xlate {:#x}: trace {:#x} perm {}, rebuilt TCE {tce:#x}",
                            e.bus_addr, e.translated, e.perm
                        );
                        self.report.problem(at, text);
                    }
                }
            }
            TraceEvent::DdwCreate(e) if e.status == 0 => {
                let window = WindowGeometry {
                    liobn: e.liobn,
                    bus_offset: e.start,
                    size: 1u64.checked_shl(e.window_shift).unwrap_or(0),
                    page_shift: e.page_shift,
                };
                self.tables.insert(e.liobn, Table::new(window));
            }
            TraceEvent::DdwRemove(e) if e.status == 0 => {
                self.tables.remove(&e.liobn);
            }
            TraceEvent::DdwReset(e) if e.status == 0 => {
                if let Some(phb) = self.trace.machine.phb_by_buid(e.buid) {
                    self.tables.remove(&phb.ddw_liobn);
                    let default = phb.default_window();
                    self.tables.insert(default.liobn, Table::new(default));
                }
            }
            _ => {}
        }
    }
}

impl CanonicalTrace {
    /// Rebuilds every table from the trace's own calls and checks every recorded H_GET_TCE
    /// result and `xlate` against it (failed calls change nothing).
    pub fn check_self_consistency(&self) -> ConsistencyReport {
        let tables = self
            .machine
            .initial_windows()
            .into_iter()
            .map(|w| (w.liobn, Table::new(w)))
            .collect();
        let mut checker = Checker {
            trace: self,
            tables,
            report: ConsistencyReport::default(),
        };
        for (at, event) in self.events().enumerate() {
            checker.event(at as u64, &event);
        }
        checker.report
    }
}
