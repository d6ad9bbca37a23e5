//! What must hold over the whole run: every hypercall and RTAS call succeeded (except the
//! one create the host refuses on purpose), no host call failed, nothing was rolled back,
//! no RTAS buffer was unusable, and the container still answers `GET_INFO`.

use papr_hcall::Liobn;
use spapr_tce::{CountersSnapshot, RtasResultCounts};
use vfio_spapr::SpaprTceIommu;

use super::scenario::{Lab, BUID};
use crate::edu::DmaEngine;

/// The problems in `c`, allowing `refused_creates` creates answered -1.
fn problems(c: &CountersSnapshot, refused_creates: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let hcalls = [
        ("H_PUT_TCE", c.put_tce),
        ("H_GET_TCE", c.get_tce),
        ("H_STUFF_TCE", c.stuff_tce),
        ("H_PUT_TCE_INDIRECT", c.put_tce_indirect),
    ];
    for (name, counts) in hcalls {
        if counts.success != counts.total() {
            problems.push(format!("{name} {counts:?}"));
        }
    }
    let create_ok = |counts: &RtasResultCounts| {
        counts.hardware_error == refused_creates
            && counts.success + counts.hardware_error == counts.total()
    };
    let ddw = [
        ("query", c.ddw.query, None),
        ("create", c.ddw.create, Some(create_ok(&c.ddw.create))),
        ("remove", c.ddw.remove, None),
        ("reset", c.ddw.reset, None),
    ];
    for (name, counts, verdict) in ddw {
        if !verdict.unwrap_or(counts.success == counts.total()) {
            problems.push(format!("ibm,{name}-pe-dma-window {counts:?}"));
        }
    }
    let b = c.backend;
    if b.map_dma_failed + b.unmap_dma_failed != 0
        || c.rollback_calls + c.entries_cleared_after_failure + c.ddw.buffer_errors != 0
    {
        problems.push(format!(
            "host failures: MAP_DMA {} UNMAP_DMA {} rollback calls {} entries cleared {} \
             RTAS buffer errors {}",
            b.map_dma_failed,
            b.unmap_dma_failed,
            c.rollback_calls,
            c.entries_cleared_after_failure,
            c.ddw.buffer_errors
        ));
    }
    problems
}

fn summary(c: &CountersSnapshot) -> String {
    let b = c.backend;
    format!(
        "hcalls put {} get {} stuff {} indirect {}, RTAS query {} create {} remove {} reset {}; \
         host MAP_DMA {} UNMAP_DMA {} TCE_CREATE {} TCE_REMOVE {} REGISTER {}; \
         TCEs +{} -{} skipped {}",
        c.put_tce.total(),
        c.get_tce.total(),
        c.stuff_tce.total(),
        c.put_tce_indirect.total(),
        c.ddw.query.total(),
        c.ddw.create.total(),
        c.ddw.remove.total(),
        c.ddw.reset.total(),
        b.map_dma,
        b.unmap_dma,
        b.create_window,
        b.remove_window,
        b.register_memory,
        c.tces_mapped,
        c.tces_unmapped,
        c.noop_entries_skipped
    )
}

impl<C: SpaprTceIommu, E: DmaEngine> Lab<'_, '_, C, E> {
    fn verdict(&self, mut problems: Vec<String>) -> Result<String, String> {
        match self.guest.acc.container(BUID).map(SpaprTceIommu::info) {
            Some(Ok(_)) => {}
            Some(Err(e)) => problems.push(format!("GET_INFO: {e}")),
            None => problems.push(format!("no container for PE {BUID:#x}")),
        }
        let text = summary(&self.counters());
        if problems.is_empty() {
            Ok(text)
        } else {
            Err(format!("{}; {text}", problems.join("; ")))
        }
    }

    /// After the main sequence: everything succeeded.
    pub fn host_calls(&mut self) -> Result<String, String> {
        self.verdict(problems(&self.counters(), 0))
    }

    /// At the end: only the refused create failed, and the PE is back to its default window
    /// alone, empty, on its host window at the same bus address.
    pub fn final_state(&mut self) -> Result<String, String> {
        let mut found = problems(&self.counters(), 1);
        let windows = self.guest.acc.windows();
        let default_alone = match windows.as_slice() {
            [w] => {
                w.liobn == Liobn(self.default_liobn)
                    && w.host.is_some_and(|h| h.start == w.bus_offset)
            }
            _ => false,
        };
        if !default_alone {
            found.push(format!("windows {windows:x?}"));
        }
        let entries = self.guest.acc.entries(Liobn(self.default_liobn));
        if entries.as_ref().is_none_or(|e| !e.is_empty()) {
            found.push(format!("default window entries {entries:x?}"));
        }
        self.verdict(found)
    }
}
