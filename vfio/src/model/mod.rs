// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! An in-process, deterministic reference model of what Linux 6.12 does behind a VFIO
//! SPAPR TCE v2 container: the `vfio_iommu_spapr_tce` v2 backend, `mm_iommu`
//! pre-registration, locked_vm accounting and the platform's window tables
//! (kernel-host.md §2.4, §3, §4). [`ModelContainer`] implements [`SpaprTceIommu`] with the
//! kernel's check order and errno values, so the accelerator, the replay and the fuzzers
//! can run without POWER hardware, and compare against the real container.
//!
//! # Example
//!
//! ```
//! use vfio_spapr::model::{ModelContainer, PlatformProfile};
//! use vfio_spapr::{DmaAccess, SpaprTceIommu, WindowRequest};
//!
//! let iommu = ModelContainer::new(PlatformProfile::powernv_power9());
//! // Memory must be pre-registered in host pages (64 KiB here) before MAP/UNMAP.
//! iommu.register_memory(0x7f00_0000_0000, 16 << 20)?;
//! // The default window (slot 0, 2 GiB of 4 KiB pages) appears on first use.
//! iommu.map_dma(0x1000, 0x2000, 0x7f00_0000_0000, DmaAccess::Write)?;
//! assert_eq!(iommu.hw_entry(0x2000).map(|e| e.vaddr), Some(0x7f00_0000_1000));
//! // PowerNV stores write-only as read-write (§7 item 44).
//! assert_eq!(iommu.hw_entry(0x1000).map(|e| e.access), Some(DmaAccess::ReadWrite));
//! // A second window lands in slot 1 at 1 << 59.
//! let start = iommu.create_window(WindowRequest { page_shift: 16, window_size: 1 << 32, levels: 1 })?;
//! assert_eq!(start, 1 << 59);
//! assert_eq!(iommu.registrations()[0].mapped, 1 + 2);
//! // Unregistering while mapped fails with EBUSY and keeps the registration.
//! let err = iommu.unregister_memory(0x7f00_0000_0000, 16 << 20).unwrap_err();
//! assert_eq!(err.errno, libc::EBUSY);
//! iommu.release();
//! assert_eq!(iommu.locked_vm_pages(), 0);
//! # Ok::<(), vfio_spapr::IommuError>(())
//! ```
//!
//! # What is modelled (kernel-host.md §7)
//!
//! * Item 8, for MAP_DMA/UNMAP_DMA: the range end is checked (deviation, see below).
//! * Items 30 and 45 (partly): after the last group leaves ([`ModelContainer::release`] or
//!   the last [`ModelContainer::detach_group`]) the container has no backend and every call
//!   fails with EINVAL; detaching a group while others remain empties every window.
//! * Items 32–33: process binding by REGISTER/CREATE/REMOVE (even failing ones), EPERM for
//!   other processes ([`ModelContainer::set_caller`]; only the identity is simulated, the
//!   `mm` is always the container's [`ModelProcess`]), EPERM for UNREGISTER before binding
//!   and for MAP/UNMAP before the first successful REGISTER.
//! * Items 34, 36, 47–50: registrations keyed by exact (vaddr, size) in host pages,
//!   EBUSY/EINVAL/ENOENT/EFAULT rules, sharing between containers of one process, biased
//!   `mapped` counts, single-region lookups, region page size from a described backing
//!   ([`ModelContainer::set_backing`]; the model cannot see real hugepages) and the
//!   registration snapshot.
//! * Items 37–44, 46: GET_INFO, TCE_CREATE (slots, placement, page sizes, levels, size
//!   formula, 55-bit reach, 16 MiB level blocks, pSeries rules), TCE_REMOVE, MAP_DMA and
//!   UNMAP_DMA check order, replacement, W-only stored as R|W on PowerNV, rounded-up
//!   windows.
//! * Item 51 for registrations and windows: every charge against the process's
//!   RLIMIT_MEMLOCK, ENOMEM above it, everything returned on teardown.
//!
//! # Deviations ("Recommendation:" items of §7)
//!
//! * Item 8: a MAP/UNMAP range whose end is past the window's hardware size, or overflows,
//!   fails with EINVAL before anything changes; the kernel checks only the first entry.
//! * Item 34: an unpinnable registration fails with EFAULT, never a positive count.
//! * Item 35: a MAP never stops early with success; regions disappear atomically.
//! * Item 40: a TCE_CREATE refused by the platform after the locked_vm charge returns
//!   the charge.
//! * Item 22 concerns KVM's clear path and is honoured by the accelerator, not here.
//!
//! # Out of scope
//!
//! * Items 1–29 and 52 (hypercall dispatch, KVM guest-view tables, KVM-VFIO attach, RTAS)
//!   belong to KVM and the accelerator; KVM's own `mapped` references are not simulated.
//! * Item 31 and the ioctl-level parts of 30, 37 (ENOTTY for v1/unknown ioctls, `argsz`,
//!   `flags`, EFAULT for bad user pointers, SET_IOMMU ordering): the typed
//!   [`SpaprTceIommu`] interface cannot express them; the real container covers them.
//! * Hardware exchange failures (OOM allocating a lower level) happen only through
//!   [`ModelContainer::inject_fault`].
//! * THP: compound pages only matter above the host page size, where only hugetlbfs counts.

mod accounting;
mod backing;
mod counters;
mod faults;
mod hw_table;
mod inspect;
mod mm_iommu;
mod ops;
mod process;
mod profile;
mod window;

use std::sync::{Mutex, MutexGuard};

pub use backing::{Backing, BackingError};
pub use counters::{ModelCounters, OpCounters};
pub use inspect::{HwEntry, HwExtent, RegionSnapshot, WindowSnapshot};
pub use process::{ModelProcess, ProcessId};
pub use profile::{Platform, PlatformProfile, BUS_ADDRESS_BIT_59, DEFAULT_MAX_CONTIGUOUS_ALLOC};

use crate::{DmaAccess, IommuError, IommuOp, SpaprIommuInfo, SpaprTceIommu, WindowRequest};
use ops::{Backend, ContainerState};

/// One simulated VFIO container with the SPAPR TCE v2 backend set and one group attached,
/// in a simulated process. All state sits behind one mutex (plus the process's, always
/// taken second), so it is `Send + Sync` and calls are atomic.
#[derive(Debug)]
pub struct ModelContainer {
    profile: PlatformProfile,
    process: ModelProcess,
    state: Mutex<ContainerState>,
}

impl ModelContainer {
    /// A container in a new process of its own ([`ProcessId::DEFAULT`], RLIMIT_MEMLOCK from
    /// `profile.locked_vm_limit_pages`).
    pub fn new(profile: PlatformProfile) -> Self {
        let process = ModelProcess::new(ProcessId::DEFAULT, profile.locked_vm_limit_pages);
        Self::new_in(&process, profile)
    }

    /// A container in `process`, sharing its registrations and locked_vm with the process's
    /// other containers (the process's own limit applies, not the profile's).
    pub fn new_in(process: &ModelProcess, profile: PlatformProfile) -> Self {
        Self {
            state: Mutex::new(ContainerState::new(process.id())),
            process: process.clone(),
            profile,
        }
    }

    /// The simulated host.
    pub fn profile(&self) -> &PlatformProfile {
        &self.profile
    }

    /// The process whose `mm` this container uses.
    pub fn process(&self) -> &ModelProcess {
        &self.process
    }

    /// Makes the following calls come from process `caller` (default: the container's
    /// process). Only the identity check of §3.3 is simulated: a container bound to
    /// another id answers EPERM; the registrations stay those of [`process`](Self::process).
    pub fn set_caller(&self, caller: ProcessId) {
        self.state().caller = caller;
    }

    /// The process the container is bound to, if any (`container->mm`).
    pub fn bound_process(&self) -> Option<ProcessId> {
        self.state().bound
    }

    /// Describes `[vaddr, vaddr + size)` of the process as backed by pages of
    /// `1 << page_shift` bytes (hugetlbfs when above the host page size), for later
    /// registrations. See [`ModelProcess::set_backing`].
    pub fn set_backing(&self, vaddr: u64, size: u64, page_shift: u32) -> Result<(), BackingError> {
        self.process.set_backing(vaddr, size, page_shift)
    }

    /// Describes `[vaddr, vaddr + size)` as unpinnable. See [`ModelProcess::set_unpinnable`].
    pub fn set_unpinnable(&self, vaddr: u64, size: u64) -> Result<(), BackingError> {
        self.process.set_unpinnable(vaddr, size)
    }

    /// Another group joins the container (no effect once released).
    pub fn attach_group(&self) {
        let mut state = self.state();
        if !state.released {
            state.groups += 1;
        }
    }

    /// A group leaves (6.11+, kernel-host.md §3.6): with groups remaining, every entry of
    /// every window is cleared and the windows stay; the last group's leaving is
    /// [`release`](Self::release).
    pub fn detach_group(&self) {
        let mut state = self.state();
        if state.released {
            return;
        }
        if state.groups > 1 {
            state.groups -= 1;
            let mut mm = self.process.mm();
            Backend {
                cs: &mut state,
                mm: &mut mm,
                profile: &self.profile,
            }
            .detach_group();
        } else {
            drop(state);
            self.release();
        }
    }

    /// The last group leaves (`tce_iommu_release`, §7 item 45): windows cleared and freed,
    /// registration references dropped, all charges returned; afterwards every call fails
    /// with EINVAL (no backend). Idempotent.
    pub fn release(&self) {
        let mut state = self.state();
        if state.released {
            return;
        }
        let mut mm = self.process.mm();
        Backend {
            cs: &mut state,
            mm: &mut mm,
            profile: &self.profile,
        }
        .release();
    }

    /// Calls, successes and failures per operation, and entries mapped/unmapped.
    pub fn counters(&self) -> ModelCounters {
        self.state().counters
    }

    /// Makes the `nth_call`-th call of `op` from now (1 = the next one; 0 counts as 1) fail
    /// with `errno`. A faulted call changes nothing at all — no binding, no default window,
    /// no entries — and counts as a failed call. Only the seven operations of
    /// [`SpaprTceIommu`] ever fault; several faults may be pending at once.
    pub fn inject_fault(&self, op: IommuOp, nth_call: u64, errno: i32) {
        let mut state = self.state();
        let calls_so_far = state.counters.op(op).calls();
        state.faults.inject(op, calls_so_far, nth_call, errno);
    }

    /// Forgets every pending injected fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    fn state(&self) -> MutexGuard<'_, ContainerState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one ioctl: injected fault, then the body, then the counters.
    fn call<T>(
        &self,
        op: IommuOp,
        body: impl FnOnce(&mut Backend<'_>) -> Result<T, i32>,
    ) -> Result<T, IommuError> {
        let mut state = self.state();
        let call_number = state.counters.op(op).calls() + 1;
        let result = match state.faults.take(op, call_number) {
            Some(errno) => Err(errno),
            None => {
                let mut mm = self.process.mm();
                body(&mut Backend {
                    cs: &mut state,
                    mm: &mut mm,
                    profile: &self.profile,
                })
            }
        };
        state.counters.record(op, result.is_ok());
        result.map_err(|errno| {
            let error = IommuError::new(op, errno);
            log::debug!("model {}: {error}", self.profile.name);
            error
        })
    }
}

impl SpaprTceIommu for ModelContainer {
    fn info(&self) -> Result<SpaprIommuInfo, IommuError> {
        self.call(IommuOp::GetInfo, |b| b.get_info())
    }

    fn register_memory(&self, vaddr: u64, size: u64) -> Result<(), IommuError> {
        self.call(IommuOp::RegisterMemory, |b| b.register(vaddr, size))
    }

    fn unregister_memory(&self, vaddr: u64, size: u64) -> Result<(), IommuError> {
        self.call(IommuOp::UnregisterMemory, |b| b.unregister(vaddr, size))
    }

    fn create_window(&self, request: WindowRequest) -> Result<u64, IommuError> {
        self.call(IommuOp::CreateWindow, |b| b.create_window(request))
    }

    fn remove_window(&self, start_addr: u64) -> Result<(), IommuError> {
        self.call(IommuOp::RemoveWindow, |b| b.remove_window(start_addr))
    }

    fn map_dma(
        &self,
        iova: u64,
        size: u64,
        vaddr: u64,
        access: DmaAccess,
    ) -> Result<(), IommuError> {
        self.call(IommuOp::MapDma, |b| b.map_dma(iova, size, vaddr, access))
    }

    fn unmap_dma(&self, iova: u64, size: u64) -> Result<(), IommuError> {
        self.call(IommuOp::UnmapDma, |b| b.unmap_dma(iova, size))
    }
}
