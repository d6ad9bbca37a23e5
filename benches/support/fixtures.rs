// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Host IOMMU calls on the committed real-boot fixtures (`tests/fixtures/*.tce.xz`): the
//! replay engine counts the accelerator's calls on the reference model and QEMU's
//! one-ioctl-per-TCE baseline for the same events.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use spapr_tce::replay::engine::{replay, ReplayOptions};
use spapr_tce::replay::{load, CanonicalTrace, TraceEvent, TraceRecord};

/// One fixture's replay.
#[derive(Clone, Debug)]
pub struct FixtureResult {
    /// File name without `.tce.xz`.
    pub name: String,
    /// Events replayed.
    pub events: u64,
    /// The accelerator's host IOMMU calls.
    pub backend_calls: u64,
    /// QEMU's calls for the same events.
    pub baseline_calls: u64,
    /// A lower bound on any implementation's calls ([`necessary_calls`]).
    pub necessary_calls: u64,
    /// Replay time of the events (without setup and the final check).
    pub replay_time: Duration,
    /// Disagreements with the recording (must be 0).
    pub mismatches: u64,
}

impl FixtureResult {
    /// Baseline calls per backend call.
    pub fn ratio(&self) -> f64 {
        self.baseline_calls as f64 / self.backend_calls.max(1) as f64
    }
}

/// The fixtures, sorted by name.
pub fn paths() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.to_string_lossy().ends_with(".tce.xz"))
        .collect();
    paths.sort();
    paths
}

/// The name of a fixture path.
pub fn name(path: &std::path::Path) -> String {
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    file.trim_end_matches(".tce.xz").to_string()
}

/// Loads and replays one fixture.
pub fn run(path: &std::path::Path) -> FixtureResult {
    let trace = load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let report = replay(&trace, &ReplayOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    FixtureResult {
        name: name(path),
        events: report.events,
        backend_calls: report.backend_calls(),
        baseline_calls: report.baseline_calls(),
        necessary_calls: necessary_calls(&trace) + report.baseline.window_calls,
        replay_time: report.replay_time,
        mismatches: report.mismatch_count,
    }
}

/// A lower bound on the host `MAP_DMA`/`UNMAP_DMA` calls of any implementation replaying
/// `trace`: the successful TCE hypercalls, on windows of PEs with a container, that change
/// the host mapping of at least one entry (a new or different valid TCE, or a valid TCE
/// cleared). One host call cannot serve two hypercalls: the device may use a mapping as soon
/// as its hypercall returns, and an unmapped page must be unreachable by then. Window and
/// registration calls come on top (the same on both sides).
///
/// Computed from the trace alone, with a shadow of every such window.
pub fn necessary_calls(trace: &CanonicalTrace) -> u64 {
    let mut shadow = Shadow::new(trace);
    for record in &trace.records {
        match record {
            TraceRecord::Event(event) => shadow.apply(event),
            TraceRecord::Repeat(run) => run.events().for_each(|event| shadow.apply(&event)),
        }
    }
    shadow.effective_hcalls
}

/// The entries of the windows with a container, as the guest set them.
struct Shadow {
    /// Page shift of every such window, by LIOBN (DDWs once created).
    page_shift: HashMap<u64, u32>,
    /// The window LIOBNs of each PE, by BUID (for reset).
    pe_liobns: HashMap<u64, [u64; 2]>,
    /// Non-zero entries by (LIOBN, bus address).
    entries: HashMap<(u64, u64), u64>,
    effective_hcalls: u64,
}

impl Shadow {
    fn new(trace: &CanonicalTrace) -> Self {
        let phbs = &trace.machine.phbs;
        Self {
            page_shift: phbs
                .iter()
                .map(|phb| (phb.default_liobn, phb.page_shift))
                .collect(),
            pe_liobns: phbs
                .iter()
                .map(|phb| (phb.buid, [phb.default_liobn, phb.ddw_liobn]))
                .collect(),
            entries: HashMap::new(),
            effective_hcalls: 0,
        }
    }

    /// Stores `tce` at (`liobn`, `ioba`); true when the host mapping changes.
    fn store(&mut self, liobn: u64, ioba: u64, tce: u64) -> bool {
        let valid = |tce: u64| tce & 3 != 0;
        let old = if tce == 0 {
            self.entries.remove(&(liobn, ioba))
        } else {
            self.entries.insert((liobn, ioba), tce)
        }
        .unwrap_or(0);
        (valid(tce) && tce != old) || (!valid(tce) && valid(old))
    }

    fn clear_window(&mut self, liobn: u64) {
        self.entries.retain(|(window, _), _| *window != liobn);
    }

    fn apply(&mut self, event: &TraceEvent) {
        let window_shift = event.liobn().and_then(|l| self.page_shift.get(&l).copied());
        let changed = match (event, window_shift) {
            (TraceEvent::PutTce(e), Some(_)) if e.ret == 0 => self.store(e.liobn, e.ioba, e.tce),
            (TraceEvent::StuffTce(e), Some(shift)) if e.ret == 0 => (0..e.npages)
                .map(|i| self.store(e.liobn, e.ioba + (i << shift), e.value))
                .fold(false, |any, changed| any | changed),
            (TraceEvent::PutTceIndirect(e), Some(shift)) if e.ret == 0 => (0..e.npages)
                .map(|i| {
                    let tce = e.list.entry(i).unwrap_or(0);
                    self.store(e.liobn, e.ioba + (i << shift), tce)
                })
                .fold(false, |any, changed| any | changed),
            (TraceEvent::DdwCreate(e), _) if e.status == 0 => {
                if self.pe_liobns.contains_key(&e.buid) {
                    self.page_shift.insert(e.liobn, e.page_shift);
                    self.clear_window(e.liobn);
                }
                false
            }
            (TraceEvent::DdwRemove(e), Some(_)) if e.status == 0 => {
                self.clear_window(e.liobn);
                false
            }
            (TraceEvent::DdwReset(e), _) if e.status == 0 => {
                for liobn in self.pe_liobns.get(&e.buid).copied().unwrap_or_default() {
                    self.clear_window(liobn);
                }
                false
            }
            _ => false,
        };
        self.effective_hcalls += u64::from(changed);
    }
}
