// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Tests that run on any Linux machine, without /dev/vfio: they drive the real system calls
//! against files that are not VFIO devices and check the errors.

use std::fs::File;
use std::path::Path;

use super::*;
use crate::IommuOp;

/// A file every Linux machine has and that answers every VFIO ioctl with `ENOTTY`.
fn dev_null() -> File {
    File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .expect("/dev/null")
}

#[test]
fn open_without_vfio_is_a_clean_error() {
    match VfioSpaprContainer::open() {
        // A POWER host with VFIO: nothing to check here (the lab covers it).
        Ok(container) => assert!(container.groups().is_empty()),
        Err(error) => {
            if !Path::new(VFIO_CONTAINER_PATH).exists() {
                assert!(matches!(error, ContainerError::Open { .. }), "{error:?}");
                assert_eq!(error.errno(), Some(libc::ENOENT));
                assert!(error.to_string().contains("/dev/vfio/vfio"));
            }
        }
    }
}

#[test]
fn open_at_missing_path_reports_enoent() {
    let error = VfioSpaprContainer::open_at("/nonexistent/vfio").unwrap_err();
    match &error {
        ContainerError::Open { path, source } => {
            assert_eq!(path, Path::new("/nonexistent/vfio"));
            assert_eq!(*source, IommuError::new(IommuOp::Open, libc::ENOENT));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn open_at_non_vfio_file_fails_the_version_check() {
    let error = VfioSpaprContainer::open_at("/dev/null").unwrap_err();
    assert!(
        matches!(error, ContainerError::NotAContainer { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.iommu_error(),
        Some(IommuError::new(IommuOp::GetApiVersion, libc::ENOTTY))
    );
    assert!(error.to_string().contains("pass /dev/vfio/vfio"));

    let error = VfioSpaprContainer::from_file(dev_null()).unwrap_err();
    assert!(error.to_string().starts_with("/proc/self/fd/"), "{error}");
}

#[test]
fn every_iommu_operation_issues_its_own_ioctl() {
    let container = VfioSpaprContainer::from_file_unchecked(dev_null());
    let enotty = |op| Some(IommuError::new(op, libc::ENOTTY));
    let request = WindowRequest {
        page_shift: 16,
        window_size: 1 << 30,
        levels: 1,
    };
    assert_eq!(container.info().err(), enotty(IommuOp::GetInfo));
    assert_eq!(
        container.register_memory(0x10000, 0x10000).err(),
        enotty(IommuOp::RegisterMemory)
    );
    assert_eq!(
        container.unregister_memory(0x10000, 0x10000).err(),
        enotty(IommuOp::UnregisterMemory)
    );
    assert_eq!(
        container.create_window(request).err(),
        enotty(IommuOp::CreateWindow)
    );
    assert_eq!(
        container.remove_window(0).err(),
        enotty(IommuOp::RemoveWindow)
    );
    assert_eq!(
        container
            .map_dma(0, 0x1000, 0x10000, DmaAccess::ReadWrite)
            .err(),
        enotty(IommuOp::MapDma)
    );
    assert_eq!(
        container.unmap_dma(0, 0x1000).err(),
        enotty(IommuOp::UnmapDma)
    );
}

#[test]
fn missing_group_is_reported_with_its_number() {
    let container = VfioSpaprContainer::from_file_unchecked(dev_null());
    let error = container.add_group(u32::MAX).unwrap_err();
    assert!(
        matches!(
            error,
            ContainerError::Group {
                group: u32::MAX,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.iommu_error(),
        Some(IommuError::new(IommuOp::Open, libc::ENOENT))
    );
    assert!(container.groups().is_empty());
}

#[test]
fn non_vfio_group_file_fails_the_status_check() {
    let container = VfioSpaprContainer::from_file_unchecked(dev_null());
    let error = container.add_group_file(5, dev_null()).unwrap_err();
    assert_eq!(
        error.iommu_error(),
        Some(IommuError::new(IommuOp::GroupGetStatus, libc::ENOTTY))
    );
    assert!(container.group(5).is_none());
}

#[test]
fn unknown_group_cannot_be_removed_or_queried() {
    let container = VfioSpaprContainer::from_file_unchecked(dev_null());
    assert!(matches!(
        container.remove_group(9),
        Err(ContainerError::UnknownGroup { group: 9 })
    ));
    assert!(matches!(
        container.device_fd(9, "0001:00:01.0"),
        Err(ContainerError::UnknownGroup { group: 9 })
    ));
}

#[test]
fn group_device_fd_checks_the_name_then_calls_the_kernel() {
    let group = VfioSpaprGroup::from_file_unchecked(4, dev_null());
    assert!(matches!(
        group.device_fd("0001:00:01.0\0x"),
        Err(ContainerError::InvalidDeviceName { .. })
    ));
    let error = group.device_fd("0001:00:01.0").unwrap_err();
    assert_eq!(
        error.iommu_error(),
        Some(IommuError::new(IommuOp::GroupGetDeviceFd, libc::ENOTTY))
    );
    assert!(group.as_raw_fd() >= 0);
    assert_eq!(group.id(), 4);
}
