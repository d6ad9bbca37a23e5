// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The guest-view table of one window: in this process, or shared with the kernel.
//!
//! An enum rather than a `Box<dyn TceStore>`: the hcall paths call `get`/`set` once per
//! entry (512 times for a full `H_PUT_TCE_INDIRECT`), and a two-way match inlines where a
//! virtual call does not; and the KVM wiring needs the concrete [`KvmTceTable`] back (its
//! fd for `SET_SPAPR_TCE`, handing it to [`KvmTceOps::release_table`](super::KvmTceOps)),
//! which a trait object cannot give without downcasting.

use crate::kvm::KvmTceTable;
use crate::table::{nonzero_entries, SparseTceTable, TceStore};

/// Where a window's guest-view table lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableLocation {
    /// In this process ([`SparseTceTable`]): every TCE hcall for the window exits to the VMM.
    Userspace,
    /// In the kernel (`KVM_CREATE_SPAPR_TCE_64`), mapped here: the kernel completes the hcalls
    /// it can, the VMM the rest, on the same entries.
    Kernel {
        /// The PE's VFIO groups are attached (`SET_SPAPR_TCE`), so in-kernel hcalls also
        /// program the host IOMMU. False for windows of PEs without a container.
        vfio_attached: bool,
    },
}

/// A window's guest-view table.
pub(crate) enum WindowTable {
    /// In this process.
    Sparse(SparseTceTable),
    /// Shared with the kernel.
    Kernel {
        table: KvmTceTable,
        vfio_attached: bool,
    },
}

impl WindowTable {
    /// An empty in-process table of `entries` entries.
    pub(crate) fn sparse(entries: u64) -> Self {
        Self::Sparse(SparseTceTable::new(entries))
    }

    fn store(&self) -> &dyn TceStore {
        match self {
            Self::Sparse(table) => table,
            Self::Kernel { table, .. } => table,
        }
    }

    /// The entry at `index`; 0 if never written or beyond the table.
    #[inline]
    pub(crate) fn get(&self, index: u64) -> u64 {
        match self {
            Self::Sparse(table) => table.get(index),
            Self::Kernel { table, .. } => TceStore::get(table, index),
        }
    }

    /// Stores `value` verbatim at `index` (ignored beyond the table).
    #[inline]
    pub(crate) fn set(&mut self, index: u64, value: u64) {
        match self {
            Self::Sparse(table) => table.set(index, value),
            Self::Kernel { table, .. } => TceStore::set(table, index, value),
        }
    }

    /// Reads `out.len()` consecutive entries from `first` (see [`TceStore::get_run`]).
    #[inline]
    pub(crate) fn get_run(&self, first: u64, out: &mut [u64]) {
        match self {
            Self::Sparse(table) => table.get_run(first, out),
            Self::Kernel { table, .. } => TceStore::get_run(table, first, out),
        }
    }

    /// Stores consecutive entries from `first` (see [`TceStore::set_run`]).
    #[inline]
    pub(crate) fn set_run(&mut self, first: u64, values: &[u64]) {
        match self {
            Self::Sparse(table) => table.set_run(first, values),
            Self::Kernel { table, .. } => TceStore::set_run(table, first, values),
        }
    }

    /// Host memory the table takes.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.store().memory_bytes()
    }

    /// Where the table lives.
    pub(crate) fn location(&self) -> TableLocation {
        match self {
            Self::Sparse(_) => TableLocation::Userspace,
            Self::Kernel { vfio_attached, .. } => TableLocation::Kernel {
                vfio_attached: *vfio_attached,
            },
        }
    }

    /// True when the hardware may disagree with the old guest-view values of a request that
    /// reached userspace, so that unchanged entries must be programmed again.
    ///
    /// A hcall the kernel punts after touching the hardware leaves the guest view as it was:
    /// `H_PUT_TCE` clears the failing table's sub-entries (§1.5 step 6, checklist item 22),
    /// `H_PUT_TCE_INDIRECT` clears entry `i` (§1.6 step 7), `H_STUFF_TCE` has cleared the
    /// entries before the failure (§1.7 step 4). Re-doing a map or unmap is idempotent
    /// (`MAP_DMA` over a mapping replaces it, item 42; `UNMAP_DMA` of nothing succeeds, item 43;
    /// §5.5).
    pub(crate) fn hardware_may_lag(&self) -> bool {
        matches!(
            self,
            Self::Kernel {
                vfio_attached: true,
                ..
            }
        )
    }

    /// If the table is the kernel's: replaces it by an in-process copy of its non-zero entries
    /// and returns it, to be released. Afterwards the kernel no longer handles hcalls for the
    /// window, so only the VMM (under the PE lock) changes its entries and hardware.
    ///
    /// The copy is taken before the release: an in-kernel hcall racing between the two is
    /// lost from the view, and its hardware entry stays until the host window goes (a guest
    /// issuing hcalls to a window it is removing only hurts its own DMA).
    pub(crate) fn take_kernel_table(&mut self) -> Option<KvmTceTable> {
        let Self::Kernel { table, .. } = self else {
            return None;
        };
        let mut copy = SparseTceTable::new(TceStore::len(table));
        for (index, value) in nonzero_entries(table) {
            copy.set(index, value);
        }
        match std::mem::replace(self, Self::Sparse(copy)) {
            Self::Kernel { table, .. } => Some(table),
            Self::Sparse(_) => None,
        }
    }
}

impl TceStore for WindowTable {
    fn len(&self) -> u64 {
        self.store().len()
    }

    fn get(&self, index: u64) -> u64 {
        WindowTable::get(self, index)
    }

    fn set(&mut self, index: u64, value: u64) {
        WindowTable::set(self, index, value);
    }

    fn get_run(&self, first: u64, out: &mut [u64]) {
        WindowTable::get_run(self, first, out);
    }

    fn set_run(&mut self, first: u64, values: &[u64]) {
        WindowTable::set_run(self, first, values);
    }

    fn next_nonzero(&self, from: u64) -> Option<(u64, u64)> {
        self.store().next_nonzero(from)
    }

    fn memory_bytes(&self) -> usize {
        WindowTable::memory_bytes(self)
    }
}

/// Lets `nonzero_entries(window.table.as_ref())` work on either kind.
impl AsRef<dyn TceStore> for WindowTable {
    fn as_ref(&self) -> &(dyn TceStore + 'static) {
        self
    }
}
