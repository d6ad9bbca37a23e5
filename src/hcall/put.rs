// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `H_PUT_TCE(liobn, ioba, tce)`.

use papr_hcall::{HcallOutcome, Ioba, Liobn, Tce};
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::Refusal;
use crate::accelerator::TceAccelerator;
use crate::mapping::EntryUpdate;

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Checks, in order (kernel-host.md §1.5):
    /// 1. LIOBN of an active window, else H_PARAMETER (LoPAR/QEMU; KVM would exit to us);
    /// 2. `ioba` aligned to the window page and inside the window, else H_PARAMETER
    ///    (§1.5 step 2);
    /// 3. a TCE with R or W: page-aligned address, whole page in guest RAM and, with a
    ///    container, in one registered region serving the host IOMMU page, else H_PARAMETER
    ///    (KVM punts these, §1.5 step 3; LoPAR: logical address outside the partition →
    ///    H_PARAMETER). A TCE without R or W is stored verbatim and unmaps (item 13).
    pub(super) fn put_tce(
        &self,
        liobn: Liobn,
        ioba: Ioba,
        tce: Tce,
    ) -> Result<HcallOutcome, Refusal> {
        self.with_window(liobn, |window, backend| {
            let index = window.geometry.first_index(ioba.0)?;
            let target = Self::check_tce(window, &self.ram, 0, tce)?;
            let update = EntryUpdate {
                index,
                old: window.table.get(index),
                new: tce.0,
                target,
            };
            self.commit(window, backend, &[update])?;
            Ok(HcallOutcome::SUCCESS)
        })
    }
}
