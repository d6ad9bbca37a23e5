// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The accelerator as the handler of `KVM_EXIT_PAPR_HCALL` exits, its KVM constructor and
//! queries.

use papr_hcall::{HcallOutcome, HcallStatus, Liobn};
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use super::{KvmConfig, TableLocation};
use crate::config::AcceleratorConfig;
use crate::error::SetupError;
use crate::kvm::bindings::PAPR_HCALL_ARG_COUNT;
use crate::kvm::{KvmTceCaps, PaprHcallHandler, RtasHandler};
use crate::TceAccelerator;

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Builds the accelerator like [`new`](Self::new), with its windows' tables in the kernel
    /// as far as `kvm` allows (see [`crate::kvm::KvmConfig`]; what is missing is logged and
    /// degrades to userspace tables, never to an error).
    ///
    /// A VMM passes `KvmConfig::new(KvmVm::new(vm_fd)?)`; here a stand-in keeps the tables
    /// in temporary files, so the example runs without `/dev/kvm`:
    ///
    /// ```
    /// use std::os::fd::BorrowedFd;
    /// use papr_hcall::{HcallStatus, Liobn, PageShift, H_PUT_TCE};
    /// use spapr_tce::kvm::{
    ///     KvmConfig, KvmError, KvmTableError, KvmTceCaps, KvmTceOps, KvmTceTable,
    ///     KvmTceTableGeometry, TableLocation,
    /// };
    /// use spapr_tce::{AcceleratorConfig, NoContainer, TceAccelerator, WindowConfig};
    /// use vm_memory::{GuestAddress, GuestMemoryMmap};
    ///
    /// /// Guest-view tables in unlinked temporary files instead of the kernel.
    /// struct FileTables;
    /// impl KvmTceOps for FileTables {
    ///     fn caps(&self) -> KvmTceCaps {
    ///         KvmTceCaps { spapr_tce_64: true, ..KvmTceCaps::default() }
    ///     }
    ///     fn enable_multitce_hcalls(&self) -> Result<(), KvmError> {
    ///         Ok(())
    ///     }
    ///     fn create_table(&self, geometry: KvmTceTableGeometry) -> Result<KvmTceTable, KvmTableError> {
    ///         let path = std::env::temp_dir()
    ///             .join(format!("tce-doc-{}-{}", std::process::id(), geometry.liobn.0));
    ///         let file = std::fs::File::options()
    ///             .read(true).write(true).create(true).truncate(true).open(&path).unwrap();
    ///         std::fs::remove_file(&path).unwrap();
    ///         file.set_len(geometry.entries * 8).unwrap();
    ///         KvmTceTable::from_file(file.into(), geometry)
    ///     }
    ///     fn add_group(&self, _: BorrowedFd<'_>) -> Result<(), KvmError> {
    ///         Ok(())
    ///     }
    ///     fn attach_group(&self, _: BorrowedFd<'_>, _: &KvmTceTable) -> Result<(), KvmError> {
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();
    /// let liobn = Liobn(0x7100_0000);
    /// let config = AcceleratorConfig::<NoContainer> {
    ///     vio_windows: vec![WindowConfig {
    ///         liobn,
    ///         bus_offset: 0,
    ///         size: 1 << 20,
    ///         page_shift: PageShift::SZ_4K,
    ///     }],
    ///     ..Default::default()
    /// };
    /// let acc = TceAccelerator::with_kvm(&mem, config, KvmConfig::new(FileTables))?;
    /// assert_eq!(
    ///     acc.table_location(liobn),
    ///     Some(TableLocation::Kernel { vfio_attached: false })
    /// );
    /// let put = acc.handle_hcall(H_PUT_TCE, &[liobn.0, 0x3000, 0x10_0001, 0, 0, 0, 0, 0, 0]);
    /// assert_eq!(put.unwrap().status, HcallStatus::SUCCESS);
    /// assert_eq!(acc.entries(liobn).unwrap()[0].1 .0, 0x10_0001);
    /// # Ok::<(), spapr_tce::SetupError>(())
    /// ```
    pub fn with_kvm(
        memory: AS,
        config: AcceleratorConfig<C>,
        kvm: KvmConfig,
    ) -> Result<Self, SetupError> {
        Self::build(memory, config, Some(kvm))
    }

    /// Where the guest-view table of the active window `liobn` lives.
    pub fn table_location(&self, liobn: Liobn) -> Option<TableLocation> {
        let (pe, slot) = self.route(liobn)?;
        let windows = pe.lock();
        windows.get(slot).map(|window| window.table.location())
    }

    /// The KVM capabilities found at setup; `None` without KVM.
    pub fn kvm_caps(&self) -> Option<KvmTceCaps> {
        self.kvm.as_ref().map(|kvm| kvm.caps())
    }
}

/// The four TCE hcalls, and `H_RTAS` for the DDW tokens
/// ([`TceAccelerator::handle_hcall`]); `None` for anything else.
///
/// A vCPU loop completes every `KVM_EXIT_PAPR_HCALL` with
/// `handle_papr_hcall_exit(&mut exit, &acc, Some(&acc))`.
impl<AS, C> PaprHcallHandler for TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    fn handle_hcall(&self, nr: u64, args: &[u64; PAPR_HCALL_ARG_COUNT]) -> Option<HcallOutcome> {
        TceAccelerator::handle_hcall(self, nr, args)
    }
}

/// The DDW RTAS calls: `Some(H_SUCCESS)` with the RTAS status in the buffer,
/// `Some(H_PARAMETER)` when the buffer is unusable, `None` (buffer untouched) for every other
/// token, which stays the VMM's ([`ExitAction::RtasPending`](crate::kvm::ExitAction)).
impl<AS, C> RtasHandler for TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    fn handle_rtas(&self, buffer: u64) -> Option<HcallStatus> {
        self.rtas_hcall(buffer).map(|outcome| outcome.status)
    }
}
