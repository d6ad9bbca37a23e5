// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! One replayable guest request and the result the recorded hypervisor gave.
//!
//! Every event carries the complete call (all arguments the guest passed, rebuilt with the rules
//! of `shared/traces/README.md` §6) and its expectation (return code and output values). The
//! types are deliberately plain (`u64` LIOBNs and addresses, `i64` return codes) so that the
//! replay engine can feed them to the accelerator without conversions.

/// H_PUT_TCE (0x20): store `tce` in the entry of `ioba`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PutTce {
    /// Logical I/O bus number of the window.
    pub liobn: u64,
    /// I/O bus address (absolute, page aligned as QEMU printed it).
    pub ioba: u64,
    /// The TCE value written.
    pub tce: u64,
    /// Expected hypercall return code (0 = H_SUCCESS).
    pub ret: i64,
}

/// H_GET_TCE (0x1C): read the entry of `ioba`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GetTce {
    /// Logical I/O bus number of the window.
    pub liobn: u64,
    /// I/O bus address (absolute, page aligned as QEMU printed it).
    pub ioba: u64,
    /// Expected hypercall return code.
    pub ret: i64,
    /// Expected TCE returned in R4.
    pub tce: u64,
}

/// H_STUFF_TCE (0x138): store `value` in `npages` consecutive entries from `ioba`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StuffTce {
    /// Logical I/O bus number of the window.
    pub liobn: u64,
    /// I/O bus address of the FIRST entry (QEMU prints the end; the converter rebuilt the start).
    pub ioba: u64,
    /// The TCE value stored in every entry.
    pub value: u64,
    /// Number of entries.
    pub npages: u64,
    /// Expected hypercall return code.
    pub ret: i64,
}

/// The contents of an H_PUT_TCE_INDIRECT list in guest memory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TceList {
    /// Entry `i` is `first + i * step` (wrapping): what a Linux guest always passes
    /// (consecutive pages with the same permission bits, README §6).
    Linear {
        /// The first entry.
        first: u64,
        /// Difference between consecutive entries (normally the window's page size).
        step: u64,
    },
    /// Every entry written out.
    Explicit(Vec<u64>),
}

impl TceList {
    /// Entry `index` of the list, or `None` past the end of an explicit list.
    ///
    /// ```
    /// use spapr_tce::replay::TceList;
    /// let list = TceList::Linear { first: 0x3, step: 0x100_0000 };
    /// assert_eq!(list.entry(0x7f), Some(0x7f00_0003));
    /// assert_eq!(TceList::Explicit(vec![1, 2]).entry(2), None);
    /// ```
    pub fn entry(&self, index: u64) -> Option<u64> {
        match self {
            TceList::Linear { first, step } => Some(first.wrapping_add(step.wrapping_mul(index))),
            TceList::Explicit(entries) => usize::try_from(index)
                .ok()
                .and_then(|i| entries.get(i))
                .copied(),
        }
    }
}

/// H_PUT_TCE_INDIRECT (0x13C): store `npages` TCEs read from the list at `list_gpa`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PutTceIndirect {
    /// Logical I/O bus number of the window.
    pub liobn: u64,
    /// I/O bus address of the first entry.
    pub ioba: u64,
    /// Guest-physical address of the 4K-aligned TCE list.
    pub list_gpa: u64,
    /// Number of entries.
    pub npages: u64,
    /// The list contents the guest had in memory (entries `0..npages`).
    pub list: TceList,
    /// Expected hypercall return code.
    pub ret: i64,
}

/// A DMA translation done by an emulated device: the table state must translate `bus_addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Xlate {
    /// Logical I/O bus number of the window.
    pub liobn: u64,
    /// Absolute bus address the device accessed (window bus offset + offset in the window).
    pub bus_addr: u64,
    /// Expected page-aligned guest-physical address of the translation.
    pub translated: u64,
    /// Expected permission: the TCE's low two bits (1 read, 2 write, 3 both, 0 not mapped).
    pub perm: u8,
}

/// `ibm,query-pe-dma-window` (RTAS token 0x2026 on QEMU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DdwQuery {
    /// PE configuration address (first argument).
    pub config_addr: u32,
    /// PHB unit id (BUID) of the PE.
    pub buid: u64,
    /// Expected RTAS status (0 success).
    pub status: i64,
    /// Expected number of windows still available, if known.
    pub windows_available: Option<u32>,
    /// Expected largest block (number of TCEs) as the guest received it, if known.
    /// QEMU's trace prints a constant instead, so only the guest log knows it.
    pub largest_block: Option<u64>,
    /// Expected page-size mask in RTAS encoding (4K 0x1, 64K 0x2, 16M 0x4, 2M 0x100), if known.
    pub page_mask: Option<u32>,
}

/// `ibm,create-pe-dma-window` (RTAS token 0x2027 on QEMU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DdwCreate {
    /// PE configuration address.
    pub config_addr: u32,
    /// PHB unit id (BUID) of the PE.
    pub buid: u64,
    /// log2 of the IOMMU page size requested.
    pub page_shift: u32,
    /// log2 of the window size requested.
    pub window_shift: u32,
    /// Expected RTAS status (0 success, -3 parameter error, ...).
    pub status: i64,
    /// Expected LIOBN of the new window (0 when the call fails).
    pub liobn: u64,
    /// Expected bus address of the new window (0 when the call fails).
    pub start: u64,
}

/// `ibm,remove-pe-dma-window` (RTAS token 0x2028 on QEMU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DdwRemove {
    /// LIOBN of the window to remove.
    pub liobn: u64,
    /// Expected RTAS status.
    pub status: i64,
}

/// `ibm,reset-pe-dma-window` (RTAS token 0x2029 on QEMU): default window restored and cleared,
/// DDW removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DdwReset {
    /// PE configuration address.
    pub config_addr: u32,
    /// PHB unit id (BUID) of the PE.
    pub buid: u64,
    /// Expected RTAS status.
    pub status: i64,
}

/// One event of a canonical trace: a call and its expected result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TraceEvent {
    /// H_PUT_TCE.
    PutTce(PutTce),
    /// H_GET_TCE.
    GetTce(GetTce),
    /// H_STUFF_TCE.
    StuffTce(StuffTce),
    /// H_PUT_TCE_INDIRECT.
    PutTceIndirect(PutTceIndirect),
    /// A device DMA translation to verify against the table state.
    Xlate(Xlate),
    /// `ibm,query-pe-dma-window`.
    DdwQuery(DdwQuery),
    /// `ibm,create-pe-dma-window`.
    DdwCreate(DdwCreate),
    /// `ibm,remove-pe-dma-window`.
    DdwRemove(DdwRemove),
    /// `ibm,reset-pe-dma-window`.
    DdwReset(DdwReset),
}

/// The kind of a [`TraceEvent`], e.g. for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// H_PUT_TCE.
    PutTce,
    /// H_GET_TCE.
    GetTce,
    /// H_STUFF_TCE.
    StuffTce,
    /// H_PUT_TCE_INDIRECT.
    PutTceIndirect,
    /// Device DMA translation.
    Xlate,
    /// DDW query.
    DdwQuery,
    /// DDW create.
    DdwCreate,
    /// DDW remove.
    DdwRemove,
    /// DDW reset.
    DdwReset,
}

impl EventKind {
    /// Every kind, in canonical order.
    pub const ALL: [EventKind; 9] = [
        EventKind::PutTce,
        EventKind::GetTce,
        EventKind::StuffTce,
        EventKind::PutTceIndirect,
        EventKind::Xlate,
        EventKind::DdwQuery,
        EventKind::DdwCreate,
        EventKind::DdwRemove,
        EventKind::DdwReset,
    ];

    /// The keyword of this kind in the canonical text format.
    pub fn keyword(self) -> &'static str {
        match self {
            EventKind::PutTce => "put",
            EventKind::GetTce => "get",
            EventKind::StuffTce => "stuff",
            EventKind::PutTceIndirect => "indirect",
            EventKind::Xlate => "xlate",
            EventKind::DdwQuery => "query",
            EventKind::DdwCreate => "create",
            EventKind::DdwRemove => "remove",
            EventKind::DdwReset => "reset",
        }
    }

    /// The kind whose keyword is `word`.
    pub fn from_keyword(word: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.keyword() == word)
    }
}

impl TraceEvent {
    /// The kind of this event.
    pub fn kind(&self) -> EventKind {
        match self {
            TraceEvent::PutTce(_) => EventKind::PutTce,
            TraceEvent::GetTce(_) => EventKind::GetTce,
            TraceEvent::StuffTce(_) => EventKind::StuffTce,
            TraceEvent::PutTceIndirect(_) => EventKind::PutTceIndirect,
            TraceEvent::Xlate(_) => EventKind::Xlate,
            TraceEvent::DdwQuery(_) => EventKind::DdwQuery,
            TraceEvent::DdwCreate(_) => EventKind::DdwCreate,
            TraceEvent::DdwRemove(_) => EventKind::DdwRemove,
            TraceEvent::DdwReset(_) => EventKind::DdwReset,
        }
    }

    /// The LIOBN the event addresses, if it addresses one window (RTAS calls on a PE do not).
    pub fn liobn(&self) -> Option<u64> {
        match self {
            TraceEvent::PutTce(e) => Some(e.liobn),
            TraceEvent::GetTce(e) => Some(e.liobn),
            TraceEvent::StuffTce(e) => Some(e.liobn),
            TraceEvent::PutTceIndirect(e) => Some(e.liobn),
            TraceEvent::Xlate(e) => Some(e.liobn),
            TraceEvent::DdwRemove(e) => Some(e.liobn),
            TraceEvent::DdwQuery(_) | TraceEvent::DdwCreate(_) | TraceEvent::DdwReset(_) => None,
        }
    }
}
