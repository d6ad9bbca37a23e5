// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! A guest-view TCE table that lives in the kernel (`KVM_CREATE_SPAPR_TCE_64`), mapped into the
//! VMM so that hcalls the kernel leaves to userspace, and the VMM's own DMA translation, see
//! and update the same entries as the in-kernel handlers (kernel-host.md §2.3, §5.2, §5.5).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use papr_hcall::{Liobn, PageShift};

use super::bindings::kvm_create_spapr_tce_64;
use super::error::{KvmError, KvmOp};
use super::sys;
use crate::table::TceStore;

/// Bytes per table entry: one host-endian `u64`.
const ENTRY_BYTES: u64 = 8;

/// Where a KVM TCE table sits on the bus and how many entries it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KvmTceTableGeometry {
    /// The LIOBN the guest names the window by.
    pub liobn: Liobn,
    /// The guest's IOMMU page size.
    pub page_shift: PageShift,
    /// Bus address of the first entry, in bytes; a multiple of the page size. For a window
    /// with a VFIO table attached it must equal the host window's start (§5.4).
    pub bus_offset: u64,
    /// Number of entries (IOMMU pages).
    pub entries: u64,
}

impl KvmTceTableGeometry {
    /// The `KVM_CREATE_SPAPR_TCE_64` argument, whose `offset` and `size` count IOMMU pages.
    ///
    /// ```
    /// use papr_hcall::{Liobn, PageShift};
    /// use spapr_tce::kvm::KvmTceTableGeometry;
    /// // The dynamic window of lab README §12.9: 2^16 4 KiB pages at bus address 2^59.
    /// let geometry = KvmTceTableGeometry {
    ///     liobn: Liobn(0xa000_0001),
    ///     page_shift: PageShift::SZ_4K,
    ///     bus_offset: 1 << 59,
    ///     entries: 0x10000,
    /// };
    /// let args = geometry.create_args()?;
    /// assert_eq!((args.offset, args.size), (0x8000_0000_0000, 0x10000));
    /// # Ok::<(), spapr_tce::kvm::KvmTableError>(())
    /// ```
    pub fn create_args(&self) -> Result<kvm_create_spapr_tce_64, KvmTableError> {
        if self.entries == 0 {
            return Err(KvmTableError::Empty);
        }
        if !self.page_shift.is_aligned(self.bus_offset) {
            return Err(KvmTableError::OffsetNotAligned {
                bus_offset: self.bus_offset,
                page_size: self.page_shift.size(),
            });
        }
        Ok(kvm_create_spapr_tce_64 {
            liobn: self.liobn.0,
            page_shift: self.page_shift.get(),
            flags: 0,
            offset: self.bus_offset >> self.page_shift.get(),
            size: self.entries,
        })
    }

    /// Bytes the entries occupy (`8 * entries`), if that fits this process's address space.
    fn table_bytes(&self) -> Result<usize, KvmTableError> {
        self.entries
            .checked_mul(ENTRY_BYTES)
            .and_then(|bytes| usize::try_from(bytes).ok())
            .ok_or(KvmTableError::TooLarge {
                entries: self.entries,
            })
    }

    /// The mapping length: `ceil(entries * 8 / PAGE_SIZE)` host pages, what the kernel backs
    /// (§2.3; a fault beyond it raises SIGBUS).
    fn mapping_len(&self) -> Result<usize, KvmTableError> {
        let page = host_page_size();
        self.table_bytes()?
            .checked_next_multiple_of(page)
            .ok_or(KvmTableError::TooLarge {
                entries: self.entries,
            })
    }
}

/// The host's page size (64 KiB on most ppc64le kernels).
fn host_page_size() -> usize {
    // SAFETY: sysconf only reads a configuration value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    // sysconf(_SC_PAGESIZE) cannot fail on Linux; 64 KiB is the largest page size of the hosts
    // this runs on, so the fallback maps at least what is needed.
    usize::try_from(size)
        .ok()
        .filter(|size| size.is_power_of_two())
        .unwrap_or(1 << 16)
}

/// Why a KVM TCE table could not be created or mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum KvmTableError {
    /// A system call failed.
    #[error(transparent)]
    Kvm(#[from] KvmError),
    /// The geometry has no entries.
    #[error("a TCE table needs at least one entry")]
    Empty,
    /// The bus offset is not a whole number of IOMMU pages.
    #[error("bus offset {bus_offset:#x} is not a multiple of the {page_size:#x}-byte IOMMU page")]
    OffsetNotAligned {
        /// The bus offset.
        bus_offset: u64,
        /// The IOMMU page size.
        page_size: u64,
    },
    /// The table cannot be mapped into this process's address space.
    #[error("a TCE table of {entries} entries is too large to map")]
    TooLarge {
        /// The number of entries asked for.
        entries: u64,
    },
    /// A backing file given to [`KvmTceTable::from_file`] is shorter than the table.
    #[error("the table's backing file has {actual} bytes, {needed} are needed")]
    FileTooSmall {
        /// `8 * entries`.
        needed: u64,
        /// The file's size.
        actual: u64,
    },
}

/// A guest-view TCE table in the kernel, mapped read-write into this process.
///
/// Entries are raw TCEs in host byte order (not big-endian), exactly as the guest wrote them;
/// the entry for bus address `ioba` is `(ioba - bus_offset) >> page_shift` (§2.3). The kernel
/// updates the same memory from in-kernel hcalls at any time, so entries are only read and
/// written with volatile accesses, never through Rust references.
///
/// Dropping the table unmaps it and closes the fd, which removes the LIOBN from the VM (its
/// hcalls then exit to userspace) and detaches any VFIO tables attached to it, without
/// touching their hardware entries (checklist item 26).
#[derive(Debug)]
pub struct KvmTceTable {
    geometry: KvmTceTableGeometry,
    /// Start of the shared mapping: `map_len` bytes, page aligned.
    base: NonNull<u64>,
    map_len: usize,
    fd: OwnedFd,
}

// SAFETY: the table owns its mapping and fd; the raw pointer is only dereferenced through
// `&self` (volatile reads) or `&mut self` (volatile writes), so moving the table to another
// thread or sharing `&KvmTceTable` between threads gives no unsynchronised Rust-side writes.
// Concurrent writes by the kernel are outside Rust's model, which is why accesses are volatile.
unsafe impl Send for KvmTceTable {}
// SAFETY: see `Send`: `&KvmTceTable` only allows volatile reads.
unsafe impl Sync for KvmTceTable {}

impl KvmTceTable {
    /// `KVM_CREATE_SPAPR_TCE_64` on `vm_fd`, then maps the new table.
    ///
    /// Errors include `EBUSY` when the VM already has a table for the LIOBN, `EINVAL` for a
    /// geometry the kernel refuses, `ENOMEM` when locked memory is exhausted (checklist
    /// item 23); [`KvmError::hint`] says which.
    ///
    /// ```no_run
    /// use papr_hcall::{Liobn, PageShift};
    /// use spapr_tce::kvm::{KvmTceTable, KvmTceTableGeometry};
    /// # fn vm_fd() -> std::fs::File { unimplemented!() }
    /// let table = KvmTceTable::create(&vm_fd(), KvmTceTableGeometry {
    ///     liobn: Liobn(0x8000_0001),
    ///     page_shift: PageShift::SZ_4K,
    ///     bus_offset: 0,
    ///     entries: 1024,
    /// })?;
    /// assert_eq!(table.read(3), Some(0)); // a fresh table reads all zero
    /// # Ok::<(), spapr_tce::kvm::KvmTableError>(())
    /// ```
    pub fn create(
        vm_fd: &impl AsRawFd,
        geometry: KvmTceTableGeometry,
    ) -> Result<Self, KvmTableError> {
        let args = geometry.create_args()?;
        let map_len = geometry.mapping_len()?;
        let fd = sys::create_spapr_tce_64(vm_fd, &args)?;
        log::debug!(
            "KVM TCE table for LIOBN {}: {} entries of 2^{} bytes at bus {:#x}",
            geometry.liobn,
            geometry.entries,
            geometry.page_shift.get(),
            geometry.bus_offset
        );
        Self::map(fd, geometry, map_len)
    }

    /// Uses an ordinary file (e.g. a `memfd`) of at least `8 * entries` bytes as the table's
    /// memory instead of the kernel's.
    ///
    /// For tests of code that uses a [`KvmTceTable`] without `/dev/kvm`: it exercises the
    /// mapping, bounds checks, volatile accesses and byte order, not KVM. The file must not
    /// be truncated while the table exists (accesses beyond its end raise SIGBUS).
    pub fn from_file(file: OwnedFd, geometry: KvmTceTableGeometry) -> Result<Self, KvmTableError> {
        geometry.create_args()?;
        let map_len = geometry.mapping_len()?;
        let needed = geometry.entries.saturating_mul(ENTRY_BYTES);
        // SAFETY: `stat` is plain data, fully written by a successful fstat.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `file` is a live descriptor and `stat` a writable `struct stat`.
        if unsafe { libc::fstat(file.as_raw_fd(), &mut stat) } < 0 {
            return Err(KvmError::last(KvmOp::MapTable).into());
        }
        let actual = u64::try_from(stat.st_size).unwrap_or(0);
        if actual < needed {
            return Err(KvmTableError::FileTooSmall { needed, actual });
        }
        Self::map(file, geometry, map_len)
    }

    /// Maps `map_len` bytes of `fd` shared and read-write.
    fn map(
        fd: OwnedFd,
        geometry: KvmTceTableGeometry,
        map_len: usize,
    ) -> Result<Self, KvmTableError> {
        // SAFETY: a new shared mapping chosen by the kernel (address NULL), so no existing
        // memory is affected; `fd` is live for the call.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(KvmError::last(KvmOp::MapTable).into());
        }
        let base =
            NonNull::new(addr.cast::<u64>()).ok_or(KvmError::new(KvmOp::MapTable, libc::EINVAL))?;
        Ok(Self {
            geometry,
            base,
            map_len,
            fd,
        })
    }

    /// The table's geometry.
    pub fn geometry(&self) -> &KvmTceTableGeometry {
        &self.geometry
    }

    /// The LIOBN.
    pub fn liobn(&self) -> Liobn {
        self.geometry.liobn
    }

    /// Number of entries.
    pub fn entries(&self) -> u64 {
        self.geometry.entries
    }

    /// Pointer to entry `index`, or `None` beyond the table.
    fn entry(&self, index: u64) -> Option<*mut u64> {
        if index >= self.geometry.entries {
            return None;
        }
        // `index < entries` and `8 * entries <= map_len`, so it fits `usize`.
        let index = usize::try_from(index).ok()?;
        // SAFETY: `index < entries`, and the mapping holds `map_len >= 8 * entries` bytes
        // from `base`, so the result stays inside it.
        Some(unsafe { self.base.as_ptr().add(index) })
    }

    /// The entry at `index` (host byte order), or `None` beyond the table.
    ///
    /// Reading a kernel table allocates the page holding the entry if nothing has written
    /// there yet (§2.3).
    pub fn read(&self, index: u64) -> Option<u64> {
        let entry = self.entry(index)?;
        // SAFETY: `entry` is an aligned `u64` inside the live mapping; volatile because the
        // kernel may write it concurrently.
        Some(unsafe { entry.read_volatile() })
    }

    /// Stores `value` verbatim at `index`; `false` (and nothing written) beyond the table.
    pub fn write(&mut self, index: u64, value: u64) -> bool {
        match self.entry(index) {
            Some(entry) => {
                // SAFETY: `entry` is an aligned `u64` inside the live, writable mapping;
                // volatile because the kernel reads and writes it concurrently.
                unsafe { entry.write_volatile(value) };
                true
            }
            None => false,
        }
    }

    /// Bytes of address space the mapping takes (the kernel allocates them lazily).
    pub fn mapping_len(&self) -> usize {
        self.map_len
    }
}

impl Drop for KvmTceTable {
    fn drop(&mut self) {
        // SAFETY: `base`/`map_len` are exactly the mapping created in `map`, unmapped only
        // here; no references into it exist (all accesses are by value).
        if unsafe { libc::munmap(self.base.as_ptr().cast(), self.map_len) } < 0 {
            log::warn!(
                "munmap of the TCE table for LIOBN {} failed: {}",
                self.geometry.liobn,
                std::io::Error::last_os_error()
            );
        }
        // `fd` closes after this, releasing the kernel table.
    }
}

impl AsRawFd for KvmTceTable {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for KvmTceTable {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The accelerator's view: out-of-range reads are 0 and out-of-range writes are ignored, as
/// [`TceStore`] specifies.
impl TceStore for KvmTceTable {
    fn len(&self) -> u64 {
        self.geometry.entries
    }

    fn get(&self, index: u64) -> u64 {
        self.read(index).unwrap_or(0)
    }

    fn set(&mut self, index: u64, value: u64) {
        if !self.write(index, value) {
            log::debug!(
                "ignoring a write to entry {index} of the {}-entry table for LIOBN {}",
                self.geometry.entries,
                self.geometry.liobn
            );
        }
    }

    /// Scans linearly; on a kernel table this touches (and so allocates) every page scanned.
    fn next_nonzero(&self, from: u64) -> Option<(u64, u64)> {
        (from..self.geometry.entries)
            .map(|index| (index, self.read(index).unwrap_or(0)))
            .find(|&(_, value)| value != 0)
    }

    fn memory_bytes(&self) -> usize {
        self.map_len
    }
}
