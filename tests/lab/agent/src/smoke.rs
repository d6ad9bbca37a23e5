//! Part `smoke`: raw VFIO checks that prove the guest side of the lab works (modules loaded,
//! `edu` bound to vfio-pci, powerpc ioctl numbers right) before any crate code runs.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

use vfio_spapr::DdwInfo;

use crate::arena::Arena;
use crate::raw;
use crate::report::Report;

fn open_rw(path: &str) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// Runs the checks against `/dev/vfio/vfio` and `/dev/vfio/<group>`; returns the report.
pub fn run(group: u32) -> Report {
    let mut r = Report::new("smoke");
    r.info(
        "ioctl-numbers",
        &format!(
            "VFIO_GET_API_VERSION={:#x} VFIO_IOMMU_SPAPR_TCE_GET_INFO={:#x}",
            raw::GET_API_VERSION,
            raw::SPAPR_TCE_GET_INFO
        ),
    );
    let container = match open_rw("/dev/vfio/vfio") {
        Ok(f) => {
            r.pass("open-container", "/dev/vfio/vfio");
            f
        }
        Err(e) => {
            r.fail("open-container", &format!("/dev/vfio/vfio: {e}"));
            return r;
        }
    };
    match raw::ioctl_val(&container, raw::GET_API_VERSION, 0) {
        Ok(v) => r.record(
            "api-version",
            v == 0,
            &format!(
                "VFIO_GET_API_VERSION({:#x}) = {v}, expected 0",
                raw::GET_API_VERSION
            ),
        ),
        Err(e) => r.fail("api-version", &format!("VFIO_GET_API_VERSION: {e}")),
    }
    for (name, ext) in [
        ("ext-spapr-tce", raw::SPAPR_TCE_IOMMU),
        ("ext-spapr-tce-v2", raw::SPAPR_TCE_V2_IOMMU),
    ] {
        match raw::ioctl_val(&container, raw::CHECK_EXTENSION, ext as libc::c_ulong) {
            Ok(v) => r.record(name, v == 1, &format!("VFIO_CHECK_EXTENSION({ext}) = {v}")),
            Err(e) => r.fail(name, &format!("VFIO_CHECK_EXTENSION({ext}): {e}")),
        }
    }

    let group_path = format!("/dev/vfio/{group}");
    let group_file = match open_rw(&group_path) {
        Ok(f) => f,
        Err(e) => {
            r.fail("group-viable", &format!("{group_path}: {e}"));
            return r;
        }
    };
    let mut status = raw::GroupStatus {
        argsz: std::mem::size_of::<raw::GroupStatus>() as u32,
        flags: 0,
    };
    match raw::ioctl_struct(&group_file, raw::GROUP_GET_STATUS, &mut status) {
        Ok(_) => r.record(
            "group-viable",
            status.flags & raw::GROUP_FLAGS_VIABLE != 0,
            &format!("{group_path} flags={:#x}", status.flags),
        ),
        Err(e) => r.fail("group-viable", &format!("VFIO_GROUP_GET_STATUS: {e}")),
    }

    let attached = raw::ioctl_struct(
        &group_file,
        raw::GROUP_SET_CONTAINER,
        &mut container.as_raw_fd(),
    )
    .and_then(|_| {
        raw::ioctl_val(
            &container,
            raw::SET_IOMMU,
            raw::SPAPR_TCE_V2_IOMMU as libc::c_ulong,
        )
    });
    if let Err(e) = attached {
        r.fail(
            "set-iommu-v2",
            &format!("SET_CONTAINER + SET_IOMMU(v2): {e}"),
        );
        return r;
    }
    r.pass(
        "set-iommu-v2",
        "SET_CONTAINER + SET_IOMMU(VFIO_SPAPR_TCE_v2_IOMMU)",
    );

    let mut info = raw::SpaprTceInfo {
        argsz: std::mem::size_of::<raw::SpaprTceInfo>() as u32,
        ..Default::default()
    };
    match raw::ioctl_struct(&container, raw::SPAPR_TCE_GET_INFO, &mut info) {
        Ok(_) => {
            let ddw = DdwInfo {
                pgsizes: info.pgsizes,
                max_dynamic_windows_supported: info.max_dynamic_windows_supported,
                levels: info.levels,
            };
            let shifts: Vec<String> = ddw.page_shifts().map(|s| s.to_string()).collect();
            r.record(
                "get-info",
                info.flags & 1 != 0 && info.dma32_window_size != 0,
                &format!(
                    "flags={:#x} dma32={:#x}+{:#x} pgsizes={:#x} (shifts {}) windows={} levels={}",
                    info.flags,
                    info.dma32_window_start,
                    info.dma32_window_size,
                    info.pgsizes,
                    shifts.join(","),
                    info.max_dynamic_windows_supported,
                    info.levels
                ),
            );
        }
        Err(e) => r.fail("get-info", &format!("VFIO_IOMMU_SPAPR_TCE_GET_INFO: {e}")),
    }
    misaligned_iova_returns(&mut r, &container);
    // Closing the group file detaches it; the container then releases its backend.
    drop(group_file);
    r
}

/// Characterises a kernel quirk the container must handle: MAP_DMA and UNMAP_DMA with a bus
/// address that is not IOMMU-page aligned return **+1** instead of failing with EINVAL
/// (`iommu_tce_put_param_check` / `iommu_tce_clear_param_check` are `||` expressions whose
/// value the ioctl returns). Valid requests return 0.
fn misaligned_iova_returns(r: &mut Report, container: &File) {
    let page = match Arena::new(4096) {
        Ok(page) => page,
        Err(e) => {
            r.fail("misaligned-iova-returns-1", &format!("mmap: {e}"));
            return;
        }
    };
    let mut region = raw::RegisterMemory {
        argsz: std::mem::size_of::<raw::RegisterMemory>() as u32,
        flags: 0,
        vaddr: page.base(),
        size: page.len(),
    };
    if let Err(e) = raw::ioctl_struct(container, raw::SPAPR_REGISTER_MEMORY, &mut region) {
        r.fail(
            "misaligned-iova-returns-1",
            &format!("REGISTER_MEMORY: {e}"),
        );
        return;
    }
    let map = |iova: u64| {
        let mut arg = raw::DmaMap {
            argsz: std::mem::size_of::<raw::DmaMap>() as u32,
            flags: 3,
            vaddr: page.base(),
            iova,
            size: 4096,
        };
        raw::ioctl_struct(container, raw::MAP_DMA, &mut arg)
    };
    let unmap = |iova: u64| {
        let mut arg = raw::DmaUnmap {
            argsz: std::mem::size_of::<raw::DmaUnmap>() as u32,
            flags: 0,
            iova,
            size: 4096,
        };
        raw::ioctl_struct(container, raw::UNMAP_DMA, &mut arg)
    };
    let results = [map(0x800), unmap(0x800), map(0), unmap(0)];
    let text: Vec<String> = results
        .iter()
        .map(|res| match res {
            Ok(v) => v.to_string(),
            Err(e) => e.to_string(),
        })
        .collect();
    let values: Vec<Option<i32>> = results
        .iter()
        .map(|res| res.as_ref().ok().copied())
        .collect();
    r.record(
        "misaligned-iova-returns-1",
        values == [Some(1), Some(1), Some(0), Some(0)],
        &format!(
            "MAP_DMA(iova 0x800)={} UNMAP_DMA(iova 0x800)={} MAP_DMA(0)={} UNMAP_DMA(0)={}",
            text[0], text[1], text[2], text[3]
        ),
    );
    if let Err(e) = raw::ioctl_struct(container, raw::SPAPR_UNREGISTER_MEMORY, &mut region) {
        r.fail("unregister-after-probe", &format!("UNREGISTER_MEMORY: {e}"));
    }
}
