// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The public accelerator type.

use std::collections::HashMap;

use papr_hcall::{Ioba, Liobn, PageShift, Tce};
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use crate::builder::AcceleratorBuilder;
use crate::counters::{Counters, CountersSnapshot};
use crate::error::WindowError;
use crate::lifecycle::PublishedRam;
use crate::pe::{Pe, WindowEnv};
use crate::ram::RamMap;
use crate::table::nonzero_entries;
use crate::window::{Translation, WindowInfo};

/// Where a LIOBN leads: a PE and one of its window slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) pe: usize,
    pub(crate) slot: usize,
}

/// Executes the PAPR TCE hypercalls of one guest and keeps VFIO SPAPR TCE v2 containers in
/// step with them.
///
/// * `AS`: the guest's memory (vm-memory [`GuestAddressSpace`]); TCE lists are read through
///   it and its regions are pre-registered with every container at construction.
/// * `C`: the container type ([`SpaprTceIommu`]); PEs without a container serve emulated
///   devices only. Use [`NoContainer`](crate::NoContainer) when there are none at all.
///
/// All methods take `&self`; the accelerator is `Send + Sync` and meant to be shared by
/// all vCPU threads. Each PE's windows sit behind their own lock, and LIOBN lookup takes
/// no lock at all, so hypercalls to different PEs run in parallel.
///
/// ```
/// use papr_hcall::{HcallStatus, Ioba, Liobn, Tce, H_GET_TCE, H_PUT_TCE};
/// use spapr_tce::{NoContainer, TceAccelerator};
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();
/// let acc = TceAccelerator::<_, NoContainer>::builder(&mem)
///     .qemu_phb(0, None)
///     .build()
///     .unwrap();
/// let liobn = 0x8000_0000;
/// let put = acc.handle_hcall(H_PUT_TCE, &[liobn, 0x3000, 0x10_0003, 0, 0, 0, 0, 0, 0]).unwrap();
/// assert_eq!(put.status, HcallStatus::SUCCESS);
/// let get = acc.handle_hcall(H_GET_TCE, &[liobn, 0x3000, 0, 0, 0, 0, 0, 0, 0]).unwrap();
/// assert_eq!(get.r4, Some(0x10_0003));
/// let dma = acc.translate(Liobn(liobn), Ioba(0x3010)).unwrap();
/// assert_eq!(dma.guest_addr, 0x10_0010);
/// assert!(acc.handle_hcall(0x4, &[0; 9]).is_none(), "not a TCE hypercall");
/// ```
pub struct TceAccelerator<AS, C> {
    pub(crate) memory: AS,
    /// The current guest RAM map, replaceable by memory hotplug ([`crate::lifecycle`]).
    pub(crate) ram: PublishedRam,
    pub(crate) pes: Vec<Pe<C>>,
    /// Built once: the set of LIOBNs never changes, only whether their windows are active.
    pub(crate) routes: HashMap<u64, Route>,
    pub(crate) counters: Counters,
    pub(crate) host_page_shift: u32,
    /// DDW RTAS tokens and extensions (see [`crate::rtas`]).
    pub(crate) rtas: crate::rtas::RtasSettings,
    /// In-kernel TCE tables (see [`crate::kvm::KvmConfig`]); after `pes`, so that the
    /// windows' KVM tables are closed before the VM objects it holds.
    pub(crate) kvm: Option<crate::kvm::accel::KvmAcceleration>,
}

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// A builder for an accelerator over `memory`.
    pub fn builder(memory: AS) -> AcceleratorBuilder<AS, C> {
        AcceleratorBuilder::new(memory)
    }

    /// Translates a bus address of an emulated device through the guest view of its window.
    /// `None` when the LIOBN names no active window, the address is outside it, or the entry
    /// has neither R nor W.
    pub fn translate(&self, liobn: Liobn, ioba: Ioba) -> Option<Translation> {
        let (pe, slot) = self.route(liobn)?;
        let windows = pe.lock();
        windows.get(slot)?.translate(ioba.0)
    }

    /// The active window named by `liobn`.
    pub fn window(&self, liobn: Liobn) -> Option<WindowInfo> {
        let (pe, slot) = self.route(liobn)?;
        let windows = pe.lock();
        windows.get(slot).map(|window| window.info(slot))
    }

    /// The non-zero guest-view entries of the active window `liobn`, as `(index, TCE)` in
    /// index order (valid TCEs and verbatim values without permission bits).
    pub fn entries(&self, liobn: Liobn) -> Option<Vec<(u64, Tce)>> {
        let (pe, slot) = self.route(liobn)?;
        let windows = pe.lock();
        let window = windows.get(slot)?;
        Some(
            nonzero_entries(window.table.as_ref())
                .map(|(index, value)| (index, Tce(value)))
                .collect(),
        )
    }

    /// All active windows, PE by PE (VIO windows last).
    pub fn windows(&self) -> Vec<WindowInfo> {
        self.pes.iter().flat_map(Pe::window_infos).collect()
    }

    /// The container of the PE with `buid`, if it has one.
    pub fn container(&self, buid: u64) -> Option<&C> {
        self.pe_by_buid(buid)?
            .backend
            .as_ref()
            .map(|backend| &backend.iommu)
    }

    /// The guest RAM regions as registered with the containers now (memory hotplug may
    /// replace the map later; the returned one stays valid and unchanged).
    pub fn ram(&self) -> &RamMap {
        &self.ram
    }

    /// The guest memory.
    pub fn memory(&self) -> &AS {
        &self.memory
    }

    /// The host page shift used for RAM page sizes and table levels.
    pub fn host_page_shift(&self) -> u32 {
        self.host_page_shift
    }

    /// A copy of the counters.
    pub fn counters(&self) -> CountersSnapshot {
        self.counters.snapshot()
    }

    pub(crate) fn route(&self, liobn: Liobn) -> Option<(&Pe<C>, usize)> {
        let route = self.routes.get(&liobn.0)?;
        Some((self.pes.get(route.pe)?, route.slot))
    }

    pub(crate) fn pe_by_buid(&self, buid: u64) -> Option<&Pe<C>> {
        self.pes.iter().find(|pe| pe.buid == Some(buid))
    }

    pub(crate) fn env(&self) -> WindowEnv<'_> {
        WindowEnv {
            ram: &self.ram,
            host_page_shift: self.host_page_shift,
            counters: &self.counters,
            kvm: self.kvm.as_ref(),
        }
    }

    /// Creates a window in `slot` of the PE `buid` (for the DDW RTAS calls).
    #[allow(dead_code)]
    pub(crate) fn create_window(
        &self,
        buid: u64,
        slot: usize,
        bus_offset: u64,
        page_shift: PageShift,
        size: u64,
    ) -> Result<WindowInfo, WindowError> {
        let pe = self.pe_by_buid(buid).ok_or(WindowError::UnknownPe(buid))?;
        pe.create_window(self.env(), slot, bus_offset, page_shift, size)
    }

    /// Removes the window in `slot` of the PE `buid` (for the DDW RTAS calls).
    #[allow(dead_code)]
    pub(crate) fn remove_window(&self, buid: u64, slot: usize) -> Result<(), WindowError> {
        let pe = self.pe_by_buid(buid).ok_or(WindowError::UnknownPe(buid))?;
        pe.remove_window(self.env(), slot)
    }

    /// Removes every window of the PE `buid` and recreates its default window.
    #[allow(dead_code)]
    pub(crate) fn reset_pe(&self, buid: u64) -> Result<WindowInfo, WindowError> {
        let pe = self.pe_by_buid(buid).ok_or(WindowError::UnknownPe(buid))?;
        pe.reset_to_default(self.env())
    }
}

impl<AS, C> std::fmt::Debug for TceAccelerator<AS, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TceAccelerator")
            .field("pes", &self.pes.len())
            .field("liobns", &self.routes.len())
            .field("ram_regions", &self.ram.regions().len())
            .field("host_page_shift", &self.host_page_shift)
            .finish_non_exhaustive()
    }
}
