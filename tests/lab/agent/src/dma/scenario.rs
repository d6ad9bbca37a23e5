//! The order of the live DMA steps and what they share: the guest, the device, the LIOBNs,
//! the witness page every "must not reach" check compares against, and the DDW once
//! created.
//!
//! Every step maps or clears TCEs the way a Linux guest does, checks the host calls the
//! accelerator issued for it ([`Effect`]), then has the device move data through the
//! bus addresses the TCEs define. Steps run in order; a step whose precondition failed
//! reports FAIL without touching the device.

use papr_hcall::{Liobn, Tce};
use spapr_tce::{CountersSnapshot, PeConfig};
use vfio_spapr::SpaprTceIommu;

use super::counts::Effect;
use super::guest::Guest;
use super::traffic::Place;
use crate::edu::DmaEngine;
use crate::report::Report;

/// The PHB the lab's `edu` sits on (`-device spapr-pci-host-bridge,index=4`).
pub const PHB: u32 = 4;
/// Its BUID, as the guest passes it to the DDW RTAS calls.
pub const BUID: u64 = PeConfig::<()>::QEMU_BUID_BASE + PHB as u64;
/// Device may read and write.
pub const RW: u64 = Tce::READ | Tce::WRITE;
/// The guest's default-window TCE page.
pub const PAGE: u64 = 4096;
/// Bytes per device transfer: the whole edu buffer.
pub const LEN: u32 = crate::edu::BUFFER_LEN;

/// Mapped by `H_PUT_TCE` first and cleared last: the reference end of every negative check.
pub const WITNESS: Place = Place {
    bus: 0x0,
    gpa: 0x10_0000,
};
/// One page mapped and cleared with `H_PUT_TCE`.
pub const SINGLE: Place = Place {
    bus: 0x3000,
    gpa: 0x23_7000,
};
/// One page mapped read-only (TCE permission R: the device may read it).
pub const READ_ONLY: Place = Place {
    bus: 0x5000,
    gpa: 0x24_0000,
};
/// Start of the linear run mapped with `H_PUT_TCE_INDIRECT`.
pub const LINEAR: Place = Place {
    bus: 0x10_0000,
    gpa: 0x41_3000,
};
/// Pages in [`LINEAR`].
pub const LINEAR_PAGES: u64 = 16;

/// The DDW the guest creates: 64 KiB TCE pages, 16 MiB window.
pub const DDW_PAGE_SHIFT: u32 = 16;
/// log2 of the DDW size.
pub const DDW_WINDOW_SHIFT: u32 = 24;
/// Offset of the mapped run inside the DDW.
pub const DDW_OFFSET: u64 = 0x10_0000;
/// Guest RAM behind the DDW run (64 KiB aligned).
pub const DDW_GPA: u64 = 0x80_0000;
/// Pages in the DDW run.
pub const DDW_PAGES: u64 = 8;

// The runs fit guest RAM without overlapping, and the DDW run fits its window.
const _: () = assert!(LINEAR.gpa + LINEAR_PAGES * PAGE <= DDW_GPA);
const _: () = assert!(DDW_GPA + (DDW_PAGES << DDW_PAGE_SHIFT) <= super::guest::RAM_SIZE);
const _: () = assert!(DDW_GPA % (1 << DDW_PAGE_SHIFT) == 0);
const _: () = assert!(DDW_OFFSET + (DDW_PAGES << DDW_PAGE_SHIFT) <= 1 << DDW_WINDOW_SHIFT);

/// The dynamic window as `ibm,create-pe-dma-window` returned it.
#[derive(Clone, Copy, Debug)]
pub struct Ddw {
    /// Its LIOBN.
    pub liobn: u64,
    /// Bus address of its first byte.
    pub start: u64,
}

impl Ddw {
    /// The mapped run's first page.
    pub fn run(&self) -> Place {
        Place {
            bus: self.start + DDW_OFFSET,
            gpa: DDW_GPA,
        }
    }
}

/// Everything the steps share.
pub struct Lab<'g, 'm, C, E> {
    /// The guest and its accelerator.
    pub guest: &'g Guest<'m, C>,
    /// The device.
    pub engine: &'g mut E,
    /// The default window's LIOBN.
    pub default_liobn: u64,
    /// The DDW LIOBN the accelerator should hand out.
    pub expected_ddw_liobn: u64,
    /// Set by `ddw-create`.
    pub ddw: Option<Ddw>,
}

impl<C: SpaprTceIommu, E: DmaEngine> Lab<'_, '_, C, E> {
    /// The accelerator's counters now.
    pub fn counters(&self) -> CountersSnapshot {
        self.guest.acc.counters()
    }

    /// Runs `op` and checks that it cost exactly `expected` host calls.
    pub fn costs(
        &mut self,
        expected: Effect,
        op: impl FnOnce(&mut Self) -> Result<(), String>,
    ) -> Result<String, String> {
        let before = self.counters();
        op(self)?;
        Effect::between(&before, &self.counters()).expect(expected)
    }

    /// The guest-view translation of `place.bus` in window `liobn` must be `place.gpa`.
    pub fn translates(&self, liobn: u64, place: Place) -> Result<(), String> {
        let got = self
            .guest
            .acc
            .translate(Liobn(liobn), papr_hcall::Ioba(place.bus))
            .map(|t| t.guest_addr);
        if got == Some(place.gpa) {
            Ok(())
        } else {
            Err(format!(
                "translate({liobn:#x}, {:#x}) = {got:x?}, expected {:#x}",
                place.bus, place.gpa
            ))
        }
    }

    /// The DDW, or why the step cannot run.
    pub fn ddw(&self) -> Result<Ddw, String> {
        self.ddw
            .ok_or_else(|| "not run: the previous step left no DDW".to_owned())
    }
}

/// Runs every step in order, one result line each.
pub fn run<'g, 'm, C: SpaprTceIommu, E: DmaEngine>(
    report: &mut Report,
    lab: &mut Lab<'g, 'm, C, E>,
) {
    type Step<'g, 'm, C, E> = fn(&mut Lab<'g, 'm, C, E>) -> Result<String, String>;
    let steps: [(&str, Step<'g, 'm, C, E>); 13] = [
        ("put-tce", Lab::put_tce),
        ("put-tce-clear", Lab::put_tce_clear),
        ("put-tce-read-only", Lab::put_tce_read_only),
        ("indirect", Lab::indirect),
        ("stuff-half", Lab::stuff_half),
        ("stuff-half-rest-mapped", Lab::stuff_half_rest_mapped),
        ("stuff", Lab::stuff_rest),
        ("ddw-query", Lab::ddw_query),
        ("ddw-create", Lab::ddw_create),
        ("ddw-indirect", Lab::ddw_indirect),
        ("ddw-stuff", Lab::ddw_stuff),
        ("ddw-remove", Lab::ddw_remove),
        ("witness-clear", Lab::witness_clear),
    ];
    for (name, step) in steps {
        match step(lab) {
            Ok(details) => report.pass(name, &details),
            Err(details) => report.fail(name, &details),
        }
    }
    match lab.host_calls() {
        Ok(details) => report.pass("host-calls", &details),
        Err(details) => report.fail("host-calls", &details),
    }
    let window_steps: [(&str, Step<'g, 'm, C, E>); 3] = [
        ("ddw-replaces-default", Lab::ddw_replaces_default),
        ("reset-restores-default", Lab::reset_restores_default),
        ("slot0-create-beside-ddw", Lab::slot0_create_beside_ddw),
    ];
    for (name, step) in window_steps {
        match step(lab) {
            Ok(details) => report.pass(name, &details),
            Err(details) => report.fail(name, &details),
        }
    }
    match lab.final_state() {
        Ok(details) => report.pass("final-state", &details),
        Err(details) => report.fail("final-state", &details),
    }
    let (dmas, busy) = lab.engine.stats();
    report.info(
        "device",
        &format!("{dmas} DMAs in {:.2} s", busy.as_secs_f64()),
    );
}
