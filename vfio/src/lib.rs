// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The VFIO SPAPR TCE v2 IOMMU: the interface the accelerator programs against
//! ([`SpaprTceIommu`]), the real container issuing the Linux ioctls, and, behind the `model`
//! feature, an in-process reference model of what Linux 6.12 does behind those ioctls.
//!
//! Facts implemented here are summarised, with their kernel sources, in the project's
//! `shared/reference/kernel-host.md` §3–§4.

#![deny(missing_docs)]

mod container;
pub mod ioctl;
mod iommu;
#[cfg(feature = "model")]
pub mod model;
mod vfio_ops;

pub use container::{
    ContainerError, VfioSpaprContainer, VfioSpaprGroup, VFIO_CONTAINER_PATH, VFIO_GROUP_DIR,
};
pub use iommu::{
    DdwInfo, DmaAccess, IommuError, IommuOp, SpaprIommuInfo, SpaprTceIommu, WindowRequest,
};
