// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The real VFIO SPAPR TCE v2 container: `/dev/vfio/vfio` plus its groups, issuing the Linux
//! ioctls of kernel-host.md §3.
//!
//! Only the legacy container/group interface works on POWER: iommufd's VFIO compatibility has
//! no SPAPR support (kernel-host.md §3.2, last item).

mod args;
mod error;
mod group;
mod sys;

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use vfio_bindings::bindings::vfio::{VFIO_SPAPR_TCE_v2_IOMMU, VFIO_API_VERSION};

pub use error::ContainerError;
pub use group::VfioSpaprGroup;

use crate::{DmaAccess, IommuError, SpaprIommuInfo, SpaprTceIommu, WindowRequest};

/// Where Linux exposes the VFIO container device.
pub const VFIO_CONTAINER_PATH: &str = "/dev/vfio/vfio";

/// The directory holding the VFIO group devices (`/dev/vfio/<group number>`).
pub const VFIO_GROUP_DIR: &str = "/dev/vfio";

/// The groups of a container and whether the kernel has an IOMMU backend for them.
#[derive(Debug, Default)]
struct Groups {
    attached: Vec<Arc<VfioSpaprGroup>>,
    /// `VFIO_SET_IOMMU` succeeded and at least one group has stayed attached since.
    iommu_set: bool,
}

/// A VFIO container using the SPAPR TCE v2 IOMMU (`VFIO_SPAPR_TCE_v2_IOMMU`).
///
/// Setup: [`open`](Self::open), then [`add_group`](Self::add_group) for each IOMMU group to
/// pass through (the first one makes the kernel create the IOMMU backend). Then the
/// [`SpaprTceIommu`] methods: pre-register guest RAM, create windows, map and unmap.
/// Removing the last group makes the kernel release the backend with all its windows and
/// pre-registrations (kernel-host.md §3.2); the next group added starts afresh.
///
/// All methods take `&self`, so one container can be shared by every vCPU thread.
///
/// ```
/// use vfio_spapr::{SpaprTceIommu, VfioSpaprContainer};
///
/// // Without /dev/vfio (e.g. on a build machine) this is a clean error, not a panic.
/// match VfioSpaprContainer::open() {
///     Ok(container) => println!("{} groups attached", container.groups().len()),
///     Err(error) => eprintln!("{error}"),
/// }
/// ```
#[derive(Debug)]
pub struct VfioSpaprContainer {
    file: File,
    groups: Mutex<Groups>,
}

impl VfioSpaprContainer {
    /// Opens [`VFIO_CONTAINER_PATH`] and checks that the kernel offers the SPAPR TCE v2
    /// IOMMU.
    pub fn open() -> Result<Self, ContainerError> {
        Self::open_at(VFIO_CONTAINER_PATH)
    }

    /// Opens the container device at `path` (`O_RDWR | O_CLOEXEC`) and checks it like
    /// [`open`](Self::open).
    pub fn open_at(path: impl AsRef<Path>) -> Result<Self, ContainerError> {
        let path = path.as_ref();
        let file = sys::open_read_write(path).map_err(|source| ContainerError::Open {
            path: path.to_owned(),
            source,
        })?;
        Self::checked(path.to_owned(), file)
    }

    /// Takes over an already open container descriptor (e.g. one passed in by a management
    /// layer) and checks it like [`open`](Self::open). It must not have groups yet.
    pub fn from_file(file: File) -> Result<Self, ContainerError> {
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        Self::checked(path, file)
    }

    /// `VFIO_GET_API_VERSION == VFIO_API_VERSION` and
    /// `VFIO_CHECK_EXTENSION(VFIO_SPAPR_TCE_v2_IOMMU)` (kernel-host.md §3.2).
    fn checked(path: PathBuf, file: File) -> Result<Self, ContainerError> {
        let version = sys::get_api_version(file.as_fd())
            .map_err(|source| ContainerError::NotAContainer { path, source })?;
        if u32::try_from(version) != Ok(VFIO_API_VERSION) {
            return Err(ContainerError::ApiVersion {
                found: version,
                expected: VFIO_API_VERSION,
            });
        }
        let has_spapr_v2 = sys::check_extension(file.as_fd(), VFIO_SPAPR_TCE_v2_IOMMU)
            .map_err(|source| ContainerError::CheckExtension { source })?;
        if !has_spapr_v2 {
            return Err(ContainerError::NoSpaprTceV2);
        }
        Ok(Self::unchecked(file))
    }

    /// Wraps a descriptor without any check.
    fn unchecked(file: File) -> Self {
        Self {
            file,
            groups: Mutex::new(Groups::default()),
        }
    }

    /// A container on an arbitrary file (e.g. `/dev/null`), for tests of the error paths.
    #[cfg(test)]
    pub(crate) fn from_file_unchecked(file: File) -> Self {
        Self::unchecked(file)
    }

    fn lock_groups(&self) -> MutexGuard<'_, Groups> {
        // A panic while holding the lock cannot leave `Groups` inconsistent with the kernel
        // in a way a retry would make worse, so keep going with the data.
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens `/dev/vfio/<id>` and adds the group, see [`add_group_file`](Self::add_group_file).
    pub fn add_group(&self, id: u32) -> Result<Arc<VfioSpaprGroup>, ContainerError> {
        if self.group(id).is_some() {
            // Checked before opening: the kernel allows only one open of a group file.
            return Err(ContainerError::GroupAlreadyAdded { group: id });
        }
        let path = Path::new(VFIO_GROUP_DIR).join(id.to_string());
        let file = sys::open_read_write(&path)
            .map_err(|source| ContainerError::Group { group: id, source })?;
        self.add_group_file(id, file)
    }

    /// Adds the open group file of IOMMU group `id`: `VFIO_GROUP_GET_STATUS` must report it
    /// viable, then `VFIO_GROUP_SET_CONTAINER`; for the first group also
    /// `VFIO_SET_IOMMU(VFIO_SPAPR_TCE_v2_IOMMU)` (kernel-host.md §3.2; the backend then
    /// attaches the group, §3.6). Returns the group, whose descriptor KVM needs later.
    pub fn add_group_file(
        &self,
        id: u32,
        file: File,
    ) -> Result<Arc<VfioSpaprGroup>, ContainerError> {
        let mut groups = self.lock_groups();
        if groups.attached.iter().any(|group| group.id() == id) {
            return Err(ContainerError::GroupAlreadyAdded { group: id });
        }
        let group = VfioSpaprGroup::new(id, file)?;
        group.attach(self.file.as_fd())?;
        if !groups.iommu_set {
            if let Err(source) = sys::set_iommu(self.file.as_fd(), VFIO_SPAPR_TCE_v2_IOMMU) {
                // Leave the group as we found it; its descriptor closes on return anyway.
                if let Err(detach) = group.detach() {
                    log::warn!("cannot detach VFIO group {id} after a failed SET_IOMMU: {detach}");
                }
                return Err(ContainerError::Group { group: id, source });
            }
            groups.iommu_set = true;
        }
        let group = Arc::new(group);
        groups.attached.push(Arc::clone(&group));
        log::info!("VFIO group {id} added to the SPAPR TCE v2 container");
        Ok(group)
    }

    /// `VFIO_GROUP_UNSET_CONTAINER` and forgets the group. Fails with `EBUSY` while device
    /// descriptors of the group are open. The kernel clears every window's entries on detach,
    /// which wipes the DMA mappings of the remaining groups too (kernel-host.md §3.6);
    /// removing the last group releases the whole IOMMU backend (§3.2).
    pub fn remove_group(&self, id: u32) -> Result<(), ContainerError> {
        let mut groups = self.lock_groups();
        let index = groups
            .attached
            .iter()
            .position(|group| group.id() == id)
            .ok_or(ContainerError::UnknownGroup { group: id })?;
        groups.attached[index].detach()?;
        groups.attached.remove(index);
        if groups.attached.is_empty() {
            groups.iommu_set = false;
        }
        log::info!("VFIO group {id} removed from the SPAPR TCE v2 container");
        Ok(())
    }

    /// The attached group `id`, if any.
    pub fn group(&self, id: u32) -> Option<Arc<VfioSpaprGroup>> {
        let groups = self.lock_groups();
        groups
            .attached
            .iter()
            .find(|group| group.id() == id)
            .cloned()
    }

    /// Every attached group, in the order they were added.
    pub fn groups(&self) -> Vec<Arc<VfioSpaprGroup>> {
        self.lock_groups().attached.clone()
    }

    /// `VFIO_GROUP_GET_DEVICE_FD` on attached group `group`; see
    /// [`VfioSpaprGroup::device_fd`].
    pub fn device_fd(&self, group: u32, name: &str) -> Result<File, ContainerError> {
        self.group(group)
            .ok_or(ContainerError::UnknownGroup { group })?
            .device_fd(name)
    }
}

impl AsRawFd for VfioSpaprContainer {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for VfioSpaprContainer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// One ioctl per method, with the kernel's checks and errnos (kernel-host.md §3.4).
///
/// As with every VFIO container, a successful [`map_dma`](SpaprTceIommu::map_dma) lets the
/// device read and write `[vaddr, vaddr + size)` at any time: until it is unmapped, that memory
/// may only be accessed through raw pointers / volatile accesses (vm-memory's `Bytes`), never
/// through Rust references.
impl SpaprTceIommu for VfioSpaprContainer {
    fn info(&self) -> Result<SpaprIommuInfo, IommuError> {
        let mut raw = args::tce_info();
        sys::spapr_tce_get_info(self.file.as_fd(), &mut raw)?;
        Ok(args::iommu_info_from(&raw))
    }

    fn register_memory(&self, vaddr: u64, size: u64) -> Result<(), IommuError> {
        sys::register_memory(self.file.as_fd(), &args::register_memory(vaddr, size))
    }

    fn unregister_memory(&self, vaddr: u64, size: u64) -> Result<(), IommuError> {
        sys::unregister_memory(self.file.as_fd(), &args::register_memory(vaddr, size))
    }

    fn create_window(&self, request: WindowRequest) -> Result<u64, IommuError> {
        let mut create = args::tce_create(request);
        sys::tce_create(self.file.as_fd(), &mut create)?;
        Ok(create.start_addr)
    }

    fn remove_window(&self, start_addr: u64) -> Result<(), IommuError> {
        sys::tce_remove(self.file.as_fd(), &args::tce_remove(start_addr))
    }

    fn map_dma(
        &self,
        iova: u64,
        size: u64,
        vaddr: u64,
        access: DmaAccess,
    ) -> Result<(), IommuError> {
        sys::map_dma(self.file.as_fd(), &args::dma_map(iova, size, vaddr, access))
    }

    fn unmap_dma(&self, iova: u64, size: u64) -> Result<(), IommuError> {
        sys::unmap_dma(self.file.as_fd(), &mut args::dma_unmap(iova, size))
    }
}

#[cfg(test)]
mod tests;
