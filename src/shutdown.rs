// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Orderly teardown: give back everything the accelerator took from its containers.
//!
//! Closing a container file releases its windows and registrations in the kernel anyway
//! (kernel-host.md §3.6, §7 items 45 and 51), but a VMM that keeps the container (to hand it
//! to another accelerator, or to hot-unplug the PE's devices while the group stays open)
//! needs the explicit inverse of [`TceAccelerator::new`]: remove every host window
//! (`TCE_REMOVE` clears its entries and returns the window's locked_vm charge) and then
//! unregister the guest RAM (`UNREGISTER_MEMORY`, which the kernel refuses with EBUSY while
//! any entry still maps the region, §7 item 36). Windows go first for that reason.

use vfio_spapr::{IommuError, SpaprTceIommu};
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use crate::accelerator::TceAccelerator;
use crate::error::WindowError;

/// A step of [`TceAccelerator::shutdown`] that failed.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    /// Removing a window (its host window) failed; the window was kept.
    #[error("PE {buid:?}: removing window slot {slot}: {source}")]
    RemoveWindow {
        /// The PE (`None` for a VIO window).
        buid: Option<u64>,
        /// The window slot.
        slot: usize,
        /// What failed.
        source: WindowError,
    },
    /// Unregistering a guest RAM region failed.
    #[error("PE {buid:#x}: unregistering guest RAM {vaddr:#x}+{size:#x}: {source}")]
    Unregister {
        /// The PE.
        buid: u64,
        /// Host virtual address.
        vaddr: u64,
        /// Size in bytes.
        size: u64,
        /// The container error.
        source: IommuError,
    },
}

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Removes every window of every PE (host windows included) and unregisters the guest
    /// RAM from every container, leaving each container as it was before
    /// [`TceAccelerator::new`] attached it (empty, nothing charged to locked_vm).
    ///
    /// Best effort: every step is tried even after a failure; the first failure is returned.
    /// Call it once, when the guest is stopped: afterwards every TCE hypercall answers
    /// H_PARAMETER (no active window), and a second call fails with ENOENT from
    /// `UNREGISTER_MEMORY`.
    ///
    /// ```
    /// # #[cfg(feature = "model")] {
    /// use std::sync::Arc;
    /// use spapr_tce::{LiobnScheme, PeConfig, TceAccelerator, AcceleratorConfig};
    /// use vfio_spapr::model::{ModelContainer, PlatformProfile};
    /// use vm_memory::{GuestAddress, GuestMemoryMmap};
    ///
    /// let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();
    /// let model = Arc::new(ModelContainer::new(PlatformProfile::for_host(
    ///     1 << spapr_tce::ram::host_page_shift(),
    /// )));
    /// let acc = TceAccelerator::new(&mem, AcceleratorConfig {
    ///     pes: vec![PeConfig::qemu_phb(0, &LiobnScheme::QEMU, Some(model.clone()))],
    ///     ..Default::default()
    /// }).unwrap();
    /// assert!(model.locked_vm_pages() > 0);
    /// acc.shutdown().unwrap();
    /// assert!(acc.windows().is_empty());
    /// assert_eq!(model.locked_vm_pages(), 0);
    /// assert!(model.registrations().is_empty());
    /// # }
    /// ```
    pub fn shutdown(&self) -> Result<(), ShutdownError> {
        let mut first_error = None;
        let mut note = |error: ShutdownError| {
            log::warn!("shutdown: {error}");
            first_error.get_or_insert(error);
        };
        for pe in &self.pes {
            let slots: Vec<usize> = pe.window_infos().iter().map(|info| info.slot).collect();
            for slot in slots {
                if let Err(source) = pe.remove_window(self.env(), slot) {
                    note(ShutdownError::RemoveWindow {
                        buid: pe.buid,
                        slot,
                        source,
                    });
                }
            }
        }
        for pe in &self.pes {
            let (Some(backend), Some(buid)) = (&pe.backend, pe.buid) else {
                continue;
            };
            for region in self.ram.regions() {
                let Some(vaddr) = region.host_addr else {
                    continue;
                };
                if let Err(source) = backend.iommu.unregister_memory(vaddr, region.len) {
                    note(ShutdownError::Unregister {
                        buid,
                        vaddr,
                        size: region.len,
                        source,
                    });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
