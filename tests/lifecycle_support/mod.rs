// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Shared helpers of the lifecycle tests: a swappable guest memory (what `GuestMemoryAtomic`
//! gives a VMM, without its extra dependency), guest RAM regions at chosen host alignments,
//! and hypercall / DDW RTAS helpers.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::sync::{Arc, RwLock};

use papr_hcall::rtas::ddw::CreateArgs;
use papr_hcall::rtas::{Buid, ConfigAddr, RtasCall};
use papr_hcall::{HcallStatus, Liobn, H_PUT_TCE, H_RTAS, H_STUFF_TCE};
use spapr_tce::TceAccelerator;
use vfio_spapr::SpaprTceIommu;
use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{
    Bytes, GuestAddress, GuestAddressSpace, GuestMemory, GuestMemoryBackend, GuestMemoryMmap,
    GuestRegionMmap,
};

/// Guest memory whose map the test replaces, like a VMM's `GuestMemoryAtomic`.
#[derive(Clone, Debug)]
pub struct SwapMemory(Arc<RwLock<Arc<GuestMemoryMmap>>>);

impl SwapMemory {
    pub fn new(regions: Vec<Arc<GuestRegionMmap>>) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(
            GuestMemoryMmap::from_arc_regions(regions).expect("guest memory"),
        ))))
    }

    /// Replaces the map (the VMM's `GuestMemoryAtomic::lock().replace(..)`).
    pub fn replace(&self, regions: Vec<Arc<GuestRegionMmap>>) {
        *self.0.write().unwrap() =
            Arc::new(GuestMemoryMmap::from_arc_regions(regions).expect("guest memory"));
    }
}

impl GuestAddressSpace for SwapMemory {
    type M = GuestMemoryMmap;
    type T = Arc<GuestMemoryMmap>;

    fn memory(&self) -> Self::T {
        self.0.read().unwrap().clone()
    }
}

/// Anonymous guest RAM of `len` bytes at `guest_addr`, its host address aligned to `align`
/// (a power of two), flagged as hugetlbfs-backed when `hugetlbfs` (the model is told the
/// backing separately). The mapping is leaked: regions live as long as the test.
pub fn region(guest_addr: u64, len: u64, align: u64, hugetlbfs: bool) -> Arc<GuestRegionMmap> {
    let total = (len + align) as usize;
    // SAFETY: an anonymous private mapping at an address of the kernel's choice; nothing else
    // refers to it.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED, "mmap");
    let aligned = (base as u64).next_multiple_of(align);
    let builder = MmapRegionBuilder::new(len as usize)
        .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
        .with_mmap_flags(libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE)
        .with_hugetlbfs(hugetlbfs);
    // SAFETY: `[aligned, aligned + len)` lies inside the mapping above, which is never unmapped.
    let mapping = unsafe { builder.with_raw_mmap_pointer(aligned as *mut u8) }
        .build()
        .expect("mmap region");
    Arc::new(GuestRegionMmap::new(mapping, GuestAddress(guest_addr)).expect("guest region"))
}

/// Host address of a region.
pub fn host_addr(region: &GuestRegionMmap) -> u64 {
    region.as_ptr() as u64
}

pub fn hcall<AS, C>(
    acc: &TceAccelerator<AS, C>,
    nr: u64,
    args: &[u64],
) -> (HcallStatus, Option<u64>)
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    let mut registers = [0u64; 9];
    registers[..args.len()].copy_from_slice(args);
    let outcome = acc.handle_hcall(nr, &registers).expect("a TCE hypercall");
    (outcome.status, outcome.r4)
}

pub fn put<AS, C>(acc: &TceAccelerator<AS, C>, liobn: Liobn, ioba: u64, tce: u64) -> HcallStatus
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    hcall(acc, H_PUT_TCE, &[liobn.0, ioba, tce]).0
}

pub fn stuff<AS, C>(acc: &TceAccelerator<AS, C>, liobn: Liobn, ioba: u64, count: u64) -> HcallStatus
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    hcall(acc, H_STUFF_TCE, &[liobn.0, ioba, 0, count]).0
}

/// Issues a DDW RTAS call the way a guest does: the buffer at `buffer` in guest RAM, then
/// `H_RTAS`; returns the return cells.
pub fn rtas<AS, C>(
    acc: &TceAccelerator<AS, C>,
    buffer: u64,
    token: u32,
    args: &[u32],
    nret: u32,
) -> Vec<u32>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend + GuestMemory,
    C: SpaprTceIommu,
{
    let call = RtasCall::new(GuestAddress(buffer), token, args, nret);
    let memory = acc.memory().memory();
    memory
        .write_slice(&call.to_bytes(), GuestAddress(buffer))
        .expect("RTAS buffer");
    let (status, _) = hcall(acc, H_RTAS, &[buffer]);
    assert_eq!(status, HcallStatus::SUCCESS);
    call.read_rets(&*memory).expect("RTAS return cells")
}

/// `ibm,create-pe-dma-window`; returns (status cell, LIOBN, start).
pub fn create_ddw<AS, C>(
    acc: &TceAccelerator<AS, C>,
    buffer: u64,
    buid: u64,
    page_shift: u32,
    window_shift: u32,
) -> (i32, u64, u64)
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend + GuestMemory,
    C: SpaprTceIommu,
{
    let args = CreateArgs {
        config_addr: ConfigAddr(0),
        buid: Buid(buid),
        page_shift,
        window_shift,
    }
    .to_args();
    let rets = rtas(
        acc,
        buffer,
        acc.ddw_tokens().create,
        &args,
        CreateArgs::NRET,
    );
    let cell = |i: usize| u64::from(rets[i]);
    (rets[0] as i32, cell(1), cell(2) << 32 | cell(3))
}
