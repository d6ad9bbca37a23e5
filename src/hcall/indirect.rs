// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `H_PUT_TCE_INDIRECT(liobn, ioba, list, count)`.

use papr_hcall::{HcallOutcome, Ioba, Liobn, Tce, MAX_INDIRECT_TCES};
use vfio_spapr::SpaprTceIommu;
use vm_memory::{Bytes, GuestAddress, GuestAddressSpace, GuestMemoryBackend};

use super::linear::fast_path_enabled;
use super::Refusal;
use crate::accelerator::TceAccelerator;
use crate::mapping::{EntryUpdate, TceChecker};
use crate::ram::RamMap;

/// The list is one 4 KiB page (kernel-host.md §2.5).
const LIST_PAGE: u64 = 4096;

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Checks, in order (kernel-host.md §1.6, checklist items 9–10, 16–19):
    /// 1. LIOBN of an active window, else H_PARAMETER (LoPAR/QEMU);
    /// 2. `count > 512` → H_PARAMETER (§1.6 step 2);
    /// 3. `list & 0xFFF` → H_PARAMETER (§1.6 step 3);
    /// 4. `ioba` aligned, first and last entry inside the window, no overflow, else
    ///    H_PARAMETER (§1.6 step 4, item 8 recommendation);
    /// 5. the whole 4 KiB list page is guest RAM, else H_PARAMETER (LoPAR "valid logical
    ///    page"; KVM checks the memslot here too, step 5, before looking at `count`);
    /// 6. `count == 0` → H_SUCCESS, nothing changes (item 10);
    /// 7. the big-endian list is copied **once** into a private buffer (the guest may change
    ///    it concurrently; LoPAR), and every entry is validated from that copy like an
    ///    `H_PUT_TCE` TCE, else H_PARAMETER with no change at all (item 17).
    ///
    /// Lists of consecutive pages with one permission, and uniform clears, are carried out
    /// run-wise when the old entries allow it (`linear.rs`), with the same outcome.
    ///
    /// Entries without R or W are stored verbatim and unmap (item 19 recommendation: no
    /// permission-less hardware entries, no leaked references).
    pub(super) fn put_tce_indirect(
        &self,
        liobn: Liobn,
        ioba: Ioba,
        list: u64,
        count: u64,
    ) -> Result<HcallOutcome, Refusal> {
        self.with_window(liobn, |window, backend| {
            if count > MAX_INDIRECT_TCES {
                return Err(Refusal::IndirectTooMany { count });
            }
            if list & (LIST_PAGE - 1) != 0 {
                return Err(Refusal::ListMisaligned { list });
            }
            let first = window.geometry.first_index(ioba.0)?;
            window.geometry.check_count(first, count)?;
            let memory = self.memory.memory();
            if !GuestMemoryBackend::check_range(&*memory, GuestAddress(list), LIST_PAGE as usize) {
                return Err(Refusal::ListNotRam { list });
            }
            if count == 0 {
                return Ok(HcallOutcome::SUCCESS);
            }
            let mut raw = [0u8; LIST_PAGE as usize];
            let raw = &mut raw[..count as usize * 8];
            memory
                .read_slice(raw, GuestAddress(list))
                .map_err(|_| Refusal::ListNotRam { list })?;
            let mut tces = [0u64; MAX_INDIRECT_TCES as usize];
            let tces = &mut tces[..count as usize];
            for (tce, bytes) in tces.iter_mut().zip(raw.chunks_exact(8)) {
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                *tce = u64::from_be_bytes(be);
            }
            let mut old = [0u64; MAX_INDIRECT_TCES as usize];
            let old = &mut old[..count as usize];
            window.table.get_run(first, old);
            if fast_path_enabled() && self.try_uniform_list(window, backend, first, tces, old)? {
                return Ok(HcallOutcome::SUCCESS);
            }
            let ram: &RamMap = &self.ram;
            let mut checker = TceChecker::new(
                window.geometry.page_shift,
                ram,
                window.host.map(|host| host.page_shift),
            );
            let mut updates = Vec::with_capacity(count as usize);
            for (position, ((index, &tce), &old)) in
                (first..).zip(tces.iter()).zip(old.iter()).enumerate()
            {
                let tce = Tce(tce);
                updates.push(EntryUpdate {
                    index,
                    old,
                    new: tce.0,
                    target: None,
                });
                let Some(update) = updates.last_mut() else {
                    continue;
                };
                if let Err(source) = checker.check_into(tce, &mut update.target) {
                    return Err(Refusal::BadTce {
                        position: position as u64,
                        tce,
                        source,
                    });
                }
            }
            self.commit(window, backend, &updates)?;
            Ok(HcallOutcome::SUCCESS)
        })
    }
}
