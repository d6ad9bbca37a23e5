// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Host IOMMU calls on the committed real-boot fixtures (`tests/fixtures/*.tce.xz`): the
//! replay engine counts the accelerator's calls on the reference model and QEMU's
//! one-ioctl-per-TCE baseline for the same events.

use std::path::PathBuf;
use std::time::Duration;

use spapr_tce::replay::engine::{replay, ReplayOptions};
use spapr_tce::replay::load;

/// One fixture's replay.
#[derive(Clone, Debug)]
pub struct FixtureResult {
    /// File name without `.tce.xz`.
    pub name: String,
    /// Events replayed.
    pub events: u64,
    /// The accelerator's host IOMMU calls.
    pub backend_calls: u64,
    /// QEMU's calls for the same events.
    pub baseline_calls: u64,
    /// Replay time of the events (without setup and the final check).
    pub replay_time: Duration,
    /// Disagreements with the recording (must be 0).
    pub mismatches: u64,
}

impl FixtureResult {
    /// Baseline calls per backend call.
    pub fn ratio(&self) -> f64 {
        self.baseline_calls as f64 / self.backend_calls.max(1) as f64
    }
}

/// The fixtures, sorted by name.
pub fn paths() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.to_string_lossy().ends_with(".tce.xz"))
        .collect();
    paths.sort();
    paths
}

/// The name of a fixture path.
pub fn name(path: &std::path::Path) -> String {
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    file.trim_end_matches(".tce.xz").to_string()
}

/// Loads and replays one fixture.
pub fn run(path: &std::path::Path) -> FixtureResult {
    let trace = load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let report = replay(&trace, &ReplayOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    FixtureResult {
        name: name(path),
        events: report.events,
        backend_calls: report.backend_calls(),
        baseline_calls: report.baseline_calls(),
        replay_time: report.replay_time,
        mismatches: report.mismatch_count,
    }
}
