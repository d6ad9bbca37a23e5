// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! A simulated process: its `mm` with the pre-registered regions (`mm->context.
//! iommu_group_mem_list`), `locked_vm`, and the description of what backs its memory.
//! Containers of one process share it, like the kernel (kernel-host.md §4.1, §7 item 34).

use std::sync::{Arc, Mutex, MutexGuard};

use super::accounting::LockedVm;
use super::backing::{Backing, BackingError, BackingMap};
use super::mm_iommu::MmIommu;

/// Identity of a simulated process, for the container's process binding
/// (kernel-host.md §3.3 `tce_iommu_mm_set`, §7 item 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessId(pub u32);

impl ProcessId {
    /// The id [`ModelContainer::new`](super::ModelContainer::new) gives the process it creates.
    pub const DEFAULT: ProcessId = ProcessId(1);
}

/// The `mm` state the model keeps per process.
#[derive(Debug)]
pub(crate) struct MmState {
    pub mm_iommu: MmIommu,
    pub locked_vm: LockedVm,
    pub backing: BackingMap,
}

#[derive(Debug)]
struct ProcessShared {
    id: ProcessId,
    mm: Mutex<MmState>,
}

/// A simulated process (its `mm`), shared by every [`ModelContainer`](super::ModelContainer)
/// created in it with [`ModelContainer::new_in`](super::ModelContainer::new_in). Cloning
/// gives another handle to the same process.
#[derive(Clone, Debug)]
pub struct ModelProcess {
    shared: Arc<ProcessShared>,
}

impl ModelProcess {
    /// A process with nothing registered; `locked_vm_limit_pages` is its RLIMIT_MEMLOCK in
    /// host pages (`None` models CAP_IPC_LOCK).
    pub fn new(id: ProcessId, locked_vm_limit_pages: Option<u64>) -> Self {
        Self {
            shared: Arc::new(ProcessShared {
                id,
                mm: Mutex::new(MmState {
                    mm_iommu: MmIommu::default(),
                    locked_vm: LockedVm::new(locked_vm_limit_pages),
                    backing: BackingMap::default(),
                }),
            }),
        }
    }

    /// The process's id.
    pub fn id(&self) -> ProcessId {
        self.shared.id
    }

    /// Pages charged to this process's `locked_vm` (registrations and windows).
    pub fn locked_vm_pages(&self) -> u64 {
        self.mm().locked_vm.pages
    }

    /// Changes RLIMIT_MEMLOCK (`None`: CAP_IPC_LOCK). Charges already made stay.
    pub fn set_locked_vm_limit(&self, limit_pages: Option<u64>) {
        self.mm().locked_vm.limit = limit_pages;
    }

    /// Describes `[vaddr, vaddr + size)` as backed by pages of `1 << page_shift` bytes:
    /// hugetlbfs memory when above the host page size, ordinary memory otherwise. Affects
    /// only later registrations (a registration snapshots its pages, §7 item 50).
    pub fn set_backing(&self, vaddr: u64, size: u64, page_shift: u32) -> Result<(), BackingError> {
        self.mm()
            .backing
            .set(vaddr, size, Backing::Pages { page_shift })
    }

    /// Describes `[vaddr, vaddr + size)` as unpinnable (unmapped or read-only): registering
    /// any host page touching it fails with EFAULT (§7 item 34).
    pub fn set_unpinnable(&self, vaddr: u64, size: u64) -> Result<(), BackingError> {
        self.mm().backing.set(vaddr, size, Backing::Unpinnable)
    }

    /// Locks the `mm`. Lock order: a container's state first, then its process.
    pub(crate) fn mm(&self) -> MutexGuard<'_, MmState> {
        self.shared
            .mm
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
