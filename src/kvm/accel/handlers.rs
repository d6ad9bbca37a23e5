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
