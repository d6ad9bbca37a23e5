// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `H_STUFF_TCE(liobn, ioba, value, count)`.

use papr_hcall::{HcallOutcome, Ioba, Liobn, Tce, MAX_STUFF_TCES};
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
    /// Checks, in order:
    /// 1. LIOBN of an active window, else H_PARAMETER (LoPAR/QEMU);
    /// 2. `ioba` aligned to the window page and its entry inside the window, else
    ///    H_PARAMETER (LoPAR step 1 "LIOBN/IOBA range"; kernel-host.md §1.7 step 2);
    /// 3. `count > 512` → H_P4 (LoPAR 2.9 §14.5.4.2.4; the kernel has no limit);
    /// 4. the last entry inside the window, without overflow, else H_PARAMETER (LoPAR step 3;
    ///    checklist item 8 recommendation);
    /// 5. `value` with R or W → H_PARAMETER (§1.7 step 3, item 11: stuffing only clears);
    /// 6. `count == 0` → H_SUCCESS, nothing changes (§1.7 step 5).
    ///
    /// Then `value` is stored verbatim in every entry (item 14) and previously valid entries
    /// are unmapped, coalesced; clearing already-invalid entries costs no host call.
    pub(super) fn stuff_tce(
        &self,
        liobn: Liobn,
        ioba: Ioba,
        value: Tce,
        count: u64,
    ) -> Result<HcallOutcome, Refusal> {
        self.with_window(liobn, |window, backend| {
            let first = window.geometry.first_index(ioba.0)?;
            if count > MAX_STUFF_TCES {
                return Err(Refusal::StuffTooMany { count });
            }
            window.geometry.check_count(first, count)?;
            if value.is_valid() {
                return Err(Refusal::StuffWithPermission { value });
            }
            let mut old = [0u64; MAX_STUFF_TCES as usize];
            let old = &mut old[..count as usize];
            window.table.get_run(first, old);
            let updates: Vec<EntryUpdate> = (first..first + count)
                .zip(old.iter())
                .map(|(index, &old)| EntryUpdate {
                    index,
                    old,
                    new: value.0,
                    target: None,
                })
                .collect();
            self.commit(window, backend, &updates)?;
            Ok(HcallOutcome::SUCCESS)
        })
    }
}
