// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Shared fixture of the accelerator tests: real guest memory (`GuestMemoryMmap`), the
//! kernel reference model as container, and hypercall helpers. Every fixture checks the
//! guest-view/hardware invariants when it is dropped (unless the test already panicked).

#![allow(dead_code)] // Each test binary uses a different subset.

use std::sync::Arc;

use papr_hcall::{
    HcallOutcome, HcallRequest, HcallStatus, Ioba, Liobn, PageShift, Tce, H_GET_TCE, H_PUT_TCE,
    H_PUT_TCE_INDIRECT, H_STUFF_TCE,
};
use spapr_tce::check::check_invariants;
use spapr_tce::{
    AcceleratorConfig, CountersSnapshot, LiobnScheme, PeConfig, TceAccelerator, WindowConfig,
};
use vfio_spapr::model::{HwExtent, ModelContainer, ModelCounters, PlatformProfile};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

pub type Memory = Arc<GuestMemoryMmap>;
pub type Container = Arc<ModelContainer>;
pub type Accelerator = TceAccelerator<Memory, Container>;

/// Guest RAM: two adjacent regions (separate host mappings) with the boundary deliberately
/// not 16 MiB aligned.
pub const REGION_A: (u64, u64) = (0, 100 << 20);
pub const REGION_B: (u64, u64) = (100 << 20, 28 << 20);
pub const RAM_END: u64 = 128 << 20;
/// Where INDIRECT lists are written.
pub const LIST_GPA: u64 = 0x10_0000;
/// Guest pages the tests map start here.
pub const DATA_GPA: u64 = 16 << 20;

/// PE 0: QEMU PHB 0 with a model container.
pub const VFIO_BUID: u64 = 0x0800_0000_2000_0000;
pub const VFIO_LIOBN: Liobn = Liobn(0x8000_0000);
pub const VFIO_DDW_LIOBN: Liobn = Liobn(0x8000_0001);
/// PE 1: QEMU PHB 1, emulated devices only.
pub const EMU_LIOBN: Liobn = Liobn(0x8000_0100);
/// A VIO window.
pub const VIO_LIOBN: Liobn = Liobn(0x7100_0000);

pub fn host_page_size() -> u64 {
    1 << spapr_tce::ram::host_page_shift()
}

pub fn guest_memory() -> Memory {
    Arc::new(
        GuestMemoryMmap::<()>::from_ranges(&[
            (GuestAddress(REGION_A.0), REGION_A.1 as usize),
            (GuestAddress(REGION_B.0), REGION_B.1 as usize),
        ])
        .expect("guest memory"),
    )
}

pub fn model() -> Container {
    Arc::new(ModelContainer::new(PlatformProfile::for_host(
        host_page_size(),
    )))
}

/// An accelerator and the model behind its VFIO PE.
pub struct Fixture {
    pub acc: Accelerator,
    pub model: Container,
    pub mem: Memory,
}

/// The standard configuration: PE 0 with a container and a default window of
/// `vfio_page_shift` pages, PE 1 emulated (QEMU defaults), one VIO window.
pub fn config(
    model: &Container,
    vfio_page_shift: PageShift,
    vfio_window_size: u64,
) -> AcceleratorConfig<Container> {
    let mut vfio = PeConfig::qemu_phb(0, &LiobnScheme::QEMU, Some(model.clone()));
    vfio.default_window.page_shift = vfio_page_shift;
    vfio.default_window.size = vfio_window_size;
    AcceleratorConfig {
        pes: vec![vfio, PeConfig::qemu_phb(1, &LiobnScheme::QEMU, None)],
        vio_windows: vec![WindowConfig {
            liobn: VIO_LIOBN,
            bus_offset: 0,
            size: 256 << 20,
            page_shift: PageShift::SZ_4K,
        }],
        host_page_size: Some(host_page_size()),
        hugepage_size: None,
    }
}

impl Fixture {
    /// 1 GiB default window of 4 KiB pages on the VFIO PE.
    pub fn new() -> Self {
        Self::with_window(PageShift::SZ_4K, 1 << 30)
    }

    pub fn with_window(page_shift: PageShift, size: u64) -> Self {
        let model = model();
        Self::from_config(model.clone(), config(&model, page_shift, size))
    }

    pub fn from_config(model: Container, config: AcceleratorConfig<Container>) -> Self {
        let mem = guest_memory();
        let acc = TceAccelerator::new(mem.clone(), config).expect("accelerator");
        Self { acc, model, mem }
    }

    pub fn call(&self, request: HcallRequest) -> HcallOutcome {
        let (nr, args) = request.encode();
        self.acc.handle_hcall(nr, &args).expect("a TCE hypercall")
    }

    pub fn put(&self, liobn: Liobn, ioba: u64, tce: u64) -> HcallStatus {
        let out = self
            .acc
            .handle_hcall(H_PUT_TCE, &args(&[liobn.0, ioba, tce]));
        out.expect("ours").status
    }

    pub fn get(&self, liobn: Liobn, ioba: u64) -> HcallOutcome {
        self.acc
            .handle_hcall(H_GET_TCE, &args(&[liobn.0, ioba]))
            .expect("ours")
    }

    pub fn stuff(&self, liobn: Liobn, ioba: u64, value: u64, count: u64) -> HcallStatus {
        let out = self
            .acc
            .handle_hcall(H_STUFF_TCE, &args(&[liobn.0, ioba, value, count]));
        out.expect("ours").status
    }

    /// Writes `tces` big-endian at [`LIST_GPA`] and issues `H_PUT_TCE_INDIRECT`.
    pub fn indirect(&self, liobn: Liobn, ioba: u64, tces: &[u64]) -> HcallStatus {
        self.write_list(LIST_GPA, tces);
        self.indirect_raw(liobn, ioba, LIST_GPA, tces.len() as u64)
    }

    pub fn indirect_raw(&self, liobn: Liobn, ioba: u64, list: u64, count: u64) -> HcallStatus {
        let out = self
            .acc
            .handle_hcall(H_PUT_TCE_INDIRECT, &args(&[liobn.0, ioba, list, count]));
        out.expect("ours").status
    }

    pub fn write_list(&self, gpa: u64, tces: &[u64]) {
        for (i, tce) in tces.iter().enumerate() {
            self.mem
                .write_obj(
                    vm_memory::Be64::from(*tce),
                    GuestAddress(gpa + 8 * i as u64),
                )
                .expect("list in RAM");
        }
    }

    /// Non-zero guest-view entries of a window.
    pub fn entries(&self, liobn: Liobn) -> Vec<(u64, Tce)> {
        self.acc.entries(liobn).expect("active window")
    }

    pub fn counters(&self) -> CountersSnapshot {
        self.acc.counters()
    }

    pub fn model_counters(&self) -> ModelCounters {
        self.model.counters()
    }

    pub fn hw(&self) -> Vec<HwExtent> {
        self.model.hw_extents()
    }

    /// Everything a refused request must leave unchanged.
    pub fn state(&self) -> State {
        State {
            vfio: self.entries(VFIO_LIOBN),
            emulated: self.entries(EMU_LIOBN),
            vio: self.entries(VIO_LIOBN),
            hw: self.hw(),
            backend: self.counters().backend,
        }
    }

    pub fn check(&self) {
        if let Err(violations) = check_invariants(&self.acc) {
            panic!("invariants violated:\n{violations:#?}");
        }
    }

    pub fn translate(&self, liobn: Liobn, ioba: u64) -> Option<spapr_tce::Translation> {
        self.acc.translate(liobn, Ioba(ioba))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.check();
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct State {
    pub vfio: Vec<(u64, Tce)>,
    pub emulated: Vec<(u64, Tce)>,
    pub vio: Vec<(u64, Tce)>,
    pub hw: Vec<HwExtent>,
    pub backend: spapr_tce::BackendCallCounts,
}

pub fn args(values: &[u64]) -> [u64; 9] {
    let mut args = [0u64; 9];
    args[..values.len()].copy_from_slice(values);
    args
}

/// `count` TCEs mapping consecutive guest pages of `page` bytes from `gpa`, permission
/// bits `perm`.
pub fn linear(gpa: u64, page: u64, count: u64, perm: u64) -> Vec<u64> {
    (0..count).map(|i| (gpa + i * page) | perm).collect()
}
