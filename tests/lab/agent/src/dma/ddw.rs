//! Steps through a Dynamic DMA Window, created and removed with the DDW RTAS calls the way
//! a Linux guest does it (query, then create with a page size query offered; LoPAR,
//! qemu-and-guest.md §2.6–§2.8), the RTAS buffers built in guest RAM and passed to the
//! accelerator as `H_RTAS` (0xF000).

use papr_hcall::rtas::ddw::{CreateArgs, CreateResult, QueryArgs, QueryResult, RemoveArgs};
use papr_hcall::rtas::{Buid, ConfigAddr};
use papr_hcall::Liobn;
use vfio_spapr::SpaprTceIommu;

use super::counts::Effect;
use super::scenario::{
    Ddw, Lab, BUID, DDW_GPA, DDW_PAGES, DDW_PAGE_SHIFT, DDW_WINDOW_SHIFT, LEN, RW, WITNESS,
};
use super::traffic::{blocked, roundtrip};
use crate::edu::DmaEngine;

/// The device's config address (bus 0, device 0): the PE is the PHB, so it is not checked.
const CONFIG_ADDR: ConfigAddr = ConfigAddr(0);

impl<C: SpaprTceIommu, E: DmaEngine> Lab<'_, '_, C, E> {
    /// `ibm,query-pe-dma-window` (6-output form): a window is available and 64 KiB pages
    /// are offered.
    pub fn ddw_query(&mut self) -> Result<String, String> {
        let args = QueryArgs {
            config_addr: CONFIG_ADDR,
            buid: Buid(BUID),
        };
        let token = self.guest.acc.ddw_tokens().query;
        let rets = self
            .guest
            .rtas(token, &args.to_args(), QueryArgs::NRET_EXTENDED)?;
        let result =
            QueryResult::from_rets(&rets).ok_or_else(|| format!("query returned {rets:x?}"))?;
        let details = format!(
            "windows available {}, largest block {:#x} TCEs, page sizes {:#x}",
            result.windows_available, result.largest_block, result.page_sizes.0
        );
        if result.windows_available < 1 || !result.page_sizes.contains_shift(DDW_PAGE_SHIFT) {
            return Err(format!(
                "{details}: no 2^{DDW_PAGE_SHIFT}-page window offered"
            ));
        }
        let wanted = 1u64 << (DDW_WINDOW_SHIFT - DDW_PAGE_SHIFT);
        if result.largest_block < wanted {
            return Err(format!(
                "{details}: fewer than the {wanted} TCEs the lab needs"
            ));
        }
        Ok(details)
    }

    /// `ibm,create-pe-dma-window`: one `TCE_CREATE`; the window gets the DDW LIOBN and the
    /// bus address the host placed its window at (2^59 next to the default window).
    pub fn ddw_create(&mut self) -> Result<String, String> {
        let args = CreateArgs {
            config_addr: CONFIG_ADDR,
            buid: Buid(BUID),
            page_shift: DDW_PAGE_SHIFT,
            window_shift: DDW_WINDOW_SHIFT,
        };
        let token = self.guest.acc.ddw_tokens().create;
        let mut rets = Vec::new();
        let expected = Effect {
            create_window: 1,
            ..Effect::default()
        };
        let cost = self.costs(expected, |lab| {
            rets = lab.guest.rtas(token, &args.to_args(), CreateArgs::NRET)?;
            Ok(())
        });
        let result = CreateResult::from_rets(&rets)
            .ok_or_else(|| format!("create returned {rets:x?} ({cost:?})"))?;
        let cost = cost?;
        let ddw = Ddw {
            liobn: u64::from(result.liobn),
            start: result.start,
        };
        let window = self
            .guest
            .acc
            .window(Liobn(ddw.liobn))
            .ok_or_else(|| format!("no active window {:#x} after create", ddw.liobn))?;
        let host = window
            .host
            .ok_or_else(|| "the window has no host window".to_owned())?;
        let details = format!(
            "LIOBN {:#x} at {:#x}, 2^{DDW_WINDOW_SHIFT} bytes of 2^{DDW_PAGE_SHIFT} pages; \
             host window {:#x}+{:#x} of 2^{} pages, {} level(s); {cost}",
            ddw.liobn, ddw.start, host.start, host.size, host.page_shift, host.levels
        );
        if ddw.liobn != self.expected_ddw_liobn || host.start != ddw.start {
            return Err(format!(
                "{details}: expected LIOBN {:#x} and the host window at the guest's start",
                self.expected_ddw_liobn
            ));
        }
        self.ddw = Some(ddw);
        Ok(details)
    }

    /// `H_PUT_TCE_INDIRECT` of linear 64 KiB pages in the DDW: one `MAP_DMA`; the device reads
    /// across the first page boundary and writes across the last.
    pub fn ddw_indirect(&mut self) -> Result<String, String> {
        let ddw = self.ddw()?;
        let page = 1u64 << DDW_PAGE_SHIFT;
        let tces: Vec<u64> = (0..DDW_PAGES).map(|i| (DDW_GPA + i * page) | RW).collect();
        let run = ddw.run();
        let cost = self.costs(Effect::mapped(DDW_PAGES, 1), |lab| {
            lab.guest.put_tce_indirect(ddw.liobn, run.bus, &tces)
        })?;
        self.translates(ddw.liobn, run.at((DDW_PAGES - 1) * page + 0x4321))?;
        let half = u64::from(LEN) / 2;
        let dma = roundtrip(
            self.guest,
            self.engine,
            run.at(page - half),
            run.at((DDW_PAGES - 1) * page - half),
            LEN,
            80,
        )?;
        Ok(format!("{DDW_PAGES} TCEs in one list: {cost}; {dma}"))
    }

    /// `H_STUFF_TCE` of the DDW run: one `UNMAP_DMA`; a page in it is unreachable.
    pub fn ddw_stuff(&mut self) -> Result<String, String> {
        let ddw = self.ddw()?;
        let run = ddw.run();
        let cost = self.costs(Effect::unmapped(DDW_PAGES, 1), |lab| {
            lab.guest.stuff_tce(ddw.liobn, run.bus, 0, DDW_PAGES)
        })?;
        let target = run.at(3 << DDW_PAGE_SHIFT);
        let dma = blocked(self.guest, self.engine, target, WITNESS, LEN, 90)?;
        Ok(format!("{cost}; {dma}"))
    }

    /// `ibm,remove-pe-dma-window`: one `TCE_REMOVE`; the DDW LIOBN is inactive again and the
    /// default window untouched.
    pub fn ddw_remove(&mut self) -> Result<String, String> {
        let ddw = self.ddw()?;
        let args = RemoveArgs {
            liobn: ddw.liobn as u32,
        };
        let token = self.guest.acc.ddw_tokens().remove;
        let expected = Effect {
            remove_window: 1,
            ..Effect::default()
        };
        let cost = self.costs(expected, |lab| {
            let rets = lab.guest.rtas(token, &args.to_args(), RemoveArgs::NRET)?;
            if rets == [0] {
                Ok(())
            } else {
                Err(format!("remove returned {rets:x?}"))
            }
        })?;
        if self.guest.acc.window(Liobn(ddw.liobn)).is_some() {
            return Err(format!("{cost}; the DDW is still active"));
        }
        if self.guest.acc.window(Liobn(self.default_liobn)).is_none() {
            return Err(format!("{cost}; the default window went too"));
        }
        self.ddw = None;
        Ok(cost)
    }
}
