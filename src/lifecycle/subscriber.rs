// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Memory hotplug from the VMM's event loop: an event-manager subscriber that re-synchronises
//! the accelerator's RAM map whenever the VMM signals an [`EventFd`] (rust-vmm.md §1.2, the
//! Firecracker pattern: register in `init`, consume the `EventFd` in `process`, log errors).

use std::io;
use std::sync::Arc;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use vfio_spapr::SpaprTceIommu;
use vm_memory::{GuestAddressSpace, GuestMemoryBackend};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::RemovePolicy;
use crate::TceAccelerator;

/// Runs [`TceAccelerator::sync_memory`] each time its [`EventFd`] is signalled.
///
/// The VMM swaps its guest memory map (e.g. `GuestMemoryAtomic::lock()?.replace(..)`), then
/// writes to the [`notifier`](Self::notifier). Several signals before the loop runs collapse
/// into one synchronisation, which sees the latest map. Errors are logged (the next signal
/// retries what is still different); [`failures`](Self::failures) counts them.
///
/// ```
/// use std::sync::Arc;
/// use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
/// use spapr_tce::lifecycle::{MemoryHotplugSubscriber, RemovePolicy};
/// use spapr_tce::{NoContainer, TceAccelerator};
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// let mem = Arc::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap());
/// let acc = Arc::new(TceAccelerator::<_, NoContainer>::builder(mem).qemu_phb(0, None).build().unwrap());
/// let subscriber = MemoryHotplugSubscriber::new(acc, RemovePolicy::Refuse).unwrap();
/// let notifier = subscriber.notifier().unwrap();
/// let mut manager = EventManager::<Box<dyn MutEventSubscriber + Send>>::new().unwrap();
/// let id = manager.add_subscriber(Box::new(subscriber));
/// notifier.write(1).unwrap();
/// assert_eq!(manager.run_with_timeout(1000).unwrap(), 1);
/// # let _ = id;
/// ```
pub struct MemoryHotplugSubscriber<AS, C> {
    accelerator: Arc<TceAccelerator<AS, C>>,
    event: EventFd,
    policy: RemovePolicy,
    syncs: u64,
    failures: u64,
}

impl<AS, C> MemoryHotplugSubscriber<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    /// A subscriber with a new non-blocking [`EventFd`]; regions that are gone are removed
    /// with `policy`.
    pub fn new(accelerator: Arc<TceAccelerator<AS, C>>, policy: RemovePolicy) -> io::Result<Self> {
        Ok(Self::with_event(
            accelerator,
            EventFd::new(EFD_NONBLOCK)?,
            policy,
        ))
    }

    /// A subscriber watching `event` (which should be non-blocking).
    pub fn with_event(
        accelerator: Arc<TceAccelerator<AS, C>>,
        event: EventFd,
        policy: RemovePolicy,
    ) -> Self {
        Self {
            accelerator,
            event,
            policy,
            syncs: 0,
            failures: 0,
        }
    }

    /// A handle the VMM writes to (any non-zero value) after swapping its memory map.
    pub fn notifier(&self) -> io::Result<EventFd> {
        self.event.try_clone()
    }

    /// Synchronisations run so far (successful or not).
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Synchronisations that failed.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    fn synchronise(&mut self) {
        self.syncs += 1;
        match self.accelerator.sync_memory(self.policy) {
            Ok(sync) => log::debug!(
                "memory hotplug: {} region(s) added, {} removed",
                sync.added.len(),
                sync.removed.len()
            ),
            Err(error) => {
                self.failures += 1;
                log::error!("memory hotplug: synchronising the guest RAM map failed: {error}");
            }
        }
    }
}

impl<AS, C> MutEventSubscriber for MemoryHotplugSubscriber<AS, C>
where
    AS: GuestAddressSpace,
    AS::M: GuestMemoryBackend,
    C: SpaprTceIommu,
{
    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let set = events.event_set();
        if set.contains(EventSet::IN) {
            match self.event.read() {
                Ok(_) => self.synchronise(),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => log::error!("memory hotplug: reading the event fd: {error}"),
            }
        }
        if set.intersects(EventSet::ERROR | EventSet::HANG_UP | EventSet::READ_HANG_UP) {
            log::error!("memory hotplug: event fd reported {set:?}; no longer watching it");
            if let Err(error) = ops.remove(Events::empty(&self.event)) {
                log::error!("memory hotplug: removing the event fd: {error}");
            }
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        if let Err(error) = ops.add(Events::new(&self.event, EventSet::IN)) {
            log::error!("memory hotplug: registering the event fd: {error}");
        }
    }
}

impl<AS, C> std::fmt::Debug for MemoryHotplugSubscriber<AS, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryHotplugSubscriber")
            .field("policy", &self.policy)
            .field("syncs", &self.syncs)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}
