// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Locked-memory preflight against the kernel reference model: for several configurations the
//! planned charge equals what the model charges once the accelerator is built and the guest
//! created its DDW; a limit of exactly the plan suffices and one page less does not.

#![cfg(feature = "model")]

mod lifecycle_support;

use std::sync::Arc;

use lifecycle_support::{create_ddw, host_addr, region, SwapMemory};
use spapr_tce::lifecycle::{
    ChargeKind, DdwSizing, HostPlatform, LockedMemoryPlan, MemlockLimit, PreflightError,
    PreflightOptions,
};
use spapr_tce::{AcceleratorConfig, LiobnScheme, PeConfig, TceAccelerator, WindowConfig};
use vfio_spapr::model::{ModelContainer, ModelProcess, PlatformProfile, ProcessId};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const RTAS_BUFFER: u64 = 4 * MIB - 4096;

struct Setup {
    memory: SwapMemory,
    profile: PlatformProfile,
    pes: u32,
    host_page_size: Option<u64>,
    hugepage_size: Option<u64>,
    default_window_size: u64,
    options: PreflightOptions,
}

/// The DDW the plan budgets for PE `buid`, as (page shift, window shift).
fn planned_ddw(plan: &LockedMemoryPlan, ddw_liobn: u64) -> Option<(u32, u32)> {
    plan.charges.iter().find_map(|c| match c.kind {
        ChargeKind::VfioWindow { guest, .. } if guest.liobn.0 == ddw_liobn => {
            Some((guest.page_shift.get(), guest.size.trailing_zeros()))
        }
        _ => None,
    })
}

impl Setup {
    fn config(&self, process: &ModelProcess) -> AcceleratorConfig<Arc<ModelContainer>> {
        AcceleratorConfig {
            pes: (0..self.pes)
                .map(|i| {
                    let model = Arc::new(ModelContainer::new_in(process, self.profile.clone()));
                    let mut pe = PeConfig::qemu_phb(i, &LiobnScheme::QEMU, Some(model));
                    pe.default_window.size = self.default_window_size;
                    pe
                })
                .collect(),
            host_page_size: self.host_page_size,
            hugepage_size: self.hugepage_size,
            ..Default::default()
        }
    }

    /// Plans, builds, lets the guest create the planned DDW on every PE, and returns the plan
    /// with the model's charge, or the first failure.
    fn run(
        &self,
        limit_pages: Option<u64>,
        backing: &[(u64, u64, u32)],
    ) -> Result<(LockedMemoryPlan, u64), String> {
        let process = ModelProcess::new(ProcessId::DEFAULT, limit_pages);
        for &(vaddr, len, shift) in backing {
            process.set_backing(vaddr, len, shift).expect("backing");
        }
        let config = self.config(&process);
        let plan = LockedMemoryPlan::for_config(&self.memory, &config, &self.options)
            .map_err(|e| e.to_string())?;
        let acc = TceAccelerator::new(self.memory.clone(), config).map_err(|e| e.to_string())?;
        for i in 0..self.pes {
            let ddw_liobn = LiobnScheme::QEMU.liobn(i, 1).0;
            if let Some((page_shift, window_shift)) = planned_ddw(&plan, ddw_liobn) {
                let buid = PeConfig::<()>::QEMU_BUID_BASE + u64::from(i);
                let (status, liobn, _) =
                    create_ddw(&acc, RTAS_BUFFER, buid, page_shift, window_shift);
                if status != 0 {
                    return Err(format!("PE {i}: create returned {status}"));
                }
                assert_eq!(liobn, ddw_liobn);
            }
        }
        spapr_tce::check::check_invariants(&acc).expect("invariants");
        Ok((plan, process.locked_vm_pages()))
    }

    /// The plan equals the model's charge, and the kernel's limit check agrees at the edge.
    fn verify(&self, backing: &[(u64, u64, u32)]) -> LockedMemoryPlan {
        let (plan, charged) = self.run(None, backing).expect("unlimited");
        assert_eq!(plan.vfio_pages(), charged, "plan {:#?}", plan.charges);
        assert!(
            self.run(Some(charged), backing).is_ok(),
            "exactly the plan suffices"
        );
        assert!(
            self.run(Some(charged - 1), backing).is_err(),
            "one page less fails"
        );
        plan
    }
}

fn host_page_size() -> u64 {
    1 << spapr_tce::ram::host_page_shift()
}

fn anonymous(regions: &[(u64, u64)]) -> SwapMemory {
    SwapMemory::new(
        regions
            .iter()
            .map(|&(gpa, len)| region(gpa, len, 2 * MIB, false))
            .collect(),
    )
}

#[test]
fn one_pe_default_window_only() {
    let setup = Setup {
        memory: anonymous(&[(0, 64 * MIB), (64 * MIB, 32 * MIB)]),
        profile: PlatformProfile::for_host(host_page_size()),
        pes: 1,
        host_page_size: None,
        hugepage_size: None,
        default_window_size: GIB,
        options: PreflightOptions::new(HostPlatform::PowerNv),
    };
    let plan = setup.verify(&[]);
    let registrations = plan
        .charges
        .iter()
        .filter(|c| matches!(c.kind, ChargeKind::Registration { .. }))
        .count();
    assert_eq!(registrations, 2);
}

#[test]
fn several_pes_share_registrations_and_get_a_ddw_covering_maxmem() {
    let setup = Setup {
        memory: anonymous(&[(0, 128 * MIB)]),
        profile: PlatformProfile::for_host(host_page_size()),
        pes: 3,
        host_page_size: None,
        hugepage_size: None,
        default_window_size: GIB,
        options: PreflightOptions {
            ddw: DdwSizing::CoverMemory {
                max_memory_addr: 4 * GIB,
            },
            ..PreflightOptions::new(HostPlatform::PowerNv)
        },
    };
    let plan = setup.verify(&[]);
    // The guest takes the largest offered page (16 MiB) over 2^32 bytes.
    assert_eq!(planned_ddw(&plan, 0x8000_0001), Some((24, 32)));
    let registrations: Vec<_> = plan
        .charges
        .iter()
        .filter(|c| matches!(c.kind, ChargeKind::Registration { .. }))
        .collect();
    assert_eq!(
        registrations.len(),
        1,
        "one registration for three containers"
    );
    let windows = plan
        .charges
        .iter()
        .filter(|c| matches!(c.kind, ChargeKind::VfioWindow { .. }))
        .count();
    assert_eq!(windows, 6);
}

#[test]
fn pseries_host_one_level_tables() {
    let setup = Setup {
        memory: anonymous(&[(0, 128 * MIB)]),
        profile: PlatformProfile::pseries_nested(),
        pes: 2,
        host_page_size: Some(4096),
        hugepage_size: None,
        default_window_size: 256 * MIB,
        options: PreflightOptions {
            ddw: DdwSizing::Window {
                page_shift: 16,
                window_shift: 31,
            },
            ..PreflightOptions::new(HostPlatform::Pseries)
        },
    };
    setup.verify(&[]);
}

#[test]
fn hugepage_backing_on_a_64k_host() {
    const HUGE: u64 = 16 * MIB;
    let ram = region(0, GIB, HUGE, true);
    let backing = [(host_addr(&ram), GIB, 24)];
    let setup = Setup {
        memory: SwapMemory::new(vec![ram]),
        profile: PlatformProfile::powernv_power8(),
        pes: 2,
        host_page_size: Some(64 << 10),
        hugepage_size: Some(HUGE),
        default_window_size: GIB,
        options: PreflightOptions {
            ddw: DdwSizing::CoverMemory {
                max_memory_addr: 1 << 40,
            },
            ..PreflightOptions::new(HostPlatform::PowerNv)
        },
    };
    let plan = setup.verify(&backing);
    let ddw = plan.charges.iter().find_map(|c| match c.kind {
        ChargeKind::VfioWindow {
            guest,
            page_shift,
            levels,
            ..
        } if guest.liobn.0 == 0x8000_0001 => Some((guest.size, page_shift, levels, c.pages)),
        _ => None,
    });
    // 1 TiB of 16 MiB pages on 16 MiB IOMMU pages: 2^16 TCEs, 512 KiB, twice, in 64 KiB pages.
    assert_eq!(ddw, Some((1 << 40, 24, 1, 16)));
    assert_eq!(plan.host_page_shift, 16);
}

#[test]
fn kvm_tables_and_hotplug_are_budgeted() {
    let memory = anonymous(&[(0, 64 * MIB)]);
    let process = ModelProcess::new(ProcessId::DEFAULT, None);
    let config = AcceleratorConfig {
        pes: vec![PeConfig::qemu_phb(
            0,
            &LiobnScheme::QEMU,
            Some(Arc::new(ModelContainer::new_in(
                &process,
                PlatformProfile::for_host(host_page_size()),
            ))),
        )],
        vio_windows: vec![WindowConfig {
            liobn: papr_hcall::Liobn(0x7100_0000),
            bus_offset: 0,
            size: 256 * MIB,
            page_shift: papr_hcall::PageShift::SZ_4K,
        }],
        host_page_size: Some(4096),
        ..Default::default()
    };
    let base = PreflightOptions::new(HostPlatform::PowerNv);
    let without = LockedMemoryPlan::for_config(&memory, &config, &base).unwrap();
    let with = LockedMemoryPlan::for_config(
        &memory,
        &config,
        &PreflightOptions {
            kvm_tables: true,
            hotplug_bytes: 32 * MIB,
            ..base
        },
    )
    .unwrap();
    // KVM: 1 GiB/4K = 2^18 TCEs = 512 pages + 2 descriptor pages; the VIO window 2^16 TCEs =
    // 128 pages + 1. Hotplug: 32 MiB / 4 KiB.
    assert_eq!(with.total_pages() - without.total_pages(), 514 + 129 + 8192);
    assert_eq!(with.vfio_pages() - without.vfio_pages(), 8192);

    // The limit check and its message.
    let needed = with.total_bytes();
    assert!(with.check(MemlockLimit::Bytes(needed), 0).is_ok());
    assert!(with.check(MemlockLimit::CapIpcLock, 0).is_ok());
    assert!(with.check(MemlockLimit::Unlimited, u64::MAX).is_ok());
    match with.check(MemlockLimit::Bytes(needed), 4096) {
        Err(
            error @ PreflightError::MemlockTooLow {
                required_bytes,
                required_kib,
                ..
            },
        ) => {
            assert_eq!(required_bytes, needed + 4096);
            assert_eq!(required_kib, (needed + 4096) / 1024);
            let message = error.to_string();
            assert!(
                message.contains(&format!("ulimit -l {required_kib}")),
                "{message}"
            );
            assert!(
                message.contains("hard_limit") && message.contains("CAP_IPC_LOCK"),
                "{message}"
            );
        }
        other => panic!("expected MemlockTooLow, got {other:?}"),
    }
    // This process: whatever its limit, the check runs.
    let _ = with.check_current_process();
    drop(process);
}
