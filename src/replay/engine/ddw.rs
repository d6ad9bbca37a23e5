// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The DDW RTAS calls of a replay, issued as a guest does: the argument buffer is written
//! into guest RAM and `H_RTAS` is called with its address; the reply is read back from the
//! buffer's return cells.
//!
//! Compared: the status of every call; for a successful create the LIOBN and the start
//! address; for a successful query the windows available, the page-size mask and, when the
//! trace knows it and [`ReplayOptions::compare_largest_block`] is set, the largest block.
//! After a failed create the trace holds what the guest's buffer happened to contain (0), not
//! anything the hypervisor returned, so only the status is compared then.

use papr_hcall::rtas::ddw::{CreateArgs, QueryArgs, QueryResult, RemoveArgs, ResetArgs};
use papr_hcall::rtas::{Buid, ConfigAddr, DdwTokens, RtasCall, RtasStatus};
use papr_hcall::{HcallStatus, H_RTAS};
use vm_memory::Bytes;

use super::machine::ReplayMachine;
use super::mismatch::MismatchKind;
use super::ReplayOptions;
use crate::replay::{DdwCreate, DdwQuery, TraceEvent};

/// The RTAS side of the guest: the tokens it calls and the query form it uses, as read from
/// what the accelerator publishes (`ibm,ddw-applicable`, `ibm,ddw-extensions`).
#[derive(Clone, Copy, Debug)]
pub(super) struct RtasGuest {
    /// The tokens the guest calls.
    tokens: DdwTokens,
    /// Whether the guest asks for the 6-output query (`ibm,ddw-extensions` index 2 = 1), as
    /// Linux does when it is advertised.
    six_output_query: bool,
}

impl RtasGuest {
    /// The guest of `machine`'s accelerator.
    pub(super) fn of(machine: &ReplayMachine) -> Self {
        Self {
            tokens: machine.accelerator.ddw_tokens(),
            six_output_query: machine.accelerator.ddw_extensions().query_six_outputs,
        }
    }

    /// Replays a DDW event and returns what disagreed (nothing for other events).
    pub(super) fn replay(
        &self,
        machine: &ReplayMachine,
        options: &ReplayOptions,
        event: &TraceEvent,
    ) -> Vec<MismatchKind> {
        let result = match event {
            TraceEvent::DdwQuery(query) => self.query(machine, options, query),
            TraceEvent::DdwCreate(create) => self.create(machine, create),
            TraceEvent::DdwRemove(remove) => match u32::try_from(remove.liobn) {
                Ok(liobn) => {
                    let args = RemoveArgs { liobn }.to_args();
                    call(machine, self.tokens.remove, &args, 1)
                        .map(|rets| status_only(&rets, remove.status))
                }
                Err(_) => Err(format!("LIOBN {:#x} does not fit a cell", remove.liobn)),
            },
            TraceEvent::DdwReset(reset) => {
                let args = ResetArgs {
                    config_addr: ConfigAddr(reset.config_addr),
                    buid: Buid(reset.buid),
                    limited_addressing: None,
                }
                .to_args();
                call(machine, self.tokens.reset, &args, 1)
                    .map(|rets| status_only(&rets, reset.status))
            }
            _ => Ok(Vec::new()),
        };
        result.unwrap_or_else(|reason| vec![MismatchKind::NotHandled { reason }])
    }

    fn query(
        &self,
        machine: &ReplayMachine,
        options: &ReplayOptions,
        query: &DdwQuery,
    ) -> Result<Vec<MismatchKind>, String> {
        let args = QueryArgs {
            config_addr: ConfigAddr(query.config_addr),
            buid: Buid(query.buid),
        }
        .to_args();
        let nret = if self.six_output_query {
            QueryArgs::NRET_EXTENDED
        } else {
            QueryArgs::NRET
        };
        let rets = call(machine, self.tokens.query, &args, nret)?;
        let mut found = status_only(&rets, query.status);
        if !found.is_empty() || query.status != 0 {
            return Ok(found);
        }
        let result = QueryResult::from_rets(&rets)
            .ok_or_else(|| format!("unreadable query return cells {rets:x?}"))?;
        let largest_block = query
            .largest_block
            .filter(|_| options.compare_largest_block);
        let fields = [
            (
                "windows",
                query.windows_available.map(u64::from),
                u64::from(result.windows_available),
            ),
            ("largest block", largest_block, result.largest_block),
            (
                "mask",
                query.page_mask.map(u64::from),
                u64::from(result.page_sizes.0),
            ),
        ];
        found.extend(compare_fields(fields));
        Ok(found)
    }

    fn create(
        &self,
        machine: &ReplayMachine,
        create: &DdwCreate,
    ) -> Result<Vec<MismatchKind>, String> {
        let args = CreateArgs {
            config_addr: ConfigAddr(create.config_addr),
            buid: Buid(create.buid),
            page_shift: create.page_shift,
            window_shift: create.window_shift,
        }
        .to_args();
        let rets = call(machine, self.tokens.create, &args, CreateArgs::NRET)?;
        let mut found = status_only(&rets, create.status);
        if !found.is_empty() || create.status != 0 {
            return Ok(found);
        }
        let cell = |i: usize| u64::from(rets.get(i).copied().unwrap_or_default());
        let fields = [
            ("liobn", Some(create.liobn), cell(1)),
            ("start", Some(create.start), cell(2) << 32 | cell(3)),
        ];
        found.extend(compare_fields(fields));
        Ok(found)
    }
}

/// `(field, expected if known, got)` → mismatches.
fn compare_fields<const N: usize>(
    fields: [(&'static str, Option<u64>, u64); N],
) -> impl Iterator<Item = MismatchKind> {
    fields
        .into_iter()
        .filter_map(|(field, expected, got)| match expected {
            Some(expected) if expected != got => Some(MismatchKind::DdwField {
                field,
                expected,
                got,
            }),
            _ => None,
        })
}

/// The status cell against the recorded status.
fn status_only(rets: &[u32], expected: i64) -> Vec<MismatchKind> {
    let got = rets
        .first()
        .map_or(i64::MIN, |&cell| i64::from(RtasStatus::from_cell(cell).0));
    if got == expected {
        Vec::new()
    } else {
        vec![MismatchKind::RtasStatus { expected, got }]
    }
}

/// Writes the call into the machine's RTAS buffer, issues `H_RTAS` and reads the return
/// cells back.
fn call(machine: &ReplayMachine, token: u32, args: &[u32], nret: u32) -> Result<Vec<u32>, String> {
    let buffer = machine.rtas_buffer;
    let call = RtasCall::new(buffer, token, args, nret);
    let memory = machine.accelerator.memory();
    memory
        .write_slice(&call.to_bytes(), buffer)
        .map_err(|e| format!("writing the RTAS buffer at {:#x}: {e}", buffer.0))?;
    let mut registers = [0u64; 9];
    registers[0] = buffer.0;
    let outcome = machine
        .accelerator
        .handle_hcall(H_RTAS, &registers)
        .ok_or("the accelerator does not handle H_RTAS")?;
    if outcome.status != HcallStatus::SUCCESS {
        return Err(format!("H_RTAS returned {}", outcome.status));
    }
    call.read_rets(&**memory).map_err(|e| e.to_string())
}
