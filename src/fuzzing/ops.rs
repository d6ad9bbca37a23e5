// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The operations a fuzz input decodes into: TCE hypercalls (well-formed and hostile), DDW
//! RTAS calls written as big-endian buffers into guest memory, guest-memory writes of TCE
//! lists, raw hypercall registers, and (fault mode only) host failures to inject.

use vfio_spapr::IommuOp;

use super::select::{CountSel, GpaSel, IobaSel, LiobnSel, PeSel, ShiftSel, TceSel};

/// Most operations one input runs; the rest of a longer input is ignored.
pub const MAX_OPS: usize = 192;
/// Most TCEs one list write carries (one 4 KiB list page).
pub const MAX_LIST_TCES: u16 = 512;

/// How a TCE list is filled.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListFill {
    /// These TCEs, in order.
    Explicit(Vec<TceSel>),
    /// `count` TCEs: `first`, then each `step` pages further (coalescing candidates).
    Linear {
        /// The first TCE.
        first: TceSel,
        /// Number of TCEs (at most [`MAX_LIST_TCES`]).
        count: u16,
        /// Distance between consecutive TCEs, in window pages.
        step: u8,
    },
}

/// Which DDW call an [`RtasOp`] makes, with its arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RtasKind {
    /// `ibm,query-pe-dma-window`; `six` asks for 6 return cells instead of 5.
    Query {
        /// The PE.
        pe: PeSel,
        /// 6 return cells.
        six: bool,
    },
    /// `ibm,create-pe-dma-window`.
    Create {
        /// The PE.
        pe: PeSel,
        /// Page shift argument.
        page_shift: ShiftSel,
        /// Window shift argument.
        window_shift: ShiftSel,
    },
    /// `ibm,remove-pe-dma-window` of a LIOBN (truncated to 32 bits as the call carries it).
    Remove {
        /// The window.
        liobn: LiobnSel,
    },
    /// `ibm,reset-pe-dma-window`, with the LoPAR 2.13 fourth argument when `flags` is set.
    Reset {
        /// The PE.
        pe: PeSel,
        /// The limited-addressing flag argument.
        flags: Option<u32>,
    },
    /// Any token with any arguments.
    Other {
        /// The token.
        token: u32,
        /// Argument cells (at most 16).
        args: Vec<u32>,
        /// Declared return cells.
        nret: u8,
    },
}

/// An RTAS call: where its buffer goes, what it asks, and how it lies about its shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RtasOp {
    /// Where the buffer is written (page offset within a page of 4 KiB is kept).
    pub buffer: GpaSel,
    /// Byte offset added to the buffer address (0..4095; unaligned buffers are legal).
    pub offset: u16,
    /// The call.
    pub kind: RtasKind,
    /// Replaces the declared `nargs` in the header.
    pub nargs_lie: Option<u32>,
    /// Replaces the declared `nret` in the header.
    pub nret_lie: Option<u32>,
    /// Issue it as hypercall `H_RTAS` (0xF000) instead of calling the RTAS entry directly.
    pub via_hcall: bool,
}

/// A host failure to plan: call `nth` (1-based, from now) of `op` on container
/// `container % 2` fails with `errno`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FaultSpec {
    /// Which PE's container.
    pub container: u8,
    /// Which operation.
    pub op: IommuOp,
    /// Which future call (1..=4).
    pub nth: u8,
    /// The errno.
    pub errno: i32,
}

/// The container operations a fault can hit.
pub const FAULT_OPS: [IommuOp; 7] = [
    IommuOp::MapDma,
    IommuOp::UnmapDma,
    IommuOp::CreateWindow,
    IommuOp::RemoveWindow,
    IommuOp::RegisterMemory,
    IommuOp::UnregisterMemory,
    IommuOp::GetInfo,
];

/// Errnos a fault picks from; [`FaultSpec::errno`] may also be any value.
pub const FAULT_ERRNOS: [i32; 9] = [
    libc::EINVAL,
    libc::ENOMEM,
    libc::EIO,
    libc::EBUSY,
    libc::ENXIO,
    libc::EFAULT,
    libc::EPERM,
    libc::ENOSPC,
    libc::ENOENT,
];

/// One step of a fuzz run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `H_PUT_TCE`.
    Put {
        /// Window.
        liobn: LiobnSel,
        /// Bus address.
        ioba: IobaSel,
        /// The TCE.
        tce: TceSel,
    },
    /// `H_GET_TCE`.
    Get {
        /// Window.
        liobn: LiobnSel,
        /// Bus address.
        ioba: IobaSel,
    },
    /// `H_STUFF_TCE`.
    Stuff {
        /// Window.
        liobn: LiobnSel,
        /// First bus address.
        ioba: IobaSel,
        /// The value stored.
        value: TceSel,
        /// Entries.
        count: CountSel,
    },
    /// `H_PUT_TCE_INDIRECT`.
    Indirect {
        /// Window.
        liobn: LiobnSel,
        /// First bus address.
        ioba: IobaSel,
        /// Guest-physical address of the list (resolved with 4 KiB pages).
        list: GpaSel,
        /// Entries.
        count: CountSel,
    },
    /// Writes big-endian TCEs into guest memory at `list`, addresses resolved with the page
    /// size of window `page_of` (the parts outside RAM are dropped).
    WriteList {
        /// Where (resolved with 4 KiB pages).
        list: GpaSel,
        /// Whose page size the TCE addresses use.
        page_of: LiobnSel,
        /// The TCEs.
        fill: ListFill,
    },
    /// A DDW RTAS call.
    Rtas(RtasOp),
    /// Any hypercall number with any registers (TCE opcodes and `H_RTAS` are likely).
    RawHcall {
        /// r3.
        nr: u64,
        /// r4..r12.
        args: [u64; 9],
    },
    /// Plans a host failure (ignored outside fault mode).
    Fault(FaultSpec),
    /// Memory hotplug: adds or removes RAM region `region % 3` (0: region A, 1: region B,
    /// 2: the [`HOTPLUG`](super::layout::HOTPLUG) region).
    Hotplug {
        /// Which region.
        region: u8,
        /// Add it (else remove it).
        add: bool,
        /// When removing: clear the entries that map it first (else refuse while mapped).
        unmap_first: bool,
    },
}
