// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The `H_PUT_TCE_INDIRECT` fast paths (linear lists, uniform clears) against the per-entry
//! path: two identical fixtures run the same random sequence, one with the fast paths
//! turned off (`with_per_entry_indirect`); after every call the return code, the guest view
//! of every window, the model hardware, the accelerator's counters and the model's counters
//! must be identical, with the same injected host failures on both.

#![cfg(feature = "model")]

mod common;

use common::*;
use papr_hcall::{HcallRequest, HcallStatus, Ioba, Liobn, PageShift, Tce};
use proptest::prelude::*;
use vfio_spapr::IommuOp;
use vm_memory::{GuestAddress, GuestMemoryBackend};

/// The end of the first RAM region (and start of the second, another host mapping).
const BOUNDARY: u64 = REGION_A.0 + REGION_A.1;

#[derive(Clone, Debug)]
enum ListShape {
    /// Consecutive pages, one permission.
    Linear,
    /// Linear except one entry moved by one page (or to an unrelated page).
    AlmostLinear { at: prop::sample::Index, delta: i8 },
    /// Linear except one entry with other permission bits.
    MixedPerms { at: prop::sample::Index, perm: u64 },
    /// One entry beyond RAM.
    OneBad { at: prop::sample::Index },
    /// The same invalid value everywhere (0 or a poison value).
    Uniform { value: u64 },
}

#[derive(Clone, Debug)]
enum Op {
    Indirect {
        emulated: bool,
        index: u64,
        /// Page number of the first entry, relative to `base`.
        page: u64,
        near_boundary: bool,
        len: u64,
        perm: u64,
        shape: ListShape,
    },
    /// The previous list again, at the same place (identical remap or repeated clear).
    Repeat,
    Put {
        emulated: bool,
        index: u64,
        tce: u64,
    },
    Stuff {
        emulated: bool,
        index: u64,
        count: u64,
    },
}

/// A host failure injected before a step: the `nth` next call of `op` fails with `errno`.
#[derive(Clone, Copy, Debug)]
struct Fault {
    op: IommuOp,
    nth: u64,
    errno: i32,
}

fn shape() -> impl Strategy<Value = ListShape> {
    prop_oneof![
        6 => Just(ListShape::Linear),
        2 => (any::<prop::sample::Index>(), prop_oneof![Just(1i8), Just(-1), Just(7)])
            .prop_map(|(at, delta)| ListShape::AlmostLinear { at, delta }),
        2 => (any::<prop::sample::Index>(), 0u64..4)
            .prop_map(|(at, perm)| ListShape::MixedPerms { at, perm }),
        1 => any::<prop::sample::Index>().prop_map(|at| ListShape::OneBad { at }),
        3 => prop_oneof![Just(0u64), Just(0x5000), Just(0xdead_0000)]
            .prop_map(|value| ListShape::Uniform { value }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let index = 0u64..96;
    prop_oneof![
        8 => (
            any::<bool>(),
            index.clone(),
            0u64..48,
            any::<bool>(),
            prop_oneof![3 => 1u64..64, 1 => 500u64..=512],
            1u64..4,
            shape(),
        )
            .prop_map(|(emulated, index, page, near_boundary, len, perm, shape)| {
                Op::Indirect { emulated, index, page, near_boundary, len, perm, shape }
            }),
        3 => Just(Op::Repeat),
        2 => (any::<bool>(), index.clone(), 0u64..48, 0u64..4).prop_map(
            |(emulated, index, page, perm)| Op::Put {
                emulated,
                index,
                tce: (DATA_GPA + page * 0x1000) | perm,
            }
        ),
        1 => (any::<bool>(), index, 0u64..64)
            .prop_map(|(emulated, index, count)| Op::Stuff { emulated, index, count }),
    ]
}

/// At most one fault per step: two can make the restore after a failure fail too, which
/// leaves stale hardware entries on either path (the documented limit of
/// `mapping::apply`), and the fixture's invariant check refuses those.
fn fault() -> impl Strategy<Value = Vec<Fault>> {
    prop_oneof![
        3 => Just(Vec::new()),
        1 => (
            prop_oneof![Just(IommuOp::MapDma), Just(IommuOp::UnmapDma)],
            1u64..4,
            prop_oneof![Just(libc::EIO), Just(libc::ENOMEM)],
        )
            .prop_map(|(op, nth, errno)| vec![Fault { op, nth, errno }]),
    ]
}

fn build_list(
    page_size: u64,
    page: u64,
    near_boundary: bool,
    len: u64,
    perm: u64,
    shape: &ListShape,
) -> Vec<u64> {
    // Near the boundary the run starts up to 48 pages before it and often crosses it.
    let start = if near_boundary {
        BOUNDARY - (page + 1) * page_size
    } else {
        DATA_GPA + page * page_size
    };
    let mut tces = linear(start, page_size, len, perm);
    match shape {
        ListShape::Linear => {}
        ListShape::AlmostLinear { at, delta } => {
            let at = at.index(tces.len());
            let moved = i64::from(*delta) * page_size as i64;
            tces[at] = tces[at].wrapping_add(moved as u64);
        }
        ListShape::MixedPerms { at, perm } => {
            let at = at.index(tces.len());
            tces[at] = (tces[at] & !3) | perm;
        }
        ListShape::OneBad { at } => {
            let at = at.index(tces.len());
            tces[at] = RAM_END | perm;
        }
        ListShape::Uniform { value } => tces.iter_mut().for_each(|tce| *tce = *value),
    }
    tces
}

/// Everything observable after a call.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    status: HcallStatus,
    state: State,
    counters: spapr_tce::CountersSnapshot,
    model: vfio_spapr::model::ModelCounters,
}

/// The guest-physical address behind a host address of `fx`'s guest RAM (the two fixtures
/// map their RAM at different host addresses), or `vaddr` itself outside it.
fn guest_addr_of(fx: &Fixture, vaddr: u64) -> u64 {
    for (start, len) in [REGION_A, REGION_B] {
        let host = fx
            .mem
            .get_host_address(GuestAddress(start))
            .map_or(0, |host| host as u64);
        if (host..host + len).contains(&vaddr) {
            return start + (vaddr - host);
        }
    }
    vaddr
}

fn observe(fx: &Fixture, status: HcallStatus) -> Observed {
    let mut state = fx.state();
    for extent in &mut state.hw {
        extent.vaddr = guest_addr_of(fx, extent.vaddr);
    }
    Observed {
        status,
        state,
        counters: fx.counters(),
        model: fx.model_counters(),
    }
}

/// Runs `op` on `fx`; `last` is the previous INDIRECT (liobn, ioba, list).
fn run(
    fx: &Fixture,
    page_size: u64,
    op: &Op,
    last: &mut Option<(Liobn, u64, Vec<u64>)>,
) -> HcallStatus {
    let liobn = |emulated: bool| if emulated { EMU_LIOBN } else { VFIO_LIOBN };
    match op {
        Op::Indirect {
            emulated,
            index,
            page,
            near_boundary,
            len,
            perm,
            shape,
        } => {
            // The emulated PE has QEMU's 4 KiB default window.
            let size = if *emulated { 0x1000 } else { page_size };
            let tces = build_list(size, *page, *near_boundary, *len, *perm, shape);
            let ioba = index * size;
            *last = Some((liobn(*emulated), ioba, tces.clone()));
            fx.indirect(liobn(*emulated), ioba, &tces)
        }
        Op::Repeat => match last {
            Some((liobn, ioba, tces)) => fx.indirect(*liobn, *ioba, tces),
            None => HcallStatus::SUCCESS,
        },
        Op::Put {
            emulated,
            index,
            tce,
        } => {
            let size = if *emulated { 0x1000 } else { page_size };
            fx.call(HcallRequest::PutTce {
                liobn: liobn(*emulated),
                ioba: Ioba(index * size),
                tce: Tce(*tce),
            })
            .status
        }
        Op::Stuff {
            emulated,
            index,
            count,
        } => {
            let size = if *emulated { 0x1000 } else { page_size };
            fx.stuff(liobn(*emulated), index * size, 0, *count)
        }
    }
}

/// Runs `steps` (faults to inject, then an op; faults left over are dropped) on a fast and
/// a per-entry fixture and compares them after every step.
fn compare(page_shift: PageShift, steps: &[(Vec<Fault>, Op)]) -> Result<(), TestCaseError> {
    let page_size = page_shift.size();
    let fast = Fixture::with_window(page_shift, 1 << 30);
    let slow = Fixture::with_window(page_shift, 1 << 30);
    let (mut fast_last, mut slow_last) = (None, None);
    for (step, (faults, op)) in steps.iter().enumerate() {
        for fx in [&fast, &slow] {
            for fault in faults {
                fx.model.inject_fault(fault.op, fault.nth, fault.errno);
            }
        }
        let fast_status = run(&fast, page_size, op, &mut fast_last);
        let slow_status = slow
            .acc
            .with_per_entry_indirect(|_| run(&slow, page_size, op, &mut slow_last));
        prop_assert_eq!(
            observe(&fast, fast_status),
            observe(&slow, slow_status),
            "step {} ({:?}, faults {:?})",
            step,
            op,
            faults
        );
        for fx in [&fast, &slow] {
            fx.model.clear_faults();
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn fast_path_matches_per_entry_path_4k(steps in prop::collection::vec((fault(), op()), 1..24)) {
        compare(PageShift::SZ_4K, &steps)?;
    }

    #[test]
    fn fast_path_matches_per_entry_path_64k(steps in prop::collection::vec((fault(), op()), 1..24)) {
        compare(PageShift::SZ_64K, &steps)?;
    }
}

/// The cases the fast paths take, one by one, with and without host failures.
#[test]
fn every_fast_case_matches() {
    let map = Op::Indirect {
        emulated: false,
        index: 3,
        page: 5,
        near_boundary: false,
        len: 512,
        perm: 3,
        shape: ListShape::Linear,
    };
    let clear = Op::Indirect {
        emulated: false,
        index: 3,
        page: 0,
        near_boundary: false,
        len: 512,
        perm: 0,
        shape: ListShape::Uniform { value: 0 },
    };
    let fail = |op| Fault {
        op,
        nth: 1,
        errno: libc::EIO,
    };
    let ok = |op: &Op| (Vec::new(), op.clone());
    for shift in [PageShift::SZ_4K, PageShift::SZ_64K] {
        // Map into empty, identical remap, clear of valid, clear of invalid.
        compare(
            shift,
            &[ok(&map), ok(&Op::Repeat), ok(&clear), ok(&Op::Repeat)],
        )
        .unwrap();
        // Failed map.
        compare(
            shift,
            &[(vec![fail(IommuOp::MapDma)], map.clone()), ok(&map)],
        )
        .unwrap();
        // Failed unmap: the restore maps the old entries again.
        compare(
            shift,
            &[ok(&map), (vec![fail(IommuOp::UnmapDma)], clear.clone())],
        )
        .unwrap();
        // Failed unmap and failed restore: the entries are cleared.
        compare(
            shift,
            &[
                ok(&map),
                (
                    vec![fail(IommuOp::UnmapDma), fail(IommuOp::MapDma)],
                    clear.clone(),
                ),
            ],
        )
        .unwrap();
    }
}
