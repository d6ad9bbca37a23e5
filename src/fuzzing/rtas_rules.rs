// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The rules a completed DDW call is checked against (listed in [`rtas_step`](super::rtas_step)).

use std::collections::BTreeMap;

use papr_hcall::rtas::ddw::{CreateResult, QueryResult};
use papr_hcall::rtas::RtasStatus;
use papr_hcall::Liobn;

use super::failure::Violation;
use super::layout::WINDOW_LIOBNS;
use super::rtas_step::{
    empty_default, pe_of_buid, pe_of_liobn, pe_windows, Asked, ALWAYS_GRANTED_WINDOW_SHIFT, CREATE,
    DEFAULT_GEOMETRY, DMA64_START, OFFERED_PAGE_SHIFTS, PE_LIOBNS, QUERY, REMOVE, RESET,
};
use super::run::{Mode, Runner};
use super::shadow::{Shadow, ShadowWindow};
use super::world::Geometry;

/// The page sizes the world's PEs offer, as a query mask: 4K | 64K | 16M | 2M.
const OFFERED_MASK: u32 = 0x107;

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    let end = |(start, len): (u64, u64)| u128::from(start) + u128::from(len);
    u128::from(a.0) < end(b) && u128::from(b.0) < end(a)
}

fn span(g: &Geometry) -> (u64, u64) {
    (g.bus_offset, g.entries << g.page_shift)
}

/// Where a new window goes: QEMU's rule (qemu-and-guest.md §2.7: bus address 0 when no window
/// is active, else 2^59), except that when 2^59 is taken (the default window was removed and
/// a DDW sits at 2^59) the free address 0 is used, since QEMU's choice would overlap.
fn expected_start(was: &BTreeMap<u64, ShadowWindow>) -> Option<u64> {
    if was.is_empty() {
        return Some(0);
    }
    [DMA64_START, 0].into_iter().find(|&start| {
        !was.values()
            .any(|w| overlaps((start, 1), span(&w.geometry)))
    })
}

impl Runner {
    /// Checks a DDW call that was executed and answered `status` (`None`: the guest left no
    /// return cell, so the status is unknown).
    pub(super) fn check_ddw(
        &self,
        asked: &Asked,
        status: Option<RtasStatus>,
        before: &Shadow,
        after: &Shadow,
    ) -> Result<(), Violation> {
        let call = &asked.call;
        let rets = call
            .read_rets(&*self.world.mem)
            .map_err(|e| Violation::Rtas(format!("reading the return cells: {e}")))?;
        let written = rets.first().map(|&cell| RtasStatus::from_cell(cell));
        if let (Some(status), Some(written)) = (status, written) {
            if status != written {
                return Err(Violation::Rtas(format!(
                    "returned {status} but wrote {written} into the buffer"
                )));
            }
        }
        let fail = |detail: String| {
            Err(Violation::Rtas(format!(
                "token {:#x} nargs {} nret {} args {:x?} -> {status:?}: {detail}",
                call.token, call.nargs, call.nret, call.args
            )))
        };
        let target = match call.token {
            REMOVE => pe_of_liobn(Liobn(u64::from(asked.arg(0)))),
            _ => pe_of_buid(asked.buid()),
        };
        for liobn in WINDOW_LIOBNS {
            let ours = target.is_some_and(|pe| PE_LIOBNS[pe].contains(&liobn));
            if !ours && before.window(liobn) != after.window(liobn) {
                return fail(format!("window {liobn} of another PE changed"));
            }
        }
        let Some(status) = status.or(written) else {
            return if before == after {
                Ok(())
            } else {
                fail("a call without return cells changed the windows".into())
            };
        };
        if !asked.shape_ok() {
            return if status == RtasStatus::PARAMETER_ERROR && before == after {
                Ok(())
            } else {
                fail("a call of the wrong shape must be -3 and change nothing".into())
            };
        }
        match status {
            RtasStatus::SUCCESS => {}
            RtasStatus::PARAMETER_ERROR | RtasStatus::HARDWARE_ERROR => {
                return self.check_refused(asked, status, target, before, after, fail);
            }
            _ => return fail("status must be 0, -1 or -3".into()),
        }
        let Some(pe) = target else {
            return fail("succeeded for no PE of the world".into());
        };
        let (was, now) = (pe_windows(before, pe), pe_windows(after, pe));
        match call.token {
            QUERY => {
                let Some(result) = QueryResult::from_rets(&rets) else {
                    return fail(format!("return cells {rets:x?} do not parse"));
                };
                let free = 2 - was.len() as u32;
                if was != now
                    || result.windows_available > free
                    || result.page_sizes.is_empty()
                    || result.page_sizes.0 & !OFFERED_MASK != 0
                {
                    return fail(format!("query answered {result:x?} with {free} free slots"));
                }
                Ok(())
            }
            CREATE => {
                let Some(result) = CreateResult::from_rets(&rets) else {
                    return fail(format!("return cells {rets:x?} do not parse"));
                };
                let (page_shift, window_shift) = (asked.arg(3), asked.arg(4));
                let liobn = Liobn(u64::from(result.liobn));
                let expected_start = expected_start(&was).unwrap_or(u64::MAX);
                let mut expected = was.clone();
                expected.insert(
                    liobn.0,
                    ShadowWindow {
                        geometry: Geometry {
                            bus_offset: result.start,
                            page_shift,
                            entries: 1u64
                                .checked_shl(window_shift.saturating_sub(page_shift))
                                .unwrap_or(0),
                        },
                        entries: BTreeMap::new(),
                    },
                );
                if !self.create_fits(pe, page_shift, window_shift, &was)
                    || !PE_LIOBNS[pe].contains(&liobn)
                    || was.contains_key(&liobn.0)
                    || result.start != expected_start
                    || now != expected
                {
                    return fail(format!(
                        "created {result:x?}; expected an empty window at {expected_start:#x} \
                         on a free slot of PE {pe}, found {now:x?}"
                    ));
                }
                Ok(())
            }
            REMOVE => {
                let liobn = Liobn(u64::from(asked.arg(0)));
                let mut expected = was.clone();
                let Some(removed) = expected.remove(&liobn.0) else {
                    return fail(format!("removed {liobn}, which was not active"));
                };
                let was_default = liobn == PE_LIOBNS[pe][0] && removed.geometry == DEFAULT_GEOMETRY;
                if expected.is_empty() && !was_default {
                    expected.insert(PE_LIOBNS[pe][0].0, empty_default());
                }
                if now != expected {
                    return fail(format!(
                        "after removing {liobn}: {now:x?}, expected {expected:x?}"
                    ));
                }
                Ok(())
            }
            RESET => {
                let expected: BTreeMap<u64, ShadowWindow> = [(PE_LIOBNS[pe][0].0, empty_default())]
                    .into_iter()
                    .collect();
                if now != expected {
                    return fail(format!("after reset: {now:x?}"));
                }
                Ok(())
            }
            _ => fail("unknown DDW token".into()),
        }
    }

    /// A create the rules allow: known PE, offered page size, window of at least one page, a
    /// free slot, and no overlap at [`expected_start`]. Up to 2^34 bytes it must succeed.
    fn create_fits(
        &self,
        pe: usize,
        page_shift: u32,
        window_shift: u32,
        was: &BTreeMap<u64, ShadowWindow>,
    ) -> bool {
        let _ = pe;
        let Some(start) = expected_start(was) else {
            return false;
        };
        OFFERED_PAGE_SHIFTS.contains(&page_shift)
            && window_shift >= page_shift
            && window_shift <= 63
            && was.len() < 2
            && !was
                .values()
                .any(|w| overlaps((start, 1u64 << window_shift), span(&w.geometry)))
    }

    /// A refused call (-3, or -1): justified, and with the allowed effect.
    fn check_refused(
        &self,
        asked: &Asked,
        status: RtasStatus,
        target: Option<usize>,
        before: &Shadow,
        after: &Shadow,
        fail: impl Fn(String) -> Result<(), Violation>,
    ) -> Result<(), Violation> {
        let call = &asked.call;
        let hardware = status == RtasStatus::HARDWARE_ERROR;
        if hardware && self.mode == Mode::Stateful {
            return fail("-1 without any injected host failure".into());
        }
        let was = target.map(|pe| pe_windows(before, pe)).unwrap_or_default();
        let justified = match (call.token, target) {
            (_, None) => !hardware,
            (QUERY, Some(_)) => false,
            (CREATE, Some(pe)) => {
                let (page_shift, window_shift) = (asked.arg(3), asked.arg(4));
                let fits = self.create_fits(pe, page_shift, window_shift, &was);
                if hardware {
                    fits
                } else {
                    !fits || window_shift > ALWAYS_GRANTED_WINDOW_SHIFT
                }
            }
            (REMOVE, Some(_)) => {
                let active = was.contains_key(&u64::from(asked.arg(0)));
                active == hardware
            }
            (_, Some(_)) => hardware,
        };
        if !justified {
            return fail("refused although the rules allow it".into());
        }
        if !hardware || call.token == CREATE {
            return if before == after {
                Ok(())
            } else {
                fail("a refused call changed the windows".into())
            };
        }
        // A host failure in remove/reset may leave fewer windows or entries, never more.
        let Some(pe) = target else {
            return Ok(());
        };
        let now = pe_windows(after, pe);
        for (liobn, window) in &now {
            let kept = was.get(liobn).filter(|w| w.geometry == window.geometry);
            let grown = window
                .entries
                .iter()
                .any(|(index, &value)| kept.is_none_or(|w| w.get(*index) != value));
            if grown {
                return fail(format!(
                    "window {liobn:#x} gained entries after a host failure"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use papr_hcall::rtas::PageSizeMask;

    #[test]
    fn overlap_is_half_open() {
        assert!(overlaps((0, 10), (9, 1)));
        assert!(!overlaps((0, 10), (10, 1)));
        assert!(overlaps((u64::MAX - 1, 2), (u64::MAX, 1)));
        assert_eq!(
            PageSizeMask::from_page_shifts(OFFERED_PAGE_SHIFTS).0,
            OFFERED_MASK
        );
    }
}
