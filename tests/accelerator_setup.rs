// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Building the accelerator against the reference model: configuration errors, container
//! failures, host placement mismatches, and the IOMMU page size chosen for the RAM backing.

#![cfg(feature = "model")]

mod common;

use std::sync::Arc;

use common::*;
use papr_hcall::{HcallStatus, Liobn, PageShift};
use spapr_tce::{
    AcceleratorConfig, HostWindowError, LiobnScheme, PeConfig, SetupError, TceAccelerator,
    WindowError,
};
use vfio_spapr::model::{ModelContainer, PlatformProfile};
use vfio_spapr::IommuOp;
use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{GuestAddress, GuestMemoryMmap, GuestRegionMmap};

fn build(config: AcceleratorConfig<Container>) -> Result<Accelerator, SetupError> {
    TceAccelerator::new(guest_memory(), config)
}

fn with_profile(profile: PlatformProfile) -> Container {
    Arc::new(ModelContainer::new(profile))
}

#[test]
fn pseries_host_places_large_windows_at_bit_59() {
    // A nested pSeries host re-creates a default window at 0 only for 4 KiB pages up to its
    // 256 MiB dma32 size; QEMU's 1 GiB default window lands at 2^59: refused clearly.
    let model = with_profile(PlatformProfile {
        host_page_shift: 12,
        ..PlatformProfile::pseries_nested()
    });
    let err = build(config(&model, PageShift::SZ_4K, 1 << 30)).unwrap_err();
    assert!(
        matches!(
            err,
            SetupError::Window {
                buid: Some(VFIO_BUID),
                liobn: VFIO_LIOBN,
                source: WindowError::Host(HostWindowError::StartMismatch {
                    expected: 0,
                    actual: 0x0800_0000_0000_0000
                })
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("2^59"), "{err}");
    assert!(
        model.windows().is_empty(),
        "the misplaced window was removed"
    );

    let model = with_profile(PlatformProfile {
        host_page_shift: 12,
        ..PlatformProfile::pseries_nested()
    });
    let acc = build(config(&model, PageShift::SZ_4K, 256 << 20)).unwrap();
    let host = acc.window(VFIO_LIOBN).unwrap().host.unwrap();
    assert_eq!((host.start, host.levels), (0, 1));
}

#[test]
fn container_failures_are_setup_errors() {
    let model = model();
    model.inject_fault(IommuOp::GetInfo, 1, libc::ENXIO);
    let err = build(config(&model, PageShift::SZ_4K, 1 << 30)).unwrap_err();
    assert!(
        matches!(
            err,
            SetupError::Info {
                buid: VFIO_BUID,
                ..
            }
        ),
        "{err:?}"
    );

    let model = common::model();
    model.inject_fault(IommuOp::RegisterMemory, 2, libc::ENOMEM);
    let err = build(config(&model, PageShift::SZ_4K, 1 << 30)).unwrap_err();
    match &err {
        SetupError::RegisterMemory { size, source, .. } => {
            assert_eq!((*size, source.errno), (REGION_B.1, libc::ENOMEM));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("RLIMIT_MEMLOCK"), "{err}");

    let model = common::model();
    model.inject_fault(IommuOp::CreateWindow, 1, libc::ENOMEM);
    let err = build(config(&model, PageShift::SZ_4K, 1 << 30)).unwrap_err();
    assert!(
        matches!(
            err,
            SetupError::Window {
                source: WindowError::Host(HostWindowError::Create(_)),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn locked_memory_limit_is_reported() {
    let limit_pages = (REGION_A.1 / host_page_size()) - 1;
    let model = with_profile(PlatformProfile {
        locked_vm_limit_pages: Some(limit_pages),
        ..PlatformProfile::for_host(host_page_size())
    });
    let err = build(config(&model, PageShift::SZ_4K, 1 << 30)).unwrap_err();
    assert!(
        matches!(&err, SetupError::RegisterMemory { source, .. } if source.errno == libc::ENOMEM),
        "{err:?}"
    );
}

#[test]
fn host_without_dynamic_windows() {
    let model = with_profile(PlatformProfile {
        max_windows: 0,
        ..PlatformProfile::for_host(host_page_size())
    });
    let err = build(config(&model, PageShift::SZ_4K, 1 << 30)).unwrap_err();
    assert!(
        matches!(
            err,
            SetupError::Window {
                source: WindowError::Host(HostWindowError::NoDynamicWindows),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn invalid_configurations() {
    let model = common::model();
    let mut bad_window = config(&model, PageShift::SZ_4K, 1 << 30);
    bad_window.pes[1].default_window.size = 0x1800;
    assert!(matches!(
        build(bad_window),
        Err(SetupError::InvalidWindow {
            liobn: EMU_LIOBN,
            ..
        })
    ));
    let mut duplicate = config(&model, PageShift::SZ_4K, 1 << 30);
    duplicate.vio_windows[0].liobn = VFIO_DDW_LIOBN;
    assert!(matches!(
        build(duplicate),
        Err(SetupError::DuplicateLiobn(VFIO_DDW_LIOBN))
    ));
    let mut huge = config(&model, PageShift::SZ_4K, 1 << 30);
    huge.hugepage_size = Some(3 << 20);
    assert!(matches!(
        build(huge),
        Err(SetupError::InvalidPageSize {
            size: 0x30_0000,
            ..
        })
    ));
    // Nothing touched the container.
    assert!(model.registrations().is_empty());
    assert_eq!(model.counters().op(IommuOp::GetInfo).calls(), 0);
}

#[test]
fn builder_with_qemu_defaults() {
    let model = common::model();
    let acc = TceAccelerator::builder(guest_memory())
        .liobn_scheme(LiobnScheme {
            base: 0x4000_0000,
            phb_shift: 4,
        })
        .host_page_size(host_page_size())
        .qemu_phb(2, Some(model.clone()))
        .build()
        .unwrap();
    let window = acc.window(Liobn(0x4000_0020)).unwrap();
    assert_eq!((window.bus_offset, window.size), (0, 1 << 30));
    assert!(acc.window(Liobn(0x4000_0021)).is_none());
    assert!(acc.container(0x0800_0000_2000_0002).is_some());
    assert!(acc.container(VFIO_BUID).is_none());
}

/// Guest RAM flagged as hugetlbfs, with host mappings aligned to `align` (the test cannot
/// get real huge pages; the model is told the backing instead).
fn hugetlbfs_memory(regions: &[(u64, u64)], align: u64) -> Arc<GuestMemoryMmap> {
    let regions = regions
        .iter()
        .map(|&(gpa, size)| {
            let total = (size + align) as usize;
            // SAFETY: an anonymous private mapping at an address of the kernel's choice
            // cannot alias any Rust object; it is never unmapped (leaked for the test).
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
            // SAFETY: [aligned, aligned + size) lies inside the mapping made above, which
            // stays mapped for the rest of the process.
            let builder = unsafe {
                MmapRegionBuilder::new(size as usize).with_raw_mmap_pointer(aligned as *mut u8)
            };
            let region = builder
                .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
                .with_mmap_flags(libc::MAP_PRIVATE | libc::MAP_ANONYMOUS)
                .with_hugetlbfs(true)
                .build()
                .unwrap();
            GuestRegionMmap::new(region, GuestAddress(gpa)).unwrap()
        })
        .collect();
    Arc::new(GuestMemoryMmap::from_regions(regions).unwrap())
}

#[test]
fn hugetlbfs_ram_allows_large_host_iommu_pages() {
    const HUGE: u64 = 2 << 20;
    let memory = hugetlbfs_memory(&[(0, 64 << 20), (64 << 20, 32 << 20)], HUGE);
    let model = common::model();
    for region in vm_memory::GuestMemoryBackend::iter(&*memory) {
        let vaddr = region.as_ptr() as u64;
        model.set_backing(vaddr, region.size() as u64, 21).unwrap();
    }
    let mut pe = PeConfig::qemu_phb(0, &LiobnScheme::QEMU, Some(model.clone()));
    pe.default_window.page_shift = PageShift::SZ_16M;
    let config = AcceleratorConfig {
        pes: vec![pe],
        hugepage_size: Some(HUGE),
        host_page_size: Some(host_page_size()),
        ..AcceleratorConfig::default()
    };
    let acc = TceAccelerator::new(memory, config).unwrap();
    assert!(acc.ram().regions().iter().all(|r| r.max_iommu_shift == 21));
    assert_eq!(acc.window(VFIO_LIOBN).unwrap().host.unwrap().page_shift, 21);
    assert!(model.registrations().iter().all(|r| r.page_shift == 21));
    // One 16 MiB TCE: one MAP_DMA, eight 2 MiB host entries.
    let args = common::args(&[VFIO_LIOBN.0, 1 << 24, (16 << 20) | 3]);
    let out = acc.handle_hcall(papr_hcall::H_PUT_TCE, &args).unwrap();
    assert_eq!(out.status, HcallStatus::SUCCESS);
    assert_eq!(model.mapped_pages(), 8);
    assert_eq!(acc.counters().backend.map_dma, 1);
    spapr_tce::check::check_invariants(&acc).unwrap();
}
