// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Running decoded operations against a [`World`] and checking every step.

use std::collections::BTreeSet;

use papr_hcall::{HcallOutcome, HcallRequest, HcallStatus, Ioba, Liobn, Tce, H_RTAS};

use super::checks::{check_world, nothing_left, Tally};
use super::failure::{Failure, Violation};
use super::ops::{ListFill, Op};
use super::oracle::expected_status;
use super::shadow::{describe_entry_diff, Shadow};
use super::world::{Geometry, World};
use crate::{BackendCallCounts, HcallKind};

/// Whether injected host failures are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// No host failure is injected; the host must never refuse what the accelerator sends.
    Stateful,
    /// [`Op::Fault`] plans host failures; hypercalls may then answer H_HARDWARE or
    /// H_NOT_ENOUGH_RESOURCES and RTAS calls -1.
    Faults,
}

/// A world, the expected guest views, and the bookkeeping of one run.
#[derive(Debug)]
pub struct Runner {
    /// The world.
    pub world: World,
    pub(super) shadow: Shadow,
    pub(super) mode: Mode,
    /// Set after a step in which the host refused an operation *and* its rollback: exact
    /// hardware checks stop (see [`check_world`]).
    pub(super) tainted: bool,
    /// Registrations (host address, length) a failed hot-remove left behind: the region is
    /// gone from the RAM map but `UNREGISTER_MEMORY` failed, and nothing retries it (a
    /// reported limitation of `remove_memory_region`).
    pub(super) leaked: BTreeSet<(u64, u64)>,
    pub(super) tally: Tally,
}

fn kind_of(request: &HcallRequest) -> HcallKind {
    match request {
        HcallRequest::PutTce { .. } => HcallKind::PutTce,
        HcallRequest::GetTce { .. } => HcallKind::GetTce,
        HcallRequest::StuffTce { .. } => HcallKind::StuffTce,
        HcallRequest::PutTceIndirect { .. } => HcallKind::PutTceIndirect,
    }
}

fn failed_calls(counts: &BackendCallCounts) -> u64 {
    counts.map_dma_failed + counts.unmap_dma_failed
}

fn dma_calls(counts: &BackendCallCounts) -> u64 {
    counts.map_dma + counts.unmap_dma
}

impl Runner {
    /// A runner over `world`, which must be freshly built.
    pub fn new(world: World, mode: Mode) -> Self {
        let shadow = Shadow::capture(&world);
        Self {
            world,
            shadow,
            mode,
            tainted: false,
            leaked: BTreeSet::new(),
            tally: Tally::default(),
        }
    }

    /// Runs every operation, checking the world after each, then tears down.
    pub fn run(mut self, ops: &[Op]) -> Result<(), Failure> {
        let fail = |step: usize, op: &Op, violation| Failure {
            step,
            op: format!("{op:?}"),
            violation,
        };
        self.check()
            .map_err(|v| Failure::outside("initial state", v))?;
        for (step, op) in ops.iter().enumerate() {
            self.step(op).map_err(|v| fail(step, op, v))?;
            self.check().map_err(|v| fail(step, op, v))?;
        }
        self.teardown().map_err(|v| Failure::outside("teardown", v))
    }

    /// Every whole-world check.
    pub fn check(&self) -> Result<(), Violation> {
        check_world(
            &self.world,
            &self.shadow,
            self.tainted,
            &self.leaked,
            &self.tally,
        )
    }

    /// Executes one operation and checks its own post-conditions.
    pub fn step(&mut self, op: &Op) -> Result<(), Violation> {
        let world = &self.world;
        match op {
            Op::Put { liobn, ioba, tce } => {
                let liobn = world.liobn(*liobn);
                let g = world.geometry_or_fallback(liobn);
                self.hcall(HcallRequest::PutTce {
                    liobn,
                    ioba: Ioba(World::ioba(&g, *ioba)),
                    tce: Tce(World::tce(*tce, g.page_size())),
                })
            }
            Op::Get { liobn, ioba } => {
                let liobn = world.liobn(*liobn);
                let g = world.geometry_or_fallback(liobn);
                self.hcall(HcallRequest::GetTce {
                    liobn,
                    ioba: Ioba(World::ioba(&g, *ioba)),
                })
            }
            Op::Stuff {
                liobn,
                ioba,
                value,
                count,
            } => {
                let liobn = world.liobn(*liobn);
                let g = world.geometry_or_fallback(liobn);
                let ioba = World::ioba(&g, *ioba);
                self.hcall(HcallRequest::StuffTce {
                    liobn,
                    ioba: Ioba(ioba),
                    value: Tce(World::tce(*value, g.page_size())),
                    count: World::count(&g, g.index(ioba).unwrap_or(0), *count),
                })
            }
            Op::Indirect {
                liobn,
                ioba,
                list,
                count,
            } => {
                let liobn = world.liobn(*liobn);
                let g = world.geometry_or_fallback(liobn);
                let ioba = World::ioba(&g, *ioba);
                self.hcall(HcallRequest::PutTceIndirect {
                    liobn,
                    ioba: Ioba(ioba),
                    list: World::gpa(*list, 4096),
                    count: World::count(&g, g.index(ioba).unwrap_or(0), *count),
                })
            }
            Op::WriteList {
                list,
                page_of,
                fill,
            } => {
                let page = world
                    .geometry_or_fallback(world.liobn(*page_of))
                    .page_size();
                let tces: Vec<u64> = match fill {
                    ListFill::Explicit(tces) => tces.iter().map(|&t| World::tce(t, page)).collect(),
                    ListFill::Linear { first, count, step } => {
                        let first = World::tce(*first, page);
                        let stride = u64::from(*step).wrapping_mul(page);
                        (0..u64::from(*count))
                            .map(|i| first.wrapping_add(i.wrapping_mul(stride)))
                            .collect()
                    }
                };
                world.write_list(World::gpa(*list, 4096), &tces);
                Ok(())
            }
            Op::Rtas(rtas) => self.rtas(rtas),
            Op::RawHcall { nr, args } => match HcallRequest::decode(*nr, args) {
                Some(request) => self.hcall(request),
                None if *nr == H_RTAS => self.rtas_by_address(args[0]),
                None => match world.acc.handle_hcall(*nr, args) {
                    None => Ok(()),
                    Some(outcome) => Err(Violation::Dispatch(format!(
                        "hypercall {nr:#x} is not a TCE hypercall but was answered {outcome:?}"
                    ))),
                },
            },
            Op::Hotplug {
                region,
                add,
                unmap_first,
            } => self.hotplug(*region, *add, *unmap_first),
            Op::Fault(spec) => {
                if self.mode == Mode::Faults {
                    let container = &self.world.containers[usize::from(spec.container % 2)];
                    container.inject_fault(spec.op, u64::from(spec.nth), spec.errno);
                }
                Ok(())
            }
        }
    }

    /// Issues one TCE hypercall and checks its status, its output and its effect on the
    /// guest view against [`expected_status`] and the shadow.
    pub fn hcall(&mut self, request: HcallRequest) -> Result<(), Violation> {
        let expected = expected_status(&self.world, &request);
        let g = self.world.geometry(request.liobn());
        // The list as the accelerator will read it (single-threaded: nothing changes it).
        let list = match request {
            HcallRequest::PutTceIndirect { list, count, .. } if expected.is_success() => {
                self.world.read_list(list, count)
            }
            _ => None,
        };
        let before = self.world.acc.counters().backend;
        let outcome = self.world.call(request).ok_or_else(|| {
            Violation::Dispatch(format!("{request:x?} was not claimed as a TCE hypercall"))
        })?;
        self.tally.count(kind_of(&request));
        let after = self.world.acc.counters().backend;
        let failed = failed_calls(&after) - failed_calls(&before);
        let host_calls = dma_calls(&after) - dma_calls(&before);
        let status = outcome.status;
        let violation = |expected: String| Violation::Status {
            call: format!("{request:x?}"),
            status,
            expected,
        };
        if failed > 0 && self.mode == Mode::Stateful {
            return Err(violation(format!(
                "{expected} without host failures, but the host refused {failed} call(s) the \
                 accelerator had validated"
            )));
        }
        if failed >= 2 {
            self.tainted = true;
        }
        match (expected.is_success(), status) {
            (true, HcallStatus::SUCCESS) if failed == 0 => {
                self.apply_success(&request, &outcome, g, list)
            }
            (true, HcallStatus::HARDWARE | HcallStatus::NOT_ENOUGH_RESOURCES) if failed > 0 => {
                self.accept_rolled_back(&request, g)
            }
            (false, s) if s == expected && host_calls == 0 && outcome.r4.is_none() => Ok(()),
            _ => Err(violation(format!(
                "{expected} (host calls {host_calls}, failed {failed}, r4 {:x?})",
                outcome.r4
            ))),
        }
    }

    /// Applies a successful request to the shadow.
    fn apply_success(
        &mut self,
        request: &HcallRequest,
        outcome: &HcallOutcome,
        g: Option<Geometry>,
        list: Option<Vec<u64>>,
    ) -> Result<(), Violation> {
        let liobn = request.liobn();
        let (Some(g), Some(first)) = (g, g.and_then(|g| g.index(request.ioba().0))) else {
            return Err(Violation::Status {
                call: format!("{request:x?}"),
                status: outcome.status,
                expected: "H_PARAMETER (no such entry)".to_string(),
            });
        };
        let window = self.shadow.window_mut(liobn).ok_or(Violation::GuestView {
            liobn,
            detail: "a call succeeded on a window the shadow does not have".to_string(),
        })?;
        let expect_r4 = match *request {
            HcallRequest::GetTce { .. } => Some(window.get(first)),
            _ => None,
        };
        if outcome.r4 != expect_r4 {
            return Err(Violation::Status {
                call: format!("{request:x?}"),
                status: outcome.status,
                expected: format!("r4 {expect_r4:x?}, got {:x?}", outcome.r4),
            });
        }
        match *request {
            HcallRequest::GetTce { .. } => {}
            HcallRequest::PutTce { tce, .. } => {
                window.set(first, tce.0);
                self.check_translation(liobn, &g, first, tce.0)?;
            }
            HcallRequest::StuffTce { value, count, .. } => {
                (first..first + count).for_each(|index| window.set(index, value.0));
            }
            HcallRequest::PutTceIndirect { .. } => {
                for (index, tce) in (first..).zip(list.unwrap_or_default()) {
                    window.set(index, tce);
                }
            }
        }
        Ok(())
    }

    /// After H_PUT_TCE: an emulated device's DMA through the entry goes where the TCE says.
    fn check_translation(
        &self,
        liobn: Liobn,
        g: &Geometry,
        index: u64,
        tce: u64,
    ) -> Result<(), Violation> {
        let offset = 0x18.min(g.page_size() - 1);
        let found = self
            .world
            .acc
            .translate(liobn, Ioba(g.ioba(index) + offset));
        let tce = Tce(tce);
        let expected = tce
            .is_valid()
            .then(|| (tce.address() + offset, tce.permission()));
        if found.map(|t| (t.guest_addr, t.permission)) == expected {
            Ok(())
        } else {
            Err(Violation::GuestView {
                liobn,
                detail: format!("entry {index}: translate gave {found:x?}, expected {expected:x?}"),
            })
        }
    }

    /// After a host failure: entries of the request's range hold their old value or 0
    /// (rolled back, or cleared when the rollback failed too); nothing else changed.
    fn accept_rolled_back(
        &mut self,
        request: &HcallRequest,
        g: Option<Geometry>,
    ) -> Result<(), Violation> {
        let liobn = request.liobn();
        let range = g
            .and_then(|g| g.index(request.ioba().0))
            .map(|first| first..first.saturating_add(request.entry_count().max(1)));
        let Some(window) = self.shadow.window_mut(liobn) else {
            return Err(Violation::GuestView {
                liobn,
                detail: "host failure on a window the shadow does not have".to_string(),
            });
        };
        let actual: std::collections::BTreeMap<u64, u64> = self
            .world
            .acc
            .entries(liobn)
            .unwrap_or_default()
            .into_iter()
            .map(|(index, tce)| (index, tce.0))
            .collect();
        let keys: std::collections::BTreeSet<u64> = window
            .entries
            .keys()
            .chain(actual.keys())
            .copied()
            .collect();
        for index in keys {
            let (old, now) = (window.get(index), actual.get(&index).copied().unwrap_or(0));
            let in_range = range.as_ref().is_some_and(|r| r.contains(&index));
            if now != old && !(in_range && now == 0) {
                return Err(Violation::GuestView {
                    liobn,
                    detail: format!(
                        "after a host failure: {}",
                        describe_entry_diff(&window.entries, &actual)
                    ),
                });
            }
        }
        window.entries = actual;
        Ok(())
    }

    /// Clears pending faults, shuts the accelerator down and checks that nothing is left.
    pub fn teardown(self) -> Result<(), Violation> {
        for container in &self.world.containers {
            container.clear_faults();
        }
        match self.world.acc.shutdown() {
            Ok(()) => {}
            // After a refused hot-remove whose re-registration the host also refused (a
            // tainted run), one container no longer holds that region: its unregister answers
            // ENOENT while shutdown still releases it everywhere else.
            Err(crate::shutdown::ShutdownError::Unregister { source, .. })
                if self.tainted && source.errno == libc::ENOENT => {}
            Err(e) => return Err(Violation::Teardown(e.to_string())),
        }
        nothing_left(&self.world, &self.leaked)
    }
}
