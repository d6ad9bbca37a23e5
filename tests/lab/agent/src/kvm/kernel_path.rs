//! Phase 1: the multi-TCE hcalls enabled in the kernel. The L2's TCE hcalls on windows
//! whose tables are in KVM with `edu`'s group attached complete inside L1's kernel (only
//! the markers exit), which programs the hardware itself: the accelerator makes no host
//! call, yet the shared table shows the entries and the device reaches the L2's RAM. What
//! the kernel cannot do exits to the accelerator (kernel-host.md §1.10).

use papr_hcall::rtas::ddw::{CreateArgs, CreateResult, RemoveArgs};
use papr_hcall::rtas::{Buid, ConfigAddr, RtasCall, RtasStatus};
use papr_hcall::{
    HcallStatus, Liobn, H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_RTAS, H_STUFF_TCE,
};
use spapr_tce::kvm::ExitAction;
use spapr_tce::LiobnScheme;
use vm_memory::GuestAddress;

use super::checks::{
    completed_with, host_calls, in_kernel, registered_in_kvm, translates, untranslated, write_list,
};
use super::machine::Machine;
use super::program::{LIST_DDW, LIST_DEFAULT, RTAS_CREATE, RTAS_REMOVE};
use crate::dma::counts::Effect;
use crate::dma::scenario::{
    Ddw, BUID, DDW_GPA, DDW_PAGES, DDW_PAGE_SHIFT, DDW_WINDOW_SHIFT, LEN, LINEAR, LINEAR_PAGES,
    PAGE, PHB, RW, SINGLE, WITNESS,
};
use crate::dma::traffic::{blocked, roundtrip};

/// The default window's LIOBN (QEMU's PHB 4 numbering).
pub fn default_liobn() -> u64 {
    LiobnScheme::QEMU.liobn(PHB, 0).0
}

/// A gpa beyond the L2's only memory slot.
pub const OUTSIDE_MEMSLOT: u64 = 0x4000_0000;
/// A LIOBN neither KVM nor the accelerator knows.
pub const UNKNOWN_LIOBN: u64 = 0x8000_0777;
/// Bus address of the punted H_PUT_TCE (an entry nothing else uses).
const PUNTED_BUS: u64 = 0x6000;

/// What the steps share.
#[derive(Default)]
pub struct State {
    /// Set by `ddw-create`.
    pub ddw: Option<Ddw>,
}

fn kernel_effect(m: &Machine<'_>, before: &spapr_tce::CountersSnapshot) -> Result<(), String> {
    host_calls(m, before, Effect::default())
        .map(drop)
        .map_err(|e| format!("the accelerator was called: {e}"))
}

/// The default window's table is KVM's, with VFIO attached.
pub fn tables_in_kernel(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    in_kernel(m, liobn)?;
    let window = m
        .guest
        .acc
        .window(Liobn(liobn))
        .ok_or("no default window")?;
    Ok(format!(
        "{liobn:#x}: {:#x}+{:#x} 2^{}, host {:x?}: table in KVM, VFIO attached, LIOBN known \
         to KVM (a second KVM_CREATE_SPAPR_TCE_64 is EBUSY)",
        window.bus_offset,
        window.size,
        window.page_shift.get(),
        window.host
    ))
}

/// Two `H_PUT_TCE`s and an `H_GET_TCE` in the kernel; the device copies between them.
pub fn put_tce(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    let before = m.guest.acc.counters();
    let witness = m.hcall(H_PUT_TCE, [liobn, WITNESS.bus, WITNESS.gpa | RW, 0])?;
    witness.in_kernel_success("H_PUT_TCE (witness)")?;
    let single = m.hcall(H_PUT_TCE, [liobn, SINGLE.bus, SINGLE.gpa | RW, 0])?;
    single.in_kernel_success("H_PUT_TCE")?;
    let get = m.hcall(H_GET_TCE, [liobn, SINGLE.bus, 0, 0])?;
    get.in_kernel_success("H_GET_TCE")?;
    if get.marker.r4 != SINGLE.gpa | RW {
        return Err(format!("H_GET_TCE gave the L2 {:#x}", get.marker.r4));
    }
    translates(m, liobn, WITNESS)?;
    translates(m, liobn, SINGLE)?;
    kernel_effect(m, &before)?;
    let dma = roundtrip(&m.guest, &mut m.engine, WITNESS, SINGLE, LEN, 200)?;
    Ok(format!(
        "2 x H_PUT_TCE + H_GET_TCE in L1's kernel ({} us), H_GET_TCE r4 {:#x}, translate \
         agrees, no host call by the accelerator; {dma}",
        (witness.elapsed + single.elapsed + get.elapsed).as_micros(),
        get.marker.r4
    ))
}

fn linear_tces() -> Vec<u64> {
    (0..LINEAR_PAGES)
        .map(|i| (LINEAR.gpa + i * PAGE) | RW)
        .collect()
}

/// `H_PUT_TCE_INDIRECT` of 16 linear TCEs in the kernel.
pub fn indirect(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    write_list(m, LIST_DEFAULT, &linear_tces())?;
    let before = m.guest.acc.counters();
    let step = m.hcall(
        H_PUT_TCE_INDIRECT,
        [liobn, LINEAR.bus, LIST_DEFAULT, LINEAR_PAGES],
    )?;
    step.in_kernel_success("H_PUT_TCE_INDIRECT")?;
    for page in 0..LINEAR_PAGES {
        translates(m, liobn, LINEAR.at(page * PAGE))?;
    }
    kernel_effect(m, &before)?;
    let dma = roundtrip(
        &m.guest,
        &mut m.engine,
        LINEAR.at(PAGE + 0x800),
        LINEAR.at(9 * PAGE + 0x400),
        LEN,
        201,
    )?;
    Ok(format!(
        "{LINEAR_PAGES} TCEs in L1's kernel ({} us), all translate, no host call; {dma}",
        step.elapsed.as_micros()
    ))
}

/// `H_STUFF_TCE` clears the run in the kernel; the device no longer reaches it.
pub fn stuff(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    let before = m.guest.acc.counters();
    let step = m.hcall(H_STUFF_TCE, [liobn, LINEAR.bus, 0, LINEAR_PAGES])?;
    step.in_kernel_success("H_STUFF_TCE")?;
    for page in 0..LINEAR_PAGES {
        untranslated(m, liobn, LINEAR.bus + page * PAGE)?;
    }
    kernel_effect(m, &before)?;
    let dma = blocked(
        &m.guest,
        &mut m.engine,
        LINEAR.at(3 * PAGE),
        WITNESS,
        LEN,
        202,
    )?;
    Ok(format!(
        "{LINEAR_PAGES} TCEs cleared in L1's kernel ({} us), none translates; {dma}",
        step.elapsed.as_micros()
    ))
}

/// A TCE whose gpa has no memory slot: the kernel punts, the accelerator refuses.
pub fn punt_outside_memslot(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    let before = m.guest.acc.counters();
    let step = m.hcall(H_PUT_TCE, [liobn, PUNTED_BUS, OUTSIDE_MEMSLOT | RW, 0])?;
    let punt = step.punted_once(H_PUT_TCE, "H_PUT_TCE outside the memslot")?;
    completed_with(&punt, HcallStatus::PARAMETER)?;
    if step.marker.status != HcallStatus::PARAMETER {
        return Err(format!("the L2 got {}", step.marker.status));
    }
    untranslated(m, liobn, PUNTED_BUS)?;
    host_calls(m, &before, Effect::default())?;
    Ok(format!(
        "H_PUT_TCE(tce {:#x}) exited to the VMM (args {:x?}), the accelerator answered \
         H_PARAMETER, the L2 saw {}; entry still empty, no host call",
        OUTSIDE_MEMSLOT | RW,
        &punt.args[..3],
        step.marker.status
    ))
}

/// A LIOBN KVM does not know: exits; the accelerator does not know it either.
pub fn punt_unknown_liobn(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let step = m.hcall(H_PUT_TCE, [UNKNOWN_LIOBN, 0, WITNESS.gpa | RW, 0])?;
    let punt = step.punted_once(H_PUT_TCE, "H_PUT_TCE on an unknown LIOBN")?;
    completed_with(&punt, HcallStatus::PARAMETER)?;
    if step.marker.status != HcallStatus::PARAMETER {
        return Err(format!("the L2 got {}", step.marker.status));
    }
    Ok(format!(
        "H_PUT_TCE(LIOBN {UNKNOWN_LIOBN:#x}) exited to the VMM, the L2 saw {}",
        step.marker.status
    ))
}

/// `H_RTAS` of `call` (its buffer already in L2 memory): exits once, the accelerator runs
/// it; the return cells.
fn rtas(m: &mut Machine<'_>, buffer: u64, call: &RtasCall) -> Result<Vec<u32>, String> {
    m.guest.write(buffer, &call.to_bytes())?;
    let step = m.hcall(H_RTAS, [buffer, 0, 0, 0])?;
    let punt = step.punted_once(H_RTAS, "H_RTAS")?;
    match punt.action {
        ExitAction::RtasCompleted { status, .. } if status == HcallStatus::SUCCESS => {}
        other => return Err(format!("H_RTAS completed as {other:?}")),
    }
    step.success("H_RTAS")?;
    call.read_rets(m.guest.mem)
        .map_err(|e| format!("reading the return cells: {e}"))
}

/// `ibm,create-pe-dma-window` through `H_RTAS`: the DDW's table goes to KVM too.
pub fn ddw_create(m: &mut Machine<'_>, state: &mut State) -> Result<String, String> {
    let args = CreateArgs {
        config_addr: ConfigAddr(0),
        buid: Buid(BUID),
        page_shift: DDW_PAGE_SHIFT,
        window_shift: DDW_WINDOW_SHIFT,
    };
    let token = m.guest.acc.ddw_tokens().create;
    let call = RtasCall::new(
        GuestAddress(RTAS_CREATE),
        token,
        &args.to_args(),
        CreateArgs::NRET,
    );
    let before = m.guest.acc.counters();
    let rets = rtas(m, RTAS_CREATE, &call)?;
    let created =
        CreateResult::from_rets(&rets).ok_or_else(|| format!("create returned {rets:x?}"))?;
    let ddw = Ddw {
        liobn: u64::from(created.liobn),
        start: created.start,
    };
    let expected = LiobnScheme::QEMU.liobn(PHB, 1).0;
    if ddw.liobn != expected {
        return Err(format!(
            "DDW LIOBN {:#x}, expected {expected:#x}",
            ddw.liobn
        ));
    }
    let calls = host_calls(
        m,
        &before,
        Effect {
            create_window: 1,
            ..Effect::default()
        },
    )?;
    in_kernel(m, ddw.liobn)?;
    state.ddw = Some(ddw);
    let host = m.guest.acc.window(Liobn(ddw.liobn)).and_then(|w| w.host);
    Ok(format!(
        "H_RTAS exited, the accelerator created DDW {:#x} at {:#x} ({calls}, host {host:x?}); \
         table in KVM with VFIO attached",
        ddw.liobn, ddw.start
    ))
}

fn ddw(state: &State) -> Result<Ddw, String> {
    state
        .ddw
        .ok_or_else(|| "not run: no DDW was created".to_owned())
}

/// `H_PUT_TCE_INDIRECT` of 8 64 KiB TCEs into the DDW, in the kernel.
pub fn ddw_indirect(m: &mut Machine<'_>, state: &mut State) -> Result<String, String> {
    let ddw = ddw(state)?;
    let page = 1u64 << DDW_PAGE_SHIFT;
    let tces: Vec<u64> = (0..DDW_PAGES).map(|i| (DDW_GPA + i * page) | RW).collect();
    write_list(m, LIST_DDW, &tces)?;
    let run = ddw.run();
    let before = m.guest.acc.counters();
    let step = m.hcall(
        H_PUT_TCE_INDIRECT,
        [ddw.liobn, run.bus, LIST_DDW, DDW_PAGES],
    )?;
    step.in_kernel_success("H_PUT_TCE_INDIRECT (DDW)")?;
    translates(m, ddw.liobn, run.at(7 * page))?;
    kernel_effect(m, &before)?;
    let dma = roundtrip(
        &m.guest,
        &mut m.engine,
        run.at(2 * page),
        run.at(5 * page + 0x800),
        LEN,
        203,
    )?;
    Ok(format!(
        "{DDW_PAGES} x 64 KiB TCEs in L1's kernel ({} us), no host call; {dma}",
        step.elapsed.as_micros()
    ))
}

/// `H_STUFF_TCE` over the DDW run, in the kernel.
pub fn ddw_stuff(m: &mut Machine<'_>, state: &mut State) -> Result<String, String> {
    let ddw = ddw(state)?;
    let run = ddw.run();
    let page = 1u64 << DDW_PAGE_SHIFT;
    let before = m.guest.acc.counters();
    let step = m.hcall(H_STUFF_TCE, [ddw.liobn, run.bus, 0, DDW_PAGES])?;
    step.in_kernel_success("H_STUFF_TCE (DDW)")?;
    untranslated(m, ddw.liobn, run.bus)?;
    kernel_effect(m, &before)?;
    let dma = blocked(&m.guest, &mut m.engine, run.at(3 * page), WITNESS, LEN, 204)?;
    Ok(format!(
        "{DDW_PAGES} TCEs cleared in L1's kernel ({} us); {dma}",
        step.elapsed.as_micros()
    ))
}

/// `ibm,remove-pe-dma-window`: the LIOBN leaves KVM; an hcall on it then exits and fails.
pub fn ddw_remove(m: &mut Machine<'_>, state: &mut State) -> Result<String, String> {
    let ddw = ddw(state)?;
    let token = m.guest.acc.ddw_tokens().remove;
    let args = RemoveArgs {
        liobn: ddw.liobn as u32,
    };
    let call = RtasCall::new(
        GuestAddress(RTAS_REMOVE),
        token,
        &args.to_args(),
        RemoveArgs::NRET,
    );
    let before = m.guest.acc.counters();
    let rets = rtas(m, RTAS_REMOVE, &call)?;
    if rets.first().map(|&c| RtasStatus::from_cell(c)) != Some(RtasStatus::SUCCESS) {
        return Err(format!("remove returned {rets:x?}"));
    }
    let calls = host_calls(
        m,
        &before,
        Effect {
            remove_window: 1,
            ..Effect::default()
        },
    )?;
    state.ddw = None;
    if m.guest.acc.window(Liobn(ddw.liobn)).is_some() {
        return Err("the DDW is still active".to_owned());
    }
    if registered_in_kvm(m, ddw.liobn)? {
        return Err(format!("KVM still has LIOBN {:#x}", ddw.liobn));
    }
    let after = m.hcall(H_PUT_TCE, [ddw.liobn, ddw.run().bus, DDW_GPA | RW, 0])?;
    let punt = after.punted_once(H_PUT_TCE, "H_PUT_TCE on the removed DDW")?;
    completed_with(&punt, HcallStatus::PARAMETER)?;
    Ok(format!(
        "H_RTAS exited, DDW removed ({calls}), LIOBN gone from KVM; H_PUT_TCE on it then \
         exited and the L2 saw {}",
        after.marker.status
    ))
}
