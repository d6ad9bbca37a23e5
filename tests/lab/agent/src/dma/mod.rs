//! Part `dma`: the accelerator on the real kernel with live device DMA.
//!
//! This program plays both the VMM and its guest. It allocates the guest's RAM (an
//! anonymous mapping wrapped as vm-memory guest memory), builds a `TceAccelerator` with one
//! PE whose container is the real `VfioSpaprContainer` holding the `edu` device's group (the
//! accelerator pre-registers the RAM, suppresses the host's pending default window and
//! creates its own), then issues the TCE hypercalls and DDW RTAS calls a Linux guest would.
//! After every mapping the `edu` device DMAs through the bus addresses the TCEs define, and
//! the data must arrive in the guest RAM they name; after every clear it must not.
//!
//! The lab's host is itself a pseries guest (tests/lab/README.md): its default window is
//! 256 MiB of 4 KiB pages, and a slot-0 `TCE_CREATE` only re-creates the default window when
//! it asks for 4 KiB pages and at most that size (kernel-host.md §3.5, pSeries host); any
//! other slot-0 request becomes a platform DDW at 2^59. So the guest's default window is
//! configured from `GET_INFO`: exactly the host's default window.

pub mod counts;
mod ddw;
mod default_window;
pub mod guest;
mod invariants;
mod kmsg;
pub mod probes;
pub mod scenario;
#[cfg(test)]
mod tests;
pub mod traffic;
mod windows;

use papr_hcall::PageShift;
use spapr_tce::{DdwConfig, LiobnScheme, PeConfig, TceAccelerator, WindowConfig};
use vfio_spapr::{SpaprIommuInfo, SpaprTceIommu, VfioSpaprContainer};

use crate::edu::{DmaEngine, Edu};
use crate::report::Report;
use guest::{Guest, Memory};
use scenario::{Lab, BUID, PHB};

/// The PE the guest sees: QEMU's PHB 4 layout, its default window the host's own.
pub fn pe_config<C>(info: &SpaprIommuInfo, container: C) -> PeConfig<C> {
    let scheme = LiobnScheme::QEMU;
    PeConfig {
        buid: BUID,
        default_window: WindowConfig {
            liobn: scheme.liobn(PHB, 0),
            bus_offset: u64::from(info.dma32_window_start),
            size: u64::from(info.dma32_window_size),
            page_shift: PageShift::SZ_4K,
        },
        ddw: Some(DdwConfig {
            liobn: scheme.liobn(PHB, 1),
            dma64_window_addr: DdwConfig::QEMU_DMA64_WINDOW_ADDR,
            guest_page_sizes: DdwConfig::QEMU_PAGE_SIZES,
            max_window_shift: DdwConfig::MAX_HOST_WINDOW_SHIFT,
        }),
        container: Some(container),
    }
}

/// Builds the accelerator over `mem` with `container`, reports it, and runs every step with
/// `engine`. Shared by the live part and the host tests. The device goes before the
/// accelerator (and with it the container): a device descriptor or BAR mapping left open
/// keeps the group attached.
pub fn exercise<C: SpaprTceIommu, E: DmaEngine>(
    report: &mut Report,
    mem: &Memory,
    container: C,
    mut engine: E,
) {
    let info = match container.info() {
        Ok(info) => info,
        Err(e) => {
            report.fail("accelerator", &format!("GET_INFO: {e}"));
            return;
        }
    };
    let config = pe_config(&info, container);
    let default = config.default_window;
    let expected_ddw_liobn = config.ddw.map_or(0, |ddw| ddw.liobn.0);
    let acc = match TceAccelerator::builder(mem).pe(config).build() {
        Ok(acc) => acc,
        Err(e) => {
            report.fail("accelerator", &format!("build: {e}"));
            return;
        }
    };
    let c = acc.counters().backend;
    let windows: Vec<String> = acc
        .windows()
        .iter()
        .map(|w| {
            format!(
                "{} {:#x}+{:#x} 2^{} host {:x?}",
                w.liobn,
                w.bus_offset,
                w.size,
                w.page_shift.get(),
                w.host
            )
        })
        .collect();
    let details = format!(
        "RAM {:#x} bytes, host page 2^{}; REGISTER {} TCE_REMOVE {} TCE_CREATE {}; windows: {}",
        guest::RAM_SIZE,
        acc.host_page_shift(),
        c.register_memory,
        c.remove_window,
        c.create_window,
        windows.join(", ")
    );
    let host_ok = acc
        .window(default.liobn)
        .and_then(|w| w.host)
        .is_some_and(|h| h.start == default.bus_offset);
    report.record("accelerator", host_ok && c.register_memory == 1, &details);
    let guest = Guest { acc, mem };
    let mut lab = Lab {
        guest: &guest,
        engine: &mut engine,
        default_liobn: default.liobn.0,
        expected_ddw_liobn,
        ddw: None,
    };
    scenario::run(report, &mut lab);
    drop(engine);
}

/// The PCI address of the (only) device in IOMMU group `group`.
pub fn device_name(group: u32) -> Result<String, String> {
    let dir = format!("/sys/kernel/iommu_groups/{group}/devices");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{dir}: {e}"))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    match names.as_slice() {
        [name] => Ok(name.clone()),
        other => Err(format!("{dir} holds {other:?}, expected one device")),
    }
}

/// Opens the container, the group and the `edu` device; reports `edu-open`.
fn open(report: &mut Report, group: u32) -> Result<(VfioSpaprContainer, Edu), String> {
    let container = VfioSpaprContainer::open().map_err(|e| format!("container: {e}"))?;
    container
        .add_group(group)
        .map_err(|e| format!("group {group}: {e}"))?;
    let name = device_name(group)?;
    let device = container
        .device_fd(group, &name)
        .map_err(|e| format!("device {name}: {e}"))?;
    let (edu, setup) = Edu::open(device).map_err(|e| format!("edu {name}: {e}"))?;
    report.pass(
        "edu-open",
        &format!(
            "{name}: PCI_COMMAND {:#06x} -> {:#06x}, BAR0 {:#x} bytes, id {:#010x} as read ({})",
            setup.command.0,
            setup.command.1,
            setup.bar0_len,
            setup.raw_id,
            if setup.swapped {
                "big-endian registers, swapped"
            } else {
                "native order"
            }
        ),
    );
    Ok((container, edu))
}

/// Runs the part against `/dev/vfio/<group>`.
pub fn run(group: u32) -> Report {
    let mut report = Report::new("dma");
    let log_before = kmsg::read();
    let (container, edu) = match open(&mut report, group) {
        Ok(opened) => opened,
        Err(e) => {
            report.fail("edu-open", &e);
            return report;
        }
    };
    match guest::allocate_ram() {
        Ok(mem) => exercise(&mut report, &mem, container, edu),
        Err(e) => report.fail("accelerator", &e),
    }
    match (log_before, kmsg::read()) {
        (Some(before), Some(after)) => {
            let new = kmsg::new_lines(&before, &after);
            let (faults, others): (Vec<&String>, Vec<&String>) =
                new.iter().partition(|l| kmsg::is_fault_report(l));
            let quote = |lines: &[&String]| {
                lines
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            report.info(
                "kernel-log",
                &format!(
                    "{} new kernel lines; {} EEH/IOMMU fault reports: [{}]; others (window \
                     calls of the host kernel), last: [{}]",
                    new.len(),
                    faults.len(),
                    quote(&faults),
                    quote(&others[others.len().saturating_sub(2)..])
                ),
            );
        }
        _ => report.info("kernel-log", "the kernel log cannot be read"),
    }
    report
}
