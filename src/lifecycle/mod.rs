// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The accelerator over the VM's lifetime:
//!
//! * memory hotplug: [`TceAccelerator::add_memory_region`],
//!   [`TceAccelerator::remove_memory_region`], [`TceAccelerator::sync_memory`], and the
//!   [`MemoryHotplugSubscriber`] that runs the latter from an event-manager loop;
//! * save/restore: [`TceAccelerator::snapshot`] → [`AcceleratorSnapshot`] (versioned text
//!   form) → [`TceAccelerator::restore`] on a new accelerator;
//! * before start: [`LockedMemoryPlan`], the exact locked-memory charge of a configuration,
//!   checked against RLIMIT_MEMLOCK.
//!
//! Lock order wherever several locks are held: the hotplug lock, then every PE lock in PE
//! order. Hypercalls and DDW RTAS calls take one PE lock only.

mod hotplug;
mod hotplug_error;
mod memlock;
mod preflight;
mod published;
mod restore;
mod snapshot;
pub mod snapshot_text;
mod subscriber;

use std::sync::MutexGuard;

use vfio_spapr::SpaprTceIommu;

use crate::accelerator::TceAccelerator;
use crate::pe::PeWindows;

pub use hotplug::{HotplugError, MemorySync, RemovePolicy};
pub use memlock::{
    current_memlock_limit, kvm_table_locked_pages, HostPlatform, MemlockLimit,
    KVM_TABLE_DESCRIPTOR_BYTES,
};
pub use preflight::{
    Charge, ChargeKind, DdwSizing, LockedMemoryPlan, PreflightError, PreflightOptions,
};
pub(crate) use published::PublishedRam;
pub use restore::RestoreError;
pub use snapshot::{AcceleratorSnapshot, PeSnapshot, WindowKind, WindowSnapshot, SNAPSHOT_VERSION};
pub use snapshot_text::SnapshotFormatError;
pub use subscriber::MemoryHotplugSubscriber;

impl<AS, C: SpaprTceIommu> TceAccelerator<AS, C> {
    /// Locks every PE, in PE order: no hypercall or DDW RTAS call runs until they are dropped.
    pub(crate) fn lock_all_pes(&self) -> Vec<MutexGuard<'_, PeWindows>> {
        self.pes.iter().map(|pe| pe.lock()).collect()
    }
}
