// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Merging the guest's DDW messages into the converted trace.
//!
//! # Placement rule
//!
//! Per BUID, the calls the guest logged are aligned in order with the DDW calls QEMU traced on
//! that BUID (`ddw_query`, `ddw_create`; resets and removes are not in the guest log):
//!
//! 1. A logged call with status 0 is a traced call: it must match the next traced query or
//!    create on that BUID (same kind; a query's windows and mask, a create's page shift,
//!    window shift, LIOBN and start must agree, else the conversion fails). A matched query
//!    takes the largest block the guest received from the log. A successful create is thus
//!    checked, never duplicated.
//! 2. A logged call with a non-zero status left no trace line. It is inserted immediately
//!    after the trace event matched to the previous logged call on the same BUID, i.e. after
//!    the last `ddw_query` (or create) on that BUID before it, and before the next event on
//!    that BUID. In the recorded boots every failed create directly follows its query in the
//!    guest, and the guest issues nothing on that PE in between.
//! 3. A failed call with no earlier logged call on its BUID has no anchor and fails the
//!    conversion, as does a logged call left over when the trace ends.
//!
//! Traced calls beyond the end of the log (a log that stops early) keep `?` for what only the
//! guest knew.

use std::collections::{BTreeMap, VecDeque};

use super::ddw_messages::{DdwMessage, DdwMessageCall, DdwMessages};
use super::event::{DdwQuery, TraceEvent};
use super::machine::RtasTokens;

/// The logged calls still to be matched, per BUID.
#[derive(Debug, Default)]
pub(crate) struct MessagePlan {
    pending: BTreeMap<u64, VecDeque<DdwMessage>>,
}

impl MessagePlan {
    /// Plans the merge; fails on a token that is not the machine's.
    pub(crate) fn new(messages: DdwMessages, tokens: &RtasTokens) -> Result<Self, String> {
        let mut pending: BTreeMap<u64, VecDeque<DdwMessage>> = BTreeMap::new();
        for message in messages.calls {
            let expected = match message.call {
                DdwMessageCall::Query(_) => tokens.query,
                DdwMessageCall::Create(_) => tokens.create,
            };
            if message.token != expected {
                return Err(format!(
                    "DDW messages line {}: token {:#x}, the machine's is {expected:#x}",
                    message.line, message.token
                ));
            }
            pending
                .entry(message.call.buid())
                .or_default()
                .push_back(message);
        }
        Ok(MessagePlan { pending })
    }

    /// Matches a traced query or create on `buid` with the next logged call, completes the
    /// traced event from it, and returns the failed calls that follow it in the log.
    pub(crate) fn traced(
        &mut self,
        buid: u64,
        event: &mut TraceEvent,
    ) -> Result<Vec<TraceEvent>, String> {
        let Some(queue) = self.pending.get_mut(&buid) else {
            return Ok(Vec::new());
        };
        let Some(message) = queue.pop_front() else {
            return Ok(Vec::new());
        };
        if message.call.status() != 0 {
            return Err(format!(
                "DDW messages line {}: failed call on BUID {buid:#x} before any traced call \
                 on that BUID: no place to insert it",
                message.line
            ));
        }
        match (event, message.call) {
            (TraceEvent::DdwQuery(traced), DdwMessageCall::Query(logged)) => {
                check_query(traced, &logged).map_err(|e| at(&message, e))?;
                traced.largest_block = logged.largest_block;
            }
            (TraceEvent::DdwCreate(traced), DdwMessageCall::Create(logged)) => {
                if *traced != logged {
                    return Err(at(
                        &message,
                        format!("guest logged {logged:?}, the trace has {traced:?}"),
                    ));
                }
            }
            (traced, _) => {
                return Err(at(
                    &message,
                    format!("the guest logged another call than the trace's {traced:?}"),
                ))
            }
        }
        let mut failed = Vec::new();
        while let Some(next) = queue.front().filter(|m| m.call.status() != 0) {
            failed.push(match next.call {
                DdwMessageCall::Query(q) => TraceEvent::DdwQuery(q),
                DdwMessageCall::Create(c) => TraceEvent::DdwCreate(c),
            });
            queue.pop_front();
        }
        Ok(failed)
    }

    /// Fails if a logged call found no trace event.
    pub(crate) fn finish(&self) -> Result<(), String> {
        match self.pending.values().flatten().next() {
            Some(message) => Err(at(
                message,
                "no matching DDW call in the trace (the trace ends first)".into(),
            )),
            None => Ok(()),
        }
    }
}

fn at(message: &DdwMessage, text: String) -> String {
    format!("DDW messages line {}: {text}", message.line)
}

fn check_query(traced: &DdwQuery, logged: &DdwQuery) -> Result<(), String> {
    let same = traced.config_addr == logged.config_addr
        && traced.windows_available == logged.windows_available
        && traced.page_mask == logged.page_mask;
    if same {
        Ok(())
    } else {
        Err(format!(
            "guest logged query {logged:?}, the trace has {traced:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::event::DdwCreate;

    /// Builds the failed create the guest logged (for tests and documentation).
    fn failed_create(buid: u64) -> DdwMessage {
        DdwMessage {
            line: 9,
            token: 0x2027,
            call: DdwMessageCall::Create(DdwCreate {
                config_addr: 0,
                buid,
                page_shift: 24,
                window_shift: 0,
                status: -3,
                liobn: 0,
                start: 0,
            }),
        }
    }

    fn query(buid: u64, largest: Option<u64>) -> DdwQuery {
        DdwQuery {
            config_addr: 0,
            buid,
            status: 0,
            windows_available: Some(1),
            largest_block: largest,
            page_mask: Some(0x107),
        }
    }

    fn plan(calls: Vec<DdwMessage>) -> MessagePlan {
        MessagePlan::new(DdwMessages { calls, skipped: 0 }, &RtasTokens::default()).unwrap()
    }

    fn logged_query(buid: u64) -> DdwMessage {
        DdwMessage {
            line: 1,
            token: 0x2026,
            call: DdwMessageCall::Query(query(buid, Some(0x20_0000_0000))),
        }
    }

    #[test]
    fn failed_create_follows_its_query() {
        let mut plan = plan(vec![logged_query(7), failed_create(7)]);
        let mut traced = TraceEvent::DdwQuery(query(7, None));
        let inserted = plan.traced(7, &mut traced).unwrap();
        assert_eq!(traced, TraceEvent::DdwQuery(query(7, Some(0x20_0000_0000))));
        assert!(matches!(
            inserted[..],
            [TraceEvent::DdwCreate(DdwCreate { status: -3, .. })]
        ));
        plan.finish().unwrap();
    }

    #[test]
    fn unplaceable_and_leftover_calls_fail() {
        let mut plan1 = plan(vec![failed_create(7)]);
        assert!(plan1
            .traced(7, &mut TraceEvent::DdwQuery(query(7, None)))
            .is_err());
        assert!(plan(vec![logged_query(7)]).finish().is_err());
        let mut wrong_token = logged_query(7);
        wrong_token.token = 0x1234;
        let messages = DdwMessages {
            calls: vec![wrong_token],
            skipped: 0,
        };
        assert!(MessagePlan::new(messages, &RtasTokens::default()).is_err());
    }

    #[test]
    fn mismatches_fail() {
        let mut plan1 = plan(vec![logged_query(7)]);
        let mut other = query(7, None);
        other.page_mask = Some(0x3);
        assert!(plan1.traced(7, &mut TraceEvent::DdwQuery(other)).is_err());
        let mut plan2 = plan(vec![logged_query(7)]);
        let mut create = TraceEvent::DdwCreate(DdwCreate {
            config_addr: 0,
            buid: 7,
            page_shift: 12,
            window_shift: 30,
            status: 0,
            liobn: 1,
            start: 0,
        });
        assert!(plan2.traced(7, &mut create).is_err());
    }
}
