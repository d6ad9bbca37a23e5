// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! What the guest programmed, captured for live migration or save/restore: every PE's active
//! windows (slot, LIOBN, geometry, default or dynamic) and their non-zero guest-view entries.
//!
//! Hardware state is not captured: it is derived. [`TceAccelerator::restore`] recreates host
//! windows and mappings from the guest view through the same paths the DDW RTAS calls and the
//! hypercalls use. The serialised form ([`AcceleratorSnapshot::to_text`]) is versioned
//! ([`SNAPSHOT_VERSION`]); see [`super::snapshot_text`].

use papr_hcall::{Liobn, Tce};
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use crate::accelerator::TceAccelerator;
use crate::config::WindowConfig;
use crate::pe::{Pe, DEFAULT_SLOT};
use crate::table::nonzero_entries;
use crate::window::Window;

/// The snapshot format version this crate writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Everything the guest programmed into an accelerator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceleratorSnapshot {
    /// Format version ([`SNAPSHOT_VERSION`] when taken by this crate).
    pub version: u32,
    /// PCI PEs in configuration order, then VIO windows.
    pub pes: Vec<PeSnapshot>,
}

/// One PE (or VIO window) and its active windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeSnapshot {
    /// The PE's BUID; `None` for a VIO window.
    pub buid: Option<u64>,
    /// The configured default window (compared with the restoring accelerator's).
    pub default_window: WindowConfig,
    /// The configured DDW LIOBN, if DDW is on (compared too).
    pub ddw_liobn: Option<Liobn>,
    /// Active windows, by slot.
    pub windows: Vec<WindowSnapshot>,
}

/// Whether a window is the PE's configured default window or one the guest created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WindowKind {
    /// Slot 0 with the configured default geometry.
    Default,
    /// Created by `ibm,create-pe-dma-window`.
    Dynamic,
}

/// One active window and its non-zero guest-view entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowSnapshot {
    /// The PE's window slot (0 or 1).
    pub slot: usize,
    /// Default or dynamic.
    pub kind: WindowKind,
    /// LIOBN, bus offset, size and page size.
    pub config: WindowConfig,
    /// Non-zero entries as `(index, TCE)`, in increasing index order (valid TCEs and
    /// verbatim values without permission bits alike: H_GET_TCE returns both).
    pub entries: Vec<(u64, Tce)>,
}

impl WindowSnapshot {
    /// Valid entries (with R or W), i.e. those mapped in hardware.
    pub fn valid_entries(&self) -> usize {
        self.entries
            .iter()
            .filter(|(_, tce)| tce.is_valid())
            .count()
    }
}

impl AcceleratorSnapshot {
    /// All windows of all PEs.
    pub fn windows(&self) -> impl Iterator<Item = &WindowSnapshot> + '_ {
        self.pes.iter().flat_map(|pe| pe.windows.iter())
    }
}

/// True when `window` in `slot` is `pe`'s configured default window.
pub(crate) fn is_default<C>(pe: &Pe<C>, slot: usize, window: &Window) -> bool {
    slot == DEFAULT_SLOT && window_config(window) == pe.default_window
}

pub(crate) fn window_config(window: &Window) -> WindowConfig {
    WindowConfig {
        liobn: window.geometry.liobn,
        bus_offset: window.geometry.bus_offset,
        size: window.geometry.size(),
        page_shift: window.geometry.page_shift,
    }
}

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Captures every PE's windows and entries. All PEs are locked together, so the snapshot
    /// is one consistent point even while vCPUs run; for migration take it with the vCPUs
    /// stopped, as any device state.
    pub fn snapshot(&self) -> AcceleratorSnapshot {
        let locked = self.lock_all_pes();
        let pes = self
            .pes
            .iter()
            .zip(&locked)
            .map(|(pe, windows)| PeSnapshot {
                buid: pe.buid,
                default_window: pe.default_window,
                ddw_liobn: pe.ddw.map(|ddw| ddw.liobn),
                windows: windows
                    .iter()
                    .map(|(slot, window)| WindowSnapshot {
                        slot,
                        kind: if is_default(pe, slot, window) {
                            WindowKind::Default
                        } else {
                            WindowKind::Dynamic
                        },
                        config: window_config(window),
                        entries: nonzero_entries(window.table.as_ref())
                            .map(|(index, value)| (index, Tce(value)))
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        AcceleratorSnapshot {
            version: SNAPSHOT_VERSION,
            pes,
        }
    }
}
