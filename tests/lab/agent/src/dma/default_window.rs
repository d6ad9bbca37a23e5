//! Steps in the default window (4 KiB TCEs at bus address 0): single entries with
//! `H_PUT_TCE`, a linear run with `H_PUT_TCE_INDIRECT`, clears with `H_STUFF_TCE`.

use papr_hcall::Tce;
use vfio_spapr::SpaprTceIommu;

use super::counts::Effect;
use super::scenario::{Lab, LEN, LINEAR, LINEAR_PAGES, PAGE, READ_ONLY, RW, SINGLE, WITNESS};
use super::traffic::{blocked, roundtrip, write_dropped, Place};
use crate::edu::DmaEngine;

/// Page `index` of the linear run, `offset` bytes in.
fn linear(index: u64, offset: u64) -> Place {
    LINEAR.at(index * PAGE + offset)
}

impl<C: SpaprTceIommu, E: DmaEngine> Lab<'_, '_, C, E> {
    /// `H_PUT_TCE` of the witness and of one more page (one `MAP_DMA` each), `H_GET_TCE`
    /// reads it back, and the device copies witness → page.
    pub fn put_tce(&mut self) -> Result<String, String> {
        let liobn = self.default_liobn;
        let cost = self.costs(Effect::mapped(2, 2), |lab| {
            lab.guest.put_tce(liobn, WITNESS.bus, WITNESS.gpa | RW)?;
            lab.guest.put_tce(liobn, SINGLE.bus, SINGLE.gpa | RW)
        })?;
        let read_back = self.guest.get_tce(liobn, SINGLE.bus)?;
        if read_back != SINGLE.gpa | RW {
            return Err(format!("H_GET_TCE returned {read_back:#x}"));
        }
        self.translates(liobn, SINGLE.at(0x10))?;
        let dma = roundtrip(self.guest, self.engine, WITNESS, SINGLE, LEN, 10)?;
        Ok(format!("{dma}; {cost}; H_GET_TCE {read_back:#x}"))
    }

    /// `H_PUT_TCE` of 0 over the page: one `UNMAP_DMA`, and the device can no longer reach
    /// it either way.
    pub fn put_tce_clear(&mut self) -> Result<String, String> {
        let liobn = self.default_liobn;
        let cost = self.costs(Effect::unmapped(1, 1), |lab| {
            lab.guest.put_tce(liobn, SINGLE.bus, 0)
        })?;
        let dma = blocked(self.guest, self.engine, SINGLE, WITNESS, LEN, 20)?;
        Ok(format!("{dma}; {cost}"))
    }

    /// A TCE with only R: the device reads the page but its writes are dropped.
    pub fn put_tce_read_only(&mut self) -> Result<String, String> {
        let liobn = self.default_liobn;
        let map = self.costs(Effect::mapped(1, 1), |lab| {
            lab.guest
                .put_tce(liobn, READ_ONLY.bus, READ_ONLY.gpa | Tce::READ)
        })?;
        let read = roundtrip(self.guest, self.engine, READ_ONLY, WITNESS, LEN, 30)?;
        // The buffer now holds pattern 30; the page gets pattern 31 first.
        let write = write_dropped(self.guest, self.engine, READ_ONLY, LEN, 31)?;
        let clear = self.costs(Effect::unmapped(1, 1), |lab| {
            lab.guest.put_tce(liobn, READ_ONLY.bus, 0)
        })?;
        Ok(format!("read {read}; {write}; map {map}; clear {clear}"))
    }

    /// `H_PUT_TCE_INDIRECT` of a linear run: one `MAP_DMA` for all of it; the device reads
    /// across the boundary of the first two pages and writes across the last two.
    pub fn indirect(&mut self) -> Result<String, String> {
        let liobn = self.default_liobn;
        let tces: Vec<u64> = (0..LINEAR_PAGES)
            .map(|i| (LINEAR.gpa + i * PAGE) | RW)
            .collect();
        let cost = self.costs(Effect::mapped(LINEAR_PAGES, 1), |lab| {
            lab.guest.put_tce_indirect(liobn, LINEAR.bus, &tces)
        })?;
        let last = linear(LINEAR_PAGES - 1, 0);
        self.translates(liobn, last.at(0x123))?;
        let dma = roundtrip(
            self.guest,
            self.engine,
            linear(0, PAGE / 2),
            linear(LINEAR_PAGES - 2, PAGE / 2),
            LEN,
            40,
        )?;
        Ok(format!("{LINEAR_PAGES} TCEs in one list: {cost}; {dma}"))
    }

    /// `H_STUFF_TCE` of the run's upper half: one `UNMAP_DMA`; a page there is unreachable.
    pub fn stuff_half(&mut self) -> Result<String, String> {
        let liobn = self.default_liobn;
        let half = LINEAR_PAGES / 2;
        let cost = self.costs(Effect::unmapped(half, 1), |lab| {
            lab.guest
                .stuff_tce(liobn, linear(half, 0).bus, 0, LINEAR_PAGES - half)
        })?;
        let dma = blocked(
            self.guest,
            self.engine,
            linear(LINEAR_PAGES - 2, 0),
            WITNESS,
            LEN,
            50,
        )?;
        Ok(format!("{cost}; {dma}"))
    }

    /// The lower half still works right up to the cleared boundary.
    pub fn stuff_half_rest_mapped(&mut self) -> Result<String, String> {
        let half = LINEAR_PAGES / 2;
        roundtrip(
            self.guest,
            self.engine,
            linear(0, 0),
            linear(half - 2, PAGE / 2),
            LEN,
            60,
        )
    }

    /// `H_STUFF_TCE` of the lower half: one `UNMAP_DMA`; the run's first page is unreachable.
    pub fn stuff_rest(&mut self) -> Result<String, String> {
        let liobn = self.default_liobn;
        let half = LINEAR_PAGES / 2;
        let cost = self.costs(Effect::unmapped(half, 1), |lab| {
            lab.guest.stuff_tce(liobn, LINEAR.bus, 0, half)
        })?;
        let dma = blocked(self.guest, self.engine, linear(0, 0), WITNESS, LEN, 70)?;
        let left = self.guest.acc.entries(papr_hcall::Liobn(liobn));
        if left.as_ref().map(Vec::len) != Some(1) {
            return Err(format!(
                "{cost}; {dma}; the window should hold only the witness, holds {left:x?}"
            ));
        }
        Ok(format!("{cost}; {dma}"))
    }

    /// `H_PUT_TCE` of 0 over the witness: one `UNMAP_DMA`, the window is empty.
    pub fn witness_clear(&mut self) -> Result<String, String> {
        let liobn = self.default_liobn;
        let cost = self.costs(Effect::unmapped(1, 1), |lab| {
            lab.guest.put_tce(liobn, WITNESS.bus, 0)
        })?;
        match self.guest.acc.entries(papr_hcall::Liobn(liobn)) {
            Some(entries) if entries.is_empty() => Ok(cost),
            other => Err(format!("{cost}; entries left: {other:x?}")),
        }
    }
}
