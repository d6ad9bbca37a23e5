// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Lossless folding of runs: a body of 1 to [`MAX_PERIOD`] events repeated `count` times where
//! every wide field (LIOBN, IOBA, TCE, address, ...) changes by a constant step per repetition
//! and the return code / permission stays the same.

use std::collections::VecDeque;

use super::event::{GetTce, PutTce, PutTceIndirect, StuffTce, TceList, TraceEvent, Xlate};
use super::format::TraceRecord;

/// Longest body (in events) the folder looks for, e.g. 2 for H_GET_TCE + H_PUT_TCE pairs.
pub const MAX_PERIOD: usize = 4;
/// Fewest repetitions worth a `repeat` record.
pub const MIN_REPEATS: u64 = 3;
/// Events the folder looks ahead before deciding at the head of its buffer.
const LOOKAHEAD: usize = 4 * MAX_PERIOD * MIN_REPEATS as usize;
/// Most wide fields of a foldable event (indirect: liobn ioba list_gpa npages first step).
pub(crate) const MAX_WIDE: usize = 6;

/// The kinds of events that can be folded (hypercalls with a linear list, and xlate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FoldKind {
    Put,
    Get,
    Stuff,
    IndirectLinear,
    Xlate,
}

/// A foldable event as a vector: wide fields may step, `fixed` (ret or perm) may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FoldFields {
    pub(crate) kind: FoldKind,
    pub(crate) wide: [u64; MAX_WIDE],
    pub(crate) fixed: i64,
}

/// Per-repetition increments of the wide fields (wrapping).
pub(crate) type Steps = [u64; MAX_WIDE];

impl FoldFields {
    /// The fields of `event`, or `None` if it is not foldable (RTAS, explicit list).
    pub(crate) fn of(event: &TraceEvent) -> Option<Self> {
        let (kind, wide, fixed) = match event {
            TraceEvent::PutTce(e) => (FoldKind::Put, [e.liobn, e.ioba, e.tce, 0, 0, 0], e.ret),
            TraceEvent::GetTce(e) => (FoldKind::Get, [e.liobn, e.ioba, e.tce, 0, 0, 0], e.ret),
            TraceEvent::StuffTce(e) => (
                FoldKind::Stuff,
                [e.liobn, e.ioba, e.value, e.npages, 0, 0],
                e.ret,
            ),
            TraceEvent::PutTceIndirect(e) => match e.list {
                TceList::Linear { first, step } => (
                    FoldKind::IndirectLinear,
                    [e.liobn, e.ioba, e.list_gpa, e.npages, first, step],
                    e.ret,
                ),
                TceList::Explicit(_) => return None,
            },
            TraceEvent::Xlate(e) => (
                FoldKind::Xlate,
                [e.liobn, e.bus_addr, e.translated, 0, 0, 0],
                i64::from(e.perm),
            ),
            _ => return None,
        };
        Some(FoldFields { kind, wide, fixed })
    }

    /// The event these fields describe. A `fixed` perm outside 0..=255 is truncated; the
    /// parser rejects such values before they get here.
    pub(crate) fn event(&self) -> TraceEvent {
        let [a, b, c, d, e, f] = self.wide;
        let ret = self.fixed;
        match self.kind {
            FoldKind::Put => TraceEvent::PutTce(PutTce {
                liobn: a,
                ioba: b,
                tce: c,
                ret,
            }),
            FoldKind::Get => TraceEvent::GetTce(GetTce {
                liobn: a,
                ioba: b,
                ret,
                tce: c,
            }),
            FoldKind::Stuff => TraceEvent::StuffTce(StuffTce {
                liobn: a,
                ioba: b,
                value: c,
                npages: d,
                ret,
            }),
            FoldKind::IndirectLinear => TraceEvent::PutTceIndirect(PutTceIndirect {
                liobn: a,
                ioba: b,
                list_gpa: c,
                npages: d,
                list: TceList::Linear { first: e, step: f },
                ret,
            }),
            FoldKind::Xlate => TraceEvent::Xlate(Xlate {
                liobn: a,
                bus_addr: b,
                translated: c,
                perm: self.fixed as u8,
            }),
        }
    }

    /// These fields advanced by `times` repetitions of `steps`.
    pub(crate) fn advanced(&self, steps: &Steps, times: u64) -> Self {
        let mut next = *self;
        for (value, step) in next.wide.iter_mut().zip(steps) {
            *value = value.wrapping_add(step.wrapping_mul(times));
        }
        next
    }

    /// The steps leading from `self` to `next`, if both have the same kind and fixed field.
    fn steps_to(&self, next: &FoldFields) -> Option<Steps> {
        if self.kind != next.kind || self.fixed != next.fixed {
            return None;
        }
        let mut steps = [0; MAX_WIDE];
        for (i, step) in steps.iter_mut().enumerate() {
            *step = next.wide[i].wrapping_sub(self.wide[i]);
        }
        Some(steps)
    }
}

/// A folded run: `body` repeated `count` times, each field advancing by its step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    count: u64,
    body: Vec<(FoldFields, Steps)>,
}

impl Repeat {
    /// Builds a run from explicit parts; `None` if the body is empty or a body event cannot
    /// be folded. `steps[i]` holds the per-repetition increment of each wide field of body
    /// event `i`, in the order they appear in the text format.
    pub(crate) fn new(count: u64, body: Vec<(FoldFields, Steps)>) -> Option<Self> {
        (!body.is_empty() && count > 0).then_some(Repeat { count, body })
    }

    /// Number of repetitions.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Number of events in one repetition.
    pub fn period(&self) -> usize {
        self.body.len()
    }

    /// Number of events the run stands for.
    pub fn event_count(&self) -> u64 {
        self.count.saturating_mul(self.body.len() as u64)
    }

    /// The body's base events and steps (for the text writer).
    pub(crate) fn body(&self) -> &[(FoldFields, Steps)] {
        &self.body
    }

    /// Event `index` of the unfolded run.
    pub fn get(&self, index: u64) -> Option<TraceEvent> {
        if index >= self.event_count() {
            return None;
        }
        let period = self.body.len() as u64;
        let (fields, steps) = &self.body[(index % period) as usize];
        Some(fields.advanced(steps, index / period).event())
    }

    /// The unfolded events, in order.
    pub fn events(&self) -> impl Iterator<Item = TraceEvent> + '_ {
        (0..self.event_count()).filter_map(move |i| self.get(i))
    }
}

/// A run being extended while events stream in.
struct ActiveRun {
    body: Vec<(FoldFields, Steps)>,
    count: u64,
    partial: Vec<TraceEvent>,
}

/// Streaming folder: push events in order, take the records at the end.
///
/// Greedy and deterministic: at the head of a [`LOOKAHEAD`]-event buffer it picks the period
/// that covers the most events (ties: the shorter period), if that run has at least
/// [`MIN_REPEATS`] repetitions, and then extends the run for as long as events match it.
#[derive(Default)]
pub(crate) struct Folder {
    records: Vec<TraceRecord>,
    window: VecDeque<TraceEvent>,
    active: Option<ActiveRun>,
}

impl Folder {
    /// Feeds the next event.
    pub(crate) fn push(&mut self, event: TraceEvent) {
        if let Some(run) = &mut self.active {
            let (base, steps) = &run.body[run.partial.len()];
            if FoldFields::of(&event) == Some(base.advanced(steps, run.count)) {
                run.partial.push(event);
                if run.partial.len() == run.body.len() {
                    run.count += 1;
                    run.partial.clear();
                }
                return;
            }
            self.close_run();
        }
        self.window.push_back(event);
        while self.active.is_none() && self.window.len() >= LOOKAHEAD {
            self.decide();
        }
    }

    /// Flushes everything and returns the records.
    pub(crate) fn finish(mut self) -> Vec<TraceRecord> {
        loop {
            if self.active.is_some() {
                self.close_run();
            }
            if self.window.is_empty() {
                return self.records;
            }
            self.decide();
        }
    }

    fn close_run(&mut self) {
        if let Some(run) = self.active.take() {
            if let Some(repeat) = Repeat::new(run.count, run.body) {
                self.records.push(TraceRecord::Repeat(repeat));
            }
            // The incomplete last repetition goes back in front of the buffer.
            for event in run.partial.into_iter().rev() {
                self.window.push_front(event);
            }
        }
    }

    /// Emits the head of the buffer as one event or starts a run there.
    fn decide(&mut self) {
        let fields: Vec<Option<FoldFields>> = self.window.iter().map(FoldFields::of).collect();
        let mut best: Option<(usize, u64, Vec<Steps>)> = None;
        for period in 1..=MAX_PERIOD {
            if let Some((repeats, steps)) = run_length(&fields, period) {
                let covers = repeats * period as u64;
                let better = best
                    .as_ref()
                    .is_none_or(|(p, r, _)| covers > *r * *p as u64);
                if repeats >= MIN_REPEATS && better {
                    best = Some((period, repeats, steps));
                }
            }
        }
        let Some((period, repeats, steps)) = best else {
            if let Some(event) = self.window.pop_front() {
                self.records.push(TraceRecord::Event(event));
            }
            return;
        };
        let body = fields[..period]
            .iter()
            .zip(steps)
            .filter_map(|(f, s)| f.map(|f| (f, s)))
            .collect();
        let covered = repeats as usize * period;
        self.window.drain(..covered);
        self.active = Some(ActiveRun {
            body,
            count: repeats,
            partial: Vec::new(),
        });
        // The rest of the buffer may continue the run: feed it again.
        let rest: Vec<TraceEvent> = self.window.drain(..).collect();
        for event in rest {
            self.push(event);
        }
    }
}

/// Number of full repetitions of the first `period` events at the head of `fields`, and their
/// steps; `None` if fewer than two repetitions are visible.
fn run_length(fields: &[Option<FoldFields>], period: usize) -> Option<(u64, Vec<Steps>)> {
    if fields.len() < 2 * period {
        return None;
    }
    let steps: Vec<Steps> = (0..period)
        .map(|j| fields[j]?.steps_to(&fields[period + j]?))
        .collect::<Option<_>>()?;
    let mut repeats = 2u64;
    'outer: loop {
        let start = repeats as usize * period;
        if start + period > fields.len() {
            break;
        }
        for j in 0..period {
            let expected = fields[j].map(|f| f.advanced(&steps[j], repeats));
            if fields[start + j] != expected {
                break 'outer;
            }
        }
        repeats += 1;
    }
    Some((repeats, steps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(kind: u8, a: u64, b: u64, c: u64, fixed: i64) -> FoldFields {
        let (kind, fixed) = match kind % 5 {
            0 => (FoldKind::Put, fixed),
            1 => (FoldKind::Get, fixed),
            2 => (FoldKind::Stuff, fixed),
            3 => (FoldKind::IndirectLinear, fixed),
            _ => (FoldKind::Xlate, fixed.rem_euclid(4)),
        };
        FoldFields {
            kind,
            wide: [a, b, c, a ^ c, b.wrapping_mul(3), 0x1000],
            fixed,
        }
    }

    /// Segments: a run of `period` events repeated `count` times with random steps.
    fn segment() -> impl Strategy<Value = Vec<TraceEvent>> {
        let event = (0u8..5, 0u64..4, any::<u64>(), 0u64..3, -1i64..2);
        let step = prop_oneof![Just(0u64), Just(0x1000u64), any::<u64>()];
        (prop::collection::vec((event, step), 1..4), 1u64..7).prop_map(|(body, count)| {
            (0..count)
                .flat_map(|k| {
                    body.iter()
                        .map(move |((kind, a, b, c, fixed), step)| {
                            let base = fields(*kind, *a, *b, *c, *fixed);
                            base.advanced(&[0, *step, 0, 0, *step, 0], k).event()
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn folding_is_lossless(segments in prop::collection::vec(segment(), 0..12)) {
            let events: Vec<TraceEvent> = segments.into_iter().flatten().collect();
            let mut folder = Folder::default();
            for event in events.clone() {
                folder.push(event);
            }
            let records = folder.finish();
            let unfolded: Vec<TraceEvent> = records
                .iter()
                .flat_map(|r| match r {
                    TraceRecord::Event(e) => vec![e.clone()],
                    TraceRecord::Repeat(r) => r.events().collect(),
                })
                .collect();
            prop_assert_eq!(unfolded, events);
            for record in &records {
                if let TraceRecord::Repeat(r) = record {
                    prop_assert!(r.count() >= MIN_REPEATS && r.period() <= MAX_PERIOD);
                }
            }
        }
    }

    #[test]
    fn get_put_pairs_fold_into_one_record() {
        let events: Vec<TraceEvent> = (0..1000u64)
            .flat_map(|i| {
                let ioba = 0x800_0000_0000_0000 + (i << 12);
                [
                    fields(1, 0x8000_0401, ioba, 0, 0).event(),
                    fields(0, 0x8000_0401, ioba, 0, 0).event(),
                ]
            })
            .collect();
        let mut folder = Folder::default();
        events.iter().cloned().for_each(|e| folder.push(e));
        let records = folder.finish();
        assert_eq!(records.len(), 1);
        let TraceRecord::Repeat(run) = &records[0] else {
            panic!("not folded");
        };
        assert_eq!((run.count(), run.period()), (1000, 2));
        assert_eq!(run.get(1999), events.last().cloned());
        assert_eq!(run.get(2000), None);
    }
}
