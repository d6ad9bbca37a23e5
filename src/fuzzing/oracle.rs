// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The expected status of a TCE hypercall, derived from the reference rules independently of
//! the accelerator's code: the fuzzer compares every answer with it.
//!
//! Rules (all refusals are H_PARAMETER except one):
//! * LIOBN of no active window → H_PARAMETER (LoPAR 2.9 §14.5.4.2.1; QEMU; qemu-and-guest.md
//!   §2.2 step 1).
//! * IOBA not aligned to the window page, or its entry outside the window → H_PARAMETER
//!   (kernel-host.md §7 item 7).
//! * H_STUFF_TCE: count > 512 → **H_P4**, checked after the IOBA (LoPAR §14.5.4.2.4,
//!   qemu-and-guest.md §2.4); the last entry outside the window → H_PARAMETER (item 8
//!   recommendation); value with R or W → H_PARAMETER (item 11); count 0 → H_SUCCESS.
//! * H_PUT_TCE_INDIRECT: count > 512 or list not 4 KiB aligned → H_PARAMETER (item 9); range
//!   past the window end → H_PARAMETER (item 8); list page not guest RAM → H_PARAMETER
//!   (LoPAR "valid logical page"); count 0 → H_SUCCESS (item 10); any bad entry →
//!   H_PARAMETER with no change (item 17).
//! * A TCE with R or W must point to a page aligned to the window page (item 12) that lies in
//!   guest RAM as it is now, hotplug included (LoPAR: logical address outside the partition
//!   → H_PARAMETER). A TCE without R or W is always accepted (item 13). Every RAM region of
//!   the world is registered and serves 4 KiB IOMMU pages, so the registration rules
//!   (item 21) add nothing here.
//! * The TCE list must lie in the guest memory the hypervisor reads (boot RAM here).

use papr_hcall::{HcallRequest, HcallStatus, Tce, MAX_INDIRECT_TCES, MAX_STUFF_TCES};

use super::layout::REGIONS;
use super::world::{Geometry, World};

/// True when `[gpa, gpa + len)` lies inside one of `regions` (start, length).
pub fn in_regions(regions: &[(u64, u64)], gpa: u64, len: u64) -> bool {
    regions.iter().any(|&(start, size)| {
        gpa >= start && gpa.checked_add(len).is_some_and(|end| end <= start + size)
    })
}

/// True when `[gpa, gpa + len)` lies inside one region of the guest memory the hypervisor
/// reads (the boot RAM of the world).
pub fn in_ram(gpa: u64, len: u64) -> bool {
    in_regions(&REGIONS, gpa, len)
}

/// True when a TCE may be stored in a window of geometry `g` while the guest RAM is `ram`.
pub fn tce_acceptable(tce: u64, g: &Geometry, ram: &[(u64, u64)]) -> bool {
    let tce = Tce(tce);
    if !tce.is_valid() {
        return true;
    }
    let page = g.page_size();
    tce.address() & (page - 1) == 0 && in_regions(ram, tce.address(), page)
}

/// The status the rules give `request` in `world` (for INDIRECT, reading the list from guest
/// memory as it is now).
pub fn expected_status(world: &World, request: &HcallRequest) -> HcallStatus {
    const P: HcallStatus = HcallStatus::PARAMETER;
    const OK: HcallStatus = HcallStatus::SUCCESS;
    let Some(g) = world.geometry(request.liobn()) else {
        return P;
    };
    let ram = world.ram_regions();
    let within =
        |first: u64, count: u64| first.checked_add(count).is_some_and(|end| end <= g.entries);
    match *request {
        HcallRequest::GetTce { ioba, .. } => g.index(ioba.0).map_or(P, |_| OK),
        HcallRequest::PutTce { ioba, tce, .. } => match g.index(ioba.0) {
            Some(_) if tce_acceptable(tce.0, &g, &ram) => OK,
            _ => P,
        },
        HcallRequest::StuffTce {
            ioba, value, count, ..
        } => {
            let Some(first) = g.index(ioba.0) else {
                return P;
            };
            if count > MAX_STUFF_TCES {
                HcallStatus::P4
            } else if !within(first, count) || value.is_valid() {
                P
            } else {
                OK
            }
        }
        HcallRequest::PutTceIndirect {
            ioba, list, count, ..
        } => {
            if count > MAX_INDIRECT_TCES || list & 0xFFF != 0 {
                return P;
            }
            let Some(first) = g.index(ioba.0) else {
                return P;
            };
            if !within(first, count) || !in_ram(list, 4096) {
                return P;
            }
            match world.read_list(list, count) {
                Some(tces) if tces.iter().all(|&tce| tce_acceptable(tce, &g, &ram)) => OK,
                _ => P,
            }
        }
    }
}
