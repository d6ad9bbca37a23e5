// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The guest view of a TCE window: what `H_GET_TCE` returns.
//!
//! Entries are raw 64-bit TCEs in host byte order, exactly as the guest wrote them
//! (kernel-host.md §2.3: KVM's guest-view table is host-endian and stores values verbatim,
//! checklist items 13–15). Entries that were never written read as 0.
//!
//! [`TceStore`] is the interface the accelerator uses, so that KVM's mmapped table
//! (`KVM_CREATE_SPAPR_TCE_64`) can later replace the in-process [`SparseTceTable`].

mod sparse;

pub use sparse::SparseTceTable;

/// Storage for the entries of one TCE window, indexed from 0 (the window's first entry).
///
/// Indices at or beyond [`len`](Self::len) read as 0 and writes to them are ignored: callers
/// range-check bus addresses before they reach the store.
pub trait TceStore: Send {
    /// Number of entries.
    fn len(&self) -> u64;

    /// True when the store has no entries at all.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry at `index`; 0 if it was never written.
    fn get(&self, index: u64) -> u64;

    /// Stores `value` verbatim at `index`.
    fn set(&mut self, index: u64, value: u64);

    /// Reads `out.len()` consecutive entries starting at `first` (0 beyond the table).
    /// Stores override it to find each leaf once per run instead of once per entry.
    fn get_run(&self, first: u64, out: &mut [u64]) {
        for (offset, value) in (0u64..).zip(out.iter_mut()) {
            *value = first.checked_add(offset).map_or(0, |index| self.get(index));
        }
    }

    /// Stores `values` verbatim into consecutive entries starting at `first` (writes beyond
    /// the table are ignored). Stores override it like [`get_run`](Self::get_run).
    fn set_run(&mut self, first: u64, values: &[u64]) {
        for (offset, &value) in (0u64..).zip(values) {
            match first.checked_add(offset) {
                Some(index) => self.set(index, value),
                None => break,
            }
        }
    }

    /// Stores `value` into `count` consecutive entries starting at `first`.
    fn set_range(&mut self, first: u64, count: u64, value: u64) {
        let end = first.saturating_add(count).min(self.len());
        for index in first..end {
            self.set(index, value);
        }
    }

    /// The first non-zero entry at or after `from`, as `(index, value)`.
    fn next_nonzero(&self, from: u64) -> Option<(u64, u64)>;

    /// Host memory the store currently uses, in bytes.
    fn memory_bytes(&self) -> usize;
}

/// Iterator over the non-zero entries of a [`TceStore`], in index order.
pub struct NonZeroEntries<'a, S: TceStore + ?Sized> {
    store: &'a S,
    next: Option<u64>,
}

impl<S: TceStore + ?Sized> Iterator for NonZeroEntries<'_, S> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<Self::Item> {
        let from = self.next?;
        let found = self.store.next_nonzero(from);
        self.next = found.and_then(|(index, _)| index.checked_add(1));
        found
    }
}

/// Iterates the non-zero entries of `store` (valid TCEs and verbatim "poison" values).
///
/// ```
/// use spapr_tce::table::{nonzero_entries, SparseTceTable, TceStore};
/// let mut table = SparseTceTable::new(1 << 20);
/// table.set(7, 0x1003);
/// table.set(700_000, 0x2001);
/// let entries: Vec<_> = nonzero_entries(&table).collect();
/// assert_eq!(entries, vec![(7, 0x1003), (700_000, 0x2001)]);
/// ```
pub fn nonzero_entries<S: TceStore + ?Sized>(store: &S) -> NonZeroEntries<'_, S> {
    NonZeroEntries {
        store,
        next: Some(0),
    }
}
