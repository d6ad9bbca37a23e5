// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Whole-world checks run after every step and at teardown.
//!
//! Besides [`check_invariants`] (hardware == guest view translated):
//! * every valid guest-view entry points to a page aligned to its window page inside guest
//!   RAM (LoPAR; kernel-host.md §7 item 12);
//! * every live hardware entry lies inside registered guest RAM and allows no more than the
//!   guest TCE covering it (PowerNV's write-only stored as read-write excepted, item 44);
//! * the registrations are exactly the RAM regions, shared by both containers, and each
//!   region's `mapped` is 1 + the live hardware entries into it from both containers
//!   (items 34, 47);
//! * locked_vm equals the registrations plus the windows' table charges (item 51);
//! * the accelerator's backend and hypercall counters match the model's and the calls made.

use std::collections::BTreeSet;

use vfio_spapr::model::{ModelContainer, RegionSnapshot};
use vfio_spapr::DmaAccess;

use super::failure::Violation;
use super::layout::{PE0_DDW, PE0_DEFAULT, PE1_DDW, PE1_DEFAULT};
use super::oracle::tce_acceptable;
use super::shadow::Shadow;
use super::world::World;
use crate::check::check_invariants;
use crate::HcallKind;

/// Hypercalls issued per kind (put, get, stuff, indirect), to compare with the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Per [`HcallKind`], in the order put, get, stuff, indirect.
    pub hcalls: [u64; 4],
}

impl Tally {
    /// Counts one hypercall.
    pub fn count(&mut self, kind: HcallKind) {
        self.hcalls[Self::index(kind)] += 1;
    }

    fn index(kind: HcallKind) -> usize {
        match kind {
            HcallKind::PutTce => 0,
            HcallKind::GetTce => 1,
            HcallKind::StuffTce => 2,
            HcallKind::PutTceIndirect => 3,
        }
    }
}

/// Runs every check. `tainted` skips the exact hardware comparisons after a step in which
/// the host refused both an operation and its rollback (the accelerator's documented limit,
/// `mapping/apply.rs`): stale entries may then remain until the window goes, and may outlive
/// their own container's registration reference (never the process's pinning).
pub fn check_world(
    world: &World,
    shadow: &Shadow,
    tainted: bool,
    leaked: &BTreeSet<(u64, u64)>,
    tally: &Tally,
) -> Result<(), Violation> {
    shadow.compare(world)?;
    guest_view_points_to_ram(shadow, &world.ram_regions())?;
    if !tainted {
        check_invariants(&world.acc).map_err(Violation::Invariants)?;
    }
    for pe in 0..2 {
        if tainted {
            hardware_inside_process_registrations(world, pe)?;
        } else {
            hardware_inside_registered_ram(world, pe)?;
            hardware_permissions(world, shadow, pe)?;
        }
    }
    accounting_with_leaks(world, leaked, tainted)?;
    counters(world, tally)
}

/// Valid entries point to aligned pages of guest RAM (`ram`: the regions now).
pub fn guest_view_points_to_ram(shadow: &Shadow, ram: &[(u64, u64)]) -> Result<(), Violation> {
    for (&liobn, window) in &shadow.windows {
        for (&index, &tce) in &window.entries {
            if !tce_acceptable(tce, &window.geometry, ram) {
                return Err(Violation::GuestView {
                    liobn: papr_hcall::Liobn(liobn),
                    detail: format!("entry {index} = {tce:#x} does not point to a RAM page"),
                });
            }
        }
    }
    Ok(())
}

fn registered(container: &ModelContainer) -> Vec<RegionSnapshot> {
    container
        .registrations()
        .into_iter()
        .filter(|r| r.in_this_container)
        .collect()
}

/// Every hardware page of PE `pe` lies in a region registered by its container.
pub fn hardware_inside_registered_ram(world: &World, pe: usize) -> Result<(), Violation> {
    hardware_inside(world, pe, &registered(&world.containers[pe]))
}

/// Every hardware page of PE `pe` lies in a region the process has registered (through any
/// container): what still holds after the documented rollback limit, when a stale entry may
/// outlive its container's reference but never the pinning.
pub fn hardware_inside_process_registrations(world: &World, pe: usize) -> Result<(), Violation> {
    hardware_inside(world, pe, &world.containers[pe].registrations())
}

fn hardware_inside(world: &World, pe: usize, regions: &[RegionSnapshot]) -> Result<(), Violation> {
    for extent in world.containers[pe].hw_extents() {
        let end = extent.vaddr + (extent.pages << extent.page_shift);
        // Walk the extent region by region (an extent may run across adjacent regions).
        let mut cursor = extent.vaddr;
        while cursor < end {
            let Some(region) = regions
                .iter()
                .find(|r| cursor >= r.vaddr && cursor < r.vaddr + r.size)
            else {
                return Err(Violation::OutsideRam {
                    pe,
                    iova: extent.iova + (cursor - extent.vaddr),
                    vaddr: cursor,
                });
            };
            cursor = end.min(region.vaddr + region.size);
        }
    }
    Ok(())
}

/// True when hardware permission `hw` is no wider than TCE permission bits `tce`.
fn permitted(hw: DmaAccess, tce: u64, write_as_rw: bool) -> bool {
    let Some(guest) = DmaAccess::from_tce_bits(tce) else {
        return false;
    };
    hw == guest || (write_as_rw && guest == DmaAccess::Write && hw == DmaAccess::ReadWrite)
}

/// Every hardware page of PE `pe` allows no more than the guest TCE covering its bus address.
pub fn hardware_permissions(world: &World, shadow: &Shadow, pe: usize) -> Result<(), Violation> {
    let container = &world.containers[pe];
    let write_as_rw = container.profile().write_only_as_read_write;
    let liobns = [[PE0_DEFAULT, PE0_DDW], [PE1_DEFAULT, PE1_DDW]][pe];
    let windows: Vec<_> = liobns.iter().filter_map(|&l| shadow.window(l)).collect();
    for extent in container.hw_extents() {
        let end = extent.iova + (extent.pages << extent.page_shift);
        // One check per guest page: a guest page is never smaller than the host page.
        let mut iova = extent.iova;
        while iova < end {
            let covering = windows.iter().find_map(|w| {
                let g = &w.geometry;
                let index = iova.checked_sub(g.bus_offset)? >> g.page_shift;
                (index < g.entries).then(|| (w.get(index), g.ioba(index) + g.page_size()))
            });
            let (tce, next) = covering.unwrap_or((0, end));
            if !permitted(extent.access, tce, write_as_rw) {
                return Err(Violation::WiderPermission {
                    pe,
                    iova,
                    hw: extent.access,
                    tce,
                });
            }
            iova = next;
        }
    }
    Ok(())
}

/// Live hardware pages of `container` whose host address lies in `region`.
fn live_pages_in(container: &ModelContainer, region: &RegionSnapshot) -> u64 {
    container
        .hw_extents()
        .iter()
        .map(|e| {
            let page = 1u64 << e.page_shift;
            let start = e.vaddr.max(region.vaddr);
            let end = (e.vaddr + e.pages * page).min(region.vaddr + region.size);
            end.saturating_sub(start) / page
        })
        .sum()
}

/// Registrations, `mapped` counts and locked_vm.
pub fn accounting(world: &World) -> Result<(), Violation> {
    accounting_with_leaks(world, &BTreeSet::new(), false)
}

/// [`accounting`], where `leaked` (host address, length) are registrations the accelerator
/// knowingly lost track of (a failed `UNREGISTER_MEMORY` during hot-remove, see
/// [`Runner`](super::Runner)): they may remain, without any live entry unless `tainted`
/// (stale entries of the rollback limit, [`check_world`]).
pub fn accounting_with_leaks(
    world: &World,
    leaked: &BTreeSet<(u64, u64)>,
    tainted: bool,
) -> Result<(), Violation> {
    let fail = |detail: String| Err(Violation::Accounting(detail));
    let ram: BTreeSet<(u64, u64)> = world
        .acc
        .ram()
        .regions()
        .iter()
        .filter_map(|r| Some((r.host_addr?, r.len)))
        .collect();
    let expected: BTreeSet<(u64, u64)> = ram.union(leaked).copied().collect();
    let regions = world.containers[0].registrations();
    let found: BTreeSet<(u64, u64)> = regions.iter().map(|r| (r.vaddr, r.size)).collect();
    if found != expected {
        return fail(format!(
            "registrations {found:x?}, expected the RAM regions {ram:x?} (leaked {leaked:x?})"
        ));
    }
    for container in &world.containers {
        let referenced: BTreeSet<(u64, u64)> = registered(container)
            .iter()
            .map(|r| (r.vaddr, r.size))
            .collect();
        if !tainted && !ram.is_subset(&referenced) {
            return fail("a container does not reference every RAM region".to_string());
        }
    }
    let host_page = world.containers[0].profile().host_page_size();
    let mut locked = 0;
    for region in &regions {
        let live: u64 = world
            .containers
            .iter()
            .map(|c| live_pages_in(c, region))
            .sum();
        let is_ram = ram.contains(&(region.vaddr, region.size));
        if is_ram && region.used != 2 && !tainted {
            return fail(format!(
                "region {:#x}: used {}, expected 2 (both containers)",
                region.vaddr, region.used
            ));
        }
        if region.mapped != 1 + live || (!is_ram && live != 0 && !tainted) {
            return fail(format!(
                "region {:#x}: mapped {}, {live} live entries (RAM: {is_ram})",
                region.vaddr, region.mapped
            ));
        }
        locked += region.size / host_page;
    }
    for container in &world.containers {
        locked += container
            .windows()
            .iter()
            .map(|w| w.locked_pages)
            .sum::<u64>();
    }
    let charged = world.process.locked_vm_pages();
    if charged != locked {
        return fail(format!(
            "locked_vm {charged} pages, registrations and windows account for {locked}"
        ));
    }
    Ok(())
}

/// The accelerator's counters against the models' and the hypercalls issued.
pub fn counters(world: &World, tally: &Tally) -> Result<(), Violation> {
    let snapshot = world.acc.counters();
    let backend = snapshot.backend;
    let models: Vec<_> = world.containers.iter().map(|c| c.counters()).collect();
    let sum = |f: fn(&vfio_spapr::model::ModelCounters) -> u64| models.iter().map(f).sum::<u64>();
    let pairs = [
        ("map_dma", backend.map_dma, sum(|m| m.map_dma.calls())),
        (
            "map_dma_failed",
            backend.map_dma_failed,
            sum(|m| m.map_dma.failed),
        ),
        ("unmap_dma", backend.unmap_dma, sum(|m| m.unmap_dma.calls())),
        (
            "unmap_dma_failed",
            backend.unmap_dma_failed,
            sum(|m| m.unmap_dma.failed),
        ),
        (
            "create_window",
            backend.create_window,
            sum(|m| m.create_window.calls()),
        ),
        (
            "remove_window",
            backend.remove_window,
            sum(|m| m.remove_window.calls()),
        ),
        (
            "register_memory",
            backend.register_memory,
            sum(|m| m.register_memory.calls()),
        ),
    ];
    for (what, accelerator, model) in pairs {
        if accelerator != model {
            return Err(Violation::Counters(format!(
                "{what}: accelerator counted {accelerator}, the containers saw {model}"
            )));
        }
    }
    let kinds = [
        HcallKind::PutTce,
        HcallKind::GetTce,
        HcallKind::StuffTce,
        HcallKind::PutTceIndirect,
    ];
    for (kind, issued) in kinds.into_iter().zip(tally.hcalls) {
        let counted = snapshot.hcall(kind).total();
        if counted != issued {
            return Err(Violation::Counters(format!(
                "{kind:?}: counted {counted}, issued {issued}"
            )));
        }
    }
    Ok(())
}

/// After [`TceAccelerator::shutdown`](crate::TceAccelerator::shutdown): no window, no
/// hardware entry, no registration but the `leaked` ones, nothing charged but those; and once
/// the containers are released (closed), nothing at all.
pub fn nothing_left(world: &World, leaked: &BTreeSet<(u64, u64)>) -> Result<(), Violation> {
    let fail = |detail: String| Err(Violation::Teardown(detail));
    if !world.acc.windows().is_empty() {
        return fail(format!("guest windows left: {:?}", world.acc.windows()));
    }
    for (pe, container) in world.containers.iter().enumerate() {
        if !container.windows().is_empty() || container.mapped_pages() != 0 {
            return fail(format!(
                "PE {pe}: host windows {:?}, {} live entries",
                container.windows(),
                container.mapped_pages()
            ));
        }
    }
    let registrations: BTreeSet<(u64, u64)> = world.containers[0]
        .registrations()
        .iter()
        .map(|r| (r.vaddr, r.size))
        .collect();
    if &registrations != leaked {
        return fail(format!(
            "registrations left: {registrations:x?} (known leaked: {leaked:x?})"
        ));
    }
    let host_page = world.containers[0].profile().host_page_size();
    let leaked_pages: u64 = leaked.iter().map(|(_, len)| len / host_page).sum();
    let charged = world.process.locked_vm_pages();
    if charged != leaked_pages {
        return fail(format!("{charged} pages still charged to locked_vm"));
    }
    for container in &world.containers {
        container.release();
    }
    match world.process.locked_vm_pages() {
        0 => Ok(()),
        pages => fail(format!(
            "{pages} pages charged after the containers were released"
        )),
    }
}
