// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `mm->locked_vm` of one simulated process (`account_locked_vm`, `mm/util.c`;
//! kernel-host.md §3.7, §7 item 51).

/// Locked-memory counter of one process, in host pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LockedVm {
    /// Pages currently charged.
    pub pages: u64,
    /// RLIMIT_MEMLOCK in pages; `None` models CAP_IPC_LOCK.
    pub limit: Option<u64>,
}

impl LockedVm {
    /// A counter with nothing charged.
    pub fn new(limit: Option<u64>) -> Self {
        Self { pages: 0, limit }
    }

    /// Charges `pages`; ENOMEM, with nothing charged, when that would exceed the limit.
    pub fn charge(&mut self, pages: u64) -> Result<(), i32> {
        let total = self.pages.checked_add(pages).ok_or(libc::ENOMEM)?;
        if let Some(limit) = self.limit {
            if total > limit {
                return Err(libc::ENOMEM);
            }
        }
        self.pages = total;
        Ok(())
    }

    /// Returns `pages` (never below zero, like the kernel's clamp with a warning).
    pub fn uncharge(&mut self, pages: u64) {
        self.pages = self.pages.saturating_sub(pages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_inclusive_and_failure_charges_nothing() {
        let mut vm = LockedVm::new(Some(10));
        assert_eq!(vm.charge(10), Ok(()));
        assert_eq!(vm.charge(1), Err(libc::ENOMEM));
        assert_eq!(vm.pages, 10);
        vm.uncharge(4);
        assert_eq!(vm.charge(4), Ok(()));
        let mut unlimited = LockedVm::new(None);
        assert_eq!(unlimited.charge(u64::MAX), Ok(()));
        assert_eq!(unlimited.charge(1), Err(libc::ENOMEM));
    }
}
