//! Host tests of the `dma` part: the whole step sequence against the reference model of the
//! lab's pSeries host, with a simulated `edu` that DMAs through the model's hardware
//! entries. Broken devices (one that ignores the IOMMU, one that keeps stale translations,
//! one that ignores TCE permissions, one that never moves data) must make the part fail, so
//! its checks can fail.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use vfio_spapr::model::{ModelContainer, PlatformProfile};
use vfio_spapr::DmaAccess;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};

use super::guest::{allocate_ram, Memory};
use super::{exercise, scenario};
use crate::edu::{DmaEngine, EduError, BUFFER_LEN};
use crate::report::Report;

const PAGE: u64 = 4096;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// A correct device behind the model's IOMMU.
    None,
    /// Uses bus addresses as guest-physical addresses.
    IgnoresIommu,
    /// Remembers every translation it ever used.
    StaleTranslations,
    /// Completes every DMA without moving data.
    Dead,
    /// Writes through read-only entries.
    IgnoresPermissions,
}

/// `edu` on the model: reads of unmapped pages bring zeros, writes to them are dropped
/// (what QEMU does, shared/lab/README.md §9.4).
struct SimEdu<'m> {
    mem: &'m Memory,
    model: Arc<ModelContainer>,
    buffer: Vec<u8>,
    fault: Fault,
    cache: HashMap<u64, (u64, DmaAccess)>,
    dmas: u64,
}

impl<'m> SimEdu<'m> {
    fn new(mem: &'m Memory, model: Arc<ModelContainer>, fault: Fault) -> Self {
        Self {
            mem,
            model,
            buffer: vec![0; BUFFER_LEN as usize],
            fault,
            cache: HashMap::new(),
            dmas: 0,
        }
    }

    /// The guest-physical address the device reaches at `bus`, if it may access it `write`.
    fn reach(&mut self, bus: u64, write: bool) -> Option<u64> {
        if self.fault == Fault::IgnoresIommu {
            return Some(bus);
        }
        let page = bus & !(PAGE - 1);
        let live = self.model.windows().into_iter().find_map(|w| {
            let size = 1u64 << w.page_shift;
            let inside = page >= w.start && u128::from(page) < w.hw_end();
            let entry = self.model.hw_entry(page).filter(|_| inside)?;
            Some((entry.vaddr + (page & (size - 1)), entry.access))
        });
        let (vaddr, access) = match (live, self.fault) {
            (Some(found), _) => {
                self.cache.insert(page, found);
                found
            }
            (None, Fault::StaleTranslations) => *self.cache.get(&page)?,
            (None, _) => return None,
        };
        let allowed = match access {
            _ if self.fault == Fault::IgnoresPermissions => true,
            DmaAccess::Read => !write,
            DmaAccess::Write => write,
            DmaAccess::ReadWrite => true,
        };
        let base = self.mem.get_host_address(GuestAddress(0)).ok()? as u64;
        allowed.then(|| vaddr - base + (bus & (PAGE - 1)))
    }

    fn check(len: u32) -> Result<(), EduError> {
        if len == 0 || len > BUFFER_LEN {
            Err(EduError::Length(len))
        } else {
            Ok(())
        }
    }
}

impl DmaEngine for SimEdu<'_> {
    fn to_device(&mut self, bus: u64, len: u32) -> Result<(), EduError> {
        Self::check(len)?;
        self.dmas += 1;
        if self.fault == Fault::Dead {
            return Ok(());
        }
        for i in 0..u64::from(len) {
            let mut byte = [0u8];
            if let Some(gpa) = self.reach(bus + i, false) {
                self.mem.read_slice(&mut byte, GuestAddress(gpa)).ok();
            }
            self.buffer[i as usize] = byte[0];
        }
        Ok(())
    }

    fn to_ram(&mut self, bus: u64, len: u32) -> Result<(), EduError> {
        Self::check(len)?;
        self.dmas += 1;
        if self.fault == Fault::Dead {
            return Ok(());
        }
        for i in 0..u64::from(len) {
            if let Some(gpa) = self.reach(bus + i, true) {
                let byte = [self.buffer[i as usize]];
                self.mem.write_slice(&byte, GuestAddress(gpa)).ok();
            }
        }
        Ok(())
    }

    fn stats(&self) -> (u64, Duration) {
        (self.dmas, Duration::ZERO)
    }
}

/// Runs the part on the model with a device of `fault`; true when every step passed.
fn run_on_model(fault: Fault) -> bool {
    let mem = allocate_ram().unwrap();
    let model = Arc::new(ModelContainer::new(PlatformProfile::pseries_nested()));
    let engine = SimEdu::new(&mem, Arc::clone(&model), fault);
    let mut report = Report::new("dma-test");
    exercise(&mut report, &mem, Arc::clone(&model), engine);
    report.finish()
}

#[test]
fn every_step_passes_on_the_model_of_the_lab_host() {
    assert!(run_on_model(Fault::None));
}

#[test]
fn a_device_ignoring_the_iommu_fails() {
    assert!(!run_on_model(Fault::IgnoresIommu));
}

#[test]
fn stale_translations_fail() {
    assert!(!run_on_model(Fault::StaleTranslations));
}

#[test]
fn a_device_writing_read_only_pages_fails() {
    assert!(!run_on_model(Fault::IgnoresPermissions));
}

#[test]
fn a_dead_device_fails() {
    assert!(!run_on_model(Fault::Dead));
}

#[test]
fn the_layout_uses_distinct_pages() {
    use scenario::*;
    let places = [WITNESS, SINGLE, READ_ONLY];
    let mut pages: Vec<u64> = places.iter().map(|p| p.gpa).collect();
    pages.extend([super::guest::RTAS_BUFFER, super::guest::TCE_LIST]);
    pages.sort();
    pages.dedup();
    assert_eq!(pages.len(), 5, "{pages:x?}");
    assert!(pages.iter().all(|&p| p % PAGE == 0 && p < LINEAR.gpa));
    let buses: Vec<u64> = places.iter().map(|p| p.bus).collect();
    assert!(buses.iter().all(|&b| b % PAGE == 0 && b < LINEAR.bus));
}
