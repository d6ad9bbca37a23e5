// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Locked-memory preflight: before the VMM starts, what a configuration will charge to the
//! process's `locked_vm`, item by item, checked against RLIMIT_MEMLOCK with an actionable
//! error (qemu-and-guest.md §6 item 6: "document and precompute the exact memlock
//! requirement; a clear formula beats libvirt's heuristic").
//!
//! Charges (kernel-host.md §3.7, checklist item 51):
//! * each guest RAM region pre-registered: `size / PAGE_SIZE`, **once** per process however
//!   many containers register it (the `mm` refcounts it, §4.1), plus RAM that may be
//!   hot-added later;
//! * each host window the accelerator creates (default windows at start, the DDW a guest
//!   creates), at the geometry the accelerator chooses for it (same page-size and level
//!   choice as [`crate::HostWindow`]), with the platform's table-size formula (§3.5);
//! * with in-kernel acceleration, each KVM guest-view table (§5.2, `kvmppc_stt_pages`).
//!
//! The host's own default window is never created (the accelerator removes it while it is
//! still pending), so it is not charged.

use papr_hcall::Liobn;
use vfio_spapr::{IommuError, SpaprIommuInfo, SpaprTceIommu};
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::memlock::{
    current_locked_bytes, current_memlock_limit, kvm_table_locked_pages, vfio_table_bytes,
    HostPlatform, MemlockLimit, KVM_TABLE_DESCRIPTOR_BYTES,
};
use crate::config::{AcceleratorConfig, DdwConfig, WindowConfig};
use crate::host_window::{plan, select_page_shift, HostWindowError};
use crate::ram::{self, RamMap};
use crate::window::WindowGeometry;

/// Which dynamic window to budget for on every PE with DDW.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DdwSizing {
    /// No dynamic window (the guest does not use DDW).
    None,
    /// What a Linux guest creates: a window covering guest-physical memory up to
    /// `max_memory_addr` (its maximum memory including hotplug, `ibm,lrdr-capacity`), of the
    /// largest TCE page size the PE offers (kernel-host.md Appendix A, qemu-and-guest.md §3.4).
    CoverMemory {
        /// One past the highest guest-physical RAM address, hotplug included.
        max_memory_addr: u64,
    },
    /// An explicit window of 2^`window_shift` bytes of 2^`page_shift` pages.
    Window {
        /// Guest TCE page shift.
        page_shift: u32,
        /// log2 of the window size.
        window_shift: u32,
    },
}

/// What the preflight assumes beyond the accelerator configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PreflightOptions {
    /// The host's platform code ([`HostPlatform::detect`] on the host itself).
    pub platform: HostPlatform,
    /// The dynamic window to budget for.
    pub ddw: DdwSizing,
    /// Guest RAM that may be hot-added later, in bytes (registered then).
    pub hotplug_bytes: u64,
    /// Whether every window gets an in-kernel KVM table.
    pub kvm_tables: bool,
    /// `sizeof(struct kvmppc_spapr_tce_table)` ([`KVM_TABLE_DESCRIPTOR_BYTES`]).
    pub kvm_descriptor_bytes: u64,
}

impl PreflightOptions {
    /// Budget for `platform` with no DDW, no hotplug and no KVM tables.
    pub fn new(platform: HostPlatform) -> Self {
        Self {
            platform,
            ddw: DdwSizing::None,
            hotplug_bytes: 0,
            kvm_tables: false,
            kvm_descriptor_bytes: KVM_TABLE_DESCRIPTOR_BYTES,
        }
    }
}

/// What one charge is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChargeKind {
    /// Pre-registration of a guest RAM region.
    Registration {
        /// First guest-physical address.
        guest_addr: u64,
        /// Size in bytes.
        len: u64,
    },
    /// Pre-registration of RAM hot-added later.
    Hotplug {
        /// Size in bytes.
        len: u64,
    },
    /// A host window (TCE_CREATE).
    VfioWindow {
        /// The PE.
        buid: u64,
        /// The guest window it backs.
        liobn: Liobn,
        /// The guest window.
        guest: WindowConfig,
        /// Host IOMMU page shift.
        page_shift: u32,
        /// Host window size (a power of two).
        window_size: u64,
        /// Table levels.
        levels: u32,
    },
    /// A KVM guest-view table.
    KvmTable {
        /// The window.
        liobn: Liobn,
        /// Its TCEs.
        entries: u64,
    },
}

/// One charge to `locked_vm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Charge {
    /// What it is for.
    pub kind: ChargeKind,
    /// Host pages charged.
    pub pages: u64,
}

/// Why the preflight failed.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The configuration itself is invalid (what `TceAccelerator::new` would refuse).
    #[error("configuration: {0}")]
    Config(String),
    /// GET_INFO failed on a container.
    #[error("PE {buid:#x}: GET_INFO: {source}")]
    Info {
        /// The PE.
        buid: u64,
        /// The container error.
        source: IommuError,
    },
    /// No host window can back a window; the accelerator would fail the same way.
    #[error("PE {buid:#x}, window {liobn}: {source}")]
    HostWindow {
        /// The PE.
        buid: u64,
        /// The window.
        liobn: Liobn,
        /// Why.
        source: HostWindowError,
    },
    /// The kernel would refuse the window's table outright (EINVAL).
    #[error("PE {buid:#x}, window {liobn}: the host refuses a 2^{page_shift}-page table of {window_size:#x} bytes in {levels} levels")]
    Table {
        /// The PE.
        buid: u64,
        /// The window.
        liobn: Liobn,
        /// Host page shift.
        page_shift: u32,
        /// Host window size.
        window_size: u64,
        /// Levels.
        levels: u32,
    },
    /// The limit is too low.
    #[error(
        "locked memory: this VM needs {needed_bytes} bytes ({needed_pages} pages of {page_size}) \
         on top of {already_locked_bytes} already locked, but RLIMIT_MEMLOCK is {limit_bytes} \
         bytes. Raise it to at least {required_bytes} bytes (`ulimit -l {required_kib}`, systemd \
         `LimitMEMLOCK={required_bytes}`, libvirt `<memtune><hard_limit unit='KiB'>` of at least \
         {required_kib} plus the VM's other memory) or grant CAP_IPC_LOCK"
    )]
    MemlockTooLow {
        /// What the plan charges.
        needed_bytes: u64,
        /// The same in host pages.
        needed_pages: u64,
        /// Host page size.
        page_size: u64,
        /// Already in `locked_vm`.
        already_locked_bytes: u64,
        /// RLIMIT_MEMLOCK.
        limit_bytes: u64,
        /// The smallest sufficient limit.
        required_bytes: u64,
        /// The same in KiB, for `ulimit -l`.
        required_kib: u64,
    },
    /// The limit could not be read.
    #[error("reading RLIMIT_MEMLOCK: {0}")]
    Limit(#[from] std::io::Error),
}

/// Every charge a configuration makes to `locked_vm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedMemoryPlan {
    /// Host page shift (the accounting unit).
    pub host_page_shift: u32,
    /// The charges.
    pub charges: Vec<Charge>,
}

fn shift_of(size: Option<u64>) -> Result<Option<u32>, PreflightError> {
    match size {
        None => Ok(None),
        Some(size) if size.is_power_of_two() && size >= 4096 => Ok(Some(size.trailing_zeros())),
        Some(size) => Err(PreflightError::Config(format!("page size {size:#x}"))),
    }
}

/// The dynamic window budgeted for `ddw` (None when the sizing asks for none or nothing fits).
fn ddw_window(
    sizing: DdwSizing,
    ddw: &DdwConfig,
    info: Option<&SpaprIommuInfo>,
    ram_shift: Option<u32>,
) -> Option<WindowConfig> {
    let (page_shift, window_shift) = match sizing {
        DdwSizing::None => return None,
        DdwSizing::Window {
            page_shift,
            window_shift,
        } => (page_shift, window_shift),
        DdwSizing::CoverMemory { max_memory_addr } => {
            // The largest offered page the host can back, as query advertises it.
            let page_shift = (12..64).rev().find(|&shift| {
                ddw.offers_page_shift(shift)
                    && info.and_then(|info| info.ddw).is_none_or(|host| {
                        select_page_shift(&host, shift, ram_shift.unwrap_or(shift)).is_some()
                    })
            })?;
            let cover = max_memory_addr
                .checked_next_power_of_two()
                .map_or(64, u64::trailing_zeros);
            (page_shift, cover.max(page_shift).min(ddw.max_window_shift))
        }
    };
    Some(WindowConfig {
        liobn: ddw.liobn,
        bus_offset: ddw.dma64_window_addr,
        size: 1u64.checked_shl(window_shift)?,
        page_shift: papr_hcall::PageShift::new(page_shift)?,
    })
}

impl LockedMemoryPlan {
    /// The charges of building `TceAccelerator::new(memory, config)` and of the guest then
    /// creating the dynamic window of `options.ddw` on every PE with DDW. Calls GET_INFO on
    /// each container (which charges nothing).
    pub fn for_config<AS, C>(
        memory: &AS,
        config: &AcceleratorConfig<C>,
        options: &PreflightOptions,
    ) -> Result<Self, PreflightError>
    where
        AS: GuestAddressSpace,
        AS::M: GuestMemoryBackend,
        C: SpaprTceIommu,
    {
        let host_page_shift = shift_of(config.host_page_size)?.unwrap_or_else(ram::host_page_shift);
        let hugepage_shift = shift_of(config.hugepage_size)?;
        let ram = RamMap::from_memory(&*memory.memory(), host_page_shift, hugepage_shift);
        let mut plan = Self {
            host_page_shift,
            charges: Vec::new(),
        };
        let containers = config.pes.iter().any(|pe| pe.container.is_some());
        if containers {
            for region in ram.regions().iter().filter(|r| r.host_addr.is_some()) {
                plan.push(
                    ChargeKind::Registration {
                        guest_addr: region.guest_addr,
                        len: region.len,
                    },
                    region.len >> host_page_shift,
                );
            }
            if options.hotplug_bytes > 0 {
                let pages = options.hotplug_bytes.div_ceil(1 << host_page_shift);
                plan.push(
                    ChargeKind::Hotplug {
                        len: options.hotplug_bytes,
                    },
                    pages,
                );
            }
        }
        for pe in &config.pes {
            let info = match &pe.container {
                Some(container) => {
                    Some(container.info().map_err(|source| PreflightError::Info {
                        buid: pe.buid,
                        source,
                    })?)
                }
                None => None,
            };
            let ddw = pe
                .ddw
                .as_ref()
                .and_then(|ddw| ddw_window(options.ddw, ddw, info.as_ref(), ram.min_iommu_shift()));
            for window in std::iter::once(pe.default_window).chain(ddw) {
                if let Some(info) = &info {
                    plan.vfio_window(pe.buid, info, &window, &ram, options.platform)?;
                }
                plan.kvm_table(options, &window);
            }
        }
        for window in &config.vio_windows {
            plan.kvm_table(options, window);
        }
        Ok(plan)
    }

    fn push(&mut self, kind: ChargeKind, pages: u64) {
        self.charges.push(Charge { kind, pages });
    }

    fn vfio_window(
        &mut self,
        buid: u64,
        info: &SpaprIommuInfo,
        guest: &WindowConfig,
        ram: &RamMap,
        platform: HostPlatform,
    ) -> Result<(), PreflightError> {
        let liobn = guest.liobn;
        let geometry = WindowGeometry::new(guest)
            .map_err(|e| PreflightError::Config(format!("window {liobn}: {e}")))?;
        let request = plan(info, &geometry, ram.min_iommu_shift(), self.host_page_shift).map_err(
            |source| PreflightError::HostWindow {
                buid,
                liobn,
                source,
            },
        )?;
        let bytes = vfio_table_bytes(
            platform,
            request.page_shift,
            request.window_size,
            request.levels,
            self.host_page_shift,
        )
        .ok_or(PreflightError::Table {
            buid,
            liobn,
            page_shift: request.page_shift,
            window_size: request.window_size,
            levels: request.levels,
        })?;
        self.push(
            ChargeKind::VfioWindow {
                buid,
                liobn,
                guest: *guest,
                page_shift: request.page_shift,
                window_size: request.window_size,
                levels: request.levels,
            },
            bytes >> self.host_page_shift,
        );
        Ok(())
    }

    fn kvm_table(&mut self, options: &PreflightOptions, window: &WindowConfig) {
        if options.kvm_tables {
            let entries = window.entries();
            let pages =
                kvm_table_locked_pages(entries, self.host_page_shift, options.kvm_descriptor_bytes);
            self.push(
                ChargeKind::KvmTable {
                    liobn: window.liobn,
                    entries,
                },
                pages,
            );
        }
    }

    /// Host pages charged in all.
    pub fn total_pages(&self) -> u64 {
        self.charges.iter().map(|c| c.pages).sum()
    }

    /// Bytes charged in all.
    pub fn total_bytes(&self) -> u64 {
        self.total_pages() << self.host_page_shift
    }

    /// Pages charged through VFIO (registrations, hotplug and host windows), without KVM.
    pub fn vfio_pages(&self) -> u64 {
        self.charges
            .iter()
            .filter(|c| !matches!(c.kind, ChargeKind::KvmTable { .. }))
            .map(|c| c.pages)
            .sum()
    }

    /// Checks the plan against `limit` with `already_locked_bytes` in `locked_vm`, with the
    /// kernel's comparison: `locked + pages > limit >> PAGE_SHIFT` fails.
    pub fn check(
        &self,
        limit: MemlockLimit,
        already_locked_bytes: u64,
    ) -> Result<(), PreflightError> {
        let MemlockLimit::Bytes(limit_bytes) = limit else {
            return Ok(());
        };
        let page_size = 1u64 << self.host_page_shift;
        let needed_pages = self.total_pages();
        let already_pages = already_locked_bytes.div_ceil(page_size);
        let required_pages = already_pages.saturating_add(needed_pages);
        if required_pages <= limit_bytes >> self.host_page_shift {
            return Ok(());
        }
        let required_bytes = required_pages.saturating_mul(page_size);
        Err(PreflightError::MemlockTooLow {
            needed_bytes: needed_pages.saturating_mul(page_size),
            needed_pages,
            page_size,
            already_locked_bytes,
            limit_bytes,
            required_bytes,
            required_kib: required_bytes.div_ceil(1024),
        })
    }

    /// [`check`](Self::check) against this process: CAP_IPC_LOCK, RLIMIT_MEMLOCK and what
    /// it has locked already (`VmLck`). Returns the limit that applied.
    pub fn check_current_process(&self) -> Result<MemlockLimit, PreflightError> {
        let limit = current_memlock_limit()?;
        self.check(limit, current_locked_bytes())?;
        Ok(limit)
    }
}
