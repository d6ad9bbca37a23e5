// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Snapshot/restore: a real boot (the k612-2G-maxmem4G fixture) replayed half-way, saved,
//! serialised, restored into a fresh machine and finished there with no mismatch; restores
//! that must be refused.

#![cfg(feature = "replay")]

use papr_hcall::rtas::ddw::{CreateArgs, QueryArgs, RemoveArgs, ResetArgs};
use papr_hcall::rtas::{Buid, ConfigAddr, RtasCall};
use papr_hcall::{Ioba, Liobn, Tce, H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_RTAS, H_STUFF_TCE};
use spapr_tce::check::check_invariants;
use spapr_tce::lifecycle::{AcceleratorSnapshot, RestoreError, WindowKind};
use spapr_tce::replay::engine::ReplayMachine;
use spapr_tce::replay::{load, TraceEvent};
use vm_memory::{Bytes, GuestAddress};

const FIXTURE: &str = "tests/fixtures/k612-2G-maxmem4G.tce.xz";

/// Feeds one recorded event to `machine` as the guest did; returns a description of what
/// disagreed with the recording, if anything.
fn feed(machine: &ReplayMachine, event: &TraceEvent) -> Option<String> {
    let acc = &machine.accelerator;
    let hcall = |nr: u64, args: &[u64]| {
        let mut registers = [0u64; 9];
        registers[..args.len()].copy_from_slice(args);
        acc.handle_hcall(nr, &registers).expect("handled")
    };
    let rtas = |token: u32, args: &[u32], nret: u32| -> Vec<u32> {
        let call = RtasCall::new(machine.rtas_buffer, token, args, nret);
        let memory = acc.memory();
        memory
            .write_slice(&call.to_bytes(), machine.rtas_buffer)
            .expect("RTAS buffer");
        hcall(H_RTAS, &[machine.rtas_buffer.0]);
        call.read_rets(&**memory).expect("return cells")
    };
    let status = |rets: &[u32]| i64::from(rets[0] as i32);
    let tokens = acc.ddw_tokens();
    let (expected, got) = match event {
        TraceEvent::PutTce(e) => (e.ret, hcall(H_PUT_TCE, &[e.liobn, e.ioba, e.tce]).status.0),
        TraceEvent::GetTce(e) => {
            let outcome = hcall(H_GET_TCE, &[e.liobn, e.ioba]);
            if e.ret == 0 && outcome.r4 != Some(e.tce) {
                return Some(format!("{event:?}: got {:?}", outcome.r4));
            }
            (e.ret, outcome.status.0)
        }
        TraceEvent::StuffTce(e) => (
            e.ret,
            hcall(H_STUFF_TCE, &[e.liobn, e.ioba, e.value, e.npages])
                .status
                .0,
        ),
        TraceEvent::PutTceIndirect(e) => {
            let bytes: Vec<u8> = (0..e.npages.min(512))
                .map_while(|i| e.list.entry(i))
                .flat_map(u64::to_be_bytes)
                .collect();
            let _ = acc.memory().write_slice(&bytes, GuestAddress(e.list_gpa));
            let args = [e.liobn, e.ioba, e.list_gpa, e.npages];
            (e.ret, hcall(H_PUT_TCE_INDIRECT, &args).status.0)
        }
        TraceEvent::Xlate(e) => {
            let got = acc.translate(Liobn(e.liobn), Ioba(e.bus_addr)).map(|t| {
                (
                    t.guest_addr & !t.page_shift.offset_mask(),
                    t.permission.bits() as u8,
                )
            });
            let expected = (e.perm != 0).then_some((e.translated, e.perm));
            return (got != expected).then(|| format!("{event:?}: got {got:x?}"));
        }
        TraceEvent::DdwQuery(e) => {
            let args = QueryArgs {
                config_addr: ConfigAddr(e.config_addr),
                buid: Buid(e.buid),
            }
            .to_args();
            (
                e.status,
                status(&rtas(tokens.query, &args, QueryArgs::NRET_EXTENDED)),
            )
        }
        TraceEvent::DdwCreate(e) => {
            let args = CreateArgs {
                config_addr: ConfigAddr(e.config_addr),
                buid: Buid(e.buid),
                page_shift: e.page_shift,
                window_shift: e.window_shift,
            }
            .to_args();
            let rets = rtas(tokens.create, &args, CreateArgs::NRET);
            if e.status == 0
                && (
                    u64::from(rets[1]),
                    u64::from(rets[2]) << 32 | u64::from(rets[3]),
                ) != (e.liobn, e.start)
            {
                return Some(format!("{event:?}: got {rets:x?}"));
            }
            (e.status, status(&rets))
        }
        TraceEvent::DdwRemove(e) => {
            let args = RemoveArgs {
                liobn: e.liobn as u32,
            }
            .to_args();
            (e.status, status(&rtas(tokens.remove, &args, 1)))
        }
        TraceEvent::DdwReset(e) => {
            let args = ResetArgs {
                config_addr: ConfigAddr(e.config_addr),
                buid: Buid(e.buid),
                limited_addressing: None,
            }
            .to_args();
            (e.status, status(&rtas(tokens.reset, &args, 1)))
        }
    };
    (expected != got).then(|| format!("{event:?}: status {got}"))
}

fn run(machine: &ReplayMachine, events: &[TraceEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| feed(machine, event))
        .collect()
}

fn assert_invariants(machine: &ReplayMachine) {
    if let Err(violations) = check_invariants(&machine.accelerator) {
        panic!("invariants: {violations:#?}");
    }
}

#[test]
fn snapshot_mid_boot_restores_and_finishes_the_replay() {
    let trace = load(FIXTURE).expect("fixture");
    let events: Vec<TraceEvent> = trace.events().collect();
    assert!(events.len() > 1000, "a real boot");
    let (first, second) = events.split_at(events.len() / 2);

    // Reference: the whole boot on one machine.
    let reference = ReplayMachine::build(&trace.machine).expect("machine");
    assert_eq!(run(&reference, &events), Vec::<String>::new());

    let source = ReplayMachine::build(&trace.machine).expect("machine");
    assert_eq!(run(&source, first), Vec::<String>::new());
    let snapshot = source.accelerator.snapshot();
    let valid: usize = snapshot.windows().map(|w| w.valid_entries()).sum();
    assert!(
        valid > 0,
        "the guest has mappings half-way through its boot"
    );
    assert!(
        snapshot.windows().any(|w| w.kind == WindowKind::Dynamic),
        "and a DDW"
    );

    let text = snapshot.to_text();
    let parsed = AcceleratorSnapshot::from_text(&text).expect("parse");
    assert_eq!(parsed, snapshot);

    let target = ReplayMachine::build(&trace.machine).expect("machine");
    let maps_before: u64 = target
        .containers()
        .map(|c| c.counters().map_dma.calls())
        .sum();
    target.accelerator.restore(&parsed).expect("restore");
    let maps: u64 = target
        .containers()
        .map(|c| c.counters().map_dma.calls())
        .sum::<u64>()
        - maps_before;
    assert!(
        maps > 0 && (maps as usize) < valid,
        "coalesced: {maps} MAP_DMA for {valid} entries"
    );
    assert_invariants(&target);
    assert_eq!(
        target.accelerator.snapshot(),
        snapshot,
        "the restored state is the saved one"
    );
    // Hardware too: the same live mappings as the source's.
    let live =
        |m: &ReplayMachine| -> Vec<u64> { m.containers().map(|c| c.mapped_pages()).collect() };
    assert_eq!(live(&target), live(&source));

    assert_eq!(run(&target, second), Vec::<String>::new());
    assert_invariants(&target);
    assert_eq!(
        target.accelerator.snapshot(),
        reference.accelerator.snapshot()
    );
}

#[test]
fn restores_that_cannot_be_right_are_refused() {
    let trace = load(FIXTURE).expect("fixture");
    let events: Vec<TraceEvent> = trace.events().collect();
    let source = ReplayMachine::build(&trace.machine).expect("machine");
    assert_eq!(
        run(&source, &events[..events.len() / 2]),
        Vec::<String>::new()
    );
    let snapshot = source.accelerator.snapshot();
    let fresh = || ReplayMachine::build(&trace.machine).expect("machine");

    let mut other_version = snapshot.clone();
    other_version.version = 2;
    assert!(matches!(
        fresh().accelerator.restore(&other_version),
        Err(RestoreError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    ));

    let mut other_geometry = snapshot.clone();
    other_geometry.pes[0].default_window.size /= 2;
    assert!(matches!(
        fresh().accelerator.restore(&other_geometry),
        Err(RestoreError::ConfigMismatch {
            what: "default window",
            ..
        })
    ));

    let mut fewer = snapshot.clone();
    fewer.pes.pop();
    assert!(matches!(
        fresh().accelerator.restore(&fewer),
        Err(RestoreError::ConfigMismatch { .. })
    ));

    let mut outside = snapshot.clone();
    let window = outside
        .pes
        .iter_mut()
        .flat_map(|pe| pe.windows.iter_mut())
        .next()
        .expect("a window");
    let entries = window.config.entries();
    window.entries.push((entries, Tce(0x1000 | 3)));
    assert!(matches!(
        fresh().accelerator.restore(&outside),
        Err(RestoreError::InvalidWindow { .. })
    ));

    let mut not_ram = snapshot.clone();
    let window = not_ram
        .pes
        .iter_mut()
        .flat_map(|pe| pe.windows.iter_mut())
        .next()
        .expect("a window");
    window.entries = vec![(0, Tce((trace.machine.ram_size + (1 << 30)) | 3))];
    let machine = fresh();
    assert!(matches!(
        machine.accelerator.restore(&not_ram),
        Err(RestoreError::InvalidWindow { .. })
    ));
    // Refusals change nothing: the fresh machine still takes the real snapshot, once.
    machine.accelerator.restore(&snapshot).expect("restore");
    assert!(matches!(
        machine.accelerator.restore(&snapshot),
        Err(RestoreError::NotFresh { .. })
    ));
    assert_invariants(&machine);
}
