// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The accelerator's windows in the kernel: KVM guest-view tables with the PEs' VFIO groups
//! attached, so the kernel completes most TCE hcalls without a userspace exit.
//!
//! Build the accelerator with a [`KvmConfig`] ([`TceAccelerator::with_kvm`](crate::TceAccelerator::with_kvm)
//! or [`AcceleratorBuilder::kvm`](crate::AcceleratorBuilder::kvm)). Then (kernel-host.md §5.6):
//! * setup: capabilities probed; `H_PUT_TCE_INDIRECT`/`H_STUFF_TCE` enabled in the kernel if
//!   it implements them; each PE's VFIO groups added to the KVM-VFIO device (`FILE_ADD`);
//! * every window created (default windows, DDW create, reset): after its host window,
//!   `KVM_CREATE_SPAPR_TCE_64` with the same LIOBN and bus start, then `SET_SPAPR_TCE` for
//!   each group of the PE (§5.4: host start = bus offset, host page ≤ guest page, host size ≥
//!   guest size, which [`crate::HostWindow`] guarantees);
//! * every window removed (DDW remove, reset, shutdown): the kernel table is replaced by an
//!   in-process copy and released (LIOBN gone from the VM, VFIO detached) **before** the
//!   host window's entries are unmapped and the window removed (§5.5 last item);
//! * hcalls that still reach userspace ([`PaprHcallHandler`](crate::kvm::PaprHcallHandler)
//!   for the accelerator) are completed on the same shared table, re-programming unchanged
//!   entries too, since the kernel may have touched the hardware before punting (§5.5).
//!
//! Missing pieces degrade, each with a `log::warn!` naming it: without
//! `KVM_CAP_SPAPR_TCE_64` every table stays in userspace; without `KVM_CAP_SPAPR_TCE_VFIO`
//! (or without group fds for a PE, or when adding a group fails) only windows of PEs without a
//! container go to the kernel; a window whose table creation or `SET_SPAPR_TCE` fails keeps
//! an in-process table. A kernel table of a PE with a container is never left without its
//! VFIO groups: in-kernel `H_PUT_TCE` would then update only the guest view and the device's
//! DMA would silently miss its mappings.

mod handlers;
mod ops;
mod window_table;

use std::collections::HashMap;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;

pub use ops::{KvmTceOps, KvmVm};
pub use window_table::TableLocation;
pub(crate) use window_table::WindowTable;

use crate::config::PeConfig;
use crate::host_window::HostWindow;
use crate::kvm::{KvmTceCaps, KvmTceTable, KvmTceTableGeometry};
use crate::window::{Window, WindowGeometry};

/// A VFIO group fd, kept open by whoever owns it (an `Arc<VfioSpaprGroup>`, a `File`, ...).
pub(crate) type GroupHandle = Box<dyn AsFd + Send + Sync>;

/// How the accelerator uses KVM: the VM ([`KvmTceOps`], normally [`KvmVm`]) and, for every
/// PE with a VFIO container, the fds of its VFIO groups (the container does not expose them).
///
/// ```no_run
/// use std::sync::Arc;
/// use spapr_tce::kvm::{KvmConfig, KvmVm};
/// use spapr_tce::{PeConfig, TceAccelerator};
/// use vfio_spapr::VfioSpaprContainer;
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
/// # fn vm_fd() -> std::fs::File { unimplemented!() }
///
/// let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 30)])?;
/// let container = Arc::new(VfioSpaprContainer::open()?);
/// let group = container.add_group(12)?;
/// let buid = PeConfig::<()>::QEMU_BUID_BASE;
/// let kvm = KvmConfig::new(KvmVm::new(vm_fd())?).pe_group(buid, group);
/// let acc = TceAccelerator::builder(&mem)
///     .qemu_phb(0, Some(container))
///     .kvm(kvm)
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KvmConfig {
    ops: Box<dyn KvmTceOps>,
    pe_groups: HashMap<u64, Vec<GroupHandle>>,
    multitce: bool,
}

impl KvmConfig {
    /// KVM acceleration through `ops`, with no VFIO group known yet and the multi-TCE hcalls
    /// to be handled in the kernel when it can.
    pub fn new(ops: impl KvmTceOps + 'static) -> Self {
        Self {
            ops: Box::new(ops),
            pe_groups: HashMap::new(),
            multitce: true,
        }
    }

    /// Adds a VFIO group of the PE with `buid` (one of the groups attached to that PE's
    /// container). It must stay open as long as the accelerator; this keeps `group` (e.g. an
    /// `Arc<VfioSpaprGroup>`) for that.
    pub fn pe_group(mut self, buid: u64, group: impl AsFd + Send + Sync + 'static) -> Self {
        self.pe_groups
            .entry(buid)
            .or_default()
            .push(Box::new(group));
        self
    }

    /// Whether `H_PUT_TCE_INDIRECT` and `H_STUFF_TCE` are switched on in the kernel (default
    /// true; only done when [`KvmTceCaps::kernel_multitce`]). Off: they always exit to the
    /// VMM, which still handles them.
    pub fn in_kernel_multitce(mut self, enabled: bool) -> Self {
        self.multitce = enabled;
        self
    }
}

impl fmt::Debug for KvmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: HashMap<_, Vec<_>> = self
            .pe_groups
            .iter()
            .map(|(buid, groups)| {
                (
                    *buid,
                    groups.iter().map(|g| g.as_fd().as_raw_fd()).collect(),
                )
            })
            .collect();
        f.debug_struct("KvmConfig")
            .field("caps", &self.ops.caps())
            .field("pe_groups", &groups)
            .field("multitce", &self.multitce)
            .finish()
    }
}

impl<T: KvmTceOps + ?Sized> KvmTceOps for Arc<T> {
    fn caps(&self) -> KvmTceCaps {
        (**self).caps()
    }
    fn enable_multitce_hcalls(&self) -> Result<(), crate::kvm::KvmError> {
        (**self).enable_multitce_hcalls()
    }
    fn create_table(
        &self,
        geometry: KvmTceTableGeometry,
    ) -> Result<KvmTceTable, crate::kvm::KvmTableError> {
        (**self).create_table(geometry)
    }
    fn add_group(&self, group: std::os::fd::BorrowedFd<'_>) -> Result<(), crate::kvm::KvmError> {
        (**self).add_group(group)
    }
    fn attach_group(
        &self,
        group: std::os::fd::BorrowedFd<'_>,
        table: &KvmTceTable,
    ) -> Result<(), crate::kvm::KvmError> {
        (**self).attach_group(group, table)
    }
    fn release_table(&self, table: KvmTceTable) {
        (**self).release_table(table);
    }
}

/// The accelerator's KVM state.
pub(crate) struct KvmAcceleration {
    ops: Box<dyn KvmTceOps>,
    caps: KvmTceCaps,
}

impl KvmAcceleration {
    /// Setup, before any window exists: probes, switches the multi-TCE hcalls on, and adds
    /// the groups of each PE with a container to the KVM-VFIO device. Returns the groups that
    /// may be attached, by BUID; a PE missing there gets in-process tables.
    pub(crate) fn start<C>(
        config: KvmConfig,
        pes: &[PeConfig<C>],
    ) -> (Self, HashMap<u64, Vec<GroupHandle>>) {
        let KvmConfig {
            ops,
            mut pe_groups,
            multitce,
        } = config;
        let caps = ops.caps();
        let kvm = Self { ops, caps };
        let mut usable = HashMap::new();
        if !caps.kernel_tables() {
            log::warn!(
                "KVM: no KVM_CAP_SPAPR_TCE_64: every TCE table stays in userspace and every TCE \
                 hcall exits to the VMM"
            );
            return (kvm, usable);
        }
        kvm.enable_multitce(multitce);
        for pe in pes.iter().filter(|pe| pe.container.is_some()) {
            let groups = pe_groups.remove(&pe.buid).unwrap_or_default();
            if let Some(groups) = kvm.add_groups(pe.buid, groups) {
                usable.insert(pe.buid, groups);
            }
        }
        for buid in pe_groups.keys() {
            log::warn!("KVM: VFIO groups were given for BUID {buid:#x}, which is not a PE with a container; ignored");
        }
        (kvm, usable)
    }

    fn enable_multitce(&self, wanted: bool) {
        if !wanted {
            log::debug!("KVM: H_PUT_TCE_INDIRECT/H_STUFF_TCE left to the VMM by configuration");
        } else if !self.caps.kernel_multitce() {
            let missing = if self.caps.spapr_multitce {
                "KVM_CAP_PPC_ENABLE_HCALL"
            } else {
                "KVM_CAP_SPAPR_MULTITCE"
            };
            log::warn!("KVM: no {missing}: H_PUT_TCE_INDIRECT and H_STUFF_TCE exit to the VMM");
        } else if let Err(error) = self.ops.enable_multitce_hcalls() {
            log::warn!(
                "KVM: enabling in-kernel H_PUT_TCE_INDIRECT/H_STUFF_TCE failed, they exit to \
                 the VMM: {error}"
            );
        }
    }

    /// `FILE_ADD`s the groups of PE `buid`; `None` (with the reason logged) when its windows
    /// must stay in userspace.
    fn add_groups(&self, buid: u64, groups: Vec<GroupHandle>) -> Option<Vec<GroupHandle>> {
        if !self.caps.kernel_vfio() {
            log::warn!(
                "KVM: no KVM_CAP_SPAPR_TCE_VFIO: the windows of PE {buid:#x} (VFIO container) \
                 stay in userspace; only PEs without a container get KVM tables"
            );
            return None;
        }
        if groups.is_empty() {
            log::warn!(
                "KVM: no VFIO group fd given for PE {buid:#x} (KvmConfig::pe_group): its \
                 windows stay in userspace"
            );
            return None;
        }
        for group in &groups {
            if let Err(error) = self.ops.add_group(group.as_fd()) {
                log::warn!(
                    "KVM: KVM_DEV_VFIO_FILE_ADD of group fd {} of PE {buid:#x} failed, its \
                     windows stay in userspace: {error}",
                    group.as_fd().as_raw_fd()
                );
                return None;
            }
        }
        Some(groups)
    }

    /// The capabilities found at setup.
    pub(crate) fn caps(&self) -> KvmTceCaps {
        self.caps
    }

    /// The table for a new window, whose host window (for a PE with a container) already
    /// exists. `groups` is `None` for a PE without a container, else the PE's attachable
    /// groups (empty: none, see [`start`](Self::start)).
    pub(crate) fn table_for(
        &self,
        geometry: &WindowGeometry,
        host: Option<&HostWindow>,
        groups: Option<&[GroupHandle]>,
    ) -> WindowTable {
        let userspace = WindowTable::sparse(geometry.entries);
        let liobn = geometry.liobn;
        if !self.caps.kernel_tables() {
            return userspace;
        }
        if let Some(groups) = groups {
            if groups.is_empty() {
                log::debug!("{liobn}: table stays in userspace (no attachable VFIO group)");
                return userspace;
            }
            if let Err(reason) = check_host_window(geometry, host) {
                log::warn!("KVM: {liobn}: cannot attach VFIO ({reason}); table stays in userspace");
                return userspace;
            }
        }
        let kvm_geometry = KvmTceTableGeometry {
            liobn,
            page_shift: geometry.page_shift,
            bus_offset: geometry.bus_offset,
            entries: geometry.entries,
        };
        let table = match self.ops.create_table(kvm_geometry) {
            Ok(table) => table,
            Err(error) => {
                log::warn!("KVM: {liobn}: KVM_CREATE_SPAPR_TCE_64 failed, table stays in userspace: {error}");
                return userspace;
            }
        };
        for group in groups.unwrap_or_default() {
            if let Err(error) = self.ops.attach_group(group.as_fd(), &table) {
                log::warn!(
                    "KVM: {liobn}: SET_SPAPR_TCE of group fd {} failed, table stays in \
                     userspace: {error}",
                    group.as_fd().as_raw_fd()
                );
                self.ops.release_table(table);
                return userspace;
            }
        }
        log::debug!(
            "KVM: {liobn}: table in the kernel, {} VFIO group(s) attached",
            groups.map_or(0, <[_]>::len)
        );
        WindowTable::Kernel {
            table,
            vfio_attached: groups.is_some(),
        }
    }
}

/// kernel-host.md §5.4: the hardware table KVM attaches must start at the same bus address,
/// have pages no larger and cover at least the guest window.
fn check_host_window(geometry: &WindowGeometry, host: Option<&HostWindow>) -> Result<(), String> {
    let host = host.ok_or("no host window")?;
    if host.start != geometry.bus_offset {
        return Err(format!(
            "host window at {:#x}, guest window at {:#x}",
            host.start, geometry.bus_offset
        ));
    }
    if host.page_shift > geometry.page_shift.get() {
        return Err(format!(
            "host page 2^{} larger than guest page 2^{}",
            host.page_shift,
            geometry.page_shift.get()
        ));
    }
    if host.size < geometry.size() {
        return Err(format!(
            "host window {:#x} smaller than guest window {:#x}",
            host.size,
            geometry.size()
        ));
    }
    Ok(())
}

/// Moves `window`'s table out of the kernel (see [`WindowTable::take_kernel_table`]) and
/// releases the kernel table; nothing for an in-process table. Called before the host window
/// is emptied and removed (kernel-host.md §5.5 last item).
pub(crate) fn release_kernel_table(window: &mut Window, kvm: Option<&KvmAcceleration>) {
    let Some(table) = window.table.take_kernel_table() else {
        return;
    };
    log::debug!(
        "KVM: {}: table back in userspace, kernel table released",
        window.geometry.liobn
    );
    match kvm {
        Some(kvm) => kvm.ops.release_table(table),
        None => drop(table),
    }
}

#[cfg(test)]
mod tests {
    use papr_hcall::{Liobn, PageShift};

    use super::*;
    use crate::config::WindowConfig;

    fn guest(bus_offset: u64, size: u64, shift: u32) -> WindowGeometry {
        WindowGeometry::new(&WindowConfig {
            liobn: Liobn(0x8000_0001),
            bus_offset,
            size,
            page_shift: PageShift::new(shift).expect("page shift"),
        })
        .expect("geometry")
    }

    fn host(start: u64, size: u64, page_shift: u32) -> HostWindow {
        HostWindow {
            start,
            size,
            page_shift,
            levels: 1,
        }
    }

    #[test]
    fn host_window_must_match_for_set_spapr_tce() {
        let window = guest(1 << 59, 3 << 28, 16);
        assert_eq!(
            check_host_window(&window, Some(&host(1 << 59, 1 << 30, 12))),
            Ok(())
        );
        assert_eq!(
            check_host_window(&window, Some(&host(1 << 59, 1 << 30, 16))),
            Ok(())
        );
        for (bad, why) in [
            (None, "no host window"),
            (Some(host(0, 1 << 30, 12)), "host window at 0x0"),
            (Some(host(1 << 59, 1 << 30, 24)), "larger than guest page"),
            (
                Some(host(1 << 59, 1 << 29, 12)),
                "smaller than guest window",
            ),
        ] {
            let error = check_host_window(&window, bad.as_ref()).unwrap_err();
            assert!(error.contains(why), "{error}");
        }
    }
}
