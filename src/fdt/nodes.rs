// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The property sets of PHB, VIO and `/rtas` nodes, and the accelerator methods that fill
//! them from its configuration.

use papr_hcall::rtas::{DdwCall, DdwExtensions, DdwTokens};
use papr_hcall::Liobn;
use vfio_spapr::SpaprTceIommu;
use vm_fdt::FdtWriter;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::{dma_window_cells, write_properties, FdtError, Property, PropertyValue, DMA_CELLS};
use crate::accelerator::TceAccelerator;
use crate::config::WindowConfig;
use crate::ram::RamMap;

/// Properties of a PHB node: its default window and, with DDW on, the DDW tokens and
/// extensions (qemu-and-guest.md §2.10; QEMU `spapr_dt_phb`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeDeviceTree {
    /// `ibm,dma-window`: LIOBN, bus address hi/lo, size hi/lo of the default window.
    pub dma_window: [u32; 5],
    /// `ibm,ddw-applicable`: the query, create and remove tokens; `None` with DDW off
    /// (QEMU omits the property then).
    pub ddw_applicable: Option<[u32; 3]>,
    /// `ibm,ddw-extensions` ([`DdwExtensions::to_cells`]); `None` with DDW off.
    pub ddw_extensions: Option<Vec<u32>>,
}

impl PeDeviceTree {
    /// The properties of a PHB whose default window is `default_window`; `ddw` is `None`
    /// when the PE offers no dynamic windows.
    pub fn new(
        default_window: &WindowConfig,
        ddw: Option<(DdwTokens, DdwExtensions)>,
    ) -> Result<Self, FdtError> {
        Ok(Self {
            dma_window: dma_window_cells(default_window)?,
            ddw_applicable: ddw.map(|(tokens, _)| tokens.ddw_applicable_cells()),
            ddw_extensions: ddw.map(|(_, extensions)| extensions.to_cells()),
        })
    }

    /// Every property, in the order QEMU writes them.
    pub fn properties(&self) -> Vec<Property> {
        let mut properties = vec![
            Property::cells("ibm,#dma-address-cells", &[DMA_CELLS]),
            Property::cells("ibm,#dma-size-cells", &[DMA_CELLS]),
            Property::cells("ibm,dma-window", &self.dma_window),
        ];
        if let Some(applicable) = &self.ddw_applicable {
            properties.push(Property::cells("ibm,ddw-applicable", applicable));
        }
        if let Some(extensions) = &self.ddw_extensions {
            properties.push(Property::cells("ibm,ddw-extensions", extensions));
        }
        properties
    }

    /// Writes [`Self::properties`] into the PHB node `fdt` is building.
    pub fn write_to(&self, fdt: &mut FdtWriter) -> Result<(), FdtError> {
        write_properties(fdt, &self.properties())
    }
}

/// Properties of a VIO device node (vscsi, veth, …): its window as `ibm,my-dma-window`
/// (QEMU `spapr_vio` → `spapr_dma_dt`, same layout as `ibm,dma-window`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VioDeviceTree {
    /// `ibm,my-dma-window`: LIOBN, bus address hi/lo, size hi/lo.
    pub my_dma_window: [u32; 5],
}

impl VioDeviceTree {
    /// The properties of a VIO device whose window is `window`.
    pub fn new(window: &WindowConfig) -> Result<Self, FdtError> {
        Ok(Self {
            my_dma_window: dma_window_cells(window)?,
        })
    }

    /// Every property.
    pub fn properties(&self) -> Vec<Property> {
        vec![
            Property::cells("ibm,#dma-address-cells", &[DMA_CELLS]),
            Property::cells("ibm,#dma-size-cells", &[DMA_CELLS]),
            Property::cells("ibm,my-dma-window", &self.my_dma_window),
        ]
    }

    /// Writes [`Self::properties`] into the VIO node `fdt` is building.
    pub fn write_to(&self, fdt: &mut FdtWriter) -> Result<(), FdtError> {
        write_properties(fdt, &self.properties())
    }
}

/// `ibm,lrdr-capacity`: the maximum memory address, the LMB size and the maximum number of
/// CPUs (qemu-and-guest.md §2.10).
///
/// Linux 6.12.y and 6.15+ size their DDW from the first two cells (`hot_add_drconf_memory_max`),
/// so the address must be the real maximum: `maxmem` with memory hotplug, the end of RAM
/// without. QEMU 10 publishes 0 without `maxmem`, and those guests lose DDW
/// (qemu-and-guest.md §0 fact 9, §6 item 9); [`LrdrCapacity::new`] refuses 0.
///
/// ```
/// use spapr_tce::fdt::LrdrCapacity;
/// // QEMU's -m 4G,maxmem=64G measurement: <0x10 0 0 0x10000000 1>.
/// let lrdr = LrdrCapacity::new(64 << 30, LrdrCapacity::QEMU_LMB_SIZE, 1).unwrap();
/// assert_eq!(lrdr.cells(), [0x10, 0, 0, 0x1000_0000, 1]);
/// assert!(LrdrCapacity::new(0, LrdrCapacity::QEMU_LMB_SIZE, 1).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LrdrCapacity {
    /// One past the highest guest-physical address RAM may ever occupy.
    pub max_memory_address: u64,
    /// Logical memory block size (hotplug granule); QEMU: 256 MiB.
    pub lmb_size: u64,
    /// The maximum number of CPUs (QEMU writes `max_cpus / threads`).
    pub max_cpus: u32,
}

impl LrdrCapacity {
    /// QEMU's `SPAPR_MEMORY_BLOCK_SIZE`, 256 MiB.
    pub const QEMU_LMB_SIZE: u64 = 256 << 20;

    /// Checks the values: a non-zero maximum address and a power-of-two LMB of at least
    /// 4 KiB.
    pub fn new(max_memory_address: u64, lmb_size: u64, max_cpus: u32) -> Result<Self, FdtError> {
        if max_memory_address == 0 {
            return Err(FdtError::ZeroMaxMemory);
        }
        if !lmb_size.is_power_of_two() || lmb_size < 4096 {
            return Err(FdtError::InvalidLmbSize(lmb_size));
        }
        Ok(Self {
            max_memory_address,
            lmb_size,
            max_cpus,
        })
    }

    /// The capacity of a guest whose RAM is `ram`, with memory hotplug up to `hotplug_end`
    /// (the end of the device-memory area, QEMU's `maxmem` layout) or none: the maximum
    /// address is the larger of the two, so never below the end of RAM.
    pub fn for_ram(
        ram: &RamMap,
        hotplug_end: Option<u64>,
        lmb_size: u64,
        max_cpus: u32,
    ) -> Result<Self, FdtError> {
        let ram_end = ram
            .regions()
            .iter()
            .map(|region| region.guest_addr.saturating_add(region.len))
            .max()
            .unwrap_or(0);
        Self::new(ram_end.max(hotplug_end.unwrap_or(0)), lmb_size, max_cpus)
    }

    /// The 5 cells: max address hi/lo, LMB size hi/lo, max CPUs.
    pub fn cells(&self) -> [u32; 5] {
        [
            (self.max_memory_address >> 32) as u32,
            self.max_memory_address as u32,
            (self.lmb_size >> 32) as u32,
            self.lmb_size as u32,
            self.max_cpus,
        ]
    }
}

/// The TCE entries of `ibm,hypertas-functions`: "hcall-tce" (H_PUT_TCE, H_GET_TCE) and
/// "hcall-multi-tce" (H_STUFF_TCE, H_PUT_TCE_INDIRECT; Linux uses them only when this is
/// present, qemu-and-guest.md §0 fact 2, §3.2 step 1).
pub const HYPERTAS_TCE_FUNCTIONS: [&str; 2] = ["hcall-tce", "hcall-multi-tce"];

/// The `/rtas` properties of DDW and TCE support.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RtasDeviceTree {
    /// The DDW tokens, one property each, named after the call.
    pub tokens: DdwTokens,
    /// `ibm,hypertas-functions`. Starts as [`HYPERTAS_TCE_FUNCTIONS`]; a property can be
    /// written only once, so add the VMM's other functions (e.g. "hcall-pft") here before
    /// writing, or leave it empty and add [`HYPERTAS_TCE_FUNCTIONS`] to the VMM's own list.
    pub hypertas_functions: Vec<String>,
    /// `ibm,lrdr-capacity`.
    pub lrdr_capacity: LrdrCapacity,
}

impl RtasDeviceTree {
    /// The properties for `tokens` and `lrdr_capacity`, with the TCE hypertas functions.
    pub fn new(tokens: DdwTokens, lrdr_capacity: LrdrCapacity) -> Self {
        Self {
            tokens,
            hypertas_functions: HYPERTAS_TCE_FUNCTIONS.map(String::from).to_vec(),
            lrdr_capacity,
        }
    }

    /// Every property: the four tokens, `ibm,hypertas-functions` (unless empty),
    /// `ibm,lrdr-capacity`.
    pub fn properties(&self) -> Vec<Property> {
        let mut properties: Vec<Property> = [
            DdwCall::Query,
            DdwCall::Create,
            DdwCall::Remove,
            DdwCall::Reset,
        ]
        .into_iter()
        .map(|call| Property::cells(call.name(), &[self.tokens.token_of(call)]))
        .collect();
        if !self.hypertas_functions.is_empty() {
            properties.push(Property {
                name: "ibm,hypertas-functions",
                value: PropertyValue::Strings(self.hypertas_functions.clone()),
            });
        }
        properties.push(Property::cells(
            "ibm,lrdr-capacity",
            &self.lrdr_capacity.cells(),
        ));
        properties
    }

    /// Writes [`Self::properties`] into the `/rtas` node `fdt` is building.
    pub fn write_to(&self, fdt: &mut FdtWriter) -> Result<(), FdtError> {
        write_properties(fdt, &self.properties())
    }
}

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// The PHB-node properties of the PE `buid`; `None` for an unknown BUID. The DDW
    /// properties are present when DDW is on for the PE (configured, and its container, if
    /// any, can create windows): exactly when the DDW calls accept the BUID.
    pub fn pe_device_tree(&self, buid: u64) -> Option<Result<PeDeviceTree, FdtError>> {
        let pe = self.pe_by_buid(buid)?;
        let ddw = crate::rtas::ddw_enabled(pe).then(|| (self.ddw_tokens(), self.ddw_extensions()));
        Some(PeDeviceTree::new(&pe.default_window, ddw))
    }

    /// The VIO-node properties of the VIO window `liobn`; `None` if `liobn` is not a VIO
    /// window.
    pub fn vio_device_tree(&self, liobn: Liobn) -> Option<Result<VioDeviceTree, FdtError>> {
        let (pe, _) = self.route(liobn)?;
        if pe.buid.is_some() {
            return None;
        }
        Some(VioDeviceTree::new(&pe.default_window))
    }

    /// The `/rtas` properties for this accelerator's DDW tokens and `lrdr_capacity` (see
    /// [`LrdrCapacity::for_ram`] with [`ram`](Self::ram)).
    pub fn rtas_device_tree(&self, lrdr_capacity: LrdrCapacity) -> RtasDeviceTree {
        RtasDeviceTree::new(self.ddw_tokens(), lrdr_capacity)
    }
}
