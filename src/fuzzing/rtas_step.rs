// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! DDW RTAS operations: the buffer is written big-endian into guest memory, the call is made
//! (through [`TceAccelerator::handle_rtas`](crate::TceAccelerator::handle_rtas) or as
//! hypercall `H_RTAS`), and the outcome is checked against these rules, independently of
//! the accelerator's code:
//!
//! * Dispatch: a buffer whose first cell is unreadable is an error; another token is not
//!   ours (`None`, buffer untouched); a DDW token with a buffer that is not entirely RAM or
//!   declares more than 16 arguments/returns is an error with nothing done.
//! * The status written in the first return cell is the status returned.
//! * Any shape but 3/5, 3/6 (query), 5/4 (create), 1/1 (remove), 3/1 (reset) → -3 with no
//!   change (qemu-and-guest.md §2.6–§2.9; LoPAR).
//! * A refused call (-3, or -1 without injected faults) changes nothing (LoPAR: "no window
//!   created on failure"); with injected faults a -1 may leave the addressed PE with fewer
//!   windows or entries, never with new mappings.
//! * Success: query changes nothing; create adds exactly one empty window of the requested
//!   geometry on a free slot of the PE, at bus address 0 when the PE had no window and at
//!   2^59 otherwise (QEMU's `dma_win_addr` / `dma64_win_addr`, §2.7; at 0 when a DDW already
//!   holds 2^59, where QEMU would overlap it), and a create that fits
//!   (page size offered, page ≤ window ≤ 2^34 bytes, a free slot) must succeed; remove
//!   deletes exactly its window and restores the empty default window when it removed the
//!   last non-default one (§2.8); reset leaves exactly the empty default window (§2.9).
//!   Windows of other PEs never change.

use std::collections::BTreeMap;

use papr_hcall::rtas::{RtasCall, RtasStatus};
use papr_hcall::{HcallStatus, Liobn, H_RTAS};
use vm_memory::{Bytes, GuestAddress};

use super::failure::Violation;
use super::layout::{
    DEFAULT_WINDOW_SIZE, PE0_BUID, PE0_DDW, PE0_DEFAULT, PE1_BUID, PE1_DDW, PE1_DEFAULT,
    RTAS_BUFFER,
};
use super::ops::{RtasKind, RtasOp};
use super::oracle::in_ram;
use super::run::Runner;
use super::select::GpaSel;
use super::shadow::{Shadow, ShadowWindow};
use super::world::{Geometry, World};

pub(super) const QUERY: u32 = 0x2026;
pub(super) const CREATE: u32 = 0x2027;
pub(super) const REMOVE: u32 = 0x2028;
pub(super) const RESET: u32 = 0x2029;
/// Bus address of a DDW created while another window is active (QEMU `dma64_win_addr`).
pub(super) const DMA64_START: u64 = 1 << 59;
/// Largest window shift a create must grant when everything else fits.
pub(super) const ALWAYS_GRANTED_WINDOW_SHIFT: u32 = 34;
/// Page shifts the world's PEs offer (QEMU's default `pgsz`).
pub(super) const OFFERED_PAGE_SHIFTS: [u32; 4] = [12, 16, 21, 24];
/// The LIOBNs of each PE: default window, DDW.
pub(super) const PE_LIOBNS: [[Liobn; 2]; 2] = [[PE0_DEFAULT, PE0_DDW], [PE1_DEFAULT, PE1_DDW]];
/// Every PE's default window.
pub(super) const DEFAULT_GEOMETRY: Geometry = Geometry {
    bus_offset: 0,
    page_shift: 12,
    entries: DEFAULT_WINDOW_SIZE >> 12,
};

/// The cells of a call as the guest writes them: token, arguments, return cells.
fn cells(op: &RtasOp) -> (u32, Vec<u32>, u32) {
    let pe_cells = |pe| {
        let (config_addr, buid) = World::pe(pe);
        vec![config_addr, (buid >> 32) as u32, buid as u32]
    };
    match &op.kind {
        RtasKind::Query { pe, six } => (QUERY, pe_cells(*pe), if *six { 6 } else { 5 }),
        RtasKind::Create {
            pe,
            page_shift,
            window_shift,
        } => {
            let mut args = pe_cells(*pe);
            args.extend([page_shift.value(), window_shift.value()]);
            (CREATE, args, 4)
        }
        RtasKind::Remove { liobn } => (REMOVE, vec![World::liobn_of(*liobn).0 as u32], 1),
        RtasKind::Reset { pe, flags } => {
            let mut args = pe_cells(*pe);
            args.extend(flags);
            (RESET, args, 1)
        }
        RtasKind::Other { token, args, nret } => (*token, args.clone(), u32::from(*nret)),
    }
}

/// Writes big-endian cells from `address`; cells outside RAM are dropped.
fn write_cells(world: &World, address: u64, cells: &[u32]) {
    for (i, cell) in cells.iter().enumerate() {
        if let Some(at) = address.checked_add(4 * i as u64) {
            // Hostile buffers may hang off the end of RAM: that part is simply lost.
            let _ = world.mem.write_slice(&cell.to_be_bytes(), GuestAddress(at));
        }
    }
}

fn read_cell(world: &World, address: u64) -> Option<u32> {
    let mut cell = [0u8; 4];
    world
        .mem
        .read_slice(&mut cell, GuestAddress(address))
        .ok()?;
    Some(u32::from_be_bytes(cell))
}

/// The bytes at `[address, address + len)` that are RAM (others read as `None`).
fn read_bytes(world: &World, address: u64, len: u64) -> Vec<Option<u8>> {
    (0..len)
        .map(|i| {
            let at = address.checked_add(i)?;
            world.mem.read_obj::<u8>(GuestAddress(at)).ok()
        })
        .collect()
}

pub(super) fn pe_of_buid(buid: u64) -> Option<usize> {
    match buid {
        PE0_BUID => Some(0),
        PE1_BUID => Some(1),
        _ => None,
    }
}

/// Which PE's windows `liobn` names.
pub(super) fn pe_of_liobn(liobn: Liobn) -> Option<usize> {
    PE_LIOBNS.iter().position(|pair| pair.contains(&liobn))
}

pub(super) fn pe_windows(shadow: &Shadow, pe: usize) -> BTreeMap<u64, ShadowWindow> {
    PE_LIOBNS[pe]
        .iter()
        .filter_map(|l| Some((l.0, shadow.window(*l)?.clone())))
        .collect()
}

pub(super) fn empty_default() -> ShadowWindow {
    ShadowWindow {
        geometry: DEFAULT_GEOMETRY,
        entries: BTreeMap::new(),
    }
}

/// What the call asked for, from the buffer as the accelerator read it.
pub(super) struct Asked {
    pub(super) call: RtasCall,
}

impl Asked {
    pub(super) fn arg(&self, index: usize) -> u32 {
        self.call.arg(index).unwrap_or_default()
    }

    pub(super) fn buid(&self) -> u64 {
        (u64::from(self.arg(1)) << 32) | u64::from(self.arg(2))
    }

    pub(super) fn shape_ok(&self) -> bool {
        let (nargs, nret) = (self.call.nargs, self.call.nret);
        match self.call.token {
            QUERY => nargs == 3 && (nret == 5 || nret == 6),
            CREATE => nargs == 5 && nret == 4,
            REMOVE => nargs == 1 && nret == 1,
            _ => nargs == 3 && nret == 1,
        }
    }
}

impl Runner {
    /// Writes and executes one RTAS operation.
    pub(super) fn rtas(&mut self, op: &RtasOp) -> Result<(), Violation> {
        let base = match op.buffer {
            GpaSel::Zero => RTAS_BUFFER,
            other => World::gpa(other, 4096),
        };
        let address = base.wrapping_add(u64::from(op.offset % 4096));
        let (token, args, nret) = cells(op);
        let nargs_declared = op.nargs_lie.unwrap_or(args.len() as u32);
        let nret_declared = op.nret_lie.unwrap_or(nret);
        let zeros = nret.max(nret_declared).min(RtasCall::MAX_NRET) as usize;
        let image: Vec<u32> = [token, nargs_declared, nret_declared]
            .into_iter()
            .chain(args)
            .chain(std::iter::repeat_n(0, zeros))
            .collect();
        write_cells(&self.world, address, &image);
        self.rtas_at(address, op.via_hcall)
    }

    /// `H_RTAS` with r4 = `address` (from a raw hypercall).
    pub(super) fn rtas_by_address(&mut self, address: u64) -> Result<(), Violation> {
        self.rtas_at(address, true)
    }

    fn rtas_at(&mut self, address: u64, via_hcall: bool) -> Result<(), Violation> {
        let world = &self.world;
        let token = read_cell(world, address);
        let header = [0, 4, 8].map(|offset| read_cell(world, address.wrapping_add(offset)));
        let well_formed = match header {
            [Some(_), Some(nargs), Some(nret)] => {
                nargs <= RtasCall::MAX_NARGS
                    && nret <= RtasCall::MAX_NRET
                    && in_ram(address, RtasCall::buffer_len(nargs, nret))
            }
            _ => false,
        };
        let read = RtasCall::read_from(&*world.mem, GuestAddress(address)).ok();
        if well_formed != read.is_some() {
            return Err(Violation::Rtas(format!(
                "buffer {address:#x}: RtasCall::read_from answered {read:?}, expected \
                 well-formed = {well_formed}"
            )));
        }
        let is_ddw = token.is_some_and(|t| (QUERY..=RESET).contains(&t));
        let bytes_before = read_bytes(world, address, RtasCall::buffer_len(16, 16));
        let before = self.shadow.clone();
        let failed_before = world.acc.counters().backend;
        let result = self.call_rtas(address, via_hcall, read.as_ref())?;
        let failed_after = self.world.acc.counters().backend;
        let failed = (failed_after.map_dma_failed + failed_after.unmap_dma_failed)
            - (failed_before.map_dma_failed + failed_before.unmap_dma_failed);
        if failed >= 2 {
            self.tainted = true;
        }
        let after = Shadow::capture(&self.world);
        let unchanged = |what: &str| -> Result<(), Violation> {
            if after != before {
                return Err(Violation::Rtas(format!("{what} changed the windows")));
            }
            Ok(())
        };
        match (token, is_ddw, well_formed, result) {
            (None, _, _, Some(Err(()))) => unchanged("an unreadable buffer")?,
            (Some(_), false, _, None) => {
                unchanged("a foreign token")?;
                if read_bytes(&self.world, address, bytes_before.len() as u64) != bytes_before {
                    return Err(Violation::Rtas(
                        "a foreign call's buffer was written".into(),
                    ));
                }
            }
            (Some(_), true, false, Some(Err(()))) => {
                unchanged("a malformed buffer")?;
                if read_bytes(&self.world, address, bytes_before.len() as u64) != bytes_before {
                    return Err(Violation::Rtas("a refused buffer was written".into()));
                }
            }
            (Some(_), true, true, Some(Ok(status))) => {
                let asked = Asked {
                    call: read.ok_or_else(|| Violation::Rtas("no call".into()))?,
                };
                self.check_ddw(&asked, status, &before, &after)?;
            }
            (token, is_ddw, well_formed, result) => {
                return Err(Violation::Rtas(format!(
                    "buffer {address:#x} (token {token:x?}, DDW {is_ddw}, well-formed \
                     {well_formed}): answered {result:?}"
                )));
            }
        }
        self.shadow = after;
        Ok(())
    }

    /// Makes the call; for `H_RTAS` the status is read back from the buffer (`None` status
    /// when the guest left no return cell).
    #[allow(clippy::type_complexity)]
    fn call_rtas(
        &self,
        address: u64,
        via_hcall: bool,
        call: Option<&RtasCall>,
    ) -> Result<Option<Result<Option<RtasStatus>, ()>>, Violation> {
        if !via_hcall {
            return Ok(self
                .world
                .acc
                .handle_rtas(GuestAddress(address))
                .map(|result| result.map(Some).map_err(|_| ())));
        }
        let mut args = [0u64; 9];
        args[0] = address;
        Ok(match self.world.acc.handle_hcall(H_RTAS, &args) {
            None => None,
            Some(outcome) if outcome.status == HcallStatus::PARAMETER => Some(Err(())),
            Some(outcome) if outcome.status == HcallStatus::SUCCESS && outcome.r4.is_none() => {
                let call = call.ok_or_else(|| {
                    Violation::Rtas(format!("H_RTAS succeeded on the unreadable {address:#x}"))
                })?;
                let rets = call
                    .read_rets(&*self.world.mem)
                    .map_err(|e| Violation::Rtas(e.to_string()))?;
                Some(Ok(rets.first().map(|&cell| RtasStatus::from_cell(cell))))
            }
            Some(outcome) => {
                return Err(Violation::Rtas(format!("H_RTAS answered {outcome:?}")));
            }
        })
    }
}
