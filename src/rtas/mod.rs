// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The Dynamic DMA Window RTAS calls: `ibm,query-pe-dma-window`, `ibm,create-pe-dma-window`,
//! `ibm,remove-pe-dma-window` and `ibm,reset-pe-dma-window` (qemu-and-guest.md §2.6–§2.9,
//! kernel-host.md Appendix A), reached through `KVMPPC_H_RTAS` ([`papr_hcall::H_RTAS`]).
//!
//! Every call runs under the lock of the PE it names, so its decisions (free slot, placement,
//! limits) and its effects (host window, guest view) are one step for every other vCPU.
//! Host failures never abort: they become RTAS `-1` with the guest view and the hardware
//! still in agreement (qemu-and-guest.md §6 items 3 and 8). Each refusal is logged at debug
//! level with its reason and counted ([`DdwCallCounts`]).
//!
//! The PE is the PHB, as in QEMU: the `config_addr` argument is not checked
//! (qemu-and-guest.md §2.6, §6 item 11).

mod counters;
mod create;
mod limits;
mod query;
mod remove;
mod reset;

pub(crate) use counters::DdwCounters;
pub use counters::{DdwCallCounts, RtasResultCounts};

use papr_hcall::rtas::{
    ddw::DdwRequest, Buid, DdwExtensions, DdwTokens, PageSizeMask, RtasCall, RtasError, RtasStatus,
};
use papr_hcall::{HcallOutcome, HcallStatus, Liobn};
use vfio_spapr::{IommuError, SpaprTceIommu};
use vm_memory::{Bytes, GuestAddress, GuestAddressSpace, GuestMemoryBackend};

use crate::accelerator::TceAccelerator;
use crate::config::DdwConfig;
use crate::error::WindowError;
use crate::pe::Pe;

/// The RTAS side of the accelerator's configuration: which tokens are the DDW calls and
/// which optional forms are advertised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RtasSettings {
    tokens: DdwTokens,
    query_six_outputs: bool,
}

impl Default for RtasSettings {
    /// QEMU's tokens 0x2026..=0x2029 and its `ibm,ddw-extensions = <2, reset, 1>`
    /// (qemu-and-guest.md §0 fact 2).
    fn default() -> Self {
        Self {
            tokens: DdwTokens::QEMU,
            query_six_outputs: true,
        }
    }
}

/// Why a DDW call was refused or failed; [`Self::status`] is what the guest reads.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DdwRefusal {
    /// Wrong `nargs`/`nret` (LoPAR; QEMU's first check in every call): -3.
    #[error("wrong number of arguments or return cells")]
    Shape,
    /// QEMU: "BUID not a PHB" → -3 (qemu-and-guest.md §2.6, §2.7, §2.9).
    #[error("no PE has BUID {0}")]
    UnknownBuid(Buid),
    /// QEMU: "ddw off" → -3.
    #[error("PE {0:#x} does not offer dynamic DMA windows")]
    DdwDisabled(u64),
    /// The container's GET_INFO reports no DDW: the host cannot create windows, so DDW is
    /// off for this PE (-3).
    #[error("the host IOMMU of PE {0:#x} cannot create windows")]
    HostWithoutDdw(u64),
    /// LoPAR / QEMU: page size not offered → -3 (qemu-and-guest.md §2.7).
    #[error("page shift {page_shift} is not offered (query mask {offered})")]
    PageSizeNotOffered {
        page_shift: u32,
        offered: PageSizeMask,
    },
    /// QEMU: `window_shift < page_shift` → -3; this is where `window_shift` 0 lands
    /// (qemu-and-guest.md §0 fact 9).
    #[error("window shift {window_shift} is smaller than page shift {page_shift}")]
    WindowSmallerThanPage { window_shift: u32, page_shift: u32 },
    /// LoPAR: "too big" → -3. QEMU does not check (qemu-and-guest.md §6 item 4).
    #[error("window shift {window_shift} exceeds the largest possible, {max:?}")]
    WindowTooLarge { window_shift: u32, max: Option<u32> },
    /// LoPAR: more TCEs than the largest block query reports → -3.
    #[error("{tces} TCEs exceed the largest available block of {largest}")]
    MoreThanLargestBlock { tces: u64, largest: u64 },
    /// LoPAR: "too many" windows → -3 (QEMU answers -1).
    #[error("no window slot is free")]
    NoFreeWindow,
    /// QEMU: unknown LIOBN → -3 (qemu-and-guest.md §2.8).
    #[error("no window has LIOBN {0:#x}")]
    UnknownLiobn(u32),
    /// QEMU: the LIOBN's owner must be a PHB with DDW on → -3.
    #[error("LIOBN {0:#x} is not a window of a PE with dynamic DMA windows")]
    NotDdwWindow(u32),
    /// QEMU: the window must be enabled → -3.
    #[error("the window of LIOBN {0:#x} is not active")]
    InactiveWindow(u32),
    /// The slot's LIOBN does not fit the 32-bit RTAS cell; a configuration error (-1).
    #[error("LIOBN {0} does not fit in an RTAS cell")]
    LiobnTooWide(Liobn),
    /// The host refused the window (TCE_CREATE failed or placed it elsewhere): -1
    /// (qemu-and-guest.md §6 items 3 and 8: QEMU aborts the VM instead).
    #[error("creating the window: {0}")]
    Create(WindowError),
    /// Unmapping the window's entries failed; they were restored and the window kept: -1.
    #[error("unmapping the window's entries: {0}")]
    Unmap(IommuError),
    /// TCE_REMOVE failed; the window is kept, empty: -1.
    #[error("removing the window: {0}")]
    Remove(WindowError),
    /// The default window could not be restored after the last window went: -1.
    #[error("restoring the default window: {0}")]
    RestoreDefault(WindowError),
}

impl DdwRefusal {
    /// The RTAS status the guest reads.
    pub(crate) fn status(&self) -> RtasStatus {
        match self {
            Self::LiobnTooWide(_)
            | Self::Create(_)
            | Self::Unmap(_)
            | Self::Remove(_)
            | Self::RestoreDefault(_) => RtasStatus::HARDWARE_ERROR,
            _ => RtasStatus::PARAMETER_ERROR,
        }
    }
}

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Executes an `H_RTAS` (0xF000) call: `buffer` is r4, the guest-physical address of the
    /// RTAS argument buffer (qemu-and-guest.md §2.1).
    ///
    /// Returns `None` when the token is not one of the four DDW tokens
    /// ([`ddw_tokens`](Self::ddw_tokens)): the VMM's other RTAS services handle it, and the
    /// buffer is untouched (unless the guest rewrites the token during the call: the return
    /// cells are then rewritten with their own values). Otherwise performs the call, writes its return cells into the
    /// buffer and returns the RTAS status written. `Err` only when the buffer cannot be read
    /// or written (it is not guest RAM, or declares more than
    /// [`RtasCall::MAX_NARGS`]/[`RtasCall::MAX_NRET`] cells): then nothing was done. The
    /// whole buffer, return cells included, is checked readable and writable before the call
    /// is executed.
    ///
    /// ```
    /// use papr_hcall::rtas::{ddw::QueryResult, RtasCall, RtasStatus};
    /// use spapr_tce::{NoContainer, TceAccelerator};
    /// use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
    ///
    /// let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();
    /// let acc = TceAccelerator::<_, NoContainer>::builder(&mem).qemu_phb(0, None).build().unwrap();
    /// // ibm,query-pe-dma-window(config_addr, BUID hi, BUID lo), 6 return cells.
    /// let buffer = GuestAddress(0x1000);
    /// let call = RtasCall::new(buffer, 0x2026, &[0, 0x0800_0000, 0x2000_0000], 6);
    /// mem.write_slice(&call.to_bytes(), buffer).unwrap();
    /// assert_eq!(acc.handle_rtas(buffer).unwrap().unwrap(), RtasStatus::SUCCESS);
    /// let reply = QueryResult::from_rets(&call.read_rets(&mem).unwrap()).unwrap();
    /// assert_eq!(reply.windows_available, 1);
    /// assert_eq!(reply.page_sizes.0, 0x107, "QEMU's default 4K|64K|2M|16M");
    ///
    /// // Not a DDW token: left to the VMM.
    /// mem.write_slice(&RtasCall::new(buffer, 0x2001, &[], 1).to_bytes(), buffer).unwrap();
    /// assert!(acc.handle_rtas(buffer).is_none());
    /// ```
    pub fn handle_rtas(&self, buffer: GuestAddress) -> Option<Result<RtasStatus, RtasError>> {
        let memory = self.memory.memory();
        let token = match read_token(&*memory, buffer) {
            Ok(token) => token,
            Err(error) => {
                log::debug!("H_RTAS: {error}");
                self.counters.ddw.buffer_error();
                return Some(Err(error));
            }
        };
        let call_kind = self.rtas.tokens.call_for(token)?;
        let prepared = RtasCall::read_from(&*memory, buffer).and_then(|call| {
            // Writing back what the return cells hold proves they are writable.
            let current = call.read_rets(&*memory)?;
            call.write_rets(&*memory, &current)?;
            Ok(call)
        });
        let call = match prepared {
            Ok(call) => call,
            Err(error) => {
                log::debug!("{}: {error}", call_kind.name());
                self.counters.ddw.buffer_error();
                return Some(Err(error));
            }
        };
        // The guest may have rewritten the token since it was first read: the copy in `call`
        // decides from here on (another DDW call, or `None` for a foreign one).
        let call_kind = self.rtas.tokens.call_for(call.token)?;
        let result = match DdwRequest::decode(&call, &self.rtas.tokens, &self.ddw_extensions())? {
            Ok(request) => self.execute_ddw(request),
            Err(_) => Err(DdwRefusal::Shape),
        };
        let (status, rets) = match result {
            Ok(rets) => (RtasStatus::SUCCESS, rets),
            Err(refusal) => {
                let status = refusal.status();
                log::debug!(
                    "{} (nargs {}, nret {}, args {:x?}) refused with {status}: {refusal}",
                    call_kind.name(),
                    call.nargs,
                    call.nret,
                    call.args
                );
                (status, vec![status.to_cell()])
            }
        };
        self.counters.ddw.record(call_kind, status);
        Some(call.write_rets(&*memory, &rets).map(|()| status))
    }

    /// The tokens of the four DDW calls, for the device tree ([`crate::fdt`]). QEMU's
    /// 0x2026..=0x2029 unless changed with [`with_ddw_tokens`](Self::with_ddw_tokens).
    pub fn ddw_tokens(&self) -> DdwTokens {
        self.rtas.tokens
    }

    /// What `ibm,ddw-extensions` advertises: the reset token (index 1) and, unless disabled
    /// with [`with_six_output_query`](Self::with_six_output_query), the 6-output query
    /// (index 2): `<2, reset, 1>` by default, like QEMU. Limited addressing (index 3) is not
    /// implemented.
    pub fn ddw_extensions(&self) -> DdwExtensions {
        self.rtas
            .tokens
            .extensions(self.rtas.query_six_outputs, false)
    }

    /// Uses `tokens` for the DDW calls. They must be distinct, and distinct from the VMM's
    /// other RTAS tokens; if two repeat, the first of query, create, remove, reset wins.
    pub fn with_ddw_tokens(mut self, tokens: DdwTokens) -> Self {
        self.rtas.tokens = tokens;
        self
    }

    /// Advertises (default) or not the 6-output `ibm,query-pe-dma-window` (LoPAR 2.8,
    /// `ibm,ddw-extensions` index 2); without it a query with 6 return cells is refused (-3).
    pub fn with_six_output_query(mut self, enabled: bool) -> Self {
        self.rtas.query_six_outputs = enabled;
        self
    }

    /// `handle_hcall(H_RTAS, ..)`: `H_SUCCESS` when the call was a DDW call (its RTAS status
    /// is in the buffer), `H_PARAMETER` when its buffer is unusable (as QEMU answers an RTAS
    /// call it cannot process), `None` for other tokens.
    pub(crate) fn rtas_hcall(&self, buffer: u64) -> Option<HcallOutcome> {
        Some(match self.handle_rtas(GuestAddress(buffer))? {
            Ok(_) => HcallOutcome::SUCCESS,
            Err(_) => HcallOutcome::status(HcallStatus::PARAMETER),
        })
    }

    fn execute_ddw(&self, request: DdwRequest) -> Result<Vec<u32>, DdwRefusal> {
        match request {
            DdwRequest::Query { args, six_outputs } => self
                .ddw_query(&args)
                .map(|result| result.to_rets(six_outputs)),
            DdwRequest::Create(args) => self
                .ddw_create(&args)
                .map(|result| result.to_rets().to_vec()),
            DdwRequest::Remove(args) => self
                .ddw_remove(&args)
                .map(|()| vec![RtasStatus::SUCCESS.to_cell()]),
            DdwRequest::Reset(args) => self
                .ddw_reset(&args)
                .map(|()| vec![RtasStatus::SUCCESS.to_cell()]),
        }
    }

    /// The PE with `buid` and its DDW configuration, if DDW is on for it.
    fn ddw_pe(&self, buid: Buid) -> Result<(&Pe<C>, DdwConfig), DdwRefusal> {
        let pe = self
            .pe_by_buid(buid.0)
            .ok_or(DdwRefusal::UnknownBuid(buid))?;
        Ok((pe, ddw_config(pe)?))
    }
}

/// True when the DDW calls accept `pe`'s BUID (what the device tree advertises).
pub(crate) fn ddw_enabled<C>(pe: &Pe<C>) -> bool {
    pe.buid.is_some() && ddw_config(pe).is_ok()
}

/// The DDW configuration of `pe`, if DDW is on for it: configured, and its container (if
/// any) can create windows.
fn ddw_config<C>(pe: &Pe<C>) -> Result<DdwConfig, DdwRefusal> {
    let buid = pe.buid.unwrap_or_default();
    let ddw = pe.ddw.ok_or(DdwRefusal::DdwDisabled(buid))?;
    match &pe.backend {
        Some(backend) if backend.info.ddw.is_none() => Err(DdwRefusal::HostWithoutDdw(buid)),
        _ => Ok(ddw),
    }
}

/// The first cell of the buffer: its token.
fn read_token<M>(memory: &M, buffer: GuestAddress) -> Result<u32, RtasError>
where
    M: Bytes<GuestAddress, E = vm_memory::GuestMemoryError> + ?Sized,
{
    let mut cell = [0u8; RtasCall::CELL_LEN];
    memory
        .read_slice(&mut cell, buffer)
        .map_err(|source| RtasError::ReadBuffer {
            address: buffer,
            len: cell.len(),
            source,
        })?;
    Ok(u32::from_be_bytes(cell))
}
