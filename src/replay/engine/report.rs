// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The result of a replay: a readable table ([`Display`](fmt::Display)) and one summary line.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::baseline::QemuBaseline;
use super::mismatch::Mismatch;
use crate::check::InvariantReport;
use crate::replay::EventKind;
use crate::{BackendCallCounts, CountersSnapshot};

/// What was compared with the recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Comparisons {
    /// Hypercall return codes.
    pub return_codes: u64,
    /// H_GET_TCE values (recorded and returned success).
    pub get_values: u64,
    /// Translations (address and permission).
    pub translations: u64,
    /// DDW RTAS calls (status and result fields).
    pub ddw_calls: u64,
    /// Runs of the invariant checker.
    pub invariant_checks: u64,
}

/// Everything a replay measured.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayReport {
    /// The trace's `source` line.
    pub source: String,
    /// Guest RAM size.
    pub ram_size: u64,
    /// PEs with a model container (one per PHB).
    pub containers: usize,
    /// VIO windows (no container).
    pub vio_windows: usize,
    /// The host page size the model profile uses.
    pub host_page_size: u64,
    /// Events replayed.
    pub events: u64,
    /// Events replayed, by kind.
    pub by_kind: BTreeMap<EventKind, u64>,
    /// What was compared.
    pub comparisons: Comparisons,
    /// The accelerator's counters at the end (TCEs mapped and unmapped, no-ops skipped, ...).
    pub counters: CountersSnapshot,
    /// Host IOMMU calls: the sum of every model container's counters.
    pub backend: BackendCallCounts,
    /// QEMU's calls for the same requests.
    pub baseline: QemuBaseline,
    /// What the last successful invariant check covered.
    pub last_invariants: Option<InvariantReport>,
    /// Time to map guest RAM and build the accelerator.
    pub setup_time: Duration,
    /// Time to feed and compare all events, periodic invariant checks included.
    pub replay_time: Duration,
    /// Time of the final invariant check.
    pub final_check_time: Duration,
    /// All mismatches.
    pub mismatch_count: u64,
    /// The first mismatches, in full (up to `ReplayOptions::max_mismatches`).
    pub mismatches: Vec<Mismatch>,
}

/// The backend calls that count: MAP_DMA, UNMAP_DMA, TCE_CREATE, TCE_REMOVE and
/// REGISTER_MEMORY (failed ones included).
pub(super) fn backend_total(backend: &BackendCallCounts) -> u64 {
    backend.map_dma
        + backend.unmap_dma
        + backend.create_window
        + backend.remove_window
        + backend.register_memory
}

impl ReplayReport {
    /// Events of `kind` replayed.
    pub fn events_of(&self, kind: EventKind) -> u64 {
        self.by_kind.get(&kind).copied().unwrap_or(0)
    }

    /// Host IOMMU calls the accelerator made (see [`ReplayReport::backend`]).
    pub fn backend_calls(&self) -> u64 {
        backend_total(&self.backend)
    }

    /// QEMU's calls ([`QemuBaseline::total`]).
    pub fn baseline_calls(&self) -> u64 {
        self.baseline.total()
    }

    /// Baseline calls per backend call: how many times fewer host IOMMU calls the
    /// accelerator needs than QEMU (1.0 when both are 0, infinite when only the accelerator
    /// made none).
    pub fn ratio(&self) -> f64 {
        match (self.baseline_calls(), self.backend_calls()) {
            (0, 0) => 1.0,
            (_, 0) => f64::INFINITY,
            (baseline, backend) => baseline as f64 / backend as f64,
        }
    }

    /// Wall time of the whole replay: setup, events and the final check.
    pub fn wall_time(&self) -> Duration {
        self.setup_time + self.replay_time + self.final_check_time
    }

    /// Replay time per event in nanoseconds (0 without events).
    pub fn ns_per_event(&self) -> f64 {
        match self.events {
            0 => 0.0,
            events => self.replay_time.as_nanos() as f64 / events as f64,
        }
    }

    /// True when nothing disagreed.
    pub fn is_clean(&self) -> bool {
        self.mismatch_count == 0
    }

    /// `replay: events=<n> mismatches=<n> backend_calls=<n> baseline_calls=<n> ratio=<x>
    /// ns_per_event=<x>` (ratio with two decimals, ns/event with one).
    pub fn summary_line(&self) -> String {
        format!(
            "replay: events={} mismatches={} backend_calls={} baseline_calls={} ratio={:.2} ns_per_event={:.1}",
            self.events,
            self.mismatch_count,
            self.backend_calls(),
            self.baseline_calls(),
            self.ratio(),
            self.ns_per_event()
        )
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.comparisons;
        writeln!(f, "trace       {}", self.source)?;
        writeln!(
            f,
            "machine     RAM {:#x}, {} PHBs with a model container ({} KiB host pages), {} VIO window(s)",
            self.ram_size,
            self.containers,
            self.host_page_size >> 10,
            self.vio_windows
        )?;
        writeln!(f, "events      {}", self.events)?;
        for kind in EventKind::ALL {
            let compared = match kind {
                EventKind::GetTce => format!("{} values compared", c.get_values),
                EventKind::Xlate => format!("{} translations compared", c.translations),
                _ => String::new(),
            };
            let line = format!(
                "  {:<9} {:>9}  {compared}",
                kind.keyword(),
                self.events_of(kind)
            );
            writeln!(f, "{}", line.trim_end())?;
        }
        writeln!(
            f,
            "compared    {} return codes, {} H_GET_TCE values, {} translations, {} DDW calls, {} invariant checks",
            c.return_codes, c.get_values, c.translations, c.ddw_calls, c.invariant_checks
        )?;
        let counters = &self.counters;
        writeln!(
            f,
            "TCEs        {} mapped, {} unmapped, {} no-op updates skipped",
            counters.tces_mapped, counters.tces_unmapped, counters.noop_entries_skipped
        )?;
        let b = &self.backend;
        writeln!(
            f,
            "backend     {} calls: {} MAP_DMA, {} UNMAP_DMA, {} TCE_CREATE, {} TCE_REMOVE, {} REGISTER_MEMORY ({} failed)",
            self.backend_calls(),
            b.map_dma,
            b.unmap_dma,
            b.create_window,
            b.remove_window,
            b.register_memory,
            b.map_dma_failed + b.unmap_dma_failed
        )?;
        writeln!(
            f,
            "baseline    {} calls (QEMU): {} MAP_DMA/UNMAP_DMA, one per TCE update, + {} window/registration calls",
            self.baseline_calls(),
            self.baseline.per_tce_calls,
            self.baseline.window_calls
        )?;
        writeln!(
            f,
            "ratio       {:.2} baseline calls per backend call",
            self.ratio()
        )?;
        if let Some(last) = &self.last_invariants {
            writeln!(
                f,
                "invariants  held: {} windows, {} valid entries, {} host pages compared at the end",
                last.windows, last.valid_entries, last.host_pages
            )?;
        }
        writeln!(
            f,
            "time        {:.1} ms: setup {:.1} ms, replay {:.1} ms ({:.1} ns/event), final check {:.1} ms",
            ms(self.wall_time()),
            ms(self.setup_time),
            ms(self.replay_time),
            self.ns_per_event(),
            ms(self.final_check_time)
        )?;
        write!(f, "mismatches  {}", self.mismatch_count)?;
        if !self.mismatches.is_empty() {
            write!(
                f,
                " (first {} in full)",
                self.mismatches.len().min(self.mismatch_count as usize)
            )?;
            for mismatch in &self.mismatches {
                write!(f, "\n  {mismatch}")?;
            }
        }
        Ok(())
    }
}
