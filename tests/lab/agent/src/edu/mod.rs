//! A userspace driver for QEMU's `edu` test device (vendor 0x1234, device 0x11e8) behind
//! VFIO: its DMA engine is what makes the lab's TCE mappings carry real device traffic.
//!
//! BAR0 registers (shared/lab/README.md §9.4): 0x00 identification 0x010000ed, 0x04 liveness
//! (reads back the complement of what was written), 0x80/0x88/0x90 DMA source, destination
//! and count, 0x98 DMA command (bit 0 start, cleared when done; bit 1 direction, 1 = device
//! buffer → RAM). The device's DMA buffer is 4 KiB at device address 0x40000; QEMU aborts
//! on a DMA outside it, so every transfer here stays within it. The registers are
//! target-native, i.e. big-endian on `qemu-system-ppc64`: the identification register's
//! byte order tells whether to swap. QEMU runs each DMA from a 100 ms timer; the driver
//! polls the command register. A DMA through a bus address the IOMMU does not translate
//! completes without any error indication: reads bring zeros, writes are dropped.

pub mod region;

use std::fmt;
use std::fs::File;
use std::time::{Duration, Instant};

use region::{MappedRegion, BAR0_REGION};

const REG_ID: usize = 0x00;
const REG_LIVENESS: usize = 0x04;
const REG_DMA_SRC: usize = 0x80;
const REG_DMA_DST: usize = 0x88;
const REG_DMA_COUNT: usize = 0x90;
const REG_DMA_CMD: usize = 0x98;
const CMD_START: u64 = 0x1;
const CMD_TO_RAM: u64 = 0x2;
/// The identification value (major 1, minor 0).
pub const EDU_ID: u32 = 0x0100_00ed;
/// Device address of the DMA buffer.
pub const BUFFER_ADDR: u64 = 0x4_0000;
/// Size of the DMA buffer: the largest single transfer.
pub const BUFFER_LEN: u32 = 4096;
const LIVENESS_PROBE: u32 = 0x1234_5678;

/// A device that copies between its 4 KiB buffer and bus addresses.
pub trait DmaEngine {
    /// RAM → device: the device reads `len` bytes at bus address `bus` into its buffer.
    fn to_device(&mut self, bus: u64, len: u32) -> Result<(), EduError>;
    /// Device → RAM: the device writes the first `len` bytes of its buffer to `bus`.
    fn to_ram(&mut self, bus: u64, len: u32) -> Result<(), EduError>;
    /// DMAs run so far and the time they took.
    fn stats(&self) -> (u64, Duration);
}

/// Why the device could not be used.
#[derive(Debug)]
pub enum EduError {
    /// A VFIO call on the device failed.
    Vfio(&'static str, std::io::Error),
    /// The identification register holds neither byte order of [`EDU_ID`].
    NotEdu(u32),
    /// The liveness register did not complement the probe.
    Dead(u32),
    /// A transfer of this length does not fit the DMA buffer.
    Length(u32),
    /// The command register still had the start bit set after this long.
    Timeout(Duration),
}

impl fmt::Display for EduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vfio(what, e) => write!(f, "{what}: {e}"),
            Self::NotEdu(raw) => write!(f, "identification register reads {raw:#010x}"),
            Self::Dead(read) => write!(
                f,
                "liveness register read {read:#010x} after writing {LIVENESS_PROBE:#010x}"
            ),
            Self::Length(len) => write!(f, "DMA of {len} bytes (1..={BUFFER_LEN} possible)"),
            Self::Timeout(after) => write!(f, "DMA still running after {after:?}"),
        }
    }
}

/// What [`Edu::open`] found.
#[derive(Clone, Copy, Debug)]
pub struct EduSetup {
    /// `PCI_COMMAND` before and after enabling memory space and bus mastering.
    pub command: (u16, u16),
    /// BAR0 size.
    pub bar0_len: usize,
    /// Identification register as read (device byte order).
    pub raw_id: u32,
    /// Whether registers are byte-swapped relative to this CPU.
    pub swapped: bool,
}

/// The opened device: its VFIO descriptor and mapped BAR0.
pub struct Edu {
    // Field order is drop order: the BAR mapping goes before the descriptor it came from.
    bar: MappedRegion,
    _device: File,
    swapped: bool,
    poll: Duration,
    timeout: Duration,
    dmas: u64,
    busy: Duration,
}

/// Whether a raw identification value needs swapping, `None` if it is not `edu`'s.
pub fn byte_order(raw_id: u32) -> Option<bool> {
    if raw_id == EDU_ID {
        Some(false)
    } else if raw_id.swap_bytes() == EDU_ID {
        Some(true)
    } else {
        None
    }
}

impl Edu {
    /// Enables bus mastering, maps BAR0, finds the register byte order and checks liveness.
    pub fn open(device: File) -> Result<(Self, EduSetup), EduError> {
        let command = region::enable_bus_master(&device)
            .map_err(|e| EduError::Vfio("enabling bus mastering", e))?;
        let info = region::region_info(&device, BAR0_REGION)
            .map_err(|e| EduError::Vfio("VFIO_DEVICE_GET_REGION_INFO(BAR0)", e))?;
        let bar = MappedRegion::map(&device, &info).map_err(|e| EduError::Vfio("mmap BAR0", e))?;
        let raw_id = bar.read_u32(REG_ID);
        let swapped = byte_order(raw_id).ok_or(EduError::NotEdu(raw_id))?;
        let edu = Self {
            bar,
            _device: device,
            swapped,
            poll: Duration::from_millis(5),
            timeout: Duration::from_secs(10),
            dmas: 0,
            busy: Duration::ZERO,
        };
        edu.write32(REG_LIVENESS, LIVENESS_PROBE);
        let read = edu.read32(REG_LIVENESS);
        if read != !LIVENESS_PROBE {
            return Err(EduError::Dead(read));
        }
        let setup = EduSetup {
            command,
            bar0_len: edu.bar.len(),
            raw_id,
            swapped,
        };
        Ok((edu, setup))
    }

    fn read32(&self, offset: usize) -> u32 {
        let raw = self.bar.read_u32(offset);
        if self.swapped {
            raw.swap_bytes()
        } else {
            raw
        }
    }

    fn write32(&self, offset: usize, value: u32) {
        let raw = if self.swapped {
            value.swap_bytes()
        } else {
            value
        };
        self.bar.write_u32(offset, raw);
    }

    fn read64(&self, offset: usize) -> u64 {
        let raw = self.bar.read_u64(offset);
        if self.swapped {
            raw.swap_bytes()
        } else {
            raw
        }
    }

    fn write64(&self, offset: usize, value: u64) {
        let raw = if self.swapped {
            value.swap_bytes()
        } else {
            value
        };
        self.bar.write_u64(offset, raw);
    }

    /// Starts one transfer and polls until the device clears the start bit.
    fn transfer(&mut self, src: u64, dst: u64, len: u32, direction: u64) -> Result<(), EduError> {
        if len == 0 || len > BUFFER_LEN {
            return Err(EduError::Length(len));
        }
        let started = Instant::now();
        if self.read64(REG_DMA_CMD) & CMD_START != 0 {
            // A previous transfer timed out: edu ignores new commands until it is done.
            self.wait(started)?;
        }
        self.write64(REG_DMA_SRC, src);
        self.write64(REG_DMA_DST, dst);
        self.write64(REG_DMA_COUNT, u64::from(len));
        self.write64(REG_DMA_CMD, direction | CMD_START);
        let result = self.wait(started);
        self.dmas += 1;
        self.busy += started.elapsed();
        result
    }

    fn wait(&self, started: Instant) -> Result<(), EduError> {
        loop {
            std::thread::sleep(self.poll);
            if self.read64(REG_DMA_CMD) & CMD_START == 0 {
                return Ok(());
            }
            if started.elapsed() > self.timeout {
                return Err(EduError::Timeout(started.elapsed()));
            }
        }
    }
}

impl DmaEngine for Edu {
    fn to_device(&mut self, bus: u64, len: u32) -> Result<(), EduError> {
        self.transfer(bus, BUFFER_ADDR, len, 0)
    }

    fn to_ram(&mut self, bus: u64, len: u32) -> Result<(), EduError> {
        self.transfer(BUFFER_ADDR, bus, len, CMD_TO_RAM)
    }

    fn stats(&self) -> (u64, Duration) {
        (self.dmas, self.busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_from_the_identification_register() {
        assert_eq!(byte_order(0x0100_00ed), Some(false));
        assert_eq!(byte_order(0xed00_0001), Some(true));
        assert_eq!(byte_order(0xffff_ffff), None);
        assert_eq!(byte_order(0), None);
    }
}
