// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Counters of the DDW RTAS calls, by call and by RTAS status (qemu-and-guest.md §6 item 10:
//! QEMU traces only successful creates and a constant for query).
//!
//! Relaxed atomics, like the hypercall counters: statistics, never synchronisation.

use std::sync::atomic::{AtomicU64, Ordering};

use papr_hcall::rtas::{DdwCall, RtasStatus};

/// How often one DDW RTAS call answered each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtasResultCounts {
    /// `0`, success.
    pub success: u64,
    /// `-1`, hardware error (the host refused a window operation).
    pub hardware_error: u64,
    /// `-3`, parameter error (a refused request, including a wrong `nargs`/`nret`).
    pub parameter_error: u64,
    /// Any other status.
    pub other: u64,
}

impl RtasResultCounts {
    /// Calls, whatever their status.
    pub fn total(&self) -> u64 {
        self.success + self.hardware_error + self.parameter_error + self.other
    }
}

/// The DDW RTAS calls executed by [`TceAccelerator::handle_rtas`](crate::TceAccelerator::handle_rtas).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DdwCallCounts {
    /// `ibm,query-pe-dma-window`.
    pub query: RtasResultCounts,
    /// `ibm,create-pe-dma-window`.
    pub create: RtasResultCounts,
    /// `ibm,remove-pe-dma-window`.
    pub remove: RtasResultCounts,
    /// `ibm,reset-pe-dma-window`.
    pub reset: RtasResultCounts,
    /// RTAS buffers that could not be read or written (no status reached the guest).
    pub buffer_errors: u64,
}

impl DdwCallCounts {
    /// The results of one call.
    pub fn call(&self, call: DdwCall) -> &RtasResultCounts {
        match call {
            DdwCall::Query => &self.query,
            DdwCall::Create => &self.create,
            DdwCall::Remove => &self.remove,
            DdwCall::Reset => &self.reset,
        }
    }

    /// Every DDW call that produced a status.
    pub fn total(&self) -> u64 {
        self.query.total() + self.create.total() + self.remove.total() + self.reset.total()
    }
}

/// The live cells behind [`DdwCallCounts`]: `[call][bucket]`.
#[derive(Default)]
pub(crate) struct DdwCounters {
    cells: [[AtomicU64; 4]; 4],
    buffer_errors: AtomicU64,
}

fn call_index(call: DdwCall) -> usize {
    match call {
        DdwCall::Query => 0,
        DdwCall::Create => 1,
        DdwCall::Remove => 2,
        DdwCall::Reset => 3,
    }
}

fn bucket(status: RtasStatus) -> usize {
    match status {
        RtasStatus::SUCCESS => 0,
        RtasStatus::HARDWARE_ERROR => 1,
        RtasStatus::PARAMETER_ERROR => 2,
        _ => 3,
    }
}

impl DdwCounters {
    /// Records the status a call wrote back.
    pub(crate) fn record(&self, call: DdwCall, status: RtasStatus) {
        self.cells[call_index(call)][bucket(status)].fetch_add(1, Ordering::Relaxed);
    }

    /// Records a buffer that could not be accessed.
    pub(crate) fn buffer_error(&self) {
        self.buffer_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Copies the cells.
    pub(crate) fn snapshot(&self) -> DdwCallCounts {
        let results = |call: DdwCall| {
            let [success, hardware_error, parameter_error, other] = self.cells[call_index(call)]
                .each_ref()
                .map(|c| c.load(Ordering::Relaxed));
            RtasResultCounts {
                success,
                hardware_error,
                parameter_error,
                other,
            }
        };
        DdwCallCounts {
            query: results(DdwCall::Query),
            create: results(DdwCall::Create),
            remove: results(DdwCall::Remove),
            reset: results(DdwCall::Reset),
            buffer_errors: self.buffer_errors.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_land_in_their_bucket() {
        let counters = DdwCounters::default();
        counters.record(DdwCall::Create, RtasStatus::PARAMETER_ERROR);
        counters.record(DdwCall::Create, RtasStatus::SUCCESS);
        counters.record(DdwCall::Remove, RtasStatus::HARDWARE_ERROR);
        counters.record(DdwCall::Query, RtasStatus::BUSY);
        counters.buffer_error();
        let snap = counters.snapshot();
        assert_eq!(snap.create.parameter_error, 1);
        assert_eq!(snap.create.success, 1);
        assert_eq!(snap.call(DdwCall::Remove).hardware_error, 1);
        assert_eq!(snap.query.other, 1);
        assert_eq!(snap.reset.total(), 0);
        assert_eq!(snap.total(), 4);
        assert_eq!(snap.buffer_errors, 1);
    }
}
