// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The world a fuzz input runs in ([`layout`](super::layout)): guest memory, one simulated
//! process with two model containers, and the accelerator over them; plus selector
//! resolution and simple hypercall helpers that the hostile-input tests use too.

use std::sync::Arc;

use papr_hcall::{HcallOutcome, HcallRequest, HcallStatus, Ioba, Liobn, PageShift, Tce};
use vfio_spapr::model::{ModelContainer, ModelProcess, PlatformProfile, ProcessId};
use vm_memory::{Be64, Bytes, GuestAddress, GuestMemoryMmap, GuestRegionMmap};

use super::failure::Violation;
use super::layout::{
    DEFAULT_WINDOW_SIZE, HOLE, HOTPLUG, KNOWN_LIOBNS, PE0_BUID, PE1_BUID, RAM_END, REGIONS,
    UNKNOWN_BUID, VIO, VIO_WINDOW_SIZE,
};
use super::select::{CountSel, GpaSel, IobaSel, LiobnSel, PeSel, TceSel};
use crate::{AcceleratorConfig, LiobnScheme, PeConfig, TceAccelerator, WindowConfig, WindowInfo};

/// Guest memory of the world.
pub type Memory = Arc<GuestMemoryMmap>;
/// A container of the world.
pub type Container = Arc<ModelContainer>;
/// The accelerator of the world.
pub type Accelerator = TceAccelerator<Memory, Container>;

/// A window's bus geometry, for resolving selectors and checking rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Bus address of the first entry.
    pub bus_offset: u64,
    /// Page shift.
    pub page_shift: u32,
    /// Number of entries.
    pub entries: u64,
}

impl Geometry {
    /// Geometry used to resolve selectors for a LIOBN without an active window: QEMU's
    /// default window (1 GiB of 4 KiB pages at 0).
    pub const FALLBACK: Self = Self {
        bus_offset: 0,
        page_shift: 12,
        entries: DEFAULT_WINDOW_SIZE >> 12,
    };

    /// The geometry of an active window.
    pub fn of(info: &WindowInfo) -> Self {
        Self {
            bus_offset: info.bus_offset,
            page_shift: info.page_shift.get(),
            entries: info.size >> info.page_shift.get(),
        }
    }

    /// Page size in bytes.
    pub fn page_size(&self) -> u64 {
        1 << self.page_shift
    }

    /// The entry index at `ioba` if it is page aligned and inside the window.
    pub fn index(&self, ioba: u64) -> Option<u64> {
        if ioba & (self.page_size() - 1) != 0 {
            return None;
        }
        let index = ioba.checked_sub(self.bus_offset)? >> self.page_shift;
        (index < self.entries).then_some(index)
    }

    /// Bus address of entry `index`.
    pub fn ioba(&self, index: u64) -> u64 {
        self.bus_offset
            .wrapping_add(index.wrapping_shl(self.page_shift))
    }
}

/// The host page size of this machine, which the model containers must use since they
/// register the real guest memory mappings.
pub fn host_page_size() -> u64 {
    1 << crate::ram::host_page_shift()
}

/// Builds the guest memory of [`layout`](super::layout).
pub fn guest_memory() -> Result<Memory, Violation> {
    let ranges: Vec<(GuestAddress, usize)> = REGIONS
        .iter()
        .map(|&(start, len)| (GuestAddress(start), len as usize))
        .collect();
    GuestMemoryMmap::<()>::from_ranges(&ranges)
        .map(Arc::new)
        .map_err(|e| Violation::Setup(format!("guest memory: {e}")))
}

/// The accelerator configuration of [`layout`](super::layout) over `containers`.
pub fn config(containers: &[Container; 2]) -> AcceleratorConfig<Container> {
    AcceleratorConfig {
        pes: vec![
            PeConfig::qemu_phb(0, &LiobnScheme::QEMU, Some(containers[0].clone())),
            PeConfig::qemu_phb(1, &LiobnScheme::QEMU, Some(containers[1].clone())),
        ],
        vio_windows: vec![WindowConfig {
            liobn: VIO,
            bus_offset: 0,
            size: VIO_WINDOW_SIZE,
            page_shift: PageShift::SZ_4K,
        }],
        host_page_size: Some(host_page_size()),
        hugepage_size: None,
    }
}

/// Guest memory, the simulated process, its two containers and the accelerator.
pub struct World {
    /// Guest memory.
    pub mem: Memory,
    /// The process both containers live in.
    pub process: ModelProcess,
    /// The containers of PE 0 and PE 1.
    pub containers: [Container; 2],
    /// The accelerator.
    pub acc: Accelerator,
    /// The memory behind [`HOTPLUG`], mapped but not guest RAM until hot-added.
    pub hotplug: Arc<GuestRegionMmap>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("acc", &self.acc)
            .finish_non_exhaustive()
    }
}

/// A world's parts before the accelerator exists (to inject setup faults).
#[derive(Debug)]
pub struct Parts {
    /// Guest memory.
    pub mem: Memory,
    /// The process.
    pub process: ModelProcess,
    /// The two containers.
    pub containers: [Container; 2],
    /// The memory behind [`HOTPLUG`].
    pub hotplug: Arc<GuestRegionMmap>,
}

impl Parts {
    /// Fresh memory, process and containers.
    pub fn new() -> Result<Self, Violation> {
        let profile = PlatformProfile::for_host(host_page_size());
        let process = ModelProcess::new(ProcessId::DEFAULT, None);
        let containers = [
            Arc::new(ModelContainer::new_in(&process, profile.clone())),
            Arc::new(ModelContainer::new_in(&process, profile)),
        ];
        let hotplug =
            GuestRegionMmap::<()>::from_range(GuestAddress(HOTPLUG.0), HOTPLUG.1 as usize, None)
                .map_err(|e| Violation::Setup(format!("hotplug region: {e}")))?;
        Ok(Self {
            mem: guest_memory()?,
            process,
            containers,
            hotplug: Arc::new(hotplug),
        })
    }

    /// Builds the accelerator.
    pub fn build(self) -> Result<World, (Self, crate::SetupError)> {
        match TceAccelerator::new(self.mem.clone(), config(&self.containers)) {
            Ok(acc) => Ok(World {
                mem: self.mem,
                process: self.process,
                containers: self.containers,
                acc,
                hotplug: self.hotplug,
            }),
            Err(error) => Err((self, error)),
        }
    }
}

impl World {
    /// The standard world.
    pub fn new() -> Result<Self, Violation> {
        Parts::new()?
            .build()
            .map_err(|(_, error)| Violation::Setup(error.to_string()))
    }

    /// The BUID of PE `index` (0 or 1).
    pub fn buid(index: usize) -> u64 {
        [PE0_BUID, PE1_BUID][index % 2]
    }

    /// The guest RAM regions the accelerator maps TCEs into now, as (start, length).
    pub fn ram_regions(&self) -> Vec<(u64, u64)> {
        self.acc
            .ram()
            .regions()
            .iter()
            .map(|r| (r.guest_addr, r.len))
            .collect()
    }

    /// The geometry of the active window `liobn`.
    pub fn geometry(&self, liobn: Liobn) -> Option<Geometry> {
        self.acc.window(liobn).map(|info| Geometry::of(&info))
    }

    /// A LIOBN selector's value.
    pub fn liobn(&self, sel: LiobnSel) -> Liobn {
        Self::liobn_of(sel)
    }

    /// A LIOBN selector's value (it does not depend on the world's state).
    pub fn liobn_of(sel: LiobnSel) -> Liobn {
        match sel {
            LiobnSel::Known(index) => KNOWN_LIOBNS[usize::from(index) % KNOWN_LIOBNS.len()],
            LiobnSel::Raw(value) => Liobn(value),
        }
    }

    /// The geometry selectors resolve against: the active window's, else
    /// [`Geometry::FALLBACK`].
    pub fn geometry_or_fallback(&self, liobn: Liobn) -> Geometry {
        self.geometry(liobn).unwrap_or(Geometry::FALLBACK)
    }

    /// An IOBA selector's value in window geometry `g`.
    pub fn ioba(g: &Geometry, sel: IobaSel) -> u64 {
        let page = g.page_size();
        let entry = |n: u16| u64::from(n) % g.entries.max(1);
        match sel {
            IobaSel::Entry(n) => g.ioba(entry(n)),
            IobaSel::Last => g.ioba(g.entries.saturating_sub(1)),
            IobaSel::PastEnd => g.ioba(g.entries),
            IobaSel::Misaligned(n, offset) => g
                .ioba(entry(n))
                .wrapping_add((u64::from(offset) % page).max(1)),
            IobaSel::BelowStart => g.bus_offset.wrapping_sub(page),
            IobaSel::Far(shift) => g.bus_offset.wrapping_add(1u64 << (shift % 64)),
            IobaSel::Raw(value) => value,
        }
    }

    /// A guest-physical selector's value, in pages of `page` bytes (a power of two).
    pub fn gpa(sel: GpaSel, page: u64) -> u64 {
        let align_up = |value: u64| value.checked_next_multiple_of(page).unwrap_or(value);
        let region = |r: u8| {
            let (start, len) = REGIONS[usize::from(r) % REGIONS.len()];
            let base = align_up(start);
            let pages = (start + len).saturating_sub(base) / page;
            (base, pages)
        };
        match sel {
            GpaSel::Ram(r, n) => {
                let (base, pages) = region(r);
                base + (u64::from(n) % pages.max(1)) * page
            }
            GpaSel::RegionLast(r) => {
                let (base, pages) = region(r);
                base + pages.saturating_sub(1) * page
            }
            GpaSel::Hole => align_up(HOLE.0),
            GpaSel::BeyondRam => align_up(RAM_END),
            GpaSel::Misaligned(n, offset) => {
                let (base, pages) = region(0);
                let offset = (u64::from(offset) % page) & !3;
                base + (u64::from(n) % pages.max(1)) * page + offset.max(4)
            }
            GpaSel::Zero => 0,
            GpaSel::Raw(value) => value,
        }
    }

    /// A TCE selector's value for a window of pages of `page` bytes.
    pub fn tce(sel: TceSel, page: u64) -> u64 {
        match sel {
            TceSel::Page { gpa, permission } => {
                (Self::gpa(gpa, page) & !Tce::PERMISSION_MASK) | u64::from(permission % 4)
            }
            TceSel::Raw(value) => value,
        }
    }

    /// A count selector's value for a request starting at entry `first` of `g`.
    pub fn count(g: &Geometry, first: u64, sel: CountSel) -> u64 {
        let to_end = g.entries.saturating_sub(first);
        match sel {
            CountSel::Small(n) => u64::from(n),
            CountSel::Max => 512,
            CountSel::OverMax => 513,
            CountSel::ToEnd => to_end,
            CountSel::PastEnd => to_end + 1,
            CountSel::Power(shift) => 1u64 << (shift % 64),
            CountSel::Raw(value) => value,
        }
    }

    /// A PE selector's (configuration address, BUID).
    pub fn pe(sel: PeSel) -> (u32, u64) {
        match sel {
            PeSel::Known(index) => (0, Self::buid(usize::from(index))),
            PeSel::UnknownBuid => (0, UNKNOWN_BUID),
            PeSel::Raw(config_addr, buid) => (config_addr, buid),
        }
    }

    /// Writes `tces` big-endian from `gpa`; entries outside RAM are dropped.
    pub fn write_list(&self, gpa: u64, tces: &[u64]) {
        for (i, &tce) in tces.iter().enumerate() {
            let Some(address) = gpa.checked_add(8 * i as u64) else {
                break;
            };
            // Entries outside RAM are dropped on purpose: the list page itself is hostile.
            let _ = self.mem.write_obj(Be64::from(tce), GuestAddress(address));
        }
    }

    /// Reads the big-endian list the accelerator will read: `count` entries from `gpa`, if
    /// they are all in RAM.
    pub fn read_list(&self, gpa: u64, count: u64) -> Option<Vec<u64>> {
        (0..count)
            .map(|i| {
                let address = gpa.checked_add(8 * i)?;
                self.mem
                    .read_obj::<Be64>(GuestAddress(address))
                    .ok()
                    .map(u64::from)
            })
            .collect()
    }

    /// Runs one hypercall request; `None` when the accelerator did not claim it.
    pub fn call(&self, request: HcallRequest) -> Option<HcallOutcome> {
        let (nr, args) = request.encode();
        self.acc.handle_hcall(nr, &args)
    }

    /// `H_PUT_TCE`.
    pub fn put(&self, liobn: Liobn, ioba: u64, tce: u64) -> HcallStatus {
        self.status(HcallRequest::PutTce {
            liobn,
            ioba: Ioba(ioba),
            tce: Tce(tce),
        })
    }

    /// `H_GET_TCE`.
    pub fn get(&self, liobn: Liobn, ioba: u64) -> HcallOutcome {
        self.call(HcallRequest::GetTce {
            liobn,
            ioba: Ioba(ioba),
        })
        .unwrap_or(HcallOutcome::status(HcallStatus::FUNCTION))
    }

    /// `H_STUFF_TCE`.
    pub fn stuff(&self, liobn: Liobn, ioba: u64, value: u64, count: u64) -> HcallStatus {
        self.status(HcallRequest::StuffTce {
            liobn,
            ioba: Ioba(ioba),
            value: Tce(value),
            count,
        })
    }

    /// `H_PUT_TCE_INDIRECT` with a list already in guest memory.
    pub fn indirect(&self, liobn: Liobn, ioba: u64, list: u64, count: u64) -> HcallStatus {
        self.status(HcallRequest::PutTceIndirect {
            liobn,
            ioba: Ioba(ioba),
            list,
            count,
        })
    }

    fn status(&self, request: HcallRequest) -> HcallStatus {
        self.call(request)
            .map_or(HcallStatus::FUNCTION, |outcome| outcome.status)
    }
}
