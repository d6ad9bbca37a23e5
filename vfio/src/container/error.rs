// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Errors of setting up a container: opening it, adding and removing groups, getting device
//! descriptors. Failed IOMMU operations on a working container are plain [`IommuError`]s.

use std::path::PathBuf;

use crate::IommuError;

/// Why a VFIO SPAPR TCE v2 container or one of its groups could not be set up; each message
/// says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The container device could not be opened.
    #[error("cannot open the VFIO container {}: {source}", path.display())]
    Open {
        /// The path tried.
        path: PathBuf,
        /// `IommuOp::Open` with the errno of `open(2)`.
        source: IommuError,
    },

    /// `VFIO_GET_API_VERSION` failed: the file is not a VFIO container.
    #[error(
        "{} is not a VFIO container: {source}; pass /dev/vfio/vfio",
        path.display()
    )]
    NotAContainer {
        /// The path opened.
        path: PathBuf,
        /// The failed `VFIO_GET_API_VERSION`.
        source: IommuError,
    },

    /// The kernel speaks another VFIO API version.
    #[error(
        "the kernel's VFIO API version is {found}, this crate speaks version {expected}; \
         the host kernel is incompatible"
    )]
    ApiVersion {
        /// What `VFIO_GET_API_VERSION` returned.
        found: i32,
        /// `VFIO_API_VERSION` of vfio-bindings (0).
        expected: u32,
    },

    /// `VFIO_CHECK_EXTENSION` itself failed.
    #[error("cannot query the container's IOMMU types: {source}")]
    CheckExtension {
        /// The failed `VFIO_CHECK_EXTENSION`.
        source: IommuError,
    },

    /// The host has no SPAPR TCE v2 IOMMU backend.
    #[error(
        "the host has no VFIO SPAPR TCE v2 IOMMU (VFIO_CHECK_EXTENSION(VFIO_SPAPR_TCE_v2_IOMMU) \
         is 0); this needs a POWER8 or later host kernel with CONFIG_VFIO_IOMMU_SPAPR_TCE: \
         modprobe vfio_iommu_spapr_tce"
    )]
    NoSpaprTceV2,

    /// Not every device of the IOMMU group is bound to a VFIO driver.
    #[error(
        "VFIO group {group} is not viable: bind every device in \
         /sys/kernel/iommu_groups/{group}/devices to vfio-pci (or unbind it from its host driver)"
    )]
    GroupNotViable {
        /// The IOMMU group number.
        group: u32,
    },

    /// The group is already part of this container.
    #[error("VFIO group {group} is already in this container")]
    GroupAlreadyAdded {
        /// The IOMMU group number.
        group: u32,
    },

    /// The group is not part of this container.
    #[error("VFIO group {group} is not in this container: add it first")]
    UnknownGroup {
        /// The IOMMU group number.
        group: u32,
    },

    /// A group operation failed: opening the group, `VFIO_GROUP_GET_STATUS`,
    /// `VFIO_GROUP_SET_CONTAINER` (`EBUSY`: the group is in another container or process),
    /// `VFIO_SET_IOMMU` (the backend refused the group) or `VFIO_GROUP_UNSET_CONTAINER`
    /// (`EBUSY`: device descriptors of the group are still open).
    #[error("VFIO group {group}: {source}")]
    Group {
        /// The IOMMU group number.
        group: u32,
        /// The failed operation.
        source: IommuError,
    },

    /// The device name cannot be passed to the kernel.
    #[error("invalid VFIO device name {name:?}: it must not contain NUL bytes")]
    InvalidDeviceName {
        /// The name given.
        name: String,
    },

    /// `VFIO_GROUP_GET_DEVICE_FD` failed.
    #[error(
        "cannot get device {name} of VFIO group {group}: {source}; the name is the device's \
         PCI address (e.g. 0001:00:01.0) as listed in /sys/kernel/iommu_groups/{group}/devices"
    )]
    Device {
        /// The IOMMU group number.
        group: u32,
        /// The device name given.
        name: String,
        /// The failed `VFIO_GROUP_GET_DEVICE_FD`.
        source: IommuError,
    },
}

impl ContainerError {
    /// The failed system call behind this error, if one failed.
    pub fn iommu_error(&self) -> Option<IommuError> {
        match self {
            Self::Open { source, .. }
            | Self::NotAContainer { source, .. }
            | Self::CheckExtension { source }
            | Self::Group { source, .. }
            | Self::Device { source, .. } => Some(*source),
            Self::ApiVersion { .. }
            | Self::NoSpaprTceV2
            | Self::GroupNotViable { .. }
            | Self::GroupAlreadyAdded { .. }
            | Self::UnknownGroup { .. }
            | Self::InvalidDeviceName { .. } => None,
        }
    }

    /// The errno of the failed system call, if one failed.
    pub fn errno(&self) -> Option<i32> {
        self.iommu_error().map(|error| error.errno)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::IommuOp;

    #[test]
    fn open_error_names_path_errno_and_remedy() {
        let error = ContainerError::Open {
            path: PathBuf::from("/dev/vfio/vfio"),
            source: IommuError::new(IommuOp::Open, libc::ENOENT),
        };
        let text = error.to_string();
        assert!(text
            .starts_with("cannot open the VFIO container /dev/vfio/vfio: open failed: ENOENT (2)"));
        assert!(text.contains("load vfio-pci"));
        assert_eq!(error.errno(), Some(libc::ENOENT));
        let source = error.source().expect("wraps the IommuError");
        assert!(source.to_string().starts_with("open failed: ENOENT"));
    }

    #[test]
    fn group_errors_say_what_to_do() {
        let not_viable = ContainerError::GroupNotViable { group: 3 }.to_string();
        assert!(not_viable.contains("/sys/kernel/iommu_groups/3/devices"));
        assert!(not_viable.contains("vfio-pci"));

        let busy = ContainerError::Group {
            group: 7,
            source: IommuError::new(IommuOp::GroupSetContainer, libc::EBUSY),
        };
        assert_eq!(
            busy.iommu_error(),
            Some(IommuError::new(IommuOp::GroupSetContainer, libc::EBUSY))
        );
        assert!(busy
            .to_string()
            .starts_with("VFIO group 7: VFIO_GROUP_SET_CONTAINER failed: EBUSY (16)"));

        let device = ContainerError::Device {
            group: 7,
            name: "0001:00:01.0".into(),
            source: IommuError::new(IommuOp::GroupGetDeviceFd, libc::EINVAL),
        }
        .to_string();
        assert!(device.contains("VFIO_GROUP_GET_DEVICE_FD failed: EINVAL"));
        assert!(device.contains("/sys/kernel/iommu_groups/7/devices"));
    }

    #[test]
    fn setup_errors_without_syscall_have_no_errno() {
        assert_eq!(ContainerError::NoSpaprTceV2.errno(), None);
        assert!(ContainerError::NoSpaprTceV2
            .to_string()
            .contains("modprobe vfio_iommu_spapr_tce"));
        let version = ContainerError::ApiVersion {
            found: 1,
            expected: 0,
        };
        assert_eq!(version.errno(), None);
        assert!(version.to_string().contains("version is 1"));
    }
}
