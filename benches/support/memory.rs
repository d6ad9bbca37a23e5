// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Process memory figures from `/proc/self/status` (Linux).

/// A `kB` field of `/proc/self/status` (e.g. `VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kib: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// Resident memory now.
pub fn rss() -> Option<u64> {
    status_bytes("VmRSS")
}

/// Peak resident memory so far.
pub fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM")
}
