// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Hostile requests racing from several vCPU threads: hypercalls on disjoint ranges of one
//! window, another PE, and DDW create/remove on the same PE at the same time. Whatever the
//! interleaving, no call may panic or answer anything but its allowed codes, each thread's
//! last writes must be what its range holds, and the world's invariants and the teardown
//! must hold (the accelerator's locking, rust-vmm.md §3.2: one accelerator shared by all vCPU
//! threads).

use papr_hcall::rtas::RtasStatus;
use spapr_tce::fuzzing::layout::{PE0_DDW, PE0_DEFAULT, PE1_DEFAULT, RTAS_BUFFER};
use spapr_tce::fuzzing::World;

use super::*;

const ROUNDS: u64 = 200;

/// Thread `t` owns entries `base(t)..base(t)+64` of PE 0's default window.
fn base(t: u64) -> u64 {
    0x1000 + t * 64
}

fn mapper(world: &World, t: u64) -> Vec<u64> {
    let mut expected = vec![0u64; 64];
    let list_gpa = SCRATCH_LISTS_FOR_THREADS + t * PAGE;
    for round in 0..ROUNDS {
        let first = round % 48;
        let count = 1 + round % 16;
        let tces: Vec<u64> = (0..count)
            .map(|i| (DATA + ((t * 64 + first + i + round) % 256) * PAGE) | (1 + (round + i) % 3))
            .collect();
        world.write_list(list_gpa, &tces);
        let ioba = (base(t) + first) * PAGE;
        match round % 4 {
            0 | 1 => {
                assert_eq!(world.indirect(PE0_DEFAULT, ioba, list_gpa, count), OK);
                for (i, tce) in tces.iter().enumerate() {
                    expected[(first + i as u64) as usize] = *tce;
                }
            }
            2 => {
                assert_eq!(world.stuff(PE0_DEFAULT, ioba, 0, count), OK);
                for i in 0..count {
                    expected[(first + i) as usize] = 0;
                }
            }
            _ => {
                // Hostile neighbours: each must be refused without touching anything.
                assert_eq!(world.indirect(PE0_DEFAULT, ioba, list_gpa + 8, count), P);
                assert_eq!(world.stuff(PE0_DEFAULT, ioba, DATA | 3, count), P);
                assert_eq!(world.put(PE0_DEFAULT, ioba + 1, DATA | 3), P);
                assert_eq!(world.put(PE0_DEFAULT, ioba, (DATA + 8) | 3), P);
                assert_eq!(world.put(PE0_DEFAULT, ioba, tces[0]), OK);
                expected[first as usize] = tces[0];
            }
        }
    }
    expected
}

/// Guest pages where the mapper threads write their lists.
const SCRATCH_LISTS_FOR_THREADS: u64 = 0x30_0000;

fn ddw_churn(world: &World) {
    let address = RTAS_BUFFER + 0x800;
    for round in 0..ROUNDS / 4 {
        let [c, hi, lo] = pe_cells(0);
        write_rtas(
            world,
            address,
            0x2027,
            &[c, hi, lo, 16, 28 + (round % 4) as u32],
            5,
            4,
        );
        let created = world.acc.handle_rtas(GuestAddress(address));
        assert!(
            matches!(created, Some(Ok(RtasStatus::SUCCESS))),
            "{created:?}"
        );
        // A put into the new window, racing with everything else.
        assert_eq!(world.put(PE0_DDW, 1 << 59, DATA | 3), OK);
        write_rtas(world, address, 0x2028, &[PE0_DDW.0 as u32], 1, 1);
        let removed = world.acc.handle_rtas(GuestAddress(address));
        assert!(
            matches!(removed, Some(Ok(RtasStatus::SUCCESS))),
            "{removed:?}"
        );
        // The window is gone: refused.
        assert_eq!(world.put(PE0_DDW, 1 << 59, DATA | 3), P);
    }
}

fn other_pe(world: &World) {
    for round in 0..ROUNDS {
        let ioba = (round % 32) * PAGE;
        assert_eq!(world.put(PE1_DEFAULT, ioba, (DATA + round * PAGE) | 1), OK);
        assert_eq!(
            world.get(PE1_DEFAULT, ioba).r4,
            Some((DATA + round * PAGE) | 1)
        );
        assert_eq!(world.stuff(PE1_DEFAULT, ioba, 0, 513), HcallStatus::P4);
    }
}

/// Runs the race; returns each mapper thread's expected final entries.
pub fn race(world: &World, mappers: u64) -> Vec<Vec<u64>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..mappers)
            .map(|t| scope.spawn(move || mapper(world, t)))
            .collect();
        scope.spawn(|| ddw_churn(world));
        scope.spawn(|| other_pe(world));
        handles
            .into_iter()
            .map(|h| h.join().expect("mapper thread"))
            .collect()
    })
}

/// The whole check: race, compare each thread's range, invariants, teardown.
pub fn run() {
    let world = populated();
    let expected = race(&world, 3);
    let entries = world.acc.entries(PE0_DEFAULT).expect("default window");
    for (t, expected) in expected.iter().enumerate() {
        let first = base(t as u64);
        let found: Vec<u64> = (first..first + 64)
            .map(|i| {
                entries
                    .iter()
                    .find(|(index, _)| *index == i)
                    .map_or(0, |(_, tce)| tce.0)
            })
            .collect();
        assert_eq!(&found, expected, "thread {t}'s entries");
    }
    check_invariants(&world.acc).expect("invariants after the race");
    accounting(&world).expect("accounting after the race");
    for pe in 0..2 {
        hardware_inside_registered_ram(&world, pe).expect("hardware inside RAM");
    }
    world.acc.shutdown().expect("shutdown");
    assert_eq!(world.process.locked_vm_pages(), 0);
    assert!(world.containers[0].registrations().is_empty());
}
