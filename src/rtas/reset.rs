// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `ibm,reset-pe-dma-window` (qemu-and-guest.md §2.9).

use papr_hcall::rtas::ddw::ResetArgs;
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::DdwRefusal;
use crate::accelerator::TceAccelerator;

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// BUID of a PE with DDW on, else -3 (QEMU `rtas_ibm_reset_pe_dma_window`). Then every
    /// window, the default one included, is torn down like a removed window (entries
    /// unmapped, coalesced; host window removed) and the default window is recreated empty
    /// (LoPAR 2.7: "remove all DDWs and restore the default window"; QEMU
    /// `spapr_phb_dma_reset`). Resetting a PE that only has its default window therefore
    /// clears it, and a second reset succeeds like the first. On a host failure the guest
    /// gets -1; windows already torn down stay removed, the others are untouched, and the
    /// guest view matches the hardware.
    ///
    /// The 4-argument limited-addressing form (LoPAR 2.13) is not advertised, so it never
    /// gets here (the decoder answers -3, like QEMU).
    pub(super) fn ddw_reset(&self, args: &ResetArgs) -> Result<(), DdwRefusal> {
        let (pe, _) = self.ddw_pe(args.buid)?;
        let mut windows = pe.lock();
        let active: Vec<usize> = windows.iter().map(|(slot, _)| slot).collect();
        for slot in active {
            self.tear_down(pe, &mut windows, slot)?;
        }
        self.restore_default_window(pe, &mut windows)?;
        log::debug!(
            "ibm,reset-pe-dma-window {}: default window {} restored",
            args.buid,
            pe.default_window.liobn
        );
        Ok(())
    }
}
