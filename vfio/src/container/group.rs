// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! One VFIO group (`/dev/vfio/<id>`) attached to a [`VfioSpaprContainer`](super::VfioSpaprContainer).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use vfio_bindings::bindings::vfio::VFIO_GROUP_FLAGS_VIABLE;

use super::{args, sys, ContainerError};

/// A VFIO group attached to a container.
///
/// Its descriptor ([`AsRawFd`]) is what KVM's VFIO device needs for
/// `KVM_DEV_VFIO_FILE_ADD` and `KVM_DEV_VFIO_GROUP_SET_SPAPR_TCE` (kernel-host.md §5.4).
/// Dropping the last handle closes the group, which detaches it from its container.
#[derive(Debug)]
pub struct VfioSpaprGroup {
    id: u32,
    file: File,
}

impl VfioSpaprGroup {
    /// Wraps an open group file after checking that the group is viable (every device of
    /// the IOMMU group is bound to a VFIO driver or to none).
    pub(super) fn new(id: u32, file: File) -> Result<Self, ContainerError> {
        let mut status = args::group_status();
        sys::group_get_status(file.as_fd(), &mut status)
            .map_err(|source| ContainerError::Group { group: id, source })?;
        if status.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
            return Err(ContainerError::GroupNotViable { group: id });
        }
        Ok(Self { id, file })
    }

    /// A group on an arbitrary file (e.g. `/dev/null`), for tests of the error paths.
    #[cfg(test)]
    pub(super) fn from_file_unchecked(id: u32, file: File) -> Self {
        Self { id, file }
    }

    /// The IOMMU group number.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// `VFIO_GROUP_GET_DEVICE_FD`: opens the device called `name` (its PCI address, e.g.
    /// `0001:00:01.0`) in this group. While any device descriptor is open the group cannot be
    /// removed from its container (`EBUSY`).
    pub fn device_fd(&self, name: &str) -> Result<File, ContainerError> {
        let c_name = CString::new(name).map_err(|_| ContainerError::InvalidDeviceName {
            name: name.to_owned(),
        })?;
        sys::group_get_device_fd(self.file.as_fd(), &c_name).map_err(|source| {
            ContainerError::Device {
                group: self.id,
                name: name.to_owned(),
                source,
            }
        })
    }

    /// `VFIO_GROUP_SET_CONTAINER`.
    pub(super) fn attach(&self, container: BorrowedFd<'_>) -> Result<(), ContainerError> {
        sys::group_set_container(self.file.as_fd(), container).map_err(|source| {
            ContainerError::Group {
                group: self.id,
                source,
            }
        })
    }

    /// `VFIO_GROUP_UNSET_CONTAINER`.
    pub(super) fn detach(&self) -> Result<(), ContainerError> {
        sys::group_unset_container(self.file.as_fd()).map_err(|source| ContainerError::Group {
            group: self.id,
            source,
        })
    }
}

impl AsRawFd for VfioSpaprGroup {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for VfioSpaprGroup {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
