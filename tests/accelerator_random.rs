// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Random hypercall sequences, with random host failures, against a reference map of the
//! guest view: after every call the guest view is what the rules say, and the hardware
//! agrees with it entry by entry (invariant checker).

#![cfg(feature = "model")]

mod common;

use std::collections::BTreeMap;

use common::*;
use papr_hcall::{HcallRequest, HcallStatus, Ioba, Liobn, Tce};
use proptest::prelude::*;
use vfio_spapr::IommuOp;

/// A TCE from a small pool so that replacements and no-ops happen often.
fn tce() -> impl Strategy<Value = u64> {
    prop_oneof![
        12 => (0u64..32, 0u64..4).prop_map(|(page, perm)| (DATA_GPA + page * 0x1000) | perm),
        1 => Just(0u64),
        1 => Just(0xdead_0000), // poison without permission
    ]
}

/// A TCE the rules refuse.
fn bad_tce() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just((DATA_GPA + 0x10) | 3), // misaligned
        Just(RAM_END | 1),           // beyond RAM
        Just(!0xFFF | 2),            // far beyond RAM
    ]
}

/// A list made of runs of consecutive guest pages with one permission each (what guests
/// send), optionally with one refused entry.
fn list() -> impl Strategy<Value = Vec<u64>> {
    let run = (0u64..48, 1usize..24, 0u64..4)
        .prop_map(|(page, len, perm)| linear(DATA_GPA + page * 0x1000, 0x1000, len as u64, perm));
    (
        prop::collection::vec(run, 0..5),
        prop::option::weighted(0.15, (any::<prop::sample::Index>(), bad_tce())),
    )
        .prop_map(|(runs, bad)| {
            let mut list: Vec<u64> = runs.concat();
            list.truncate(512);
            if let (Some((at, tce)), false) = (bad, list.is_empty()) {
                let at = at.index(list.len());
                list[at] = tce;
            }
            list
        })
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        index: u64,
        tce: u64,
    },
    Stuff {
        index: u64,
        value: u64,
        count: u64,
    },
    Indirect {
        index: u64,
        tces: Vec<u64>,
    },
    /// The previous INDIRECT again, with every permission replaced (0..4) or toggled (4).
    Repermission {
        perm: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let index = 0u64..160;
    prop_oneof![
        (index.clone(), prop_oneof![4 => tce(), 1 => bad_tce()])
            .prop_map(|(index, tce)| Op::Put { index, tce }),
        (
            index.clone(),
            prop_oneof![Just(0u64), Just(0x1000), Just(3)],
            prop_oneof![8 => 0u64..64, 1 => Just(513)]
        )
            .prop_map(|(index, value, count)| Op::Stuff {
                index,
                value,
                count
            }),
        (index, list()).prop_map(|(index, tces)| Op::Indirect { index, tces }),
        (0u64..5).prop_map(|perm| Op::Repermission { perm }),
    ]
}

fn fault() -> impl Strategy<Value = Option<(IommuOp, u64, i32)>> {
    prop_oneof![
        4 => Just(None),
        1 => (prop_oneof![Just(IommuOp::MapDma), Just(IommuOp::UnmapDma)], 1u64..5,
              prop_oneof![Just(libc::EIO), Just(libc::ENOMEM)])
            .prop_map(Some),
    ]
}

fn request(
    liobn: Liobn,
    op: &Op,
    fx: &Fixture,
    last: &mut Option<(u64, Vec<u64>)>,
) -> (HcallRequest, u64, Vec<u64>) {
    if let Op::Repermission { perm } = op {
        let (index, tces) = last.clone().unwrap_or_default();
        let tces = tces
            .iter()
            .map(|t| match perm {
                4 => t ^ 3,
                _ => (t & !3) | perm,
            })
            .collect();
        return request(liobn, &Op::Indirect { index, tces }, fx, last);
    }
    if let Op::Indirect { index, tces } = op {
        *last = Some((*index, tces.clone()));
    }
    match op {
        // Rewritten above; reading one entry keeps the match total without a panic.
        Op::Repermission { .. } => (
            HcallRequest::GetTce {
                liobn,
                ioba: Ioba(0),
            },
            0,
            Vec::new(),
        ),
        Op::Put { index, tce } => (
            HcallRequest::PutTce {
                liobn,
                ioba: Ioba(index << 12),
                tce: Tce(*tce),
            },
            *index,
            vec![*tce],
        ),
        Op::Stuff {
            index,
            value,
            count,
        } => (
            HcallRequest::StuffTce {
                liobn,
                ioba: Ioba(index << 12),
                value: Tce(*value),
                count: *count,
            },
            *index,
            vec![*value; *count as usize],
        ),
        Op::Indirect { index, tces } => {
            fx.write_list(LIST_GPA, tces);
            (
                HcallRequest::PutTceIndirect {
                    liobn,
                    ioba: Ioba(index << 12),
                    list: LIST_GPA,
                    count: tces.len() as u64,
                },
                *index,
                tces.clone(),
            )
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn guest_view_and_hardware_stay_in_step(
        steps in prop::collection::vec((op(), fault(), any::<bool>()), 1..40)
    ) {
        let fx = Fixture::new();
        let mut expected: [BTreeMap<u64, u64>; 2] = Default::default();
        let mut last = None;
        for (step, (op, fault, emulated)) in steps.iter().enumerate() {
            let (liobn, view) = if *emulated { (EMU_LIOBN, 1) } else { (VFIO_LIOBN, 0) };
            if let Some((kind, nth, errno)) = fault {
                fx.model.inject_fault(*kind, *nth, *errno);
            }
            let (req, first, values) = request(liobn, op, &fx, &mut last);
            let status = fx.call(req).status;
            let actual: BTreeMap<u64, u64> =
                fx.entries(liobn).into_iter().map(|(i, t)| (i, t.0)).collect();
            let reference = &mut expected[view];
            match status {
                HcallStatus::SUCCESS => {
                    for (i, value) in values.iter().enumerate() {
                        reference.insert(first + i as u64, *value);
                    }
                    reference.retain(|_, v| *v != 0);
                    prop_assert_eq!(&actual, reference, "step {}: {:?}", step, op);
                }
                HcallStatus::PARAMETER | HcallStatus::P4 => {
                    prop_assert_eq!(&actual, reference, "step {}: {:?} refused", step, op);
                }
                HcallStatus::HARDWARE | HcallStatus::NOT_ENOUGH_RESOURCES => {
                    prop_assert!(!*emulated, "emulated windows never fail in hardware");
                    // Every entry kept its value or was cleared; nothing else changed.
                    for (index, value) in &actual {
                        prop_assert_eq!(reference.get(index), Some(value), "step {}", step);
                    }
                    *reference = actual;
                }
                other => prop_assert!(false, "step {}: unexpected {}", step, other),
            }
            if let Err(violations) = spapr_tce::check::check_invariants(&fx.acc) {
                prop_assert!(false, "step {}: {:?}: {:#?}", step, op, violations);
            }
            fx.model.clear_faults();
        }
    }
}
