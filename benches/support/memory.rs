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

/// User and system CPU time and minor page faults of the calling thread so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadUsage {
    /// CPU time in user mode.
    pub user: std::time::Duration,
    /// CPU time in the kernel (page faults, system calls).
    pub system: std::time::Duration,
    /// Minor page faults (first touches of fresh memory).
    pub minor_faults: u64,
}

impl ThreadUsage {
    /// The usage now (zero where the OS cannot tell).
    pub fn now() -> Self {
        // SAFETY: an all-zero rusage is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes one rusage into `usage`, which lives for the call.
        if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
            return Self::default();
        }
        let time = |t: libc::timeval| {
            std::time::Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64)
        };
        Self {
            user: time(usage.ru_utime),
            system: time(usage.ru_stime),
            minor_faults: usage.ru_minflt as u64,
        }
    }

    /// The usage between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
        }
    }
}
