// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Building the accelerator: validate the whole configuration first, then attach each
//! container (GET_INFO, pre-register all guest RAM, suppress the host's default window) and
//! create every default window.

use std::collections::{HashMap, HashSet};

use papr_hcall::{Liobn, PageShift};
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use crate::accelerator::{Route, TceAccelerator};
use crate::config::{AcceleratorConfig, DdwConfig, PeConfig, WindowConfig};
use crate::counters::{BackendCall, Counters};
use crate::error::SetupError;
use crate::kvm::accel::KvmAcceleration;
use crate::kvm::KvmConfig;
use crate::pe::{Pe, PeBackend, WindowEnv, DDW_SLOT, DEFAULT_SLOT};
use crate::ram::{self, RamMap};
use crate::window::WindowGeometry;

/// Log2 of a configured page size, which must be a power of two of at least 4 KiB.
fn page_shift_of(what: &'static str, size: Option<u64>) -> Result<Option<u32>, SetupError> {
    match size {
        None => Ok(None),
        Some(size) if size.is_power_of_two() && size >= 4096 => Ok(Some(size.trailing_zeros())),
        Some(size) => Err(SetupError::InvalidPageSize { what, size }),
    }
}

fn check_window(window: &WindowConfig) -> Result<(), SetupError> {
    WindowGeometry::new(window)
        .map(|_| ())
        .map_err(|source| SetupError::InvalidWindow {
            liobn: window.liobn,
            source,
        })
}

fn check_ddw(buid: u64, ddw: &DdwConfig) -> Result<(), SetupError> {
    let invalid = |reason| Err(SetupError::InvalidDdw { buid, reason });
    let valid_shifts = (PageShift::MIN..=PageShift::MAX).fold(0u64, |mask, s| mask | (1 << s));
    if ddw.guest_page_sizes == 0 || ddw.guest_page_sizes & !valid_shifts != 0 {
        return invalid("guest_page_sizes must offer page shifts between 12 and 34 only");
    }
    let largest_page = u64::BITS - 1 - ddw.guest_page_sizes.leading_zeros();
    if ddw.max_window_shift < largest_page || ddw.max_window_shift > 63 {
        return invalid("max_window_shift must be at least the largest page shift and below 64");
    }
    if ddw.dma64_window_addr & ((1u64 << largest_page) - 1) != 0 {
        return invalid("dma64_window_addr must be aligned to the largest offered page");
    }
    Ok(())
}

/// Checks every window, LIOBN and BUID before any container is touched.
fn validate<C>(config: &AcceleratorConfig<C>) -> Result<(), SetupError> {
    let mut liobns = HashSet::new();
    let mut claim = |liobn: Liobn| {
        if liobns.insert(liobn) {
            Ok(())
        } else {
            Err(SetupError::DuplicateLiobn(liobn))
        }
    };
    let mut buids = HashSet::new();
    for pe in &config.pes {
        if !buids.insert(pe.buid) {
            return Err(SetupError::DuplicateBuid(pe.buid));
        }
        check_window(&pe.default_window)?;
        claim(pe.default_window.liobn)?;
        if let Some(ddw) = &pe.ddw {
            check_ddw(pe.buid, ddw)?;
            claim(ddw.liobn)?;
        }
    }
    for window in &config.vio_windows {
        check_window(window)?;
        claim(window.liobn)?;
    }
    Ok(())
}

/// GET_INFO, pre-register every RAM region, and suppress the pending host default window
/// (kernel-host.md §3.4 TCE_REMOVE step 4: `REMOVE(0)` while the default window is pending
/// only clears the flag, so the guest's windows can take both slots).
fn attach<C: SpaprTceIommu>(
    container: C,
    buid: u64,
    ram: &RamMap,
    counters: &Counters,
) -> Result<PeBackend<C>, SetupError> {
    let info = container
        .info()
        .map_err(|source| SetupError::Info { buid, source })?;
    for region in ram.regions() {
        let vaddr = region.host_addr.ok_or(SetupError::NoHostMapping {
            gpa: region.guest_addr,
        })?;
        let registered = container.register_memory(vaddr, region.len);
        counters.backend(BackendCall::RegisterMemory, registered.is_err());
        registered.map_err(|source| SetupError::RegisterMemory {
            buid,
            vaddr,
            size: region.len,
            source,
        })?;
    }
    let removed = container.remove_window(0);
    counters.backend(BackendCall::RemoveWindow, removed.is_err());
    removed.map_err(|source| SetupError::RemoveDefaultWindow { buid, source })?;
    Ok(PeBackend {
        iommu: container,
        info,
        kvm_groups: Vec::new(),
    })
}

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Builds the accelerator: validates `config`, snapshots the guest RAM of `memory`,
    /// registers it with every container, replaces each container's default host window by
    /// one matching the PE's default guest window, and activates every default window.
    ///
    /// On error nothing is rolled back in the containers; they are dropped, and closing a
    /// container releases its registrations and windows in the kernel.
    pub fn new(memory: AS, config: AcceleratorConfig<C>) -> Result<Self, SetupError> {
        Self::build(memory, config, None)
    }

    /// [`new`](Self::new), with KVM acceleration when `kvm` is given
    /// ([`with_kvm`](Self::with_kvm)).
    pub(crate) fn build(
        memory: AS,
        config: AcceleratorConfig<C>,
        kvm: Option<KvmConfig>,
    ) -> Result<Self, SetupError> {
        let host_page_shift = page_shift_of("host page size", config.host_page_size)?
            .unwrap_or_else(ram::host_page_shift);
        let hugepage_shift = page_shift_of("hugepage size", config.hugepage_size)?;
        validate(&config)?;
        // Groups are added to KVM before any window exists (kernel-host.md §5.6 step 2).
        let (kvm, mut kvm_groups) = match kvm {
            Some(kvm) => {
                let (kvm, groups) = KvmAcceleration::start(kvm, &config.pes);
                (Some(kvm), groups)
            }
            None => (None, HashMap::new()),
        };
        let ram = {
            let snapshot = memory.memory();
            RamMap::from_memory(&*snapshot, host_page_shift, hugepage_shift)
        };
        let counters = Counters::default();
        let mut pes = Vec::with_capacity(config.pes.len() + config.vio_windows.len());
        let mut routes = HashMap::new();
        let env = WindowEnv {
            ram: &ram,
            host_page_shift,
            counters: &counters,
            kvm: kvm.as_ref(),
        };

        for PeConfig {
            buid,
            default_window,
            ddw,
            container,
        } in config.pes
        {
            let backend = match container {
                Some(container) => Some(PeBackend {
                    kvm_groups: kvm_groups.remove(&buid).unwrap_or_default(),
                    ..attach(container, buid, &ram, &counters)?
                }),
                None => None,
            };
            let pe = Pe::new(Some(buid), backend, default_window, ddw);
            pe.reset_to_default(env)
                .map_err(|source| SetupError::Window {
                    buid: Some(buid),
                    liobn: default_window.liobn,
                    source,
                })?;
            let index = pes.len();
            routes.insert(
                default_window.liobn.0,
                Route {
                    pe: index,
                    slot: DEFAULT_SLOT,
                },
            );
            if let Some(ddw) = ddw {
                routes.insert(
                    ddw.liobn.0,
                    Route {
                        pe: index,
                        slot: DDW_SLOT,
                    },
                );
            }
            pes.push(pe);
        }

        for window in config.vio_windows {
            let pe = Pe::new(None, None, window, None);
            pe.reset_to_default(env)
                .map_err(|source| SetupError::Window {
                    buid: None,
                    liobn: window.liobn,
                    source,
                })?;
            routes.insert(
                window.liobn.0,
                Route {
                    pe: pes.len(),
                    slot: DEFAULT_SLOT,
                },
            );
            pes.push(pe);
        }

        Ok(Self {
            memory,
            ram: crate::lifecycle::PublishedRam::new(ram, hugepage_shift),
            pes,
            routes,
            counters,
            host_page_shift,
            rtas: Default::default(),
            kvm,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LiobnScheme;

    fn pe(index: u32) -> PeConfig<()> {
        PeConfig::qemu_phb(index, &LiobnScheme::QEMU, None)
    }

    #[test]
    fn duplicates_are_rejected() {
        let mut config = AcceleratorConfig::<()> {
            pes: vec![pe(0), pe(0)],
            ..Default::default()
        };
        assert!(matches!(
            validate(&config),
            Err(SetupError::DuplicateBuid(_))
        ));
        let mut second = pe(1);
        second.default_window.liobn = Liobn(0x8000_0001);
        config.pes = vec![pe(0), second];
        assert!(matches!(
            validate(&config),
            Err(SetupError::DuplicateLiobn(Liobn(0x8000_0001)))
        ));
        config.pes = vec![pe(0)];
        config.vio_windows = vec![WindowConfig {
            liobn: Liobn(0x8000_0000),
            bus_offset: 0,
            size: 1 << 20,
            page_shift: PageShift::SZ_4K,
        }];
        assert!(matches!(
            validate(&config),
            Err(SetupError::DuplicateLiobn(_))
        ));
    }

    #[test]
    fn ddw_settings_are_checked() {
        let base = *pe(0).ddw.as_ref().unwrap();
        assert!(check_ddw(1, &base).is_ok());
        for bad in [
            DdwConfig {
                guest_page_sizes: 0,
                ..base
            },
            DdwConfig {
                guest_page_sizes: 1 << 11,
                ..base
            },
            DdwConfig {
                max_window_shift: 20,
                ..base
            },
            DdwConfig {
                max_window_shift: 64,
                ..base
            },
            DdwConfig {
                dma64_window_addr: 1 << 20,
                ..base
            },
        ] {
            assert!(
                matches!(check_ddw(1, &bad), Err(SetupError::InvalidDdw { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn page_sizes_must_be_powers_of_two() {
        assert_eq!(page_shift_of("x", None).unwrap(), None);
        assert_eq!(page_shift_of("x", Some(65536)).unwrap(), Some(16));
        assert!(page_shift_of("x", Some(2048)).is_err());
        assert!(page_shift_of("x", Some(3 << 12)).is_err());
    }
}
