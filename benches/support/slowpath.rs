// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The per-call cost of the TCE hypercalls through the accelerator (the path a VMM takes
//! for every hypercall KVM does not complete in the kernel), and the memcpy baseline.
//!
//! Window: PHB 0's default window (1 GiB of 4 KiB pages at bus address 0), the window a
//! device without DDW uses at run time. Every call does real work: calls alternate between
//! mapping and clearing the same entries, so each one changes every entry it names (and,
//! with a container, issues one coalesced host call); a timed `H_STUFF_TCE` always clears
//! entries that an untimed `H_PUT_TCE_INDIRECT` mapped just before.

use std::hint::black_box;

use papr_hcall::{Ioba, Liobn, H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE};

use super::rig::{default_liobn, Backend, Rig};
use super::{Stopwatch, Timing};

/// TCEs per `H_PUT_TCE_INDIRECT` / `H_STUFF_TCE` call.
pub const BATCH: u64 = 512;
/// Guest RAM of the slow-path rig.
const RAM: u64 = 256 << 20;
/// List page of valid TCEs.
const MAP_LIST: u64 = 0x10_0000;
/// List page of zero TCEs (clears).
const CLEAR_LIST: u64 = 0x10_1000;
/// Guest pages the TCEs point to (RW).
const DATA: u64 = 0x100_0000;
/// Bus address the batched calls use (page-aligned, inside the 1 GiB window).
const BATCH_IOBA: u64 = 0x400_0000;
/// Bus address the single-entry calls use.
const SINGLE_IOBA: u64 = 0x800_0000;
/// TCE permission bits R|W.
const RW: u64 = 3;
/// Window page size.
const PAGE: u64 = 4096;

/// The slow-path rig: one PHB, its default window, two list pages in guest RAM.
pub struct SlowPath {
    rig: Rig,
    liobn: u64,
}

impl SlowPath {
    /// A fresh rig whose PHB has `backend`.
    pub fn new(backend: Backend) -> Self {
        let rig = Rig::new(RAM, 1, backend);
        let tces: Vec<u64> = (0..BATCH).map(|i| (DATA + i * PAGE) | RW).collect();
        rig.write_list(MAP_LIST, &tces);
        rig.write_list(CLEAR_LIST, &[0; BATCH as usize]);
        let liobn = default_liobn(0);
        // A live neighbour keeps the 512-entry table leaf of the single-entry calls allocated,
        // as the other mappings of a busy device do: H_PUT_TCE then measures the hcall, not
        // the allocator. (The batched calls cover a whole leaf, which they create and free.)
        rig.hcall_ok(H_PUT_TCE, &[liobn, SINGLE_IOBA + PAGE, (DATA + PAGE) | RW]);
        Self { rig, liobn }
    }

    /// The rig.
    pub fn rig(&self) -> &Rig {
        &self.rig
    }

    /// Maps `BATCH` entries at `BATCH_IOBA` with one H_PUT_TCE_INDIRECT.
    fn map_batch(&self) {
        self.rig.hcall_ok(
            H_PUT_TCE_INDIRECT,
            &[self.liobn, BATCH_IOBA, MAP_LIST, BATCH],
        );
    }

    /// `iters` H_PUT_TCE calls, alternately mapping and clearing one entry.
    pub fn put_tce(&self, iters: u64) -> Timing {
        let values = [DATA | RW, 0];
        let watch = Stopwatch::start();
        for i in 0..iters {
            let tce = values[(i & 1) as usize];
            black_box(
                self.rig
                    .hcall_ok(H_PUT_TCE, &[self.liobn, SINGLE_IOBA, tce]),
            );
        }
        let elapsed = watch.stop();
        // Leave the entry clear, so that the next run starts from the same state.
        self.rig.hcall_ok(H_PUT_TCE, &[self.liobn, SINGLE_IOBA, 0]);
        elapsed
    }

    /// `iters` H_GET_TCE calls of a mapped entry.
    pub fn get_tce(&self, iters: u64) -> Timing {
        self.rig
            .hcall_ok(H_PUT_TCE, &[self.liobn, SINGLE_IOBA, DATA | RW]);
        let watch = Stopwatch::start();
        for _ in 0..iters {
            let got = self.rig.hcall_ok(H_GET_TCE, &[self.liobn, SINGLE_IOBA]);
            black_box(got);
        }
        let elapsed = watch.stop();
        self.rig.hcall_ok(H_PUT_TCE, &[self.liobn, SINGLE_IOBA, 0]);
        elapsed
    }

    /// `iters` H_PUT_TCE_INDIRECT calls of 512 TCEs, alternately mapping 512 pages and
    /// clearing them again (a list of zeros).
    pub fn indirect(&self, iters: u64) -> Timing {
        let lists = [MAP_LIST, CLEAR_LIST];
        let watch = Stopwatch::start();
        for i in 0..iters {
            let list = lists[(i & 1) as usize];
            black_box(
                self.rig
                    .hcall_ok(H_PUT_TCE_INDIRECT, &[self.liobn, BATCH_IOBA, list, BATCH]),
            );
        }
        let elapsed = watch.stop();
        self.rig.hcall_ok(
            H_PUT_TCE_INDIRECT,
            &[self.liobn, BATCH_IOBA, CLEAR_LIST, BATCH],
        );
        elapsed
    }

    /// `iters` H_STUFF_TCE(0, 512) calls, each clearing 512 entries mapped (untimed) by an
    /// H_PUT_TCE_INDIRECT just before.
    pub fn stuff_mapped(&self, iters: u64) -> Timing {
        let mut total = Timing::default();
        let overhead = Stopwatch::overhead();
        for _ in 0..iters {
            self.map_batch();
            let watch = Stopwatch::start();
            black_box(
                self.rig
                    .hcall_ok(H_STUFF_TCE, &[self.liobn, BATCH_IOBA, 0, BATCH]),
            );
            let took = watch.stop();
            total += Timing {
                wall: took.wall.saturating_sub(overhead.wall),
                cpu: took.cpu.saturating_sub(overhead.cpu),
            };
        }
        total
    }

    /// `iters` H_STUFF_TCE(0, 512) calls over entries that are already clear (what a booting
    /// guest does to its whole default window: nothing for the host to do).
    pub fn stuff_empty(&self, iters: u64) -> Timing {
        let watch = Stopwatch::start();
        for _ in 0..iters {
            black_box(
                self.rig
                    .hcall_ok(H_STUFF_TCE, &[self.liobn, BATCH_IOBA, 0, BATCH]),
            );
        }
        watch.stop()
    }

    /// `iters` translations of a bus address in a mapped entry (an emulated device's DMA).
    pub fn translate(&self, iters: u64) -> Timing {
        self.map_batch();
        let ioba = Ioba(BATCH_IOBA + 7 * PAGE + 0x123);
        let liobn = Liobn(self.liobn);
        let watch = Stopwatch::start();
        for _ in 0..iters {
            let translation = self.rig.acc.translate(black_box(liobn), black_box(ioba));
            black_box(translation.expect("mapped"));
        }
        let elapsed = watch.stop();
        self.rig
            .hcall_ok(H_STUFF_TCE, &[self.liobn, BATCH_IOBA, 0, BATCH]);
        elapsed
    }
}

/// The physical limit of an H_PUT_TCE_INDIRECT(512): copying the 4 KiB list out of guest
/// RAM into a private buffer, and writing 512 × 8 bytes of table, as two plain memcpys.
pub struct MemcpyBaseline {
    list: Vec<u8>,
    private: Vec<u8>,
    table: Vec<u8>,
}

impl Default for MemcpyBaseline {
    fn default() -> Self {
        Self {
            list: (0..BATCH * 8).map(|i| i as u8).collect(),
            private: vec![0; (BATCH * 8) as usize],
            table: vec![0; (BATCH * 8) as usize],
        }
    }
}

impl MemcpyBaseline {
    /// `iters` list copies plus table writes.
    pub fn run(&mut self, iters: u64) -> Timing {
        let watch = Stopwatch::start();
        for _ in 0..iters {
            self.private.copy_from_slice(black_box(&self.list));
            self.table.copy_from_slice(black_box(&self.private));
            black_box(&mut self.table);
        }
        watch.stop()
    }
}

/// One slow-path operation, for tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// H_PUT_TCE, alternating map/clear.
    PutTce,
    /// H_GET_TCE.
    GetTce,
    /// H_PUT_TCE_INDIRECT(512), alternating map/clear.
    Indirect,
    /// H_STUFF_TCE(512) over mapped entries.
    StuffMapped,
    /// H_STUFF_TCE(512) over clear entries.
    StuffEmpty,
    /// `translate`.
    Translate,
}

impl Op {
    /// Every operation.
    pub const ALL: [Self; 6] = [
        Self::PutTce,
        Self::GetTce,
        Self::Indirect,
        Self::StuffMapped,
        Self::StuffEmpty,
        Self::Translate,
    ];

    /// Name for tables and benchmark IDs.
    pub fn name(self) -> &'static str {
        match self {
            Self::PutTce => "put_tce",
            Self::GetTce => "get_tce",
            Self::Indirect => "put_tce_indirect_512",
            Self::StuffMapped => "stuff_tce_512_mapped",
            Self::StuffEmpty => "stuff_tce_512_empty",
            Self::Translate => "translate",
        }
    }

    /// TCEs per call.
    pub fn tces_per_call(self) -> u64 {
        match self {
            Self::Indirect | Self::StuffMapped | Self::StuffEmpty => BATCH,
            _ => 1,
        }
    }

    /// Runs `iters` calls on `path`.
    pub fn run(self, path: &SlowPath, iters: u64) -> Timing {
        match self {
            Self::PutTce => path.put_tce(iters),
            Self::GetTce => path.get_tce(iters),
            Self::Indirect => path.indirect(iters),
            Self::StuffMapped => path.stuff_mapped(iters),
            Self::StuffEmpty => path.stuff_empty(iters),
            Self::Translate => path.translate(iters),
        }
    }
}
