//! Window management on the pSeries host (tests/lab/README.md "What the real kernel does
//! differently"; kernel-host.md §3.5 "pSeries host"): the guest replacing its default window
//! by a DDW (what Linux does when query offers no window), `ibm,reset-pe-dma-window`
//! tearing mappings down in hardware, and a slot-0 window next to a DDW, which the host
//! refuses (EPERM) and the accelerator must turn into RTAS -1 with nothing changed.
//!
//! These run after the main sequence, with the default window active and empty.

use papr_hcall::rtas::ddw::{CreateArgs, CreateResult, RemoveArgs, ResetArgs};
use papr_hcall::rtas::{Buid, ConfigAddr, RtasStatus};
use papr_hcall::Liobn;
use vfio_spapr::SpaprTceIommu;

use super::counts::Effect;
use super::scenario::{
    Ddw, Lab, BUID, DDW_GPA, DDW_PAGES, DDW_PAGE_SHIFT, DDW_WINDOW_SHIFT, LEN, RW, WITNESS,
};
use super::traffic::{blocked, roundtrip};
use crate::edu::DmaEngine;

fn windows(effect: Effect, create: u64, remove: u64) -> Effect {
    Effect {
        create_window: create,
        remove_window: remove,
        ..effect
    }
}

impl<C: SpaprTceIommu, E: DmaEngine> Lab<'_, '_, C, E> {
    fn rtas_status(&self, token: u32, args: &[u32], nret: u32) -> Result<Vec<u32>, String> {
        self.guest.rtas(token, args, nret)
    }

    /// `ibm,remove-pe-dma-window` of `liobn`, which must succeed.
    fn remove(&self, liobn: u64) -> Result<(), String> {
        let token = self.guest.acc.ddw_tokens().remove;
        let args = RemoveArgs {
            liobn: liobn as u32,
        };
        match self
            .rtas_status(token, &args.to_args(), RemoveArgs::NRET)?
            .as_slice()
        {
            [0] => Ok(()),
            other => Err(format!("remove({liobn:#x}) returned {other:x?}")),
        }
    }

    /// `ibm,create-pe-dma-window` of the lab's DDW geometry: the return cells.
    fn create(&self) -> Result<Vec<u32>, String> {
        let args = CreateArgs {
            config_addr: ConfigAddr(0),
            buid: Buid(BUID),
            page_shift: DDW_PAGE_SHIFT,
            window_shift: DDW_WINDOW_SHIFT,
        };
        let token = self.guest.acc.ddw_tokens().create;
        self.rtas_status(token, &args.to_args(), CreateArgs::NRET)
    }

    /// `ibm,reset-pe-dma-window`, which must succeed.
    fn reset(&self) -> Result<(), String> {
        let args = ResetArgs {
            config_addr: ConfigAddr(0),
            buid: Buid(BUID),
            limited_addressing: None,
        };
        let token = self.guest.acc.ddw_tokens().reset;
        match self
            .rtas_status(token, &args.to_args(), ResetArgs::NRET)?
            .as_slice()
        {
            [0] => Ok(()),
            other => Err(format!("reset returned {other:x?}")),
        }
    }

    fn active(&self, liobn: u64) -> bool {
        self.guest.acc.window(Liobn(liobn)).is_some()
    }

    /// Linux's path when no window is free: remove the default window, then create a DDW.
    /// With nothing active the DDW goes to the default window's bus address; on this host
    /// that is a slot-0, 4 KiB-page `TCE_CREATE` within the firmware default, which the
    /// host grants at 0. Then a linear run is mapped in it and the device uses it.
    pub fn ddw_replaces_default(&mut self) -> Result<String, String> {
        let default = self.default_liobn;
        let removed = self.costs(windows(Effect::default(), 0, 1), |lab| lab.remove(default))?;
        let mut rets = Vec::new();
        let created = self.costs(windows(Effect::default(), 1, 0), |lab| {
            rets = lab.create()?;
            Ok(())
        })?;
        let result =
            CreateResult::from_rets(&rets).ok_or_else(|| format!("create returned {rets:x?}"))?;
        let ddw = Ddw {
            liobn: u64::from(result.liobn),
            start: result.start,
        };
        if ddw.start != 0 || self.active(default) {
            return Err(format!(
                "DDW {:#x} at {:#x}, default window active: {}",
                ddw.liobn,
                ddw.start,
                self.active(default)
            ));
        }
        let page = 1u64 << DDW_PAGE_SHIFT;
        let tces: Vec<u64> = (0..DDW_PAGES).map(|i| (DDW_GPA + i * page) | RW).collect();
        let run = ddw.run();
        let mapped = self.costs(Effect::mapped(DDW_PAGES, 1), |lab| {
            lab.guest.put_tce_indirect(ddw.liobn, run.bus, &tces)
        })?;
        let dma = roundtrip(
            self.guest,
            self.engine,
            run.at(2 * page),
            run.at(5 * page + 0x800),
            LEN,
            100,
        )?;
        self.ddw = Some(ddw);
        Ok(format!(
            "remove default: {removed}; DDW {:#x} at {:#x}: {created}; map: {mapped}; {dma}",
            ddw.liobn, ddw.start
        ))
    }

    /// `ibm,reset-pe-dma-window` with the run still mapped: one coalesced `UNMAP_DMA`, the
    /// DDW removed, the default window back; the device can use the new default window but
    /// no longer reaches the run's bus addresses.
    pub fn reset_restores_default(&mut self) -> Result<String, String> {
        let ddw = self.ddw()?;
        let expected = windows(Effect::unmapped(DDW_PAGES, 1), 1, 1);
        let reset = self.costs(expected, |lab| lab.reset())?;
        self.ddw = None;
        if self.active(ddw.liobn) || !self.active(self.default_liobn) {
            return Err(format!(
                "{reset}; DDW active {}, default active {}",
                self.active(ddw.liobn),
                self.active(self.default_liobn)
            ));
        }
        let liobn = self.default_liobn;
        self.costs(Effect::mapped(1, 1), |lab| {
            lab.guest.put_tce(liobn, WITNESS.bus, WITNESS.gpa | RW)
        })?;
        let target = ddw.run().at(3 << DDW_PAGE_SHIFT);
        let dma = blocked(self.guest, self.engine, target, WITNESS, LEN, 110)?;
        self.costs(Effect::unmapped(1, 1), |lab| {
            lab.guest.put_tce(liobn, WITNESS.bus, 0)
        })?;
        Ok(format!("{reset}; {dma}"))
    }

    /// A DDW at 2^59, then the default window removed, then another create: it can only go
    /// to slot 0 at 0, which this host refuses while a DDW exists (EPERM). The guest must
    /// get RTAS -1 with the DDW untouched and slot 0 empty; a reset then restores the
    /// default window.
    pub fn slot0_create_beside_ddw(&mut self) -> Result<String, String> {
        let rets = self.create()?;
        let ddw = CreateResult::from_rets(&rets)
            .ok_or_else(|| format!("first create returned {rets:x?}"))?;
        let default = self.default_liobn;
        self.remove(default)?;
        let mut refused = Vec::new();
        let cost = self.costs(windows(Effect::default(), 1, 0), |lab| {
            refused = lab.create()?;
            Ok(())
        })?;
        let status = refused.first().map(|&cell| RtasStatus::from_cell(cell));
        let ddw_kept = self.active(u64::from(ddw.liobn));
        let slot0_active = self.active(default);
        let details = format!(
            "DDW {:#x} at {:#x}, default removed, second create returned {status:?} ({cost}); \
             DDW still active {ddw_kept}, slot 0 active {slot0_active}",
            ddw.liobn, ddw.start
        );
        let reset = self
            .costs(windows(Effect::default(), 1, 1), |lab| lab.reset())
            .map_err(|e| format!("{details}; reset: {e}"))?;
        if status != Some(RtasStatus::HARDWARE_ERROR) || !ddw_kept || slot0_active {
            return Err(format!("{details}: expected -1 with the DDW kept"));
        }
        if !self.active(default) || self.active(u64::from(ddw.liobn)) {
            return Err(format!(
                "{details}; reset did not restore the default window alone"
            ));
        }
        Ok(format!(
            "{details}; reset ({reset}) restored the default window"
        ))
    }
}
