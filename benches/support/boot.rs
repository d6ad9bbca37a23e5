// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! A synthetic Linux boot of a large guest, shaped like the recorded ones
//! (qemu-and-guest.md §3.2, §3.4): clear the default window with H_STUFF_TCE(512), query
//! and create a DDW through RTAS, then fill it with H_PUT_TCE_INDIRECT(512) calls from one
//! list page that the guest rewrites before each call.
//!
//! Guest RAM is one anonymous `MAP_NORESERVE` mapping of the full size: translation needs
//! it to exist, but only the list page and the RTAS buffer are ever touched.

use std::time::{Duration, Instant};

use papr_hcall::{H_PUT_TCE_INDIRECT, H_STUFF_TCE};
use spapr_tce::{BackendCallCounts, CountersSnapshot};

use super::memory::ThreadUsage;
use super::rig::{default_liobn, Backend, Rig};
use super::Stopwatch;

/// TCEs per call.
const BATCH: u64 = 512;
/// The guest's (per-CPU) list page.
const LIST: u64 = 0x10_0000;
/// TCE permission bits R|W.
const RW: u64 = 3;

/// How the guest fills its DDW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Direct mapping of all RAM, bus address = window start + guest-physical address (what
    /// Linux does when the window covers its memory).
    Dense,
    /// `lists` lists of 512 TCEs, one every `stride` entries of the window, each mapping
    /// 512 consecutive pages of RAM spread evenly over the guest (a big window the guest
    /// uses IOMMU-style, or mostly empty after hot-unplug).
    Sparse {
        /// Number of 512-TCE lists.
        lists: u64,
        /// Window entries from one list to the next.
        stride: u64,
    },
}

/// One synthetic boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootSpec {
    /// Name for tables and command lines.
    pub name: &'static str,
    /// Guest RAM in bytes.
    pub ram: u64,
    /// DDW page shift the guest asks for.
    pub page_shift: u32,
    /// DDW window shift the guest asks for.
    pub window_shift: u32,
    /// How the window is filled.
    pub layout: Layout,
}

/// 4 TiB guest, 64 KiB DDW pages, all RAM direct-mapped: 131 072 H_PUT_TCE_INDIRECT(512).
pub const BOOT_4T_64K: BootSpec = BootSpec {
    name: "boot-4TiB-64K",
    ram: 4 << 40,
    page_shift: 16,
    window_shift: 42,
    layout: Layout::Dense,
};

/// 4 TiB guest, 16 MiB DDW pages (QEMU's default): 512 H_PUT_TCE_INDIRECT(512).
pub const BOOT_4T_16M: BootSpec = BootSpec {
    name: "boot-4TiB-16M",
    ram: 4 << 40,
    page_shift: 24,
    window_shift: 42,
    layout: Layout::Dense,
};

/// 4 TiB guest with a 64 TiB window of 64 KiB pages (2^30 entries) it maps only sparsely:
/// 1024 lists of 512 TCEs, one every 64 GiB of bus space.
pub const SPARSE_64T_64K: BootSpec = BootSpec {
    name: "sparse-64TiB-64K",
    ram: 4 << 40,
    page_shift: 16,
    window_shift: 46,
    layout: Layout::Sparse {
        lists: 1024,
        stride: 1 << 20,
    },
};

/// Every boot, by name.
pub const ALL: [BootSpec; 3] = [BOOT_4T_64K, BOOT_4T_16M, SPARSE_64T_64K];

/// What a boot cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct BootResult {
    /// TCE hypercalls issued (STUFF + INDIRECT).
    pub hcalls: u64,
    /// TCEs the DDW ends up with.
    pub tces_mapped: u64,
    /// Time inside the accelerator (hypercalls and RTAS calls only).
    pub accel_time: Duration,
    /// Wall time of the boot, with the harness writing the guest's lists.
    pub wall_time: Duration,
    /// CPU time of the boot (the thread's), with the harness writing the guest's lists.
    pub cpu_time: Duration,
    /// User/system CPU time and page faults of the boot (as `cpu_time`, from getrusage).
    pub usage: ThreadUsage,
    /// Building guest RAM and the accelerator (not part of the boot).
    pub setup_time: Duration,
    /// Guest-view table memory of the DDW (`WindowInfo::table_memory_bytes`).
    pub table_bytes: u64,
    /// Host IOMMU calls the accelerator made.
    pub backend: BackendCallCounts,
    /// One host call per TCE update, as QEMU does (every STUFFed and every listed entry).
    pub per_tce_calls: u64,
}

impl BootResult {
    /// Guest-view table bytes per mapped TCE.
    pub fn bytes_per_tce(&self) -> f64 {
        self.table_bytes as f64 / self.tces_mapped.max(1) as f64
    }

    /// Host IOMMU calls, all kinds.
    pub fn backend_calls(&self) -> u64 {
        let b = &self.backend;
        b.map_dma + b.unmap_dma + b.create_window + b.remove_window + b.register_memory
    }
}

/// Runs `spec` on a fresh rig whose PHB has `backend`.
pub fn run(spec: &BootSpec, backend: Backend) -> BootResult {
    let setup_start = Instant::now();
    let rig = Rig::new(spec.ram, 1, backend);
    let setup_time = setup_start.elapsed();
    let mut result = boot(&rig, spec);
    result.setup_time = setup_time;
    result
}

/// Boots on `rig` (one PHB, nothing done yet).
pub fn boot(rig: &Rig, spec: &BootSpec) -> BootResult {
    let usage = ThreadUsage::now();
    let watch = Stopwatch::start();
    let mut accel_time = Duration::ZERO;
    let mut hcalls = 0;

    // 1. iommu_table_clear: H_STUFF_TCE(0, 512) over the whole 1 GiB default window.
    let default = default_liobn(0);
    let default_window = rig
        .acc
        .window(papr_hcall::Liobn(default))
        .expect("default window");
    let default_entries = default_window.size >> default_window.page_shift.get();
    let start = Instant::now();
    for chunk in 0..default_entries / BATCH {
        let ioba = default_window.bus_offset + ((chunk * BATCH) << default_window.page_shift.get());
        rig.hcall_ok(H_STUFF_TCE, &[default, ioba, 0, BATCH]);
    }
    accel_time += start.elapsed();
    hcalls += default_entries / BATCH;

    // 2. enable_ddw: query, create.
    let start = Instant::now();
    let query = rig.query_ddw(0);
    let (liobn, window_start) = rig.create_ddw(0, spec.page_shift, spec.window_shift);
    accel_time += start.elapsed();
    assert!(query.windows_available >= 1, "{query:?}");

    // 3. tce_setrange_multi_pSeriesLP: fill the window.
    let (lists, stride, ram_step) = match spec.layout {
        Layout::Dense => (
            (spec.ram >> spec.page_shift) / BATCH,
            BATCH,
            BATCH << spec.page_shift,
        ),
        Layout::Sparse { lists, stride } => (lists, stride, spec.ram / lists),
    };
    let mut tces = vec![0u64; BATCH as usize];
    for list in 0..lists {
        let first_gpa = list * ram_step;
        for (i, tce) in (0u64..).zip(tces.iter_mut()) {
            *tce = (first_gpa + (i << spec.page_shift)) | RW;
        }
        rig.write_list(LIST, &tces);
        let ioba = window_start + ((list * stride) << spec.page_shift);
        let start = Instant::now();
        rig.hcall_ok(H_PUT_TCE_INDIRECT, &[liobn, ioba, LIST, BATCH]);
        accel_time += start.elapsed();
    }
    hcalls += lists;
    let total = watch.stop();
    let usage = ThreadUsage::now().since(&usage);

    let window = rig.acc.window(papr_hcall::Liobn(liobn)).expect("DDW");
    let counters: CountersSnapshot = rig.acc.counters();
    BootResult {
        hcalls,
        tces_mapped: lists * BATCH,
        accel_time,
        wall_time: total.wall,
        cpu_time: total.cpu,
        usage,
        setup_time: Duration::ZERO,
        table_bytes: window.table_memory_bytes as u64,
        backend: counters.backend,
        per_tce_calls: default_entries + lists * BATCH,
    }
}
