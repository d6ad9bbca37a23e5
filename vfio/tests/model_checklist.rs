// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The kernel-host.md §7 checklist items that concern the VFIO container, `mm_iommu` and
//! accounting (items 8 and 30–51), run against the reference model (`--features model`).
//! Each test is named after its item; items needing a second process or real hugepages test
//! the model's simulation of them.

#![cfg(feature = "model")]

#[path = "model_checklist/common.rs"]
mod common;
#[path = "model_checklist/container.rs"]
mod container;
#[path = "model_checklist/extras.rs"]
mod extras;
#[path = "model_checklist/map.rs"]
mod map;
#[path = "model_checklist/registration.rs"]
mod registration;
#[path = "model_checklist/windows.rs"]
mod windows;
