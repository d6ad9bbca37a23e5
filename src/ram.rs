// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Guest RAM as the host IOMMU sees it: regions pre-registered with every container, the
//! largest IOMMU page each can serve, and guest-physical → host-virtual translation.
//!
//! VFIO SPAPR TCE v2 maps only pre-registered memory, and a mapping must lie inside **one**
//! registered range whose page size is at least the IOMMU page (kernel-host.md §4.3, checklist
//! items 21, 48, 49). The snapshot is taken when the accelerator is built and replaced on
//! memory hotplug (`crate::lifecycle`).

use vm_memory::{GuestMemoryBackend, GuestMemoryRegion, MemoryRegionAddress};

/// One guest RAM region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RamRegion {
    /// First guest-physical address.
    pub guest_addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// Host virtual address of the first byte, if the region is mapped in this process.
    pub host_addr: Option<u64>,
    /// Backed by hugetlbfs (vm-memory's `GuestMemoryRegion::is_hugetlbfs`).
    pub hugetlbfs: bool,
    /// Log2 of the largest host IOMMU page this region can serve; 0 without a host address.
    pub max_iommu_shift: u32,
}

impl RamRegion {
    /// Describes one vm-memory region (see [`RamMap::from_memory`] for `hugepage_shift`).
    pub fn of<R: GuestMemoryRegion>(
        region: &R,
        host_page_shift: u32,
        hugepage_shift: Option<u32>,
    ) -> Self {
        let guest_addr = region.start_addr().0;
        let len = region.len();
        let host_addr = region
            .get_host_address(MemoryRegionAddress(0))
            .ok()
            .map(|ptr| ptr as usize as u64);
        let hugetlbfs = is_hugetlbfs(region);
        let max_iommu_shift = host_addr.map_or(0, |host| {
            region_iommu_shift(
                host,
                len,
                guest_addr,
                hugetlbfs,
                host_page_shift,
                hugepage_shift,
            )
        });
        Self {
            guest_addr,
            len,
            host_addr,
            hugetlbfs,
            max_iommu_shift,
        }
    }

    /// True when `[gpa, gpa + len)` lies inside the region.
    pub fn contains(&self, gpa: u64, len: u64) -> bool {
        gpa >= self.guest_addr
            && gpa
                .checked_add(len)
                .is_some_and(|end| end <= self.guest_addr + self.len)
    }

    /// One past the last guest-physical address.
    pub fn end(&self) -> u64 {
        self.guest_addr.saturating_add(self.len)
    }
}

/// The largest IOMMU page shift a registered region can serve.
///
/// The kernel's rule (kernel-host.md §4.3, checklist item 49): an all-hugetlbfs region serves
/// `min(alignment of vaddr|size, huge page shift)`, anything else the host page shift.
/// Our extra rule: guest-physical and host-virtual addresses must be congruent modulo the
/// IOMMU page, otherwise a page-aligned guest page would land on a misaligned host address
/// and `MAP_DMA` would fail with EINVAL (§3.4 MAP_DMA step 5).
///
/// ```
/// use spapr_tce::ram::region_iommu_shift;
/// // 64 KiB host pages, ordinary memory: 64 KiB whatever the alignment.
/// assert_eq!(region_iommu_shift(0x4000_0000, 0x4000_0000, 0, false, 16, None), 16);
/// // 16 MiB hugetlbfs, 16 MiB aligned: 16 MiB IOMMU pages.
/// assert_eq!(region_iommu_shift(0x7f00_0000_0000, 1 << 30, 0, true, 16, Some(24)), 24);
/// // Same, but the host mapping is only 2 MiB aligned: 2 MiB.
/// assert_eq!(region_iommu_shift(0x7f00_0020_0000, 1 << 30, 0, true, 16, Some(24)), 21);
/// ```
pub fn region_iommu_shift(
    host_addr: u64,
    len: u64,
    guest_addr: u64,
    hugetlbfs: bool,
    host_page_shift: u32,
    hugepage_shift: Option<u32>,
) -> u32 {
    let natural = (host_addr | len).trailing_zeros();
    let backing = match (hugetlbfs, hugepage_shift) {
        (true, Some(huge)) => huge.max(host_page_shift),
        _ => host_page_shift,
    };
    let congruence = host_addr.wrapping_sub(guest_addr).trailing_zeros();
    natural.min(backing).min(congruence)
}

/// Why a guest-physical range cannot be translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RamError {
    /// Some byte of the range is not guest RAM (or the range wraps around).
    #[error("guest range {gpa:#x}+{len:#x} is not guest RAM")]
    NotRam {
        /// First guest-physical address.
        gpa: u64,
        /// Length.
        len: u64,
    },
    /// The range is RAM but crosses from one region into the next.
    #[error("guest range {gpa:#x}+{len:#x} crosses a RAM region boundary")]
    SpansRegions {
        /// First guest-physical address.
        gpa: u64,
        /// Length.
        len: u64,
    },
    /// The region is not mapped in this process.
    #[error("guest RAM at {gpa:#x} has no host mapping")]
    NoHostAddress {
        /// First guest-physical address.
        gpa: u64,
    },
}

/// Where a guest-physical range lives in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostRange {
    /// Host virtual address of the first byte.
    pub host_addr: u64,
    /// Index of the region in [`RamMap::regions`].
    pub region: usize,
}

/// The guest RAM regions, sorted by guest-physical address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RamMap {
    regions: Vec<RamRegion>,
}

/// The host page shift of this process (`sysconf(_SC_PAGESIZE)`).
pub fn host_page_shift() -> u32 {
    // SAFETY: sysconf only reads a system constant; it has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    match u64::try_from(size) {
        Ok(size) if size.is_power_of_two() => size.trailing_zeros(),
        _ => 12,
    }
}

#[cfg(target_os = "linux")]
fn is_hugetlbfs<R: GuestMemoryRegion>(region: &R) -> bool {
    region.is_hugetlbfs() == Some(true)
}

#[cfg(not(target_os = "linux"))]
fn is_hugetlbfs<R: GuestMemoryRegion>(_region: &R) -> bool {
    false
}

impl RamMap {
    /// Snapshots the regions of `memory`.
    ///
    /// `hugepage_shift` is the page shift of hugetlbfs-backed regions (vm-memory reports only
    /// *whether* a region is hugetlbfs); `None` treats them like ordinary memory, which is
    /// always safe but may pick smaller IOMMU pages than possible.
    pub fn from_memory<M: GuestMemoryBackend + ?Sized>(
        memory: &M,
        host_page_shift: u32,
        hugepage_shift: Option<u32>,
    ) -> Self {
        let regions = memory
            .iter()
            .map(|region| RamRegion::of(region, host_page_shift, hugepage_shift))
            .collect();
        Self::new(regions)
    }

    /// Builds a map from explicit regions (sorted here; they must not overlap).
    pub fn new(mut regions: Vec<RamRegion>) -> Self {
        regions.sort_by_key(|r| r.guest_addr);
        Self { regions }
    }

    /// The regions, sorted by guest-physical address.
    pub fn regions(&self) -> &[RamRegion] {
        &self.regions
    }

    /// The index of the region containing `gpa`.
    fn region_index(&self, gpa: u64) -> Option<usize> {
        let index = self.regions.partition_point(|r| r.end() <= gpa);
        self.regions
            .get(index)
            .filter(|r| r.guest_addr <= gpa)
            .map(|_| index)
    }

    /// True when every byte of `[gpa, gpa + len)` is guest RAM (possibly over several
    /// adjacent regions).
    pub fn contains(&self, gpa: u64, len: u64) -> bool {
        let Some(end) = gpa.checked_add(len) else {
            return false;
        };
        let Some(mut index) = self.region_index(gpa) else {
            return false;
        };
        let mut covered = self.regions[index].end();
        while covered < end {
            index += 1;
            match self.regions.get(index) {
                Some(next) if next.guest_addr == covered => covered = next.end(),
                _ => return false,
            }
        }
        true
    }

    /// Translates `[gpa, gpa + len)`, which must lie inside one region mapped in this process.
    pub fn translate(&self, gpa: u64, len: u64) -> Result<HostRange, RamError> {
        let index = self
            .region_index(gpa)
            .ok_or(RamError::NotRam { gpa, len })?;
        let region = &self.regions[index];
        if !region.contains(gpa, len) {
            return Err(if self.contains(gpa, len) {
                RamError::SpansRegions { gpa, len }
            } else {
                RamError::NotRam { gpa, len }
            });
        }
        let host = region.host_addr.ok_or(RamError::NoHostAddress { gpa })?;
        Ok(HostRange {
            host_addr: host + (gpa - region.guest_addr),
            region: index,
        })
    }

    /// The smallest [`RamRegion::max_iommu_shift`] over regions mapped in this process: the
    /// largest IOMMU page every region can serve. `None` without such regions.
    pub fn min_iommu_shift(&self) -> Option<u32> {
        self.regions
            .iter()
            .filter(|r| r.host_addr.is_some())
            .map(|r| r.max_iommu_shift)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::{GuestAddress, GuestMemoryMmap};

    fn region(guest_addr: u64, len: u64, host: u64) -> RamRegion {
        RamRegion {
            guest_addr,
            len,
            host_addr: Some(host),
            hugetlbfs: false,
            max_iommu_shift: 16,
        }
    }

    fn two_adjacent() -> RamMap {
        RamMap::new(vec![
            region(0x10_0000, 0x10_0000, 0x7000_0000),
            region(0, 0x10_0000, 0x9000_0000),
            region(0x40_0000, 0x1000, 0xa000_0000),
        ])
    }

    #[test]
    fn translate_inside_one_region() {
        let ram = two_adjacent();
        assert_eq!(
            ram.translate(0x1000, 0x1000),
            Ok(HostRange {
                host_addr: 0x9000_1000,
                region: 0
            })
        );
        assert_eq!(
            ram.translate(0x1F_F000, 0x1000),
            Ok(HostRange {
                host_addr: 0x700F_F000,
                region: 1
            })
        );
    }

    #[test]
    fn translate_errors_are_precise() {
        let ram = two_adjacent();
        assert_eq!(
            ram.translate(0xF_F000, 0x2000),
            Err(RamError::SpansRegions {
                gpa: 0xF_F000,
                len: 0x2000
            })
        );
        assert!(ram.contains(0xF_F000, 0x2000));
        assert_eq!(
            ram.translate(0x1F_F000, 0x2000),
            Err(RamError::NotRam {
                gpa: 0x1F_F000,
                len: 0x2000
            })
        );
        assert!(matches!(
            ram.translate(0x30_0000, 1),
            Err(RamError::NotRam { .. })
        ));
        assert!(matches!(
            ram.translate(u64::MAX - 10, 0x100),
            Err(RamError::NotRam { .. })
        ));
        assert!(!ram.contains(u64::MAX - 10, 0x100));
        let mut no_host = region(0, 0x1000, 0);
        no_host.host_addr = None;
        let ram = RamMap::new(vec![no_host]);
        assert_eq!(
            ram.translate(0, 0x1000),
            Err(RamError::NoHostAddress { gpa: 0 })
        );
        assert!(ram.contains(0, 0x1000));
        assert_eq!(ram.min_iommu_shift(), None);
    }

    #[test]
    fn iommu_shift_rules() {
        // Ordinary memory never serves more than the host page.
        assert_eq!(
            region_iommu_shift(1 << 30, 1 << 30, 0, false, 16, Some(24)),
            16
        );
        // hugetlbfs without a known size behaves like ordinary memory.
        assert_eq!(region_iommu_shift(1 << 30, 1 << 30, 0, true, 16, None), 16);
        // Size alignment limits it.
        assert_eq!(
            region_iommu_shift(1 << 30, (1 << 30) + (1 << 22), 0, true, 16, Some(24)),
            22
        );
        // Guest/host congruence limits it.
        assert_eq!(
            region_iommu_shift(1 << 30, 1 << 30, 1 << 20, true, 12, Some(24)),
            20
        );
    }

    #[test]
    fn snapshot_of_guest_memory_mmap() {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[
            (GuestAddress(0), 0x10_0000),
            (GuestAddress(0x100_0000), 0x20_0000),
        ])
        .unwrap();
        let ram = RamMap::from_memory(&mem, 12, None);
        assert_eq!(ram.regions().len(), 2);
        for (r, len) in ram.regions().iter().zip([0x10_0000, 0x20_0000]) {
            assert_eq!(r.len, len);
            assert!(r.host_addr.is_some());
            assert_eq!(r.max_iommu_shift, 12);
            assert!(!r.hugetlbfs);
        }
        let host = ram.translate(0x100_1000, 0x1000).unwrap();
        let expected = mem.get_host_address(GuestAddress(0x100_1000)).unwrap() as u64;
        assert_eq!(host.host_addr, expected);
        assert_eq!(ram.min_iommu_shift(), Some(12));
    }
}
