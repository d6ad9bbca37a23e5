// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `ibm,query-pe-dma-window` (qemu-and-guest.md §2.6).

use papr_hcall::rtas::ddw::{QueryArgs, QueryResult};
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::limits::DdwLimits;
use super::DdwRefusal;
use crate::accelerator::TceAccelerator;

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Answers, in order:
    /// 1. BUID of no PE, or DDW off for it (not configured, or a container that cannot
    ///    create windows) → -3 (QEMU `rtas_ibm_query_pe_dma_window`);
    /// 2. windows available = free window slots, also bounded by the host's
    ///    `max_dynamic_windows_supported` (LoPAR: "additional windows"; QEMU: 2 − enabled);
    /// 3. largest block = TCEs of the largest window the PE could create now at the smallest
    ///    offered page size, from the real limits ([`DdwLimits::largest_block`]; QEMU answers
    ///    a constant, qemu-and-guest.md §6 item 5); the 5-cell form clamps it to 32 bits;
    /// 4. page-size mask = the configured sizes (QEMU `pgsz`) that the host IOMMU and the RAM
    ///    backing can serve (qemu-and-guest.md §6 item 5; QEMU does not filter);
    /// 5. migration mask 0, like QEMU.
    pub(super) fn ddw_query(&self, args: &QueryArgs) -> Result<QueryResult, DdwRefusal> {
        let (pe, ddw) = self.ddw_pe(args.buid)?;
        let windows = pe.lock();
        let limits = DdwLimits::new(pe, &ddw, &windows, self.env());
        let result = QueryResult {
            windows_available: limits.windows_available,
            largest_block: limits.largest_block(),
            page_sizes: limits.page_sizes,
            migration_capable: 0,
        };
        log::debug!(
            "ibm,query-pe-dma-window {}: {} windows available, largest block {:#x}, pages {}",
            args.buid,
            result.windows_available,
            result.largest_block,
            result.page_sizes
        );
        Ok(result)
    }
}
