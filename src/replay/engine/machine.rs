// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The replay machine: guest RAM and an accelerator built from a trace's [`MachineLayout`],
//! with one reference-model container per PHB.
//!
//! * Guest RAM: one anonymous [`GuestMemoryMmap`] region of the recorded size at guest-physical
//!   0. vm-memory maps it `MAP_NORESERVE`, so only the pages the replay writes (TCE lists and
//!   the RTAS buffer) are ever touched.
//! * Every PHB is a PE with its own [`ModelContainer`], all created in one [`ModelProcess`] as
//!   in one VMM process (the guest RAM is pre-registered once per container and shared by
//!   the process's `mm`, kernel-host.md §4.1). VIO windows have no container.
//! * Host profile: [`PlatformProfile::for_host`] with this machine's page size, a PowerNV-like
//!   host whose IOMMU page sizes include 4 KiB, so the guest's 4 KiB default windows get host
//!   windows of 4 KiB pages on a 4 KiB-page host; larger guest pages (the 16 MiB DDWs) are
//!   mapped with several host-page entries each, as anonymous memory only serves host pages
//!   (qemu-and-guest.md §0 fact 5). Per PHB, slot 0 starts at the PHB's `dma_win_addr` and
//!   slot 1 at its `dma64_win_addr`, so the host places every window where the guest's is
//!   (on real PowerNV hardware: 0 and 2^59, QEMU's defaults). No locked-memory limit.
//! * Each PE's default window, DDW LIOBN, DDW bus address and DDW page sizes come from the
//!   layout. The largest DDW is QEMU's: a largest block of 2^37 TCEs at the smallest offered
//!   page size (qemu-and-guest.md §2.6, the 6-output query; [`QEMU_LARGEST_BLOCK_SHIFT`]),
//!   i.e. windows up to 2^49 bytes with 4 KiB pages, so that query answers what the guest
//!   received (within the host's limit, [`DdwConfig::MAX_HOST_WINDOW_SHIFT`]).
//!   `ibm,lrdr-capacity` plays no part: the guest's requests are replayed as recorded.
//! * RTAS tokens: the guest calls the tokens the accelerator publishes
//!   ([`TceAccelerator::ddw_tokens`]), as a guest reads them from the device tree; the
//!   trace's `rtas` line only records QEMU's.

use std::collections::HashSet;
use std::sync::Arc;

use papr_hcall::{Liobn, PageShift};
use vfio_spapr::model::{ModelContainer, ModelProcess, Platform, PlatformProfile, ProcessId};
use vm_memory::{GuestAddress, GuestMemoryMmap};

use super::ReplayError;
use crate::config::{AcceleratorConfig, DdwConfig, PeConfig, WindowConfig};
use crate::replay::machine::{MachineLayout, PhbLayout, WindowGeometry};
use crate::TceAccelerator;

/// The guest memory type of a replay.
pub type ReplayMemory = Arc<GuestMemoryMmap<()>>;
/// The accelerator type of a replay.
pub type ReplayAccelerator = TceAccelerator<ReplayMemory, ModelContainer>;

/// log2 of the largest block (in TCEs) QEMU's 6-output `ibm,query-pe-dma-window` reports:
/// 2^37 (qemu-and-guest.md §2.6; the guests logged `lb=2000000000`).
pub const QEMU_LARGEST_BLOCK_SHIFT: u32 = 37;

/// Size of the scratch RTAS buffer page.
const RTAS_BUFFER_PAGE: u64 = 4096;

/// An accelerator over fresh guest RAM, laid out like the recorded machine.
#[derive(Debug)]
pub struct ReplayMachine {
    /// The accelerator under test.
    pub accelerator: ReplayAccelerator,
    /// The process all containers live in.
    pub process: ModelProcess,
    /// Where the replay writes RTAS argument buffers: the last 4 KiB page of guest RAM (the
    /// recorded boots do not say where the guest's buffer was; any RAM page serves).
    pub rtas_buffer: GuestAddress,
    /// BUIDs of the PEs with a container.
    pub container_buids: Vec<u64>,
    /// LIOBNs of windows (default and DDW) of PEs with a container.
    container_liobns: HashSet<u64>,
}

impl ReplayMachine {
    /// Builds guest RAM and the accelerator for `layout`.
    pub fn build(layout: &MachineLayout) -> Result<Self, ReplayError> {
        let memory = guest_memory(layout.ram_size)?;
        let host_page_shift = crate::ram::host_page_shift();
        let process = ModelProcess::new(ProcessId::DEFAULT, None);
        let mut config = AcceleratorConfig::<ModelContainer>::default();
        let mut container_liobns = HashSet::new();
        for phb in &layout.phbs {
            let profile = host_profile(phb, host_page_shift);
            let container = ModelContainer::new_in(&process, profile);
            config.pes.push(pe_config(phb, container)?);
            container_liobns.insert(phb.default_liobn);
            if phb.ddw {
                container_liobns.insert(phb.ddw_liobn);
            }
        }
        for vio in &layout.vio {
            config.vio_windows.push(window_config(&vio.window())?);
        }
        let container_buids = layout.phbs.iter().map(|phb| phb.buid).collect();
        let accelerator = TceAccelerator::new(Arc::new(memory), config)?;
        let rtas_buffer = GuestAddress(layout.ram_size - RTAS_BUFFER_PAGE);
        Ok(Self {
            accelerator,
            process,
            rtas_buffer,
            container_buids,
            container_liobns,
        })
    }

    /// True when `liobn` names a window of a PE with a container (whose TCE updates QEMU
    /// forwards to VFIO).
    pub fn has_container(&self, liobn: u64) -> bool {
        self.container_liobns.contains(&liobn)
    }

    /// The model containers, one per PHB.
    pub fn containers(&self) -> impl Iterator<Item = &ModelContainer> + '_ {
        self.container_buids
            .iter()
            .filter_map(|&buid| self.accelerator.container(buid))
    }
}

/// Anonymous guest RAM of `size` bytes at guest-physical 0.
fn guest_memory(size: u64) -> Result<GuestMemoryMmap<()>, ReplayError> {
    let len = usize::try_from(size)
        .ok()
        .filter(|&len| len as u64 >= RTAS_BUFFER_PAGE && size % RTAS_BUFFER_PAGE == 0)
        .ok_or_else(|| ReplayError::Layout(format!("guest RAM size {size:#x} is unusable")))?;
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), len)])
        .map_err(|source| ReplayError::GuestMemory { size, source })
}

/// The simulated host behind one PHB (see the module documentation).
fn host_profile(phb: &PhbLayout, host_page_shift: u32) -> PlatformProfile {
    let base = PlatformProfile::for_host(1u64 << host_page_shift);
    PlatformProfile {
        platform: Platform::PowerNv {
            slot1_start: phb.dma64_win_addr,
        },
        dma32_window_start: u32::try_from(phb.dma_win_addr).unwrap_or(base.dma32_window_start),
        ..base
    }
}

fn window_config(window: &WindowGeometry) -> Result<WindowConfig, ReplayError> {
    let page_shift = PageShift::new(window.page_shift).ok_or_else(|| {
        ReplayError::Layout(format!(
            "window {:#x}: page shift {} is not supported",
            window.liobn, window.page_shift
        ))
    })?;
    Ok(WindowConfig {
        liobn: Liobn(window.liobn),
        bus_offset: window.bus_offset,
        size: window.size,
        page_shift,
    })
}

fn pe_config(
    phb: &PhbLayout,
    container: ModelContainer,
) -> Result<PeConfig<ModelContainer>, ReplayError> {
    let ddw = phb.ddw.then_some(DdwConfig {
        liobn: Liobn(phb.ddw_liobn),
        dma64_window_addr: phb.dma64_win_addr,
        guest_page_sizes: phb.pgsz,
        max_window_shift: qemu_max_window_shift(phb.pgsz),
    });
    Ok(PeConfig {
        buid: phb.buid,
        default_window: window_config(&phb.default_window())?,
        ddw,
        container: Some(container),
    })
}

/// The window shift of QEMU's largest block at the smallest page size in `pgsz`, capped at
/// the host's limit (and at least the largest page, which the accelerator requires).
fn qemu_max_window_shift(pgsz: u64) -> u32 {
    let smallest_page = if pgsz == 0 { 12 } else { pgsz.trailing_zeros() };
    let largest_page = 63u32.saturating_sub(pgsz.leading_zeros());
    (QEMU_LARGEST_BLOCK_SHIFT + smallest_page)
        .min(DdwConfig::MAX_HOST_WINDOW_SHIFT)
        .max(largest_page)
}
