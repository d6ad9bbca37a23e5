// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The bodies of the backend ioctls (`tce_iommu_ioctl` in 6.12
//! `drivers/vfio/vfio_iommu_spapr_tce.c`), with the checks in the order of kernel-host.md
//! §3.4, plus group detach and release (§3.6).

use std::collections::BTreeSet;

use super::counters::ModelCounters;
use super::faults::FaultPlan;
use super::hw_table::Extent;
use super::process::{MmState, ProcessId};
use super::profile::PlatformProfile;
use super::window::{Window, SLOTS};
use crate::{DmaAccess, SpaprIommuInfo, WindowRequest};

/// Backend state of one container (`struct tce_container`, §3.3).
#[derive(Debug)]
pub(crate) struct ContainerState {
    /// The simulated process making the calls.
    pub caller: ProcessId,
    /// `container->mm`: the process the container is bound to.
    pub bound: Option<ProcessId>,
    /// Set by the first successful REGISTER_MEMORY, never cleared.
    pub enabled: bool,
    /// The default window will be created by the next MAP/UNMAP/CREATE.
    pub def_window_pending: bool,
    /// `tables[2]`.
    pub windows: [Option<Window>; SLOTS],
    /// `prereg_list`: (vaddr, size) of the regions this container references.
    pub prereg: BTreeSet<(u64, u64)>,
    /// Attached groups.
    pub groups: u32,
    /// The last group left: the backend is gone.
    pub released: bool,
    pub counters: ModelCounters,
    pub faults: FaultPlan,
}

impl ContainerState {
    /// A freshly SET_IOMMU'd v2 backend with one group and the default window pending.
    pub fn new(caller: ProcessId) -> Self {
        Self {
            caller,
            bound: None,
            enabled: false,
            def_window_pending: true,
            windows: [None, None],
            prereg: BTreeSet::new(),
            groups: 1,
            released: false,
            counters: ModelCounters::default(),
            faults: FaultPlan::default(),
        }
    }

    /// The slot of the window containing `iova` (`tce_iommu_find_table`).
    pub fn find_window(&self, iova: u64) -> Option<usize> {
        (0..SLOTS).find(|slot| {
            self.windows[*slot]
                .as_ref()
                .is_some_and(|w| w.contains(iova))
        })
    }
}

/// One ioctl's view of the container and its process's `mm`.
pub(crate) struct Backend<'a> {
    pub cs: &'a mut ContainerState,
    pub mm: &'a mut MmState,
    pub profile: &'a PlatformProfile,
}

impl Backend<'_> {
    /// What every backend ioctl does first: EINVAL without a backend (container.c, §3.2);
    /// EPERM when bound to another process; `binds` for REGISTER/CREATE/REMOVE
    /// (`tce_iommu_mm_set`, §7 item 32: the binding stays even if the call then fails).
    fn enter(&mut self, binds: bool) -> Result<(), i32> {
        if self.cs.released {
            return Err(libc::EINVAL);
        }
        match self.cs.bound {
            Some(bound) if bound != self.cs.caller => Err(libc::EPERM),
            Some(_) => Ok(()),
            None => {
                if binds {
                    self.cs.bound = Some(self.cs.caller);
                }
                Ok(())
            }
        }
    }

    /// GET_INFO (§3.4): does not bind, works before REGISTER.
    pub fn get_info(&mut self) -> Result<SpaprIommuInfo, i32> {
        self.enter(false)?;
        Ok(self.profile.info())
    }

    /// REGISTER_MEMORY (§3.4 steps 1–6, §4.2).
    pub fn register(&mut self, vaddr: u64, size: u64) -> Result<(), i32> {
        self.enter(true)?;
        let page_size = self.profile.host_page_size();
        if vaddr % page_size != 0 || size % page_size != 0 || vaddr.checked_add(size).is_none() {
            return Err(libc::EINVAL);
        }
        if self.mm.mm_iommu.get_exact(vaddr, size).is_some() {
            if self.cs.prereg.contains(&(vaddr, size)) {
                return Err(libc::EBUSY);
            }
            self.mm.mm_iommu.add_user(vaddr);
        } else {
            let MmState {
                mm_iommu,
                locked_vm,
                backing,
            } = &mut *self.mm;
            let spans = backing.walk(vaddr, vaddr + size, self.profile.host_page_shift);
            mm_iommu.create(locked_vm, vaddr, size, self.profile.host_page_shift, &spans)?;
        }
        self.cs.prereg.insert((vaddr, size));
        self.cs.enabled = true;
        Ok(())
    }

    /// UNREGISTER_MEMORY (§3.4, §7 item 36).
    pub fn unregister(&mut self, vaddr: u64, size: u64) -> Result<(), i32> {
        self.enter(false)?;
        if self.cs.bound.is_none() {
            return Err(libc::EPERM);
        }
        let page_size = self.profile.host_page_size();
        if vaddr % page_size != 0 || size % page_size != 0 {
            return Err(libc::EINVAL);
        }
        if self.mm.mm_iommu.get_exact(vaddr, size).is_none()
            || !self.cs.prereg.contains(&(vaddr, size))
        {
            return Err(libc::ENOENT);
        }
        let MmState {
            mm_iommu,
            locked_vm,
            ..
        } = &mut *self.mm;
        mm_iommu.put(vaddr, locked_vm, self.profile.host_page_shift)?;
        self.cs.prereg.remove(&(vaddr, size));
        Ok(())
    }

    /// TCE_CREATE (§3.4 steps 1–11).
    pub fn create_window(&mut self, request: WindowRequest) -> Result<u64, i32> {
        self.enter(true)?;
        self.materialise_default_window()?;
        let slot = self.free_slot()?;
        self.create_in_slot(slot, request, false)
    }

    /// TCE_REMOVE (§3.4, §7 item 39).
    pub fn remove_window(&mut self, start_addr: u64) -> Result<(), i32> {
        self.enter(true)?;
        if self.cs.def_window_pending && start_addr == 0 {
            self.cs.def_window_pending = false;
            return Ok(());
        }
        let slot = self.cs.find_window(start_addr).ok_or(libc::EINVAL)?;
        if let Some(mut window) = self.cs.windows[slot].take() {
            self.clear_window(&mut window);
            self.mm.locked_vm.uncharge(window.charged_pages);
        }
        Ok(())
    }

    /// MAP_DMA (§3.4 steps 1–8, §7 items 41, 42, 44).
    ///
    /// Deviation (§7 item 35, "Recommendation:"): the model never reports partial success;
    /// a region cannot be half torn down here because unregistering is atomic.
    pub fn map_dma(
        &mut self,
        iova: u64,
        size: u64,
        vaddr: u64,
        access: DmaAccess,
    ) -> Result<(), i32> {
        self.enter(false)?;
        if !self.cs.enabled {
            return Err(libc::EPERM);
        }
        self.materialise_default_window()?;
        let slot = self.cs.find_window(iova).ok_or(libc::ENXIO)?;
        let Some(window) = self.cs.windows[slot].as_mut() else {
            return Err(libc::ENXIO);
        };
        let page_shift = window.page_shift;
        let page_mask = (1u64 << page_shift) - 1;
        if size & page_mask != 0 || vaddr & page_mask != 0 {
            return Err(libc::EINVAL);
        }
        let (first, pages) = window.entry_range(iova, size)?;
        let check = self.mm.mm_iommu.check_map(vaddr, pages, page_shift);
        let mm_iommu = &mut self.mm.mm_iommu;
        if let Some(errno) = check.error {
            // The kernel wrote pages 0..good, then clears them: old contents are lost.
            let cleared = window
                .table
                .clear(first, check.good, |r, n| mm_iommu.mapped_dec(r, n));
            self.cs.counters.entries_unmapped += cleared;
            return Err(errno);
        }
        let cleared = window
            .table
            .clear(first, pages, |r, n| mm_iommu.mapped_dec(r, n));
        let stored = if access == DmaAccess::Write && self.profile.write_only_as_read_write {
            DmaAccess::ReadWrite
        } else {
            access
        };
        for chunk in &check.chunks {
            window.table.insert(
                first + chunk.first,
                Extent {
                    pages: chunk.pages,
                    vaddr: vaddr + (chunk.first << page_shift),
                    access: stored,
                    region: chunk.region,
                },
            );
            mm_iommu.mapped_inc(chunk.region, chunk.pages);
        }
        self.cs.counters.entries_unmapped += cleared;
        self.cs.counters.entries_mapped += pages;
        Ok(())
    }

    /// UNMAP_DMA (§3.4 steps 1–7, §7 item 43).
    pub fn unmap_dma(&mut self, iova: u64, size: u64) -> Result<(), i32> {
        self.enter(false)?;
        if !self.cs.enabled {
            return Err(libc::EPERM);
        }
        self.materialise_default_window()?;
        let slot = self.cs.find_window(iova).ok_or(libc::ENXIO)?;
        let Some(window) = self.cs.windows[slot].as_mut() else {
            return Err(libc::ENXIO);
        };
        if size & ((1u64 << window.page_shift) - 1) != 0 {
            return Err(libc::EINVAL);
        }
        let (first, pages) = window.entry_range(iova, size)?;
        let mm_iommu = &mut self.mm.mm_iommu;
        let cleared = window
            .table
            .clear(first, pages, |r, n| mm_iommu.mapped_dec(r, n));
        self.cs.counters.entries_unmapped += cleared;
        Ok(())
    }

    /// A group other than the last leaves (6.11+, §3.6): every window is emptied, the
    /// windows stay.
    pub fn detach_group(&mut self) {
        for slot in 0..SLOTS {
            if let Some(mut window) = self.cs.windows[slot].take() {
                self.clear_window(&mut window);
                self.cs.windows[slot] = Some(window);
            }
        }
    }

    /// The last group leaves (`tce_iommu_release`, §3.2, §7 item 45): windows emptied and
    /// freed, their charges returned, every registration reference dropped. A region still
    /// mapped by another container stays registered (the kernel warns and keeps it).
    pub fn release(&mut self) {
        for slot in 0..SLOTS {
            if let Some(mut window) = self.cs.windows[slot].take() {
                self.clear_window(&mut window);
                self.mm.locked_vm.uncharge(window.charged_pages);
            }
        }
        let MmState {
            mm_iommu,
            locked_vm,
            ..
        } = &mut *self.mm;
        for (vaddr, _) in std::mem::take(&mut self.cs.prereg) {
            if let Err(errno) = mm_iommu.put(vaddr, locked_vm, self.profile.host_page_shift) {
                log::debug!("model: release keeps region {vaddr:#x}: errno {errno}");
            }
        }
        self.cs.def_window_pending = false;
        self.cs.bound = None;
        self.cs.groups = 0;
        self.cs.released = true;
    }

    /// Clears every entry of `window`, dropping the regions' `mapped` references.
    fn clear_window(&mut self, window: &mut Window) {
        let mm_iommu = &mut self.mm.mm_iommu;
        let cleared = window.table.clear_all(|r, n| mm_iommu.mapped_dec(r, n));
        self.cs.counters.entries_unmapped += cleared;
    }

    /// First free slot, 0 then 1; ENOSPC when both are used.
    fn free_slot(&self) -> Result<usize, i32> {
        (0..SLOTS)
            .find(|slot| self.cs.windows[*slot].is_none())
            .ok_or(libc::ENOSPC)
    }

    /// `tce_iommu_create_default_window`: 4 KiB pages, `dma32_window_size`, 1 level; its
    /// error is the caller's error and the window stays pending.
    fn materialise_default_window(&mut self) -> Result<(), i32> {
        if !self.cs.def_window_pending {
            return Ok(());
        }
        let request = WindowRequest {
            page_shift: 12,
            window_size: u64::from(self.profile.dma32_window_size),
            levels: 1,
        };
        let slot = self.free_slot()?;
        self.create_in_slot(slot, request, true)?;
        self.cs.def_window_pending = false;
        Ok(())
    }

    /// `tce_iommu_create_window` from step 6 on.
    ///
    /// Deviation (§7 item 40, "Recommendation:"): when the platform refuses after the
    /// locked_vm charge, the model returns the charge; the kernel leaks it.
    fn create_in_slot(
        &mut self,
        slot: usize,
        request: WindowRequest,
        is_default: bool,
    ) -> Result<u64, i32> {
        if !self.profile.supports_page_shift(request.page_shift) {
            return Err(libc::EINVAL);
        }
        let charge = self
            .profile
            .window_locked_pages(request.page_shift, request.window_size, request.levels)
            .ok_or(libc::EINVAL)?;
        self.mm.locked_vm.charge(charge)?;
        let placement = match self.profile.place_window(slot, &request, &self.cs.windows) {
            Ok(placement) => placement,
            Err(errno) => {
                self.mm.locked_vm.uncharge(charge);
                return Err(errno);
            }
        };
        self.cs.windows[slot] = Some(Window {
            start: placement.start,
            page_shift: request.page_shift,
            size: request.window_size,
            hw_entries: placement.hw_entries,
            levels: request.levels,
            is_default,
            charged_pages: charge,
            kind: placement.kind,
            table: super::hw_table::HwTable::new(request.page_shift),
        });
        Ok(placement.start)
    }
}
