// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `ibm,create-pe-dma-window` (qemu-and-guest.md §2.7).

use papr_hcall::rtas::ddw::{CreateArgs, CreateResult};
use papr_hcall::PageShift;
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::limits::DdwLimits;
use super::DdwRefusal;
use crate::accelerator::TceAccelerator;
use crate::config::WindowConfig;
use crate::pe::Pe;

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Checks, in order, each failure being -3 with nothing changed:
    /// 1. BUID of a PE with DDW on (QEMU: "PHB + ddw");
    /// 2. page shift in the query mask (QEMU: "page shift not in `pgsz`"; LoPAR);
    /// 3. window shift at least the page shift (QEMU; the 6.12 guest's window shift 0 from
    ///    `ibm,lrdr-capacity` = 0 stops here, qemu-and-guest.md §0 fact 9);
    /// 4. window shift at most the largest the PE can place now: configured maximum, bus
    ///    room at the next start, host IOMMU limits ([`DdwLimits::max_window_shift`];
    ///    LoPAR "too big", which QEMU does not check, §6 item 4);
    /// 5. TCE count at most the largest block query reports (LoPAR);
    /// 6. a free window slot (LoPAR "too many"; QEMU answers -1).
    ///
    /// Then the window goes to the default window's bus offset if no window is active, else
    /// to the PE's `dma64` address (QEMU, §2.7; see [`DdwLimits`] for the one addition), in the
    /// free slot (LIOBN of the DDW slot first). With a container the host window is created
    /// first, through the same path as every window (deterministic levels, §6 item 8), and
    /// must start at the chosen bus address; if TCE_CREATE fails or places it elsewhere, the
    /// host window is removed again and the guest gets -1 with nothing left behind (QEMU
    /// aborts the VM, §6 item 3). The new window is empty (QEMU skips the replay on create).
    pub(super) fn ddw_create(&self, args: &CreateArgs) -> Result<CreateResult, DdwRefusal> {
        let (pe, ddw) = self.ddw_pe(args.buid)?;
        let env = self.env();
        let mut windows = pe.lock();
        let limits = DdwLimits::new(pe, &ddw, &windows, env);
        let page_shift = PageShift::new(args.page_shift)
            .filter(|_| limits.page_sizes.contains_shift(args.page_shift))
            .ok_or(DdwRefusal::PageSizeNotOffered {
                page_shift: args.page_shift,
                offered: limits.page_sizes,
            })?;
        if args.window_shift < args.page_shift {
            return Err(DdwRefusal::WindowSmallerThanPage {
                window_shift: args.window_shift,
                page_shift: args.page_shift,
            });
        }
        let max = limits.max_window_shift(args.page_shift);
        if max.is_none_or(|max| args.window_shift > max) {
            return Err(DdwRefusal::WindowTooLarge {
                window_shift: args.window_shift,
                max,
            });
        }
        // Both are known to fit: window shift <= max <= 63.
        let (size, tces) = (
            1u64 << args.window_shift,
            1u64 << (args.window_shift - args.page_shift),
        );
        let largest = limits.largest_block();
        if tces > largest {
            return Err(DdwRefusal::MoreThanLargestBlock { tces, largest });
        }
        let (Some(slot), Some(start)) = (limits.free_slot, limits.start) else {
            return Err(DdwRefusal::NoFreeWindow);
        };
        let liobn = pe.slot_liobn(slot).ok_or(DdwRefusal::NoFreeWindow)?;
        let liobn_cell = u32::try_from(liobn.0).map_err(|_| DdwRefusal::LiobnTooWide(liobn))?;
        let config = WindowConfig {
            liobn,
            bus_offset: start,
            size,
            page_shift,
        };
        let info = Pe::create_locked(pe.backend.as_ref(), &mut windows, env, slot, &config)
            .map_err(DdwRefusal::Create)?;
        log::debug!(
            "ibm,create-pe-dma-window {}: {liobn} at {start:#x}, 2^{} bytes of 2^{} pages, host {:?}",
            args.buid,
            args.window_shift,
            args.page_shift,
            info.host
        );
        Ok(CreateResult {
            liobn: liobn_cell,
            start,
        })
    }
}
