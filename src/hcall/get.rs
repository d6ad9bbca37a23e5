// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `H_GET_TCE(liobn, ioba) -> r4`.

use papr_hcall::{HcallOutcome, Ioba, Liobn};
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::Refusal;
use crate::accelerator::TceAccelerator;

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Checks: LIOBN of an active window, `ioba` aligned and inside the window, else
    /// H_PARAMETER (kernel-host.md §1.8). Returns the stored value in r4: 0 if never written,
    /// never read back from hardware (checklist item 15). Never H_PARTIAL: stored values are
    /// already guest-logical (qemu-and-guest.md §2.3).
    pub(super) fn get_tce(&self, liobn: Liobn, ioba: Ioba) -> Result<HcallOutcome, Refusal> {
        self.with_window(liobn, |window, _| {
            let index = window.geometry.first_index(ioba.0)?;
            Ok(HcallOutcome::with_value(window.table.get(index)))
        })
    }
}
