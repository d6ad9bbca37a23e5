// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Feeding the events and comparing the results.

use std::collections::BTreeMap;
use std::time::Instant;

use papr_hcall::{
    Ioba, Liobn, H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE, MAX_INDIRECT_TCES,
};
use vm_memory::{Bytes, GuestAddress};

use super::baseline::QemuBaseline;
use super::ddw::RtasGuest;
use super::machine::ReplayMachine;
use super::mismatch::{EventLocation, Mismatch, MismatchKind};
use super::report::{Comparisons, ReplayReport};
use super::{ReplayError, ReplayOptions};
use crate::check::{check_invariants, InvariantReport};
use crate::replay::{CanonicalTrace, EventKind, PutTceIndirect, TraceEvent, TraceRecord};
use crate::BackendCallCounts;

/// Replays `trace` on a fresh machine (see the [module documentation](super)).
///
/// Fails only when the machine cannot be built; every disagreement with the recording is a
/// [`Mismatch`] in the report.
pub fn replay(
    trace: &CanonicalTrace,
    options: &ReplayOptions,
) -> Result<ReplayReport, ReplayError> {
    let setup_start = Instant::now();
    let machine = ReplayMachine::build(&trace.machine)?;
    let setup_time = setup_start.elapsed();

    let mut runner = Runner {
        machine: &machine,
        options,
        rtas: RtasGuest::of(&machine),
        by_kind: BTreeMap::new(),
        comparisons: Comparisons::default(),
        baseline_tce_calls: 0,
        mismatch_count: 0,
        mismatches: Vec::new(),
        events: 0,
        records: trace.records.len(),
    };
    let replay_start = Instant::now();
    for (record_index, record) in trace.records.iter().enumerate() {
        match record {
            TraceRecord::Event(event) => {
                let location = runner.location(record_index, None);
                runner.step(location, event);
            }
            TraceRecord::Repeat(run) => {
                let period = run.period().max(1) as u64;
                for (position, event) in (0u64..).zip(run.events()) {
                    let repetition = Some((position / period, run.count()));
                    let location = runner.location(record_index, repetition);
                    runner.step(location, &event);
                }
            }
        }
    }
    let replay_time = replay_start.elapsed();

    let check_start = Instant::now();
    let last = runner.check(None);
    let final_check_time = check_start.elapsed();

    let backend = model_backend_calls(&machine);
    let baseline = QemuBaseline {
        per_tce_calls: runner.baseline_tce_calls,
        window_calls: backend.create_window + backend.remove_window + backend.register_memory,
    };
    Ok(ReplayReport {
        source: trace.machine.source.clone(),
        ram_size: trace.machine.ram_size,
        containers: machine.container_buids.len(),
        vio_windows: trace.machine.vio.len(),
        host_page_size: 1 << machine.accelerator.host_page_shift(),
        events: runner.events,
        by_kind: runner.by_kind,
        comparisons: runner.comparisons,
        counters: machine.accelerator.counters(),
        backend,
        baseline,
        last_invariants: last,
        setup_time,
        replay_time,
        final_check_time,
        mismatch_count: runner.mismatch_count,
        mismatches: runner.mismatches,
    })
}

/// The sum of every model container's MAP/UNMAP/CREATE/REMOVE/REGISTER counters.
fn model_backend_calls(machine: &ReplayMachine) -> BackendCallCounts {
    machine
        .containers()
        .map(|container| container.counters())
        .fold(BackendCallCounts::default(), |mut sum, c| {
            sum.map_dma += c.map_dma.calls();
            sum.map_dma_failed += c.map_dma.failed;
            sum.unmap_dma += c.unmap_dma.calls();
            sum.unmap_dma_failed += c.unmap_dma.failed;
            sum.create_window += c.create_window.calls();
            sum.remove_window += c.remove_window.calls();
            sum.register_memory += c.register_memory.calls();
            sum
        })
}

struct Runner<'a> {
    machine: &'a ReplayMachine,
    options: &'a ReplayOptions,
    rtas: RtasGuest,
    by_kind: BTreeMap<EventKind, u64>,
    comparisons: Comparisons,
    baseline_tce_calls: u64,
    mismatch_count: u64,
    mismatches: Vec<Mismatch>,
    /// Events replayed so far (the index of the next one).
    events: u64,
    /// Records in the trace (where the final check is located).
    records: usize,
}

impl Runner<'_> {
    fn location(&self, record: usize, repetition: Option<(u64, u64)>) -> EventLocation {
        EventLocation {
            index: self.events,
            record,
            repetition,
        }
    }

    fn mismatch(
        &mut self,
        location: EventLocation,
        event: Option<&TraceEvent>,
        kind: MismatchKind,
    ) {
        self.mismatch_count += 1;
        if self.mismatches.len() < self.options.max_mismatches {
            self.mismatches.push(Mismatch {
                location,
                event: event.cloned(),
                kind,
            });
        }
    }

    /// Replays one event, then runs the periodic invariant check if it is due.
    fn step(&mut self, location: EventLocation, event: &TraceEvent) {
        *self.by_kind.entry(event.kind()).or_default() += 1;
        if event
            .liobn()
            .is_some_and(|liobn| self.machine.has_container(liobn))
        {
            self.baseline_tce_calls += super::baseline::qemu_tce_updates(event);
        }
        for kind in self.execute(event) {
            self.mismatch(location, Some(event), kind);
        }
        self.events += 1;
        if let Some(every) = self.options.check_every.filter(|&n| n > 0) {
            if self.events % every == 0 {
                self.check(Some((location, event)));
            }
        }
    }

    /// Feeds `event` to the accelerator and returns what disagreed.
    fn execute(&mut self, event: &TraceEvent) -> Vec<MismatchKind> {
        let acc = &self.machine.accelerator;
        let (nr, args, ret) = match event {
            TraceEvent::PutTce(e) => (H_PUT_TCE, [e.liobn, e.ioba, e.tce, 0], e.ret),
            TraceEvent::GetTce(e) => (H_GET_TCE, [e.liobn, e.ioba, 0, 0], e.ret),
            TraceEvent::StuffTce(e) => (H_STUFF_TCE, [e.liobn, e.ioba, e.value, e.npages], e.ret),
            TraceEvent::PutTceIndirect(e) => {
                // A list outside guest RAM is the hypercall's to refuse.
                if let Err(reason) = self.write_list(e) {
                    log::debug!("{reason}");
                }
                (
                    H_PUT_TCE_INDIRECT,
                    [e.liobn, e.ioba, e.list_gpa, e.npages],
                    e.ret,
                )
            }
            TraceEvent::Xlate(e) => {
                self.comparisons.translations += 1;
                let got = acc.translate(Liobn(e.liobn), Ioba(e.bus_addr)).map(|t| {
                    let page_mask = t.page_shift.offset_mask();
                    (t.guest_addr & !page_mask, t.permission.bits() as u8)
                });
                let expected = (e.perm != 0).then_some((e.translated, e.perm));
                return if got == expected {
                    Vec::new()
                } else {
                    vec![MismatchKind::Translation {
                        expected_addr: e.translated,
                        expected_perm: e.perm,
                        got,
                    }]
                };
            }
            ddw => {
                self.comparisons.ddw_calls += 1;
                return self.rtas.replay(self.machine, self.options, ddw);
            }
        };
        let mut registers = [0u64; 9];
        registers[..4].copy_from_slice(&args);
        let Some(outcome) = acc.handle_hcall(nr, &registers) else {
            let reason = format!("handle_hcall({nr:#x}) returned None");
            return vec![MismatchKind::NotHandled { reason }];
        };
        self.comparisons.return_codes += 1;
        let got = outcome.status.0;
        if got != ret {
            return vec![MismatchKind::ReturnCode { expected: ret, got }];
        }
        match event {
            TraceEvent::GetTce(e) if ret == 0 => {
                self.comparisons.get_values += 1;
                if outcome.r4 == Some(e.tce) {
                    Vec::new()
                } else {
                    vec![MismatchKind::GetValue {
                        expected: e.tce,
                        got: outcome.r4,
                    }]
                }
            }
            _ => Vec::new(),
        }
    }

    /// Writes the list of an H_PUT_TCE_INDIRECT, big-endian, at its guest-physical address
    /// (at most one 4 KiB page: the accelerator refuses longer lists without reading them).
    fn write_list(&self, call: &PutTceIndirect) -> Result<(), String> {
        let entries = call.npages.min(MAX_INDIRECT_TCES);
        let bytes: Vec<u8> = (0..entries)
            .map_while(|i| call.list.entry(i))
            .flat_map(u64::to_be_bytes)
            .collect();
        self.machine
            .accelerator
            .memory()
            .write_slice(&bytes, GuestAddress(call.list_gpa))
            .map_err(|e| format!("writing the TCE list at {:#x}: {e}", call.list_gpa))
    }

    /// Runs the invariant checker; `after` is the event it follows (`None`: the end).
    fn check(&mut self, after: Option<(EventLocation, &TraceEvent)>) -> Option<InvariantReport> {
        self.comparisons.invariant_checks += 1;
        match check_invariants(&self.machine.accelerator) {
            Ok(report) => Some(report),
            Err(violations) => {
                let (location, event) = match after {
                    Some((location, event)) => (location, Some(event)),
                    None => (self.location(self.records, None), None),
                };
                self.mismatch(location, event, MismatchKind::Invariants { violations });
                None
            }
        }
    }
}
