//! Part `dma-probes` (opt-in): accelerator configurations the pSeries host cannot serve,
//! observed as INFO lines. A default window larger than the firmware's (QEMU's own 1 GiB
//! default, `PeConfig::qemu_phb`) turns the slot-0 `TCE_CREATE` into a platform DDW at 2^59
//! (kernel-host.md §3.5 "pSeries host"), which the accelerator must refuse as misplaced and
//! remove again. Costly under TCG: the host kernel clears and then tears down 2^18 entries.

use papr_hcall::PageShift;
use spapr_tce::TceAccelerator;
use vfio_spapr::{SpaprTceIommu, VfioSpaprContainer};

use super::guest::allocate_ram;
use super::pe_config;
use crate::report::Report;

/// One accelerator build with the default window of `size` bytes of 2^`page_shift` pages.
fn build(group: u32, size: u64, page_shift: PageShift) -> Result<String, String> {
    let container = VfioSpaprContainer::open().map_err(|e| format!("container: {e}"))?;
    container
        .add_group(group)
        .map_err(|e| format!("group {group}: {e}"))?;
    let info = container.info().map_err(|e| format!("GET_INFO: {e}"))?;
    let mem = allocate_ram()?;
    let mut config = pe_config(&info, container);
    config.default_window.size = size;
    config.default_window.page_shift = page_shift;
    match TceAccelerator::builder(&mem).pe(config).build() {
        Ok(acc) => Ok(format!(
            "built: windows {:x?}; {:?}",
            acc.windows(),
            acc.counters().backend
        )),
        Err(e) => Err(format!("refused: {e}")),
    }
}

/// Runs the probes against `/dev/vfio/<group>`.
pub fn run(group: u32) -> Report {
    let report = Report::new("dma-probes");
    let probes = [
        ("default-window-1g-4k", 1u64 << 30, PageShift::SZ_4K),
        ("default-window-256m-64k", 1 << 28, PageShift::SZ_64K),
    ];
    for (name, size, page_shift) in probes {
        let started = std::time::Instant::now();
        let outcome = build(group, size, page_shift).unwrap_or_else(|e| e);
        report.info(
            name,
            &format!("{outcome} ({:.2} s)", started.elapsed().as_secs_f64()),
        );
    }
    report
}
