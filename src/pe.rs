// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! A Partitionable Endpoint: its window slots, its optional host container, and the window
//! operations the DDW RTAS calls need (create, remove, reset to the default window).
//!
//! Each PE has two window slots, like QEMU's two TCE tables per PHB and the two hardware
//! windows (TVEs) of a PowerNV PE (qemu-and-guest.md §0 fact 1, kernel-host.md §3.5).
//! Slot 0 is named by the default window's LIOBN and slot 1 by the DDW LIOBN; which slot
//! a dynamic window goes to, and at which bus address, is the DDW code's decision.
//! All window state of a PE sits behind one mutex: hypercalls to different PEs run in
//! parallel.

use std::sync::{Mutex, MutexGuard};

use papr_hcall::{Liobn, PageShift};
use vfio_spapr::{SpaprIommuInfo, SpaprTceIommu};

use crate::config::{DdwConfig, WindowConfig};
use crate::counters::Counters;
use crate::error::WindowError;
use crate::host_window;
use crate::kvm::accel::{self, GroupHandle, KvmAcceleration, WindowTable};
use crate::ram::RamMap;
use crate::window::{Window, WindowGeometry, WindowInfo};

/// Number of window slots per PE.
pub(crate) const SLOT_COUNT: usize = 2;
/// The slot of the default window.
pub(crate) const DEFAULT_SLOT: usize = 0;
/// The slot named by the DDW LIOBN.
pub(crate) const DDW_SLOT: usize = 1;

/// The host side of a PE with passed-through devices.
pub(crate) struct PeBackend<C> {
    pub(crate) iommu: C,
    pub(crate) info: SpaprIommuInfo,
    /// The PE's VFIO groups, added to KVM, that new KVM tables get attached to; empty when
    /// its windows keep their tables in userspace.
    pub(crate) kvm_groups: Vec<GroupHandle>,
}

/// What window operations need from the accelerator.
#[derive(Clone, Copy)]
pub(crate) struct WindowEnv<'a> {
    pub(crate) ram: &'a RamMap,
    pub(crate) host_page_shift: u32,
    pub(crate) counters: &'a Counters,
    /// KVM acceleration, if the accelerator has it.
    pub(crate) kvm: Option<&'a KvmAcceleration>,
}

/// The window slots of a PE, locked.
pub(crate) struct PeWindows {
    slots: [Option<Window>; SLOT_COUNT],
}

impl PeWindows {
    pub(crate) fn get(&self, slot: usize) -> Option<&Window> {
        self.slots.get(slot)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut Window> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// Moves the table of the window in `slot` out of the kernel and releases the kernel
    /// table, before that window's host window is emptied or removed (kernel-host.md §5.5:
    /// close the KVM table before TCE_REMOVE; afterwards hcalls for it reach the VMM, which
    /// serialises them with the removal under the PE lock).
    pub(crate) fn release_kernel_table(&mut self, slot: usize, env: WindowEnv<'_>) {
        if let Some(window) = self.get_mut(slot) {
            accel::release_kernel_table(window, env.kvm);
        }
    }

    /// Active windows with their slots.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Window)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, window)| window.as_ref().map(|w| (slot, w)))
    }
}

/// One PE (or one VIO window, which is a PE without BUID, DDW or container).
pub(crate) struct Pe<C> {
    /// First, so that it is dropped first: KVM tables go before the container behind them.
    windows: Mutex<PeWindows>,
    pub(crate) buid: Option<u64>,
    pub(crate) backend: Option<PeBackend<C>>,
    pub(crate) default_window: WindowConfig,
    pub(crate) ddw: Option<DdwConfig>,
}

impl<C: SpaprTceIommu> Pe<C> {
    /// A PE with no active window yet.
    pub(crate) fn new(
        buid: Option<u64>,
        backend: Option<PeBackend<C>>,
        default_window: WindowConfig,
        ddw: Option<DdwConfig>,
    ) -> Self {
        Self {
            buid,
            backend,
            default_window,
            ddw,
            windows: Mutex::new(PeWindows {
                slots: [None, None],
            }),
        }
    }

    /// Locks the window slots. A panic while locked cannot leave them inconsistent (updates
    /// are committed after all fallible work), so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, PeWindows> {
        self.windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The LIOBN naming `slot`, if the PE has that slot.
    pub(crate) fn slot_liobn(&self, slot: usize) -> Option<Liobn> {
        match slot {
            DEFAULT_SLOT => Some(self.default_window.liobn),
            DDW_SLOT => self.ddw.map(|ddw| ddw.liobn),
            _ => None,
        }
    }

    /// Slots that exist and hold no window.
    #[allow(dead_code)] // For ibm,query-pe-dma-window, which comes later.
    pub(crate) fn free_slots(&self) -> Vec<usize> {
        let windows = self.lock();
        (0..SLOT_COUNT)
            .filter(|&slot| self.slot_liobn(slot).is_some() && windows.get(slot).is_none())
            .collect()
    }

    /// Snapshots of the active windows.
    pub(crate) fn window_infos(&self) -> Vec<WindowInfo> {
        self.lock()
            .iter()
            .map(|(slot, window)| window.info(slot))
            .collect()
    }

    /// Creates an empty window in `slot` (with its host window when the PE has a container).
    pub(crate) fn create_window(
        &self,
        env: WindowEnv<'_>,
        slot: usize,
        bus_offset: u64,
        page_shift: PageShift,
        size: u64,
    ) -> Result<WindowInfo, WindowError> {
        let liobn = self.slot_liobn(slot).ok_or(WindowError::NoSuchSlot(slot))?;
        let mut windows = self.lock();
        Self::create_locked(
            self.backend.as_ref(),
            &mut windows,
            env,
            slot,
            &WindowConfig {
                liobn,
                bus_offset,
                size,
                page_shift,
            },
        )
    }

    /// [`create_window`](Self::create_window) with the slots already locked (the DDW RTAS
    /// calls decide slot and placement under the same lock).
    pub(crate) fn create_locked(
        backend: Option<&PeBackend<C>>,
        windows: &mut PeWindows,
        env: WindowEnv<'_>,
        slot: usize,
        config: &WindowConfig,
    ) -> Result<WindowInfo, WindowError> {
        let entry = windows
            .slots
            .get_mut(slot)
            .ok_or(WindowError::NoSuchSlot(slot))?;
        if entry.is_some() {
            return Err(WindowError::SlotInUse(slot));
        }
        let geometry = WindowGeometry::new(config)?;
        let host = match backend {
            Some(backend) => Some(host_window::create(
                &backend.iommu,
                &backend.info,
                &geometry,
                env.ram.min_iommu_shift(),
                env.host_page_shift,
                env.counters,
            )?),
            None => None,
        };
        // After the host window, which KVM's SET_SPAPR_TCE needs (kernel-host.md §5.4).
        let table = match env.kvm {
            Some(kvm) => kvm.table_for(
                &geometry,
                host.as_ref(),
                backend.map(|backend| backend.kvm_groups.as_slice()),
            ),
            None => WindowTable::sparse(geometry.entries),
        };
        let window = Window::with_table(geometry, table, host);
        let info = window.info(slot);
        *entry = Some(window);
        Ok(info)
    }

    /// Removes the window in `slot`; its host window (and so every hardware entry) goes too.
    /// A KVM table is released first (kernel-host.md §5.5). If the host refuses, the window
    /// is kept (with an in-process copy of its entries).
    pub(crate) fn remove_window(&self, env: WindowEnv<'_>, slot: usize) -> Result<(), WindowError> {
        let mut windows = self.lock();
        self.remove_locked(&mut windows, env, slot)
    }

    /// [`remove_window`](Self::remove_window) with the slots already locked.
    pub(crate) fn remove_locked(
        &self,
        windows: &mut PeWindows,
        env: WindowEnv<'_>,
        slot: usize,
    ) -> Result<(), WindowError> {
        let entry = windows
            .slots
            .get_mut(slot)
            .ok_or(WindowError::NoSuchSlot(slot))?;
        let window = entry.as_mut().ok_or(WindowError::SlotEmpty(slot))?;
        accel::release_kernel_table(window, env.kvm);
        if let (Some(backend), Some(host)) = (&self.backend, &window.host) {
            host_window::remove(&backend.iommu, host, env.counters).map_err(WindowError::Remove)?;
        }
        *entry = None;
        Ok(())
    }

    /// Removes every window and recreates the default one (PHB reset,
    /// `ibm,reset-pe-dma-window`, removal of the last dynamic window; qemu-and-guest.md §2.8,
    /// §2.9).
    pub(crate) fn reset_to_default(&self, env: WindowEnv<'_>) -> Result<WindowInfo, WindowError> {
        let mut windows = self.lock();
        for slot in 0..SLOT_COUNT {
            if windows.get(slot).is_some() {
                self.remove_locked(&mut windows, env, slot)?;
            }
        }
        Self::create_locked(
            self.backend.as_ref(),
            &mut windows,
            env,
            DEFAULT_SLOT,
            &self.default_window,
        )
    }
}
