// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Injected failures: "the n-th future call of this kind fails with this errno".

use crate::IommuOp;

/// One planned failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PlannedFault {
    op: IommuOp,
    /// 1-based index among all calls of `op` made by the container since its creation.
    call: u64,
    errno: i32,
}

/// Pending injected failures of one container.
#[derive(Clone, Debug, Default)]
pub(crate) struct FaultPlan {
    planned: Vec<PlannedFault>,
}

impl FaultPlan {
    /// Plans a failure of call number `calls_so_far + nth_call` of `op` (`nth_call` 0 counts
    /// as 1: the next call).
    pub fn inject(&mut self, op: IommuOp, calls_so_far: u64, nth_call: u64, errno: i32) {
        self.planned.push(PlannedFault {
            op,
            call: calls_so_far.saturating_add(nth_call.max(1)),
            errno,
        });
    }

    /// The errno for call number `call` of `op`, if one was planned; consumes it.
    pub fn take(&mut self, op: IommuOp, call: u64) -> Option<i32> {
        let index = self
            .planned
            .iter()
            .position(|fault| fault.op == op && fault.call == call)?;
        Some(self.planned.remove(index).errno)
    }

    /// Forgets every planned failure.
    pub fn clear(&mut self) {
        self.planned.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_call_is_relative_to_injection() {
        let mut plan = FaultPlan::default();
        plan.inject(IommuOp::MapDma, 5, 2, libc::EIO);
        assert_eq!(plan.take(IommuOp::MapDma, 6), None);
        assert_eq!(plan.take(IommuOp::UnmapDma, 7), None);
        assert_eq!(plan.take(IommuOp::MapDma, 7), Some(libc::EIO));
        assert_eq!(plan.take(IommuOp::MapDma, 7), None);
        plan.inject(IommuOp::MapDma, 0, 0, libc::ENOMEM);
        assert_eq!(plan.take(IommuOp::MapDma, 1), Some(libc::ENOMEM));
    }
}
