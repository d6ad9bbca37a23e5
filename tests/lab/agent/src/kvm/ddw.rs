//! The DDW RTAS calls through `H_RTAS`, which KVM always leaves to userspace
//! (kernel-host.md §1.3): the accelerator creates the host window, then the window's KVM
//! table with the group attached; it releases the table before removing the host window
//! (§5.5 last item), and a reset puts a fresh default window and table in place.

use papr_hcall::rtas::ddw::{CreateArgs, CreateResult, RemoveArgs, ResetArgs};
use papr_hcall::rtas::{Buid, ConfigAddr, RtasCall, RtasStatus};
use papr_hcall::{HcallStatus, Liobn, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_RTAS, H_STUFF_TCE};
use spapr_tce::kvm::ExitAction;
use spapr_tce::LiobnScheme;
use vm_memory::GuestAddress;

use super::checks::{
    completed_with, host_calls, in_kernel, registered_in_kvm, translates, untranslated, write_list,
};
use super::kernel_path::{default_liobn, kernel_effect, State};
use super::machine::Machine;
use super::program::{LIST_DDW, RTAS_CREATE, RTAS_REMOVE, RTAS_RESET};
use crate::dma::counts::Effect;
use crate::dma::scenario::{
    Ddw, BUID, DDW_GPA, DDW_PAGES, DDW_PAGE_SHIFT, DDW_WINDOW_SHIFT, LEN, PHB, RW, SINGLE, WITNESS,
};
use crate::dma::traffic::{blocked, roundtrip};

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
pub fn create(m: &mut Machine<'_>, state: &mut State) -> Result<String, String> {
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
pub fn indirect(m: &mut Machine<'_>, state: &mut State) -> Result<String, String> {
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
pub fn stuff(m: &mut Machine<'_>, state: &mut State) -> Result<String, String> {
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
pub fn remove(m: &mut Machine<'_>, state: &mut State) -> Result<String, String> {
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

/// `ibm,reset-pe-dma-window` with entries mapped by the kernel: the default window's KVM
/// table is released before its host window goes, a new host window and KVM table take its
/// place (same LIOBN: the old table must be closed by then), empty; in-kernel `H_PUT_TCE`s
/// on it then reach the device again.
pub fn reset(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    let mapped = m.guest.acc.entries(Liobn(liobn)).map_or(0, |e| e.len());
    let args = ResetArgs {
        config_addr: ConfigAddr(0),
        buid: Buid(BUID),
        limited_addressing: None,
    };
    let token = m.guest.acc.ddw_tokens().reset;
    let call = RtasCall::new(
        GuestAddress(RTAS_RESET),
        token,
        &args.to_args(),
        ResetArgs::NRET,
    );
    let before = m.guest.acc.counters();
    let rets = rtas(m, RTAS_RESET, &call)?;
    if rets.first().map(|&c| RtasStatus::from_cell(c)) != Some(RtasStatus::SUCCESS) {
        return Err(format!("reset returned {rets:x?}"));
    }
    let calls = Effect::between(&before, &m.guest.acc.counters());
    if (calls.create_window, calls.remove_window, calls.failures) != (1, 1, 0) {
        return Err(format!(
            "reset cost {calls}, expected one TCE_REMOVE and one TCE_CREATE"
        ));
    }
    in_kernel(m, liobn)?;
    untranslated(m, liobn, WITNESS.bus)?;
    untranslated(m, liobn, SINGLE.bus)?;
    for place in [WITNESS, SINGLE] {
        m.hcall(H_PUT_TCE, [liobn, place.bus, place.gpa | RW, 0])?
            .in_kernel_success("H_PUT_TCE after the reset")?;
    }
    let dma = roundtrip(&m.guest, &mut m.engine, SINGLE, WITNESS, LEN, 205)?;
    Ok(format!(
        "H_RTAS exited, reset with {mapped} entries mapped ({calls}); a new KVM table \
         with VFIO attached, empty; 2 in-kernel H_PUT_TCEs on it: {dma}"
    ))
}
