// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The kernel's locked-memory formulas and this process's limit.
//!
//! * VFIO window (kernel-host.md §3.5, §3.7, checklist item 51): PowerNV
//!   `pnv_pci_ioda2_get_table_size` counts every level rounded to its chunk, twice (hardware
//!   table and userspace view); a pSeries host counts `window >> (page_shift - 3)` with one
//!   level. Charged as `bytes >> PAGE_SHIFT`.
//! * KVM guest-view table (§2.3, §3.7, §5.2): `kvmppc_stt_pages`: the table's pages plus
//!   the pages of its descriptor, `sizeof(struct kvmppc_spapr_tce_table)` followed by one
//!   page pointer per table page.
//! * The limit (§3.7): `locked_vm + pages > RLIMIT_MEMLOCK >> PAGE_SHIFT` fails with ENOMEM
//!   unless the process has CAP_IPC_LOCK.

use std::io;

/// The platform code behind the host's VFIO container, which decides the table-size formula
/// (kernel-host.md §3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostPlatform {
    /// Bare-metal POWER8/POWER9 (IODA2): multi-level tables, charged twice.
    PowerNv,
    /// A pSeries host (KVM nested on PowerVM or QEMU): one level, charged once.
    Pseries,
}

impl HostPlatform {
    /// The platform named by the `platform` line of `/proc/cpuinfo` on POWER.
    ///
    /// ```
    /// use spapr_tce::lifecycle::HostPlatform;
    /// let cpuinfo = "processor\t: 0\ncpu\t\t: POWER9\nplatform\t: PowerNV\nmodel\t\t: 9006-22P\n";
    /// assert_eq!(HostPlatform::from_cpuinfo(cpuinfo), Some(HostPlatform::PowerNv));
    /// assert_eq!(HostPlatform::from_cpuinfo("platform : pSeries\n"), Some(HostPlatform::Pseries));
    /// assert_eq!(HostPlatform::from_cpuinfo("vendor_id : GenuineIntel\n"), None);
    /// ```
    pub fn from_cpuinfo(cpuinfo: &str) -> Option<Self> {
        cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            if key.trim() != "platform" {
                return None;
            }
            match value.trim() {
                "PowerNV" => Some(Self::PowerNv),
                "pSeries" => Some(Self::Pseries),
                _ => None,
            }
        })
    }

    /// This host's platform; `None` when `/proc/cpuinfo` names neither (not POWER).
    pub fn detect() -> Option<Self> {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| Self::from_cpuinfo(&text))
    }
}

/// Most levels a PowerNV table may have.
const POWERNV_MAX_LEVELS: u32 = 5;

/// Bytes TCE_CREATE charges for a window (kernel-host.md §3.5); `None` where the kernel's
/// `get_table_size` returns 0 (levels 0 or above 5, a window smaller than one page): then
/// TCE_CREATE fails with EINVAL and charges nothing.
pub(crate) fn vfio_table_bytes(
    platform: HostPlatform,
    page_shift: u32,
    window_size: u64,
    levels: u32,
    host_page_shift: u32,
) -> Option<u64> {
    if page_shift >= 64 || window_size < (1u64 << page_shift) || !window_size.is_power_of_two() {
        return None;
    }
    let entries_shift = window_size.trailing_zeros() - page_shift;
    match platform {
        HostPlatform::PowerNv => {
            if levels == 0 || levels > POWERNV_MAX_LEVELS {
                return None;
            }
            let chunk = 1u128 << (entries_shift.div_ceil(levels) + 3).max(host_page_shift);
            let mut remaining = (8u128 << entries_shift).max(4096);
            let mut bytes = 0u128;
            for _ in 0..levels {
                bytes += remaining.div_ceil(chunk) * chunk;
                remaining = (remaining / chunk * 8).max(chunk);
            }
            u64::try_from(2 * bytes).ok()
        }
        // `spapr_tce_get_table_size`: 0xFFFF_FFFF for more than one level.
        HostPlatform::Pseries if levels > 1 => Some(0xFFFF_FFFF),
        HostPlatform::Pseries => Some(window_size >> (page_shift - 3)),
    }
}

/// `sizeof(struct kvmppc_spapr_tce_table)` on a 6.12 ppc64 kernel without lock debugging:
/// list head 16, kvm 8, liobn 8, rcu head 16, page_shift 4 (+4 padding), offset 8, size 8,
/// iommu_tables 16, alloc_lock mutex 32 (derived from the struct layout, not measured). It
/// only matters when the page pointers end within this many bytes of a page boundary.
pub const KVM_TABLE_DESCRIPTOR_BYTES: u64 = 120;

/// Pages `KVM_CREATE_SPAPR_TCE_64` charges for a table of `entries` TCEs
/// (`kvmppc_stt_pages(kvmppc_tce_pages(entries))`).
///
/// ```
/// use spapr_tce::lifecycle::kvm_table_locked_pages;
/// // 1 GiB of 4 KiB pages on a 64 KiB-page host: 2 MiB of TCEs = 32 pages, + 1 descriptor page.
/// assert_eq!(kvm_table_locked_pages(1 << 18, 16, 120), 33);
/// ```
pub fn kvm_table_locked_pages(entries: u64, host_page_shift: u32, descriptor_bytes: u64) -> u64 {
    let page = 1u64 << host_page_shift;
    let tce_pages = entries.saturating_mul(8).div_ceil(page);
    let descriptor = descriptor_bytes
        .saturating_add(tce_pages.saturating_mul(8))
        .div_ceil(page);
    tce_pages.saturating_add(descriptor)
}

/// What limits this process's locked memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemlockLimit {
    /// CAP_IPC_LOCK in the effective set: the kernel skips the check.
    CapIpcLock,
    /// RLIMIT_MEMLOCK is infinity.
    Unlimited,
    /// RLIMIT_MEMLOCK (soft limit) in bytes.
    Bytes(u64),
}

/// CAP_IPC_LOCK's bit in the capability sets.
const CAP_IPC_LOCK: u32 = 14;

/// True when the `CapEff:` line of a `/proc/<pid>/status` text has CAP_IPC_LOCK.
pub(crate) fn status_has_ipc_lock(status: &str) -> bool {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << CAP_IPC_LOCK) != 0)
}

/// The `VmLck:` line of a `/proc/<pid>/status` text (the process's `locked_vm`), in bytes.
pub(crate) fn status_locked_bytes(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmLck:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib.saturating_mul(1024))
}

/// This process's limit: CAP_IPC_LOCK (from `/proc/self/status`) first, else
/// `getrlimit(RLIMIT_MEMLOCK)`.
pub fn current_memlock_limit() -> io::Result<MemlockLimit> {
    if status_has_ipc_lock(&std::fs::read_to_string("/proc/self/status")?) {
        return Ok(MemlockLimit::CapIpcLock);
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `struct rlimit` into the valid, exclusively borrowed `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(if limit.rlim_cur == libc::RLIM_INFINITY {
        MemlockLimit::Unlimited
    } else {
        MemlockLimit::Bytes(limit.rlim_cur)
    })
}

/// Bytes of this process already in `locked_vm` (mlock, earlier registrations); 0 if unknown.
pub(crate) fn current_locked_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status").map_or(0, |status| status_locked_bytes(&status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powernv_default_window_is_8_mib() {
        // kernel-host.md §3.5: the 2 GiB/4K default window → 8 MiB → 128 pages of 64 KiB.
        let bytes = vfio_table_bytes(HostPlatform::PowerNv, 12, 1 << 31, 1, 16).unwrap();
        assert_eq!(bytes, 8 << 20);
        assert_eq!(bytes >> 16, 128);
    }

    #[test]
    fn powernv_levels_round_each_level_to_its_chunk() {
        // 2^24 entries in 2 levels on 4 KiB pages: chunk 2^15 bytes; level 1 holds the 128 MiB
        // of TCEs, level 2 the 4096 pointers (32 KiB, one chunk); doubled.
        let bytes = vfio_table_bytes(HostPlatform::PowerNv, 12, 1 << 36, 2, 12).unwrap();
        assert_eq!(bytes, 2 * ((128 << 20) + (1 << 15)));
        // A tiny window still costs one 4 KiB block (twice).
        assert_eq!(
            vfio_table_bytes(HostPlatform::PowerNv, 16, 1 << 16, 1, 12),
            Some(2 * 4096)
        );
        assert_eq!(
            vfio_table_bytes(HostPlatform::PowerNv, 12, 1 << 31, 6, 16),
            None
        );
        assert_eq!(
            vfio_table_bytes(HostPlatform::PowerNv, 12, 3 << 30, 1, 16),
            None
        );
    }

    #[test]
    fn pseries_charges_the_table_once() {
        assert_eq!(
            vfio_table_bytes(HostPlatform::Pseries, 12, 1 << 28, 1, 12),
            Some(512 << 10)
        );
        assert_eq!(
            vfio_table_bytes(HostPlatform::Pseries, 12, 1 << 28, 2, 12),
            Some(0xFFFF_FFFF)
        );
    }

    #[test]
    fn kvm_descriptor_pages() {
        // 8 entries: one table page, one descriptor page.
        assert_eq!(kvm_table_locked_pages(8, 12, 120), 2);
        // 4K host pages, 2^19 entries: 1024 table pages; descriptor 120 + 8192 bytes = 3 pages.
        assert_eq!(kvm_table_locked_pages(1 << 19, 12, 120), 1027);
        // The header tips the descriptor over a page boundary: 497 pages of pointers = 3976
        // bytes, + 120 = 4096 exactly (1 page); one more page of TCEs needs a second page.
        assert_eq!(kvm_table_locked_pages(497 * 512, 12, 120), 498);
        assert_eq!(kvm_table_locked_pages(498 * 512, 12, 120), 500);
    }

    #[test]
    fn status_parsing() {
        let status = "Name:\tvmm\nVmLck:\t     128 kB\nCapEff:\t0000000000004000\n";
        assert!(status_has_ipc_lock(status));
        assert_eq!(status_locked_bytes(status), 128 << 10);
        let status = "VmLck:\t0 kB\nCapEff:\t000001ffffffbfff\n";
        assert!(!status_has_ipc_lock(status));
        assert_eq!(status_locked_bytes(status), 0);
        assert!(current_memlock_limit().is_ok());
    }
}
