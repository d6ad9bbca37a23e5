// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! vCPU threads issue TCE hypercalls on several PEs while another creates, fills, removes
//! and resets dynamic windows on the same PEs; every call answers one of its documented
//! statuses and, at the end, the guest view and every container agree.

use std::sync::Arc;

use papr_hcall::rtas::RtasCall;
use papr_hcall::{HcallStatus, Liobn, H_RTAS};
use spapr_tce::check::check_invariants;
use vfio_spapr::model::ModelContainer;
use vm_memory::{Bytes, GuestAddress};

use super::*;

const VFIO_PES: u32 = 3;
const WORKER_ROUNDS: u64 = 150;
const MANAGER_ROUNDS: u32 = 20;

struct Shared {
    acc: Accelerator,
    models: Vec<Container>,
    mem: Memory,
}

impl Shared {
    fn new() -> Self {
        let models: Vec<Container> = (0..VFIO_PES)
            .map(|_| Arc::new(ModelContainer::new(host_profile())))
            .collect();
        let scheme = LiobnScheme::QEMU;
        let mut pes: Vec<_> = models
            .iter()
            .enumerate()
            .map(|(i, model)| PeConfig::qemu_phb(i as u32, &scheme, Some(model.clone())))
            .collect();
        pes.push(PeConfig::qemu_phb(VFIO_PES, &scheme, None));
        let mem = guest_memory();
        let config = AcceleratorConfig {
            pes,
            host_page_size: Some(host_page_size()),
            ..AcceleratorConfig::default()
        };
        let acc = TceAccelerator::new(mem.clone(), config).expect("accelerator");
        Self { acc, models, mem }
    }

    /// An RTAS call through `H_RTAS` with the buffer at `gpa` (one per thread).
    fn rtas(&self, gpa: u64, token: u32, args: &[u32], nret: u32) -> Vec<u32> {
        let call = RtasCall::new(GuestAddress(gpa), token, args, nret);
        self.mem
            .write_slice(&call.to_bytes(), GuestAddress(gpa))
            .unwrap();
        let outcome = self.acc.handle_hcall(H_RTAS, &regs(&[gpa])).unwrap();
        assert_eq!(outcome.status, HcallStatus::SUCCESS);
        call.read_rets(&*self.mem).unwrap()
    }

    fn hcall(&self, nr: u64, args: &[u64]) -> HcallStatus {
        self.acc.handle_hcall(nr, &regs(args)).unwrap().status
    }

    fn indirect(&self, list: u64, liobn: Liobn, ioba: u64, tces: &[u64]) -> HcallStatus {
        for (i, tce) in tces.iter().enumerate() {
            self.mem
                .write_obj(
                    vm_memory::Be64::from(*tce),
                    GuestAddress(list + 8 * i as u64),
                )
                .unwrap();
        }
        let count = tces.len() as u64;
        self.hcall(
            papr_hcall::H_PUT_TCE_INDIRECT,
            &[liobn.0, ioba, list, count],
        )
    }
}

fn default_liobn(pe: u32) -> Liobn {
    LiobnScheme::QEMU.liobn(pe, 0)
}

fn ddw_liobn(pe: u32) -> Liobn {
    LiobnScheme::QEMU.liobn(pe, 1)
}

/// One vCPU: maps, rewrites and clears pages of the default window of `pe`, and pokes its
/// dynamic window, which may or may not exist at that moment.
fn worker(shared: &Shared, pe: u32) {
    let list = LIST_GPA + u64::from(pe) * 0x1000;
    let default = default_liobn(pe);
    for round in 0..WORKER_ROUNDS {
        let ioba = (round % 64) << 16;
        let gpa = (32 << 20) + (round % 7) * (1 << 16);
        let put = shared.hcall(papr_hcall::H_PUT_TCE, &[default.0, ioba, gpa | 3]);
        assert_eq!(put, HcallStatus::SUCCESS, "pe {pe} round {round}");
        let tces = linear(gpa, 1 << 12, 16);
        assert_eq!(
            shared.indirect(list, default, ioba, &tces),
            HcallStatus::SUCCESS
        );
        if round % 3 == 0 {
            let stuff = shared.hcall(papr_hcall::H_STUFF_TCE, &[default.0, ioba, 0, 16]);
            assert_eq!(stuff, HcallStatus::SUCCESS);
        }
        let ddw_ioba = DMA64 + ((round % 32) << 16);
        let poke = shared.hcall(papr_hcall::H_PUT_TCE, &[ddw_liobn(pe).0, ddw_ioba, gpa | 1]);
        assert!(
            matches!(poke, HcallStatus::SUCCESS | HcallStatus::PARAMETER),
            "pe {pe}: {poke:?}"
        );
    }
}

/// The guest's DDW code for all PEs: query, create, direct-map some RAM, remove; every few
/// rounds a reset.
fn manager(shared: &Shared) {
    let buffer = RTAS_GPA;
    let list = LIST_GPA + 0x8000;
    for round in 0..MANAGER_ROUNDS {
        for pe in 0..=VFIO_PES {
            let buid = VFIO_BUID + u64::from(pe);
            let query = shared.rtas(buffer, TOKENS.query, &pe_args(buid), 6);
            assert_eq!((query[0], query[1]), (0, 1), "pe {pe} round {round}");
            let [c, hi, lo] = pe_args(buid);
            let created = shared.rtas(buffer, TOKENS.create, &[c, hi, lo, 16, 32], 4);
            assert_eq!(created, [0, ddw_liobn(pe).0 as u32, 0x0800_0000, 0]);
            let tces = linear(64 << 20, 1 << 16, 64);
            assert_eq!(
                shared.indirect(list, ddw_liobn(pe), DMA64 + (64 << 16), &tces),
                HcallStatus::SUCCESS
            );
            let removed = shared.rtas(buffer, TOKENS.remove, &[ddw_liobn(pe).0 as u32], 1);
            assert_eq!(removed, [0]);
            if round % 5 == 4 {
                assert_eq!(shared.rtas(buffer, TOKENS.reset, &pe_args(buid), 1), [0]);
            }
        }
    }
}

#[test]
fn hcalls_and_ddw_calls_from_many_threads() {
    let shared = Shared::new();
    std::thread::scope(|scope| {
        for pe in 0..=VFIO_PES {
            let shared = &shared;
            scope.spawn(move || worker(shared, pe));
        }
        scope.spawn(|| manager(&shared));
    });
    if let Err(violations) = check_invariants(&shared.acc) {
        panic!("invariants violated:\n{violations:#?}");
    }
    let pes = u64::from(VFIO_PES + 1);
    let ddw = shared.acc.counters().ddw;
    assert_eq!(ddw.create.success, u64::from(MANAGER_ROUNDS) * pes);
    assert_eq!(ddw.remove.success, u64::from(MANAGER_ROUNDS) * pes);
    assert_eq!(
        ddw.total(),
        ddw.query.success + ddw.create.success + ddw.remove.success + ddw.reset.success
    );
    for model in &shared.models {
        assert_eq!(model.windows().len(), 1, "only the default window is left");
    }
}
