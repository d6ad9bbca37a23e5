// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Fixture of the DDW RTAS tests: real guest memory, the kernel reference model as the
//! container of PE 0, an emulated PE with DDW, one without, a VIO window; RTAS calls go
//! through `handle_hcall(H_RTAS, ..)` exactly as a vCPU exit would. Every fixture checks the
//! guest-view/hardware invariants when dropped (unless the test already panicked).

#![allow(dead_code)] // Each test module uses a different subset.

pub mod failures;
pub mod refusals;
pub mod sequence;
pub mod threads;
pub mod windows;

use std::sync::Arc;

use papr_hcall::rtas::{DdwTokens, RtasCall, RtasStatus};
use papr_hcall::{HcallStatus, Liobn, Tce, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_RTAS, H_STUFF_TCE};
use spapr_tce::check::check_invariants;
use spapr_tce::{
    AcceleratorConfig, LiobnScheme, PeConfig, TceAccelerator, WindowConfig, WindowInfo,
};
use vfio_spapr::model::{HwExtent, ModelContainer, PlatformProfile, WindowSnapshot};
use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap};

pub type Memory = Arc<GuestMemoryMmap>;
pub type Container = Arc<ModelContainer>;
pub type Accelerator = TceAccelerator<Memory, Container>;

/// One RAM region, so that 16 MiB guest pages never straddle two registrations.
pub const RAM: u64 = 256 << 20;
/// Where RTAS buffers are written.
pub const RTAS_GPA: u64 = 0x20_0000;
/// Where INDIRECT lists are written.
pub const LIST_GPA: u64 = 0x10_0000;

/// PE 0: QEMU PHB 0 with a model container.
pub const VFIO_BUID: u64 = 0x0800_0000_2000_0000;
pub const VFIO_DEFAULT: Liobn = Liobn(0x8000_0000);
pub const VFIO_DDW: Liobn = Liobn(0x8000_0001);
/// PE 1: QEMU PHB 1, emulated devices, DDW on.
pub const EMU_BUID: u64 = VFIO_BUID + 1;
pub const EMU_DEFAULT: Liobn = Liobn(0x8000_0100);
pub const EMU_DDW: Liobn = Liobn(0x8000_0101);
/// PE 2: QEMU PHB 2, emulated, DDW off.
pub const NO_DDW_BUID: u64 = VFIO_BUID + 2;
pub const NO_DDW_DEFAULT: Liobn = Liobn(0x8000_0200);
/// A VIO window.
pub const VIO_LIOBN: Liobn = Liobn(0x7100_0000);

pub const DMA64: u64 = 1 << 59;
pub const TOKENS: DdwTokens = DdwTokens::QEMU;
pub const PARAMETER_ERROR: u32 = RtasStatus::PARAMETER_ERROR.0 as u32;
pub const HARDWARE_ERROR: u32 = RtasStatus::HARDWARE_ERROR.0 as u32;
/// Written into the return cells before each call, so a call that writes nothing shows.
pub const POISON: u32 = 0xDEAD_BEEF;

pub fn host_page_shift() -> u32 {
    spapr_tce::ram::host_page_shift()
}

pub fn host_page_size() -> u64 {
    1 << host_page_shift()
}

/// A PowerNV-like model whose host page matches this machine.
pub fn host_profile() -> PlatformProfile {
    PlatformProfile::for_host(host_page_size())
}

/// The standard configuration over `model`.
pub fn config(model: &Container) -> AcceleratorConfig<Container> {
    let scheme = LiobnScheme::QEMU;
    let mut no_ddw = PeConfig::qemu_phb(2, &scheme, None);
    no_ddw.ddw = None;
    AcceleratorConfig {
        pes: vec![
            PeConfig::qemu_phb(0, &scheme, Some(model.clone())),
            PeConfig::qemu_phb(1, &scheme, None),
            no_ddw,
        ],
        vio_windows: vec![WindowConfig {
            liobn: VIO_LIOBN,
            bus_offset: 0,
            size: 256 << 20,
            page_shift: papr_hcall::PageShift::SZ_4K,
        }],
        host_page_size: Some(host_page_size()),
        hugepage_size: None,
    }
}

pub fn guest_memory() -> Memory {
    Arc::new(
        GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)])
            .expect("guest memory"),
    )
}

pub const HUGE_2M: u64 = 2 << 20;

/// [`RAM`] in one region flagged as hugetlbfs, its host mapping aligned to `align` (the test
/// cannot get real huge pages; the model is told the backing instead).
pub fn hugetlbfs_memory(align: u64) -> Memory {
    let total = (RAM + align) as usize;
    // SAFETY: an anonymous private mapping at an address of the kernel's choice cannot alias
    // any Rust object; it is never unmapped (leaked for the test).
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(raw, libc::MAP_FAILED);
    let aligned = (raw as u64 + align - 1) & !(align - 1);
    // SAFETY: [aligned, aligned + RAM) lies inside the mapping made above, which stays mapped
    // for the rest of the process.
    let builder =
        unsafe { MmapRegionBuilder::new(RAM as usize).with_raw_mmap_pointer(aligned as *mut u8) };
    let region = builder
        .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
        .with_mmap_flags(libc::MAP_PRIVATE | libc::MAP_ANONYMOUS)
        .with_hugetlbfs(true)
        .build()
        .expect("region");
    let region = GuestRegionMmap::new(region, GuestAddress(0)).expect("region");
    Arc::new(GuestMemoryMmap::from_regions(vec![region]).expect("memory"))
}

/// An accelerator, the model behind PE 0 and the guest memory.
pub struct Fixture {
    pub acc: Accelerator,
    pub model: Container,
    pub mem: Memory,
}

impl Fixture {
    /// The standard configuration on [`host_profile`].
    pub fn new() -> Self {
        Self::with(host_profile(), |_| {})
    }

    /// `profile` for PE 0's container, and the standard configuration changed by `tweak`.
    pub fn with(
        profile: PlatformProfile,
        tweak: impl FnOnce(&mut AcceleratorConfig<Container>),
    ) -> Self {
        Self::build(profile, guest_memory(), tweak, |acc| acc)
    }

    /// The standard configuration, with `finish` applied to the built accelerator.
    pub fn finished(finish: impl FnOnce(Accelerator) -> Accelerator) -> Self {
        Self::build(host_profile(), guest_memory(), |_| {}, finish)
    }

    /// Like [`Self::with`] over RAM flagged as hugetlbfs with 2 MiB pages (and the model told
    /// so), so that RAM serves 2 MiB IOMMU pages.
    pub fn with_2m_hugepages(
        profile: PlatformProfile,
        tweak: impl FnOnce(&mut AcceleratorConfig<Container>),
    ) -> Self {
        Self::build(
            profile,
            hugetlbfs_memory(HUGE_2M),
            |config| {
                config.hugepage_size = Some(HUGE_2M);
                tweak(config);
            },
            |acc| acc,
        )
    }

    fn build(
        profile: PlatformProfile,
        mem: Memory,
        tweak: impl FnOnce(&mut AcceleratorConfig<Container>),
        finish: impl FnOnce(Accelerator) -> Accelerator,
    ) -> Self {
        let model = Arc::new(ModelContainer::new(profile));
        let mut config = config(&model);
        tweak(&mut config);
        if config.hugepage_size.is_some() {
            for region in vm_memory::GuestMemoryBackend::iter(&*mem) {
                let vaddr = region.as_ptr() as u64;
                model
                    .set_backing(vaddr, region.len(), HUGE_2M.trailing_zeros())
                    .expect("backing");
            }
        }
        let acc = finish(TceAccelerator::new(mem.clone(), config).expect("accelerator"));
        Self { acc, model, mem }
    }

    /// Issues an RTAS call through `H_RTAS` and returns the `nret` cells the guest reads.
    pub fn rtas(&self, token: u32, args: &[u32], nret: u32) -> Vec<u32> {
        let buffer = GuestAddress(RTAS_GPA);
        let call = RtasCall::new(buffer, token, args, nret);
        let mut image = call.to_bytes();
        let rets_at = RtasCall::HEADER_LEN + 4 * args.len();
        for cell in image[rets_at..].chunks_exact_mut(4) {
            cell.copy_from_slice(&POISON.to_be_bytes());
        }
        self.mem.write_slice(&image, buffer).expect("buffer in RAM");
        let outcome = self
            .acc
            .handle_hcall(H_RTAS, &regs(&[RTAS_GPA]))
            .expect("a DDW token");
        assert_eq!(outcome.status, HcallStatus::SUCCESS);
        call.read_rets(&*self.mem).expect("rets")
    }

    /// `ibm,query-pe-dma-window` with `nret` 5 or 6.
    pub fn query(&self, buid: u64, nret: u32) -> Vec<u32> {
        self.rtas(TOKENS.query, &pe_args(buid), nret)
    }

    /// `ibm,create-pe-dma-window`.
    pub fn create(&self, buid: u64, page_shift: u32, window_shift: u32) -> Vec<u32> {
        let [c, hi, lo] = pe_args(buid);
        self.rtas(TOKENS.create, &[c, hi, lo, page_shift, window_shift], 4)
    }

    /// `ibm,remove-pe-dma-window`.
    pub fn remove(&self, liobn: Liobn) -> Vec<u32> {
        self.rtas(TOKENS.remove, &[liobn.0 as u32], 1)
    }

    /// `ibm,reset-pe-dma-window`.
    pub fn reset(&self, buid: u64) -> Vec<u32> {
        self.rtas(TOKENS.reset, &pe_args(buid), 1)
    }

    pub fn put(&self, liobn: Liobn, ioba: u64, tce: u64) -> HcallStatus {
        let out = self
            .acc
            .handle_hcall(H_PUT_TCE, &regs(&[liobn.0, ioba, tce]));
        out.expect("a TCE hcall").status
    }

    pub fn stuff(&self, liobn: Liobn, ioba: u64, value: u64, count: u64) -> HcallStatus {
        let out = self
            .acc
            .handle_hcall(H_STUFF_TCE, &regs(&[liobn.0, ioba, value, count]));
        out.expect("a TCE hcall").status
    }

    /// Writes `tces` big-endian at `list` and issues `H_PUT_TCE_INDIRECT`.
    pub fn indirect_at(&self, list: u64, liobn: Liobn, ioba: u64, tces: &[u64]) -> HcallStatus {
        for (i, tce) in tces.iter().enumerate() {
            self.mem
                .write_obj(
                    vm_memory::Be64::from(*tce),
                    GuestAddress(list + 8 * i as u64),
                )
                .expect("list in RAM");
        }
        let out = self.acc.handle_hcall(
            H_PUT_TCE_INDIRECT,
            &regs(&[liobn.0, ioba, list, tces.len() as u64]),
        );
        out.expect("a TCE hcall").status
    }

    pub fn indirect(&self, liobn: Liobn, ioba: u64, tces: &[u64]) -> HcallStatus {
        self.indirect_at(LIST_GPA, liobn, ioba, tces)
    }

    /// Maps all RAM into the window `liobn` starting at `start`, like Linux's direct mapping
    /// (`tce_setrange_multi_pSeriesLP`: RW TCEs, 512 per H_PUT_TCE_INDIRECT); returns the
    /// number of calls.
    pub fn direct_map(&self, liobn: Liobn, start: u64, page_shift: u32) -> u64 {
        let page = 1u64 << page_shift;
        let tces: Vec<u64> = (0..RAM / page)
            .map(|i| (i * page) | Tce::READ | Tce::WRITE)
            .collect();
        let mut calls = 0;
        for (chunk_index, chunk) in tces.chunks(512).enumerate() {
            let ioba = start + (chunk_index as u64 * 512) * page;
            assert_eq!(self.indirect(liobn, ioba, chunk), HcallStatus::SUCCESS);
            calls += 1;
        }
        calls
    }

    /// Everything a refused call must leave unchanged.
    pub fn state(&self) -> State {
        let windows = self.acc.windows();
        let entries = windows
            .iter()
            .map(|w| self.acc.entries(w.liobn).expect("active window"))
            .collect();
        State {
            windows,
            entries,
            host_windows: self.model.windows(),
            hw: self.model.hw_extents(),
            backend: self.acc.counters().backend,
        }
    }

    pub fn check(&self) {
        if let Err(violations) = check_invariants(&self.acc) {
            panic!("invariants violated:\n{violations:#?}");
        }
    }

    /// The active window `liobn`, which must exist.
    pub fn window(&self, liobn: Liobn) -> WindowInfo {
        self.acc.window(liobn).expect("active window")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.check();
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct State {
    pub windows: Vec<WindowInfo>,
    pub entries: Vec<Vec<(u64, Tce)>>,
    pub host_windows: Vec<WindowSnapshot>,
    pub hw: Vec<HwExtent>,
    pub backend: spapr_tce::BackendCallCounts,
}

/// The three PE cells of query, create and reset (config_addr of device 1, BUID hi, lo).
pub fn pe_args(buid: u64) -> [u32; 3] {
    [0x0000_0800, (buid >> 32) as u32, buid as u32]
}

/// Hypercall argument registers r4.. from `values`.
pub fn regs(values: &[u64]) -> [u64; 9] {
    let mut args = [0u64; 9];
    args[..values.len()].copy_from_slice(values);
    args
}

/// `count` TCEs mapping consecutive guest pages of `page` bytes from `gpa`, RW.
pub fn linear(gpa: u64, page: u64, count: u64) -> Vec<u64> {
    (0..count).map(|i| (gpa + i * page) | 3).collect()
}

/// The 64-bit largest block of a 6-cell query reply.
pub fn largest_block(rets: &[u32]) -> u64 {
    (u64::from(rets[2]) << 32) | u64::from(rets[3])
}
