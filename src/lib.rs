// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Executes the PAPR TCE hypercalls (`H_PUT_TCE`, `H_GET_TCE`, `H_STUFF_TCE`,
//! `H_PUT_TCE_INDIRECT`) of a pseries guest and maps guest TCEs into VFIO SPAPR TCE v2
//! containers, for rust-vmm based VMMs.
//!
//! The entry point is [`TceAccelerator`]: build it from the guest memory and an
//! [`AcceleratorConfig`] (or with [`TceAccelerator::builder`]), then pass it every
//! hypercall exit with [`TceAccelerator::handle_hcall`]. It keeps, per window, a sparse guest
//! view of the TCE table ([`table`]) and, for PEs with a container, the host IOMMU in step
//! with it, coalescing contiguous TCEs into single `MAP_DMA`/`UNMAP_DMA` calls and skipping
//! no-op updates. Emulated devices translate their DMA with [`TceAccelerator::translate`].
//!
//! Rules implemented here are documented with their sources in the project's
//! `shared/reference/kernel-host.md` (Linux KVM and VFIO) and `qemu-and-guest.md` (QEMU,
//! LoPAR, guests).

#![deny(missing_docs)]

mod accelerator;
mod builder;
#[cfg(feature = "model")]
pub mod check;
mod config;
mod counters;
mod error;
pub mod fdt;
#[cfg(feature = "model")]
pub mod fuzzing;
mod hcall;
mod host_window;
pub mod kvm;
pub mod lifecycle;
mod mapping;
mod pe;
pub mod ram;
#[cfg(feature = "replay")]
pub mod replay;
mod rtas;
mod setup;
mod shutdown;
pub mod table;
#[cfg(all(test, feature = "model"))]
mod tests;
mod window;

pub use accelerator::TceAccelerator;
pub use builder::{AcceleratorBuilder, NoContainer};
pub use config::{AcceleratorConfig, DdwConfig, LiobnScheme, PeConfig, WindowConfig};
pub use counters::{BackendCallCounts, CountersSnapshot, HcallKind, HcallResultCounts};
pub use error::{SetupError, WindowConfigError, WindowError};
pub use host_window::{HostWindow, HostWindowError};
pub use rtas::{DdwCallCounts, RtasResultCounts};
pub use shutdown::ShutdownError;
pub use window::{Translation, WindowInfo};
