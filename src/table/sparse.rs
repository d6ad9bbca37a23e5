// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! A sparse radix table of TCEs whose memory follows what the guest actually wrote.
//!
//! Why not a flat array: QEMU allocates `g_new0(nb_table)` per window, 2 GiB for a 1 TiB
//! window of 4 KiB pages (qemu-and-guest.md §6 item 6). Here leaves of 512 entries (4 KiB)
//! are allocated on the first non-zero write only, never on reads or zero writes, and freed
//! again when their last non-zero entry is cleared. Interior nodes have 512 children, so any
//! 64-bit index is reached in at most 7 steps (O(1) access).

use super::TceStore;

/// Index bits resolved per level.
const LEVEL_BITS: u32 = 9;
/// Entries per leaf and children per interior node.
const FANOUT: usize = 1 << LEVEL_BITS;
const SLOT_MASK: u64 = FANOUT as u64 - 1;

enum Node {
    Leaf {
        entries: Box<[u64]>,
        nonzero: usize,
    },
    Interior {
        children: Box<[Option<Box<Node>>]>,
        populated: usize,
    },
}

/// How many nodes of each kind exist, for [`SparseTceTable::memory_bytes`].
#[derive(Default)]
struct NodeCounts {
    leaves: usize,
    interiors: usize,
}

/// A TCE table of `len` entries that allocates 4 KiB leaves lazily.
///
/// ```
/// use spapr_tce::table::{SparseTceTable, TceStore};
/// // A 1 TiB window of 4 KiB pages: 2^28 entries.
/// let mut table = SparseTceTable::new(1 << 28);
/// let empty = table.memory_bytes();
/// assert_eq!(table.get(12345), 0);
/// table.set(12345, 0);
/// assert_eq!(table.memory_bytes(), empty, "reads and zero writes allocate nothing");
/// table.set(12345, 0x4000_0003);
/// assert_eq!(table.get(12345), 0x4000_0003);
/// assert!(table.memory_bytes() < empty + 64 * 1024);
/// table.set(12345, 0);
/// assert_eq!(table.memory_bytes(), empty, "clearing the last entry frees its leaf");
/// ```
pub struct SparseTceTable {
    len: u64,
    /// Number of interior levels above the leaves.
    depth: u32,
    root: Option<Box<Node>>,
    counts: NodeCounts,
}

impl SparseTceTable {
    /// An all-zero table of `len` entries.
    pub fn new(len: u64) -> Self {
        let index_bits = match len {
            0 | 1 => 0,
            _ => u64::BITS - (len - 1).leading_zeros(),
        };
        let depth = index_bits.saturating_sub(LEVEL_BITS).div_ceil(LEVEL_BITS);
        Self {
            len,
            depth,
            root: None,
            counts: NodeCounts::default(),
        }
    }

    /// Number of allocated 512-entry leaves.
    pub fn leaf_count(&self) -> usize {
        self.counts.leaves
    }
}

/// The child slot of `index` in a node at `height` (0 = leaf).
fn slot(index: u64, height: u32) -> usize {
    ((index >> (LEVEL_BITS * height)) & SLOT_MASK) as usize
}

impl Node {
    fn new(height: u32, counts: &mut NodeCounts) -> Self {
        if height == 0 {
            counts.leaves += 1;
            Node::Leaf {
                entries: vec![0u64; FANOUT].into_boxed_slice(),
                nonzero: 0,
            }
        } else {
            counts.interiors += 1;
            Node::Interior {
                children: (0..FANOUT).map(|_| None).collect(),
                populated: 0,
            }
        }
    }
}

/// Writes `values` into consecutive entries from `first` below `link` (a node at `height`,
/// 0 = leaf); all of them must lie in one leaf. Walks down once per run, not once per entry
/// (`H_PUT_TCE_INDIRECT` and `H_STUFF_TCE` write up to 512 entries of one leaf). Allocates
/// only for non-zero values and frees nodes that become empty.
fn set_leaf_run(
    link: &mut Option<Box<Node>>,
    height: u32,
    first: u64,
    values: &[u64],
    counts: &mut NodeCounts,
) {
    if link.is_none() {
        if values.iter().all(|&value| value == 0) {
            return;
        }
        *link = Some(Box::new(Node::new(height, counts)));
    }
    let Some(node) = link.as_mut() else {
        return;
    };
    let now_empty = match node.as_mut() {
        Node::Leaf { entries, nonzero } => {
            let start = slot(first, 0);
            let end = (start + values.len()).min(FANOUT);
            let mut count = *nonzero;
            for (entry, &value) in entries[start..end].iter_mut().zip(values) {
                // `count` includes this entry if it is non-zero: no underflow.
                count -= usize::from(*entry != 0);
                count += usize::from(value != 0);
                *entry = value;
            }
            *nonzero = count;
            count == 0
        }
        Node::Interior {
            children,
            populated,
        } => {
            let child = &mut children[slot(first, height)];
            let had_child = child.is_some();
            set_leaf_run(child, height.saturating_sub(1), first, values, counts);
            match (had_child, child.is_some()) {
                (false, true) => *populated += 1,
                (true, false) => *populated -= 1,
                _ => {}
            }
            *populated == 0
        }
    };
    if now_empty {
        match link.take().as_deref() {
            Some(Node::Leaf { .. }) => counts.leaves -= 1,
            Some(Node::Interior { .. }) => counts.interiors -= 1,
            None => {}
        }
    }
}

/// The leaf holding `index` below `node` (at `height`), if allocated.
fn leaf_of(mut node: &Node, mut height: u32, index: u64) -> Option<&[u64]> {
    loop {
        match node {
            Node::Leaf { entries, .. } => return Some(entries),
            Node::Interior { children, .. } => {
                node = children[slot(index, height)].as_deref()?;
                height = height.saturating_sub(1);
            }
        }
    }
}

/// Splits `count` entries from `first` into runs that each lie in one leaf, as
/// `(first index, offset into the request, length)`.
fn leaf_runs(first: u64, count: usize) -> impl Iterator<Item = (u64, usize, usize)> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        if offset >= count {
            return None;
        }
        let index = first + offset as u64;
        let len = (FANOUT - slot(index, 0)).min(count - offset);
        let run = (index, offset, len);
        offset += len;
        Some(run)
    })
}

/// The first non-zero entry at or after `from` below `node`, whose first index is `base`.
fn next_in(node: &Node, height: u32, base: u64, from: u64) -> Option<(u64, u64)> {
    match node {
        Node::Leaf { entries, .. } => {
            let start = usize::try_from(from.saturating_sub(base)).ok()?;
            entries
                .iter()
                .enumerate()
                .skip(start)
                .find(|(_, value)| **value != 0)
                .map(|(i, value)| (base + i as u64, *value))
        }
        Node::Interior { children, .. } => {
            let shift = LEVEL_BITS * height;
            let first_child = usize::try_from(from.saturating_sub(base) >> shift).ok()?;
            for (i, child) in children.iter().enumerate().skip(first_child) {
                let Some(child) = child else { continue };
                // Children beyond the 64-bit index space are never allocated.
                let child_base = (i as u64)
                    .checked_mul(1u64 << shift)
                    .and_then(|offset| base.checked_add(offset))?;
                let found = next_in(child, height - 1, child_base, from.max(child_base));
                if found.is_some() {
                    return found;
                }
            }
            None
        }
    }
}

impl TceStore for SparseTceTable {
    fn len(&self) -> u64 {
        self.len
    }

    fn get(&self, index: u64) -> u64 {
        if index >= self.len {
            return 0;
        }
        self.root
            .as_deref()
            .and_then(|root| leaf_of(root, self.depth, index))
            .map_or(0, |entries| entries[slot(index, 0)])
    }

    fn get_run(&self, first: u64, out: &mut [u64]) {
        let in_table = usize::try_from(self.len.saturating_sub(first)).unwrap_or(usize::MAX);
        let (inside, beyond) = out.split_at_mut(out.len().min(in_table));
        beyond.fill(0);
        for (index, offset, len) in leaf_runs(first, inside.len()) {
            let out = &mut inside[offset..offset + len];
            match self
                .root
                .as_deref()
                .and_then(|root| leaf_of(root, self.depth, index))
            {
                Some(entries) => {
                    let start = slot(index, 0);
                    out.copy_from_slice(&entries[start..start + len]);
                }
                None => out.fill(0),
            }
        }
    }

    fn set(&mut self, index: u64, value: u64) {
        if index < self.len {
            set_leaf_run(
                &mut self.root,
                self.depth,
                index,
                &[value],
                &mut self.counts,
            );
        }
    }

    fn set_run(&mut self, first: u64, values: &[u64]) {
        let in_table = usize::try_from(self.len.saturating_sub(first)).unwrap_or(usize::MAX);
        let values = &values[..values.len().min(in_table)];
        for (index, offset, len) in leaf_runs(first, values.len()) {
            let run = &values[offset..offset + len];
            set_leaf_run(&mut self.root, self.depth, index, run, &mut self.counts);
        }
    }

    fn set_range(&mut self, first: u64, count: u64, value: u64) {
        let end = first.saturating_add(count).min(self.len);
        if value == 0 {
            // Visit only the entries that are set: clearing an empty range costs nothing.
            let mut from = first;
            while let Some((index, _)) = self.next_nonzero(from) {
                if index >= end {
                    break;
                }
                self.set(index, 0);
                from = index + 1;
            }
        } else {
            for index in first..end {
                self.set(index, value);
            }
        }
    }

    fn next_nonzero(&self, from: u64) -> Option<(u64, u64)> {
        if from >= self.len {
            return None;
        }
        next_in(self.root.as_deref()?, self.depth, 0, from)
    }

    fn memory_bytes(&self) -> usize {
        let node = std::mem::size_of::<Node>();
        std::mem::size_of::<Self>()
            + self.counts.leaves * (node + FANOUT * std::mem::size_of::<u64>())
            + self.counts.interiors * (node + FANOUT * std::mem::size_of::<Option<Box<Node>>>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::nonzero_entries;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn depth_grows_with_length() {
        assert_eq!(SparseTceTable::new(0).depth, 0);
        assert_eq!(SparseTceTable::new(512).depth, 0);
        assert_eq!(SparseTceTable::new(513).depth, 1);
        assert_eq!(SparseTceTable::new(1 << 18).depth, 1);
        assert_eq!(SparseTceTable::new((1 << 18) + 1).depth, 2);
        assert_eq!(SparseTceTable::new(u64::MAX).depth, 7);
    }

    #[test]
    fn reads_and_zero_writes_never_allocate() {
        let mut table = SparseTceTable::new(1 << 30);
        let empty = table.memory_bytes();
        for index in [0, 511, 512, 1 << 29, (1 << 30) - 1] {
            assert_eq!(table.get(index), 0);
            table.set(index, 0);
        }
        table.set_range(0, 1 << 30, 0);
        assert_eq!(table.memory_bytes(), empty);
        assert_eq!(table.leaf_count(), 0);
    }

    #[test]
    fn memory_follows_written_leaves_and_is_released() {
        let mut table = SparseTceTable::new(1 << 30);
        let empty = table.memory_bytes();
        table.set_range(1024, 512 * 3, 0x1003);
        assert_eq!(table.leaf_count(), 3);
        let three_leaves = table.memory_bytes();
        assert!(three_leaves > empty + 3 * 4096);
        assert!(three_leaves < empty + 8 * 4096);
        table.set(1 << 29, 0x55);
        assert_eq!(table.leaf_count(), 4);
        table.set_range(0, 1 << 30, 0);
        assert_eq!(table.leaf_count(), 0);
        assert_eq!(table.memory_bytes(), empty);
    }

    #[test]
    fn out_of_range_indices_read_zero_and_ignore_writes() {
        let mut table = SparseTceTable::new(1000);
        table.set(1000, 7);
        table.set(u64::MAX, 7);
        assert_eq!(table.get(1000), 0);
        assert_eq!(table.get(u64::MAX), 0);
        assert_eq!(table.leaf_count(), 0);
        table.set_range(990, 100, 9);
        assert_eq!(nonzero_entries(&table).count(), 10);
    }

    #[test]
    fn full_64_bit_index_space() {
        let mut table = SparseTceTable::new(u64::MAX);
        table.set(u64::MAX - 1, 3);
        table.set(1 << 63, 2);
        table.set(5, 1);
        let entries: Vec<_> = nonzero_entries(&table).collect();
        assert_eq!(entries, vec![(5, 1), (1 << 63, 2), (u64::MAX - 1, 3)]);
        assert_eq!(table.next_nonzero(6), Some((1 << 63, 2)));
    }

    #[test]
    fn runs_match_single_entries_across_leaves_and_the_end() {
        let len = 3 * 512 + 100;
        let mut by_run = SparseTceTable::new(len);
        let mut by_entry = SparseTceTable::new(len);
        let values: Vec<u64> = (0..700)
            .map(|i| if i % 3 == 0 { 0 } else { i + 1 })
            .collect();
        for first in [0, 300, 1000, len - 50] {
            by_run.set_run(first, &values);
            for (offset, &value) in (0u64..).zip(&values) {
                by_entry.set(first + offset, value);
            }
        }
        assert_eq!(
            nonzero_entries(&by_run).collect::<Vec<_>>(),
            nonzero_entries(&by_entry).collect::<Vec<_>>()
        );
        assert_eq!(by_run.leaf_count(), by_entry.leaf_count());
        let mut out = vec![7u64; 900];
        by_run.get_run(len - 800, &mut out);
        for (offset, &value) in (0u64..).zip(&out) {
            assert_eq!(value, by_entry.get(len - 800 + offset), "offset {offset}");
        }
        // Clearing by runs frees every leaf again.
        for first in (0..len).step_by(450) {
            by_run.set_run(first, &[0; 450]);
        }
        assert_eq!(by_run.leaf_count(), 0);
        assert_eq!(
            by_run.memory_bytes(),
            SparseTceTable::new(len).memory_bytes()
        );
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(
            len in 1u64..(1 << 22),
            ops in proptest::collection::vec((any::<u64>(), 0u64..4, 0u64..600), 1..200),
        ) {
            let mut table = SparseTceTable::new(len);
            let mut model = BTreeMap::new();
            for (index, value, count) in ops {
                let index = index % (len + 10);
                if count > 1 {
                    table.set_range(index, count, value);
                    for i in index..index.saturating_add(count).min(len) {
                        model.insert(i, value);
                    }
                } else {
                    table.set(index, value);
                    if index < len {
                        model.insert(index, value);
                    }
                }
            }
            model.retain(|_, v| *v != 0);
            let entries: Vec<_> = nonzero_entries(&table).collect();
            let expected: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(&entries, &expected);
            for (index, value) in expected {
                prop_assert_eq!(table.get(index), value);
            }
            let leaves: std::collections::BTreeSet<u64> =
                model.keys().map(|k| k / 512).collect();
            prop_assert_eq!(table.leaf_count(), leaves.len());
        }
    }
}
