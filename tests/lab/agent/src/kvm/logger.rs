//! Collects the crates' `log` records (the accelerator says through `log` what it put in
//! KVM, what degraded and why it refused a guest request), for INFO result lines.

use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Keeps the records of the project's crates.
struct Capture {
    lines: Mutex<Vec<String>>,
}

static CAPTURE: Capture = Capture {
    lines: Mutex::new(Vec::new()),
};

/// The crates whose records are kept.
const TARGETS: [&str; 3] = ["spapr_tce", "vfio_spapr", "papr_hcall"];

impl Log for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Debug && TARGETS.iter().any(|t| metadata.target().starts_with(t))
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format!("{} {}: {}", record.level(), record.target(), record.args());
            if let Ok(mut lines) = self.lines.lock() {
                lines.push(line);
            }
        }
    }

    fn flush(&self) {}
}

/// Installs the collector (once per process; later calls change nothing).
pub fn install() {
    if log::set_logger(&CAPTURE).is_ok() {
        log::set_max_level(LevelFilter::Debug);
    }
}

/// The records collected since the last call.
pub fn take() -> Vec<String> {
    CAPTURE
        .lines
        .lock()
        .map(|mut lines| std::mem::take(&mut *lines))
        .unwrap_or_default()
}
