// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Probes a real VFIO SPAPR TCE v2 container: opens `/dev/vfio/vfio`, adds one IOMMU group and
//! prints `VFIO_IOMMU_SPAPR_TCE_GET_INFO`. With `--exercise` it also pre-registers 4 MiB of
//! anonymous memory, maps and unmaps it in the default window, creates, uses and removes a
//! dynamic window (when the host offers DDW), and unregisters the memory.
//!
//! Needs a POWER host (or the pseries lab) with a device bound to vfio-pci:
//!
//! ```text
//! vfio-probe <iommu-group-number> [--exercise]
//! ```
//!
//! Exit status: 0 when every step succeeded, 1 on the first failure, 2 on bad usage.

use std::process::ExitCode;

use vfio_spapr::{DmaAccess, SpaprTceIommu, VfioSpaprContainer, WindowRequest};

/// Size of the anonymous region pre-registered by `--exercise`.
const EXERCISE_BYTES: usize = 4 << 20;
/// Bytes mapped in each window by `--exercise`.
const MAP_BYTES: u64 = 1 << 20;

/// Anonymous, private memory that is unmapped on drop.
struct AnonymousMemory {
    addr: *mut libc::c_void,
    len: usize,
}

impl AnonymousMemory {
    fn new(len: usize) -> std::io::Result<Self> {
        // SAFETY: a fresh private anonymous mapping at an address the kernel chooses; it
        // aliases nothing in this process.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self { addr, len })
    }

    fn vaddr(&self) -> u64 {
        self.addr as u64
    }
}

impl Drop for AnonymousMemory {
    fn drop(&mut self) {
        // SAFETY: `addr`/`len` describe exactly the mapping created in `new`, and no reference
        // into it exists (the program only passes its address to the kernel).
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

/// Prints one step's outcome and turns it into `Err` for `?`.
fn step<T, E: std::fmt::Display>(what: &str, result: Result<T, E>) -> Result<T, ()> {
    match result {
        Ok(value) => {
            println!("ok    {what}");
            Ok(value)
        }
        Err(error) => {
            println!("FAIL  {what}: {error}");
            Err(())
        }
    }
}

/// Register, map/unmap in the default window and in a new dynamic window, clean up.
fn exercise(container: &VfioSpaprContainer) -> Result<(), ()> {
    let memory = step(
        "mmap 4 MiB anonymous memory",
        AnonymousMemory::new(EXERCISE_BYTES),
    )?;
    let (vaddr, len) = (memory.vaddr(), EXERCISE_BYTES as u64);
    step(
        "VFIO_IOMMU_SPAPR_REGISTER_MEMORY",
        container.register_memory(vaddr, len),
    )?;
    let mapped = exercise_windows(container, vaddr);
    let unregistered = step(
        "VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY",
        container.unregister_memory(vaddr, len),
    );
    mapped.and(unregistered.map(drop))
}

fn exercise_windows(container: &VfioSpaprContainer, vaddr: u64) -> Result<(), ()> {
    // The default window (4 KiB pages at bus address 0) is created by the first MAP_DMA.
    step(
        "VFIO_IOMMU_MAP_DMA 1 MiB at iova 0 (default window)",
        container.map_dma(0, MAP_BYTES, vaddr, DmaAccess::ReadWrite),
    )?;
    step(
        "VFIO_IOMMU_UNMAP_DMA 1 MiB at iova 0",
        container.unmap_dma(0, MAP_BYTES),
    )?;

    let Some(ddw) = container.info().ok().and_then(|info| info.ddw) else {
        println!("skip  dynamic window: the host reports no DDW support");
        return Ok(());
    };
    let Some(page_shift) = ddw.page_shifts().find(|shift| *shift >= 12) else {
        println!("skip  dynamic window: no IOMMU page size of 4 KiB or more");
        return Ok(());
    };
    let request = WindowRequest {
        page_shift,
        window_size: 1 << 30,
        levels: 1,
    };
    let start = step(
        &format!("VFIO_IOMMU_SPAPR_TCE_CREATE {request:?}"),
        container.create_window(request),
    )?;
    println!("      window starts at bus address {start:#x}");
    let used = step(
        "VFIO_IOMMU_MAP_DMA 1 MiB at the window start",
        container.map_dma(start, MAP_BYTES, vaddr, DmaAccess::ReadWrite),
    )
    .and_then(|()| {
        step(
            "VFIO_IOMMU_UNMAP_DMA 1 MiB at the window start",
            container.unmap_dma(start, MAP_BYTES),
        )
    });
    let removed = step(
        "VFIO_IOMMU_SPAPR_TCE_REMOVE",
        container.remove_window(start),
    );
    used.and(removed)
}

fn probe(group: u32, with_exercise: bool) -> Result<(), ()> {
    let container = step(
        "open /dev/vfio/vfio (API version, SPAPR TCE v2 extension)",
        VfioSpaprContainer::open(),
    )?;
    step(
        &format!("add group {group} (GET_STATUS, SET_CONTAINER, SET_IOMMU)"),
        container.add_group(group),
    )?;
    let info = step("VFIO_IOMMU_SPAPR_TCE_GET_INFO", container.info())?;
    println!(
        "      default window: start {:#x}, size {:#x}",
        info.dma32_window_start, info.dma32_window_size
    );
    match info.ddw {
        Some(ddw) => println!(
            "      DDW: page shifts {:?}, max windows {}, levels {}",
            ddw.page_shifts().collect::<Vec<_>>(),
            ddw.max_dynamic_windows_supported,
            ddw.levels
        ),
        None => println!("      DDW: not supported"),
    }
    if with_exercise {
        exercise(&container)?;
    }
    step(
        &format!("remove group {group}"),
        container.remove_group(group),
    )
    .map(drop)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (group, with_exercise) = match args.as_slice() {
        [group] => (group.parse::<u32>().ok(), false),
        [group, flag] if flag == "--exercise" => (group.parse::<u32>().ok(), true),
        _ => (None, false),
    };
    let Some(group) = group else {
        eprintln!("usage: vfio-probe <iommu-group-number> [--exercise]");
        return ExitCode::from(2);
    };
    match probe(group, with_exercise) {
        Ok(()) => ExitCode::SUCCESS,
        Err(()) => ExitCode::FAILURE,
    }
}
