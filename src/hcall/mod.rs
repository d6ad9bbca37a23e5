// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The four TCE hypercalls.
//!
//! Every handler validates the **whole** request before changing anything, then commits
//! the guest view and the hardware together (LoPAR 2.9 §14.5.4.2.3: "copies the list into a
//! private buffer, validates and translates every entry, and only then writes all of them";
//! kernel-host.md §7 items 17–18 recommendation). The order of the checks, and the code each
//! returns, is documented on each handler with its source. Every refusal is logged at debug
//! level with its reason.

mod get;
mod indirect;
mod linear;
mod put;
mod stuff;

use papr_hcall::{HcallOutcome, HcallRequest, HcallStatus, Liobn, Tce, H_RTAS, MAX_INDIRECT_TCES};
use vfio_spapr::{IommuError, SpaprTceIommu};
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};

use crate::accelerator::TceAccelerator;
use crate::counters::HcallKind;
use crate::kvm::accel::WindowTable;
use crate::mapping::{
    check_tce, EntryStats, EntryUpdate, HardwareState, HostMapper, HostTarget, TceError,
};
use crate::pe::PeBackend;
use crate::ram::RamMap;
use crate::window::{IobaError, Window};

/// Why a hypercall was not carried out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    /// LoPAR 2.9 §14.5.4.2.1 and QEMU: H_PARAMETER. KVM would exit to userspace
    /// (kernel-host.md §1.4 `kvmppc_find_table`), i.e. to us.
    #[error("no window has this LIOBN")]
    UnknownLiobn,
    /// The LIOBN belongs to a window slot that holds no window now (a DDW not created yet,
    /// or a removed default window): LoPAR treats it as an unknown LIOBN.
    #[error("the window of this LIOBN is not active")]
    InactiveWindow,
    #[error(transparent)]
    Ioba(#[from] IobaError),
    /// kernel-host.md §1.6 step 2, checklist item 9.
    #[error("{count} TCEs is more than the 512 of one list page")]
    IndirectTooMany { count: u64 },
    /// LoPAR 2.9 §14.5.4.2.4: H_P4 (qemu-and-guest.md §2.4).
    #[error("{count} TCEs is more than the 512 one H_STUFF_TCE may set")]
    StuffTooMany { count: u64 },
    /// kernel-host.md §1.6 step 3.
    #[error("TCE list {list:#x} is not 4 KiB aligned")]
    ListMisaligned { list: u64 },
    /// LoPAR: the list must be a valid logical page; KVM: it must be in a memslot (§1.6 step 5).
    #[error("TCE list page {list:#x} is not guest RAM")]
    ListNotRam { list: u64 },
    #[error("entry {position} ({tce}): {source}")]
    BadTce {
        position: u64,
        tce: Tce,
        source: TceError,
    },
    /// kernel-host.md §1.7 step 3, checklist item 11.
    #[error("value {value} has R or W set; H_STUFF_TCE may only clear")]
    StuffWithPermission { value: Tce },
    #[error("host IOMMU: {0}")]
    Backend(IommuError),
}

impl Refusal {
    /// The PAPR status the guest gets.
    pub(crate) fn status(&self) -> HcallStatus {
        match self {
            Self::StuffTooMany { .. } => HcallStatus::P4,
            Self::Backend(error) if error.errno == libc::ENOMEM => {
                HcallStatus::NOT_ENOUGH_RESOURCES
            }
            Self::Backend(_) => HcallStatus::HARDWARE,
            _ => HcallStatus::PARAMETER,
        }
    }
}

fn kind_of(request: &HcallRequest) -> HcallKind {
    match request {
        HcallRequest::PutTce { .. } => HcallKind::PutTce,
        HcallRequest::GetTce { .. } => HcallKind::GetTce,
        HcallRequest::StuffTce { .. } => HcallKind::StuffTce,
        HcallRequest::PutTceIndirect { .. } => HcallKind::PutTceIndirect,
    }
}

impl<AS, C> TceAccelerator<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// Handles a `KVM_EXIT_PAPR_HCALL` (or any hypercall exit): `nr` is r3, `args` r4..r12.
    /// Returns `None` for every opcode other than the four TCE hypercalls and `H_RTAS` calls
    /// of the DDW tokens ([`handle_rtas`](Self::handle_rtas): `H_SUCCESS`, the RTAS status is
    /// in the buffer), which the caller handles itself. Write the outcome back with
    /// [`HcallOutcome::write_to`].
    pub fn handle_hcall(&self, nr: u64, args: &[u64; 9]) -> Option<HcallOutcome> {
        if nr == H_RTAS {
            return self.rtas_hcall(args[0]);
        }
        HcallRequest::decode(nr, args).map(|request| self.execute(request))
    }

    /// Executes one TCE hypercall. Never panics, whatever the guest passed.
    pub fn execute(&self, request: HcallRequest) -> HcallOutcome {
        let result = match request {
            HcallRequest::PutTce { liobn, ioba, tce } => self.put_tce(liobn, ioba, tce),
            HcallRequest::GetTce { liobn, ioba } => self.get_tce(liobn, ioba),
            HcallRequest::StuffTce {
                liobn,
                ioba,
                value,
                count,
            } => self.stuff_tce(liobn, ioba, value, count),
            HcallRequest::PutTceIndirect {
                liobn,
                ioba,
                list,
                count,
            } => self.put_tce_indirect(liobn, ioba, list, count),
        };
        let outcome = result.unwrap_or_else(|refusal| {
            let status = refusal.status();
            log::debug!("{request:x?} refused with {status}: {refusal}");
            HcallOutcome::status(status)
        });
        self.counters.hcall(kind_of(&request), outcome.status);
        outcome
    }

    /// Runs `f` on the active window named by `liobn`, with its PE's container, under the
    /// PE's lock.
    fn with_window<R>(
        &self,
        liobn: Liobn,
        f: impl FnOnce(&mut Window, Option<&PeBackend<C>>) -> Result<R, Refusal>,
    ) -> Result<R, Refusal> {
        let (pe, slot) = self.route(liobn).ok_or(Refusal::UnknownLiobn)?;
        let mut windows = pe.lock();
        let window = windows.get_mut(slot).ok_or(Refusal::InactiveWindow)?;
        f(window, pe.backend.as_ref())
    }

    /// Validates one TCE for `window` against `ram` (see [`check_tce`]). Callers resolve the
    /// published RAM map once per hypercall, not once per entry.
    fn check_tce(
        window: &Window,
        ram: &RamMap,
        position: u64,
        tce: Tce,
    ) -> Result<Option<HostTarget>, Refusal> {
        check_tce(
            tce,
            window.geometry.page_shift,
            ram,
            window.host.map(|host| host.page_shift),
        )
        .map_err(|source| Refusal::BadTce {
            position,
            tce,
            source,
        })
    }

    /// Commits validated updates (increasing index order): hardware first, then the guest
    /// view, as the kernel does (kernel-host.md §5.5). On a host failure the guest view keeps
    /// its previous values except for entries that could not be restored, which become 0
    /// (see [`crate::mapping`]).
    fn commit(
        &self,
        window: &mut Window,
        backend: Option<&PeBackend<C>>,
        updates: &[EntryUpdate],
    ) -> Result<(), Refusal> {
        if let (Some(backend), Some(host)) = (backend, window.host.as_ref()) {
            let mapper = HostMapper {
                iommu: &backend.iommu,
                host,
                geometry: &window.geometry,
                ram: &self.ram,
                counters: &self.counters,
            };
            // A kernel table shared with VFIO: the kernel may have touched the hardware
            // before it punted this hcall to us (crate::kvm::accel).
            let hardware = if window.table.hardware_may_lag() {
                HardwareState::Unknown
            } else {
                HardwareState::MatchesOld
            };
            if let Err(failure) = mapper.apply_from(updates, hardware) {
                for &index in &failure.cleared {
                    window.table.set(index, 0);
                }
                return Err(Refusal::Backend(failure.error));
            }
        }
        let stats = EntryStats::of(updates);
        self.counters
            .entries(stats.mapped, stats.unmapped, stats.skipped);
        store_updates(&mut window.table, updates);
        Ok(())
    }
}

/// Writes the new values of `updates` into the guest view, a run of consecutive entries at
/// a time (one table walk per run instead of one per entry).
fn store_updates(table: &mut WindowTable, updates: &[EntryUpdate]) {
    let mut values = [0u64; MAX_INDIRECT_TCES as usize];
    let mut rest = updates;
    while let Some(first) = rest.first() {
        let run = (0u64..)
            .zip(rest.iter().take(values.len()))
            .take_while(|(offset, update)| first.index.checked_add(*offset) == Some(update.index))
            .count();
        for (value, update) in values.iter_mut().zip(&rest[..run]) {
            *value = update.new;
        }
        table.set_run(first.index, &values[..run]);
        rest = &rest[run..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        use vfio_spapr::IommuOp;
        assert_eq!(Refusal::UnknownLiobn.status(), HcallStatus::PARAMETER);
        assert_eq!(
            Refusal::StuffTooMany { count: 513 }.status(),
            HcallStatus::P4
        );
        assert_eq!(
            Refusal::Backend(IommuError::new(IommuOp::MapDma, libc::ENOMEM)).status(),
            HcallStatus::NOT_ENOUGH_RESOURCES
        );
        assert_eq!(
            Refusal::Backend(IommuError::new(IommuOp::MapDma, libc::EINVAL)).status(),
            HcallStatus::HARDWARE
        );
    }
}
