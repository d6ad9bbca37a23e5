//! The VFIO device side the `edu` driver needs: region information, PCI config space access
//! through the config region, and the BAR0 mapping.
//!
//! `VFIO_DEVICE_GET_REGION_INFO` is `_IO(';', 108)` (kernel-host.md §3.1 numbering; powerpc
//! sets direction 1 in bits 29..31, see `raw::io_none`). Config space read through VFIO is
//! little-endian whatever the device's register byte order.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use crate::raw;

/// `VFIO_DEVICE_GET_REGION_INFO`.
pub const DEVICE_GET_REGION_INFO: u64 = raw::io_none(b';', 108);
/// `VFIO_PCI_BAR0_REGION_INDEX`.
pub const BAR0_REGION: u32 = 0;
/// `VFIO_PCI_CONFIG_REGION_INDEX`.
pub const CONFIG_REGION: u32 = 7;
/// `VFIO_REGION_INFO_FLAG_MMAP`.
pub const REGION_FLAG_MMAP: u32 = 1 << 2;
/// `PCI_COMMAND` in config space.
const PCI_COMMAND: u64 = 0x04;
/// `PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER`.
const COMMAND_MEMORY_AND_MASTER: u16 = 0x0006;

/// `struct vfio_region_info` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RegionInfo {
    /// Size of this struct.
    pub argsz: u32,
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
    /// The region asked for.
    pub index: u32,
    /// Offset of the first capability (0: none).
    pub cap_offset: u32,
    /// Region size in bytes.
    pub size: u64,
    /// Offset of the region in the device file.
    pub offset: u64,
}

/// `VFIO_DEVICE_GET_REGION_INFO` for region `index`.
pub fn region_info(device: &File, index: u32) -> io::Result<RegionInfo> {
    let mut info = RegionInfo {
        argsz: std::mem::size_of::<RegionInfo>() as u32,
        index,
        ..Default::default()
    };
    raw::ioctl_struct(device, DEVICE_GET_REGION_INFO, &mut info)?;
    Ok(info)
}

/// Sets memory space and bus mastering in `PCI_COMMAND`; returns (before, after).
pub fn enable_bus_master(device: &File) -> io::Result<(u16, u16)> {
    let config = region_info(device, CONFIG_REGION)?;
    let at = config.offset + PCI_COMMAND;
    let mut cell = [0u8; 2];
    device.read_exact_at(&mut cell, at)?;
    let before = u16::from_le_bytes(cell);
    device.write_all_at(&(before | COMMAND_MEMORY_AND_MASTER).to_le_bytes(), at)?;
    device.read_exact_at(&mut cell, at)?;
    Ok((before, u16::from_le_bytes(cell)))
}

/// A shared mapping of a device region, unmapped on drop. Only ever accessed through
/// volatile reads and writes of whole registers.
pub struct MappedRegion {
    base: *mut u8,
    len: usize,
}

impl MappedRegion {
    /// Maps the region `info` of `device` (it must be mmap-able).
    pub fn map(device: &File, info: &RegionInfo) -> io::Result<Self> {
        if info.flags & REGION_FLAG_MMAP == 0 || info.size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "region {} is not mmap-able (flags {:#x})",
                    info.index, info.flags
                ),
            ));
        }
        let len = usize::try_from(info.size).map_err(|_| io::ErrorKind::InvalidInput)?;
        let offset = libc::off_t::try_from(info.offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: a new shared mapping of the device file at an address the kernel picks; it
        // aliases no Rust object.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                device.as_raw_fd(),
                offset,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            base: base.cast(),
            len,
        })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    fn register<T>(&self, offset: usize) -> *mut T {
        assert!(
            offset % std::mem::size_of::<T>() == 0 && offset + std::mem::size_of::<T>() <= self.len,
            "register {offset:#x} outside the {:#x}-byte region or misaligned",
            self.len
        );
        // The assertion keeps the pointer inside the mapping and aligned.
        self.base.wrapping_add(offset).cast()
    }

    /// Reads the raw (device byte order) 32-bit register at `offset`.
    pub fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: `register` checked bounds and alignment; MMIO is read volatile.
        unsafe { std::ptr::read_volatile(self.register::<u32>(offset)) }
    }

    /// Reads the raw 64-bit register at `offset`.
    pub fn read_u64(&self, offset: usize) -> u64 {
        // SAFETY: as in `read_u32`.
        unsafe { std::ptr::read_volatile(self.register::<u64>(offset)) }
    }

    /// Writes the raw 32-bit register at `offset`, ordered before later accesses.
    pub fn write_u32(&self, offset: usize, value: u32) {
        // SAFETY: as in `read_u32`.
        unsafe { std::ptr::write_volatile(self.register::<u32>(offset), value) };
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }

    /// Writes the raw 64-bit register at `offset`, ordered before later accesses.
    pub fn write_u64(&self, offset: usize, value: u64) {
        // SAFETY: as in `read_u32`.
        unsafe { std::ptr::write_volatile(self.register::<u64>(offset), value) };
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for MappedRegion {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `map`; no reference into it exists.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_info_layout_and_number() {
        assert_eq!(std::mem::size_of::<RegionInfo>(), 32);
        let expected = if cfg!(target_arch = "powerpc64") {
            0x2000_3B6C
        } else {
            0x3B6C
        };
        assert_eq!(DEVICE_GET_REGION_INFO, expected);
    }
}
