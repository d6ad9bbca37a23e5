// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! A builder for [`TceAccelerator`], and the container type of accelerators without any.

use vfio_spapr::{DmaAccess, IommuError, SpaprIommuInfo, SpaprTceIommu, WindowRequest};
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use crate::accelerator::TceAccelerator;
use crate::config::{AcceleratorConfig, LiobnScheme, PeConfig, WindowConfig};
use crate::error::SetupError;
use crate::kvm::KvmConfig;

/// Collects an [`AcceleratorConfig`] step by step.
///
/// ```
/// use papr_hcall::{Liobn, PageShift};
/// use spapr_tce::{LiobnScheme, NoContainer, TceAccelerator, WindowConfig};
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 24)]).unwrap();
/// let acc = TceAccelerator::<_, NoContainer>::builder(&mem)
///     .liobn_scheme(LiobnScheme::QEMU)
///     .qemu_phb(0, None)
///     .qemu_phb(1, None)
///     .vio_window(WindowConfig {
///         liobn: Liobn(0x7100_0000),
///         bus_offset: 0,
///         size: 256 << 20,
///         page_shift: PageShift::SZ_4K,
///     })
///     .build()
///     .unwrap();
/// assert_eq!(acc.windows().len(), 3, "two default PCI windows and one VIO window");
/// assert!(acc.window(Liobn(0x8000_0101)).is_none(), "no DDW until the guest creates one");
/// ```
#[derive(Debug)]
pub struct AcceleratorBuilder<AS, C> {
    memory: AS,
    scheme: LiobnScheme,
    config: AcceleratorConfig<C>,
    kvm: Option<KvmConfig>,
}

impl<AS, C> AcceleratorBuilder<AS, C> {
    /// An empty configuration over `memory`, with QEMU's LIOBN numbering.
    pub fn new(memory: AS) -> Self {
        Self {
            memory,
            scheme: LiobnScheme::QEMU,
            config: AcceleratorConfig::default(),
            kvm: None,
        }
    }

    /// Starts from an existing configuration.
    pub fn with_config(mut self, config: AcceleratorConfig<C>) -> Self {
        self.config = config;
        self
    }

    /// The LIOBN numbering used by [`qemu_phb`](Self::qemu_phb).
    pub fn liobn_scheme(mut self, scheme: LiobnScheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// Adds a PE.
    pub fn pe(mut self, pe: PeConfig<C>) -> Self {
        self.config.pes.push(pe);
        self
    }

    /// Adds a PE laid out like QEMU's PHB number `index` ([`PeConfig::qemu_phb`]).
    pub fn qemu_phb(self, index: u32, container: Option<C>) -> Self {
        let pe = PeConfig::qemu_phb(index, &self.scheme, container);
        self.pe(pe)
    }

    /// Adds a VIO window.
    pub fn vio_window(mut self, window: WindowConfig) -> Self {
        self.config.vio_windows.push(window);
        self
    }

    /// Sets the host page size instead of asking the OS.
    pub fn host_page_size(mut self, bytes: u64) -> Self {
        self.config.host_page_size = Some(bytes);
        self
    }

    /// Sets the page size of hugetlbfs-backed guest RAM.
    pub fn hugepage_size(mut self, bytes: u64) -> Self {
        self.config.hugepage_size = Some(bytes);
        self
    }

    /// Puts the windows' TCE tables into the kernel ([`TceAccelerator::with_kvm`]).
    pub fn kvm(mut self, kvm: KvmConfig) -> Self {
        self.kvm = Some(kvm);
        self
    }

    /// The configuration collected so far.
    pub fn config(&self) -> &AcceleratorConfig<C> {
        &self.config
    }

    /// Builds the accelerator ([`TceAccelerator::new`], or [`TceAccelerator::with_kvm`] after
    /// [`kvm`](Self::kvm)).
    pub fn build(self) -> Result<TceAccelerator<AS, C>, SetupError>
    where
        AS: GuestAddressSpace,
        AS::M: GuestMemoryBackend,
        C: SpaprTceIommu,
    {
        TceAccelerator::build(self.memory, self.config, self.kvm)
    }
}

/// The container type of an accelerator without passed-through devices: it has no values,
/// so no PE can have a container.
#[derive(Debug)]
pub enum NoContainer {}

impl SpaprTceIommu for NoContainer {
    fn info(&self) -> Result<SpaprIommuInfo, IommuError> {
        match *self {}
    }
    fn register_memory(&self, _vaddr: u64, _size: u64) -> Result<(), IommuError> {
        match *self {}
    }
    fn unregister_memory(&self, _vaddr: u64, _size: u64) -> Result<(), IommuError> {
        match *self {}
    }
    fn create_window(&self, _request: WindowRequest) -> Result<u64, IommuError> {
        match *self {}
    }
    fn remove_window(&self, _start_addr: u64) -> Result<(), IommuError> {
        match *self {}
    }
    fn map_dma(
        &self,
        _iova: u64,
        _size: u64,
        _vaddr: u64,
        _access: DmaAccess,
    ) -> Result<(), IommuError> {
        match *self {}
    }
    fn unmap_dma(&self, _iova: u64, _size: u64) -> Result<(), IommuError> {
        match *self {}
    }
}
