//! The simulated pseries guest: its RAM (an anonymous mapping wrapped as vm-memory guest
//! memory), the accelerator over it, and the hypercalls and RTAS calls a Linux guest would
//! issue, built in guest RAM exactly as a guest builds them (TCE lists and RTAS buffers are
//! big-endian, qemu-and-guest.md §2.1, §2.3).

use papr_hcall::rtas::RtasCall;
use papr_hcall::{
    HcallOutcome, HcallStatus, H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_RTAS, H_STUFF_TCE,
};
use spapr_tce::TceAccelerator;
use vfio_spapr::SpaprTceIommu;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Guest RAM: one region at guest-physical 0.
pub const RAM_SIZE: u64 = 64 << 20;
/// Where the guest builds its RTAS argument buffers.
pub const RTAS_BUFFER: u64 = 0x1000;
/// The page holding `H_PUT_TCE_INDIRECT` lists (4 KiB aligned, up to 512 entries).
pub const TCE_LIST: u64 = 0x2000;
/// Entries one list page holds (kernel-host.md §1.6 step 2).
pub const MAX_LIST_ENTRIES: usize = 512;

/// The guest memory type of the lab.
pub type Memory = GuestMemoryMmap<()>;

/// Allocates the guest RAM: an anonymous, page-aligned mapping of [`RAM_SIZE`].
pub fn allocate_ram() -> Result<Memory, String> {
    GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM_SIZE as usize)])
        .map_err(|e| format!("guest RAM of {RAM_SIZE:#x} bytes: {e}"))
}

/// The guest's view: its memory and the accelerator that executes its calls.
pub struct Guest<'m, C> {
    /// The accelerator under test.
    pub acc: TceAccelerator<&'m Memory, C>,
    /// Guest RAM.
    pub mem: &'m Memory,
}

impl<'m, C: SpaprTceIommu> Guest<'m, C> {
    /// Issues hypercall `nr` with `args` (r4...), like a vCPU exit would deliver it.
    pub fn hcall(&self, nr: u64, args: &[u64]) -> Result<HcallOutcome, String> {
        let mut regs = [0u64; 9];
        for (reg, arg) in regs.iter_mut().zip(args) {
            *reg = *arg;
        }
        self.acc
            .handle_hcall(nr, &regs)
            .ok_or_else(|| format!("hcall {nr:#x} was not handled by the accelerator"))
    }

    fn status_of(&self, name: &str, nr: u64, args: &[u64]) -> Result<(), String> {
        let outcome = self.hcall(nr, args)?;
        if outcome.status == HcallStatus::SUCCESS {
            Ok(())
        } else {
            Err(format!("{name}{args:x?} returned {}", outcome.status))
        }
    }

    /// `H_PUT_TCE(liobn, ioba, tce)`, which must succeed.
    pub fn put_tce(&self, liobn: u64, ioba: u64, tce: u64) -> Result<(), String> {
        self.status_of("H_PUT_TCE", H_PUT_TCE, &[liobn, ioba, tce])
    }

    /// `H_GET_TCE(liobn, ioba)`: the entry.
    pub fn get_tce(&self, liobn: u64, ioba: u64) -> Result<u64, String> {
        let outcome = self.hcall(H_GET_TCE, &[liobn, ioba])?;
        match (outcome.status, outcome.r4) {
            (HcallStatus::SUCCESS, Some(tce)) => Ok(tce),
            (status, r4) => Err(format!(
                "H_GET_TCE({liobn:#x}, {ioba:#x}) returned {status} r4 {r4:x?}"
            )),
        }
    }

    /// `H_STUFF_TCE(liobn, ioba, value, count)`, which must succeed.
    pub fn stuff_tce(&self, liobn: u64, ioba: u64, value: u64, count: u64) -> Result<(), String> {
        self.status_of("H_STUFF_TCE", H_STUFF_TCE, &[liobn, ioba, value, count])
    }

    /// Writes `tces` big-endian into the list page and issues `H_PUT_TCE_INDIRECT`.
    pub fn put_tce_indirect(&self, liobn: u64, ioba: u64, tces: &[u64]) -> Result<(), String> {
        if tces.is_empty() || tces.len() > MAX_LIST_ENTRIES {
            return Err(format!("{} TCEs do not fit one list page", tces.len()));
        }
        let list: Vec<u8> = tces.iter().flat_map(|tce| tce.to_be_bytes()).collect();
        self.write(TCE_LIST, &list)?;
        self.status_of(
            "H_PUT_TCE_INDIRECT",
            H_PUT_TCE_INDIRECT,
            &[liobn, ioba, TCE_LIST, tces.len() as u64],
        )
    }

    /// Builds an RTAS call in the guest's buffer, issues `H_RTAS` and returns the return
    /// cells (status first).
    pub fn rtas(&self, token: u32, args: &[u32], nret: u32) -> Result<Vec<u32>, String> {
        let call = RtasCall::new(GuestAddress(RTAS_BUFFER), token, args, nret);
        self.write(RTAS_BUFFER, &call.to_bytes())?;
        let outcome = self.hcall(H_RTAS, &[RTAS_BUFFER])?;
        if outcome.status != HcallStatus::SUCCESS {
            return Err(format!(
                "H_RTAS(token {token:#x}) returned {}",
                outcome.status
            ));
        }
        call.read_rets(self.mem)
            .map_err(|e| format!("reading the return cells: {e}"))
    }

    /// Writes guest RAM.
    pub fn write(&self, gpa: u64, bytes: &[u8]) -> Result<(), String> {
        self.mem
            .write_slice(bytes, GuestAddress(gpa))
            .map_err(|e| format!("writing {} bytes at {gpa:#x}: {e}", bytes.len()))
    }

    /// Reads guest RAM.
    pub fn read(&self, gpa: u64, len: usize) -> Result<Vec<u8>, String> {
        let mut bytes = vec![0u8; len];
        self.mem
            .read_slice(&mut bytes, GuestAddress(gpa))
            .map_err(|e| format!("reading {len} bytes at {gpa:#x}: {e}"))?;
        Ok(bytes)
    }
}
