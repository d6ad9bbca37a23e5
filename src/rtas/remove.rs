// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `ibm,remove-pe-dma-window` (qemu-and-guest.md §2.8), and the window tear-down that
//! remove and reset share.

use papr_hcall::rtas::ddw::RemoveArgs;
use papr_hcall::Tce;
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::{ddw_config, DdwRefusal};
use crate::accelerator::TceAccelerator;
use crate::pe::{Pe, PeWindows, DEFAULT_SLOT};

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Checks, in order, each failure being -3 with nothing changed (QEMU
    /// `rtas_ibm_remove_pe_dma_window`):
    /// 1. the LIOBN names a window slot of some PE;
    /// 2. that PE has DDW on (a PHB, not a VIO window; configured; host can create windows);
    /// 3. the slot holds an active window.
    ///
    /// Then the window is torn down (below) and, if no window remains and the removed one was
    /// not the default window, the default window is restored (LoPAR: "the platform must
    /// restore the default window"; QEMU since 2022). Removing the default window itself is
    /// allowed: Linux does it when query reports no window available (kernel-host.md
    /// Appendix A).
    ///
    /// LoPAR makes the caller clear the window first, QEMU does not check; here whatever the
    /// window still maps is unmapped through the coalescing path (one `UNMAP_DMA` per run),
    /// then its host window is removed. On a host failure the guest gets -1 and the window
    /// stays, its guest view matching the hardware (entries already unmapped read 0).
    pub(super) fn ddw_remove(&self, args: &RemoveArgs) -> Result<(), DdwRefusal> {
        let (pe, slot) = self
            .route(args.window())
            .ok_or(DdwRefusal::UnknownLiobn(args.liobn))?;
        if pe.buid.is_none() || ddw_config(pe).is_err() {
            return Err(DdwRefusal::NotDdwWindow(args.liobn));
        }
        let mut windows = pe.lock();
        let window = windows
            .get(slot)
            .ok_or(DdwRefusal::InactiveWindow(args.liobn))?;
        let was_default = slot == DEFAULT_SLOT && is_default_window(pe, window);
        self.tear_down(pe, &mut windows, slot)?;
        if windows.iter().next().is_none() && !was_default {
            self.restore_default_window(pe, &mut windows)?;
            log::debug!(
                "ibm,remove-pe-dma-window {:#x}: last window removed, default window {} restored",
                args.liobn,
                pe.default_window.liobn
            );
        }
        Ok(())
    }

    /// Recreates the PE's default window in slot 0 (empty): what LoPAR requires after the
    /// last non-default window is removed, and what a reset does.
    pub(super) fn restore_default_window(
        &self,
        pe: &Pe<C>,
        windows: &mut PeWindows,
    ) -> Result<(), DdwRefusal> {
        Pe::create_locked(
            pe.backend.as_ref(),
            windows,
            self.env(),
            DEFAULT_SLOT,
            &pe.default_window,
        )
        .map(|_| ())
        .map_err(DdwRefusal::RestoreDefault)
    }

    /// Empties the window in `slot` and removes it with its host window.
    ///
    /// Valid entries are cleared through the shared batch-clearing path (coalesced
    /// `UNMAP_DMA` calls, restored on failure, each successful batch cleared in the guest view
    /// at once), so the two views agree whatever fails. Then TCE_REMOVE; if it fails the window
    /// stays (empty in both views).
    pub(super) fn tear_down(
        &self,
        pe: &Pe<C>,
        windows: &mut PeWindows,
        slot: usize,
    ) -> Result<(), DdwRefusal> {
        // The kernel table goes first, so nothing but this call changes the window now.
        windows.release_kernel_table(slot, self.env());
        if let (Some(backend), Some(window)) = (pe.backend.as_ref(), windows.get_mut(slot)) {
            if window.host.is_some() {
                self.clear_entries(window, Some(&backend.iommu), Tce::is_valid)
                    .map_err(DdwRefusal::Unmap)?;
            }
        }
        pe.remove_locked(windows, self.env(), slot)
            .map_err(DdwRefusal::Remove)
    }
}

/// True when `window` is the PE's default window: slot 0 with the geometry of
/// `ibm,dma-window`. (A dynamic window the guest created in slot 0 with exactly that geometry
/// counts as the default too; restoring it would recreate the same window.)
fn is_default_window<C>(pe: &Pe<C>, window: &crate::window::Window) -> bool {
    let geometry = &window.geometry;
    geometry.bus_offset == pe.default_window.bus_offset
        && geometry.page_shift == pe.default_window.page_shift
        && geometry.size() == pe.default_window.size
}
