// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! An independent copy of every guest view, updated from what each operation should do, and
//! compared with the accelerator's after every step.

use std::collections::BTreeMap;

use papr_hcall::Liobn;

use super::failure::Violation;
use super::layout::WINDOW_LIOBNS;
use super::world::{Geometry, World};

/// One window's expected state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowWindow {
    /// Its geometry.
    pub geometry: Geometry,
    /// Non-zero entries by index.
    pub entries: BTreeMap<u64, u64>,
}

impl ShadowWindow {
    /// The entry at `index` (0 when never written).
    pub fn get(&self, index: u64) -> u64 {
        self.entries.get(&index).copied().unwrap_or(0)
    }

    /// Stores `value` at `index`.
    pub fn set(&mut self, index: u64, value: u64) {
        if value == 0 {
            self.entries.remove(&index);
        } else {
            self.entries.insert(index, value);
        }
    }
}

/// The expected guest views of all windows of the world, by LIOBN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shadow {
    /// Active windows.
    pub windows: BTreeMap<u64, ShadowWindow>,
}

impl Shadow {
    /// The accelerator's current guest views.
    pub fn capture(world: &World) -> Self {
        let windows = WINDOW_LIOBNS
            .iter()
            .filter_map(|&liobn| {
                let info = world.acc.window(liobn)?;
                let entries = world
                    .acc
                    .entries(liobn)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(index, tce)| (index, tce.0))
                    .collect();
                Some((
                    liobn.0,
                    ShadowWindow {
                        geometry: Geometry::of(&info),
                        entries,
                    },
                ))
            })
            .collect();
        Self { windows }
    }

    /// The expected window `liobn`.
    pub fn window(&self, liobn: Liobn) -> Option<&ShadowWindow> {
        self.windows.get(&liobn.0)
    }

    /// The expected window `liobn`, mutable.
    pub fn window_mut(&mut self, liobn: Liobn) -> Option<&mut ShadowWindow> {
        self.windows.get_mut(&liobn.0)
    }

    /// Compares with the accelerator: same active windows with the same geometry and the
    /// same entries, and no window outside the world's LIOBNs.
    pub fn compare(&self, world: &World) -> Result<(), Violation> {
        let actual = Self::capture(world);
        let all = world.acc.windows().len();
        if all != actual.windows.len() {
            return Err(Violation::GuestView {
                liobn: Liobn(0),
                detail: format!(
                    "{all} active windows, {} of them with the world's LIOBNs",
                    actual.windows.len()
                ),
            });
        }
        for &liobn in &WINDOW_LIOBNS {
            let (expected, found) = (self.window(liobn), actual.window(liobn));
            if expected == found {
                continue;
            }
            let detail = match (expected, found) {
                (Some(e), Some(f)) if e.geometry != f.geometry => {
                    format!("geometry {:?}, expected {:?}", f.geometry, e.geometry)
                }
                (Some(e), Some(f)) => describe_entry_diff(&e.entries, &f.entries),
                (Some(_), None) => "window disappeared".to_string(),
                (None, Some(f)) => format!("unexpected window {:?}", f.geometry),
                (None, None) => continue,
            };
            return Err(Violation::GuestView { liobn, detail });
        }
        Ok(())
    }
}

/// The first few entries that differ.
pub fn describe_entry_diff(expected: &BTreeMap<u64, u64>, found: &BTreeMap<u64, u64>) -> String {
    let mut lines = Vec::new();
    for index in expected.keys().chain(found.keys()) {
        let (e, f) = (
            expected.get(index).copied().unwrap_or(0),
            found.get(index).copied().unwrap_or(0),
        );
        if e != f && lines.len() < 8 {
            lines.push(format!("entry {index}: {f:#x}, expected {e:#x}"));
        }
    }
    lines.dedup();
    lines.join("; ")
}
