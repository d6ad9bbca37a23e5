// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Restoring a snapshot into a newly built accelerator with the same configuration.
//!
//! Everything is checked before anything changes: format version, the PE list (BUIDs,
//! default windows, DDW LIOBNs), each window (slot and LIOBN agree, geometry valid, a
//! "default" window has the configured geometry) and each entry (index inside the window,
//! increasing; valid TCEs page-aligned and in guest RAM, as H_PUT_TCE checks them). Then, per
//! PE, windows go through the same creation path as `ibm,create-pe-dma-window` (host window
//! included) and the valid entries through [`HostMapper::replay`], the coalescing path the
//! hypercalls use: runs contiguous in bus and host address become single `MAP_DMA` calls.
//! Hardware is programmed before the guest view, as for every hypercall.

use papr_hcall::Liobn;
use vfio_spapr::{IommuError, SpaprTceIommu};
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::snapshot::{
    is_default, window_config, AcceleratorSnapshot, PeSnapshot, WindowKind, WindowSnapshot,
    SNAPSHOT_VERSION,
};
use crate::accelerator::TceAccelerator;
use crate::error::WindowError;
use crate::mapping::{check_tce, HostMapper};
use crate::pe::{Pe, PeWindows, SLOT_COUNT};
use crate::table::TceStore;
use crate::window::WindowGeometry;

/// Why a snapshot cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Taken by a format version this crate does not restore. Nothing changed.
    #[error("snapshot format version {found} is not supported (this build restores version {supported})")]
    UnsupportedVersion {
        /// The snapshot's version.
        found: u32,
        /// The version this crate restores.
        supported: u32,
    },
    /// The snapshot was taken from a differently configured accelerator. Nothing changed.
    #[error("PE #{index}: the snapshot's {what} is {snapshot}, this accelerator's is {accelerator}; restore needs the same configuration")]
    ConfigMismatch {
        /// Position of the PE (PCI PEs first, then VIO windows).
        index: usize,
        /// What differs.
        what: &'static str,
        /// The snapshot's value.
        snapshot: String,
        /// This accelerator's value.
        accelerator: String,
    },
    /// A window or entry of the snapshot is impossible for its PE. Nothing changed.
    #[error("window {liobn} (slot {slot}): {reason}")]
    InvalidWindow {
        /// The window's LIOBN.
        liobn: Liobn,
        /// Its slot.
        slot: usize,
        /// What is wrong.
        reason: String,
    },
    /// The accelerator already carries guest state. Nothing changed.
    #[error("PE #{index}: {reason}; restore only into a newly built accelerator")]
    NotFresh {
        /// Position of the PE.
        index: usize,
        /// What is there.
        reason: &'static str,
    },
    /// Creating or removing a window failed (host window). PEs before it are restored.
    #[error("window {liobn}: {source}")]
    Window {
        /// The window.
        liobn: Liobn,
        /// What failed.
        source: WindowError,
    },
    /// A `MAP_DMA` failed; this window's guest view stays empty, matching the hardware.
    #[error("window {liobn}: mapping the restored entries: {source}")]
    Map {
        /// The window.
        liobn: Liobn,
        /// The container error.
        source: IommuError,
    },
    /// Entries that translate to guest RAM cannot be mapped by this host (a registered region
    /// too small for the host IOMMU page, or a page spanning two regions); they were left out
    /// (read 0), the rest of the window is restored.
    #[error(
        "window {liobn}: {count} entries cannot be mapped on this host (first: entry {first})"
    )]
    Unmappable {
        /// The window.
        liobn: Liobn,
        /// How many.
        count: usize,
        /// The first one's index.
        first: u64,
    },
}

fn mismatch<T: std::fmt::Debug>(
    index: usize,
    what: &'static str,
    snapshot: T,
    accelerator: T,
) -> RestoreError {
    RestoreError::ConfigMismatch {
        index,
        what,
        snapshot: format!("{snapshot:x?}"),
        accelerator: format!("{accelerator:x?}"),
    }
}

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Restores `snapshot` into this accelerator, which must be newly built (each PE with
    /// only its empty default window) from the same configuration and guest RAM layout as the
    /// one the snapshot was taken from. Everything is checked before anything changes: the
    /// format version, the PEs (BUIDs, default windows, DDW LIOBNs), each window's slot, LIOBN
    /// and geometry, and each entry (inside its window, in increasing order, valid TCEs aligned
    /// and in guest RAM).
    ///
    /// On a host failure the PEs restored so far stay restored and the failing window's guest
    /// view matches its hardware; discard the accelerator (dropping it closes nothing the
    /// VMM does not own: containers are closed by their owner).
    pub fn restore(&self, snapshot: &AcceleratorSnapshot) -> Result<(), RestoreError> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(RestoreError::UnsupportedVersion {
                found: snapshot.version,
                supported: SNAPSHOT_VERSION,
            });
        }
        if snapshot.pes.len() != self.pes.len() {
            return Err(mismatch(
                snapshot.pes.len().min(self.pes.len()),
                "number of PEs and VIO windows",
                snapshot.pes.len(),
                self.pes.len(),
            ));
        }
        let mut locked = self.lock_all_pes();
        for (index, ((pe, saved), windows)) in
            self.pes.iter().zip(&snapshot.pes).zip(&locked).enumerate()
        {
            self.validate_pe(index, pe, saved)?;
            check_fresh(index, pe, windows)?;
        }
        for ((pe, saved), windows) in self.pes.iter().zip(&snapshot.pes).zip(locked.iter_mut()) {
            self.restore_pe(pe, saved, windows)?;
        }
        log::info!(
            "restored {} windows with {} entries",
            snapshot.windows().count(),
            snapshot.windows().map(|w| w.entries.len()).sum::<usize>()
        );
        Ok(())
    }

    fn validate_pe(
        &self,
        index: usize,
        pe: &Pe<C>,
        saved: &PeSnapshot,
    ) -> Result<(), RestoreError> {
        if saved.buid != pe.buid {
            return Err(mismatch(index, "BUID", saved.buid, pe.buid));
        }
        if saved.default_window != pe.default_window {
            return Err(mismatch(
                index,
                "default window",
                saved.default_window,
                pe.default_window,
            ));
        }
        let ddw_liobn = pe.ddw.map(|ddw| ddw.liobn);
        if saved.ddw_liobn != ddw_liobn {
            return Err(mismatch(index, "DDW LIOBN", saved.ddw_liobn, ddw_liobn));
        }
        let mut slots_seen = [false; SLOT_COUNT];
        for window in &saved.windows {
            let invalid = |reason: String| RestoreError::InvalidWindow {
                liobn: window.config.liobn,
                slot: window.slot,
                reason,
            };
            match slots_seen.get_mut(window.slot) {
                Some(seen) if !*seen => *seen = true,
                _ => return Err(invalid("slot does not exist or appears twice".into())),
            }
            if pe.slot_liobn(window.slot) != Some(window.config.liobn) {
                return Err(invalid(format!(
                    "this PE names slot {} {:?}",
                    window.slot,
                    pe.slot_liobn(window.slot)
                )));
            }
            if window.kind == WindowKind::Default
                && (window.slot != 0 || window.config != pe.default_window)
            {
                return Err(invalid(
                    "a default window must have the configured geometry".into(),
                ));
            }
            let geometry =
                WindowGeometry::new(&window.config).map_err(|e| invalid(e.to_string()))?;
            self.validate_entries(window, &geometry).map_err(invalid)?;
        }
        Ok(())
    }

    /// Entries strictly increasing inside the window; valid TCEs aligned and in guest RAM.
    fn validate_entries(
        &self,
        window: &WindowSnapshot,
        geometry: &WindowGeometry,
    ) -> Result<(), String> {
        let mut previous = None;
        for &(index, tce) in &window.entries {
            if index >= geometry.entries || previous.is_some_and(|p| index <= p) {
                return Err(format!(
                    "entry {index} is out of order or outside the window"
                ));
            }
            previous = Some(index);
            check_tce(tce, geometry.page_shift, &self.ram, None)
                .map_err(|error| format!("entry {index} ({tce}): {error}"))?;
        }
        Ok(())
    }

    /// Brings one PE from its fresh state to the saved one.
    fn restore_pe(
        &self,
        pe: &Pe<C>,
        saved: &PeSnapshot,
        windows: &mut PeWindows,
    ) -> Result<(), RestoreError> {
        let env = self.env();
        for slot in 0..SLOT_COUNT {
            let wanted = saved.windows.iter().find(|w| w.slot == slot);
            let have = windows.get(slot).map(window_config);
            if have == wanted.map(|w| w.config) {
                continue;
            }
            if let Some(config) = have {
                pe.remove_locked(windows, env, slot)
                    .map_err(|source| RestoreError::Window {
                        liobn: config.liobn,
                        source,
                    })?;
            }
            if let Some(window) = wanted {
                Pe::create_locked(pe.backend.as_ref(), windows, env, slot, &window.config)
                    .map_err(|source| RestoreError::Window {
                        liobn: window.config.liobn,
                        source,
                    })?;
            }
        }
        for saved_window in &saved.windows {
            self.fill_window(pe, windows, saved_window)?;
        }
        Ok(())
    }

    /// Maps the saved valid entries (coalesced), then writes the guest view.
    fn fill_window(
        &self,
        pe: &Pe<C>,
        windows: &mut PeWindows,
        saved: &WindowSnapshot,
    ) -> Result<(), RestoreError> {
        let liobn = saved.config.liobn;
        let Some(window) = windows.get_mut(saved.slot) else {
            return Ok(());
        };
        let mut skipped = Vec::new();
        if let (Some(backend), Some(host)) = (pe.backend.as_ref(), window.host.as_ref()) {
            let mapper = HostMapper {
                iommu: &backend.iommu,
                host,
                geometry: &window.geometry,
                ram: &self.ram,
                counters: &self.counters,
            };
            let valid = saved
                .entries
                .iter()
                .copied()
                .filter(|(_, tce)| tce.is_valid());
            skipped = mapper.replay(valid).map_err(|failure| RestoreError::Map {
                liobn,
                source: failure.error,
            })?;
        }
        for &(index, tce) in &saved.entries {
            if skipped.binary_search(&index).is_err() {
                window.table.set(index, tce.0);
            }
        }
        match skipped.first() {
            None => Ok(()),
            Some(&first) => Err(RestoreError::Unmappable {
                liobn,
                count: skipped.len(),
                first,
            }),
        }
    }
}

/// A fresh PE holds at most its default window, empty.
fn check_fresh<C>(index: usize, pe: &Pe<C>, windows: &PeWindows) -> Result<(), RestoreError> {
    for (slot, window) in windows.iter() {
        if !is_default(pe, slot, window) {
            return Err(RestoreError::NotFresh {
                index,
                reason: "a dynamic window is active",
            });
        }
        if window.table.next_nonzero(0).is_some() {
            return Err(RestoreError::NotFresh {
                index,
                reason: "the default window has entries",
            });
        }
    }
    Ok(())
}
