//! Part `smoke`: raw VFIO checks that prove the guest side of the lab works (modules loaded,
//! `edu` bound to vfio-pci, powerpc ioctl numbers right) before any crate code runs.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

use vfio_spapr::DdwInfo;

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
    // Closing the group file detaches it; the container then releases its backend.
    drop(group_file);
    r
}
