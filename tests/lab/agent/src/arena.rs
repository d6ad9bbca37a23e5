//! The anonymous memory the conformance scenarios register and map. Every side gets the same
//! virtual addresses (`base + offset`), so the real kernel and the model see identical
//! requests.

use std::io;

/// A private anonymous mapping, unmapped on drop. The program never forms references into
/// it: only its address is passed to the kernel (a mapped device could write it any time).
pub struct Arena {
    base: *mut libc::c_void,
    len: usize,
}

impl Arena {
    /// Maps `len` bytes (a multiple of the host page size) read-write.
    pub fn new(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh private anonymous mapping at an address the kernel picks; it aliases
        // nothing in this process.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { base, len })
    }

    /// The first byte's virtual address.
    pub fn base(&self) -> u64 {
        self.base as u64
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len as u64
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping created in `new`; nothing refers into it.
        unsafe {
            libc::munmap(self.base, self.len);
        }
    }
}

/// The host page size (`sysconf(_SC_PAGESIZE)`).
pub fn host_page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}
