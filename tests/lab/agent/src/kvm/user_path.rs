//! Phase 2: an accelerator built with `KvmConfig::in_kernel_multitce(false)` on a fresh VM.
//! `H_PUT_TCE_INDIRECT` and `H_STUFF_TCE` stay off in the kernel (their default,
//! kernel-host.md §1.3), so they exit to the VMM, which completes them with the accelerator
//! on the same shared table: host `MAP_DMA`/`UNMAP_DMA` through the container, the entries
//! written into KVM's table, where an in-kernel `H_GET_TCE` finds them.

use papr_hcall::{HcallStatus, H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE};

use super::checks::{completed_with, host_calls, translates, untranslated, write_list};
use super::kernel_path::{default_liobn, State};
use super::machine::Machine;
use super::program::LIST_DEFAULT;
use crate::dma::counts::Effect;
use crate::dma::scenario::{LEN, LINEAR, LINEAR_PAGES, PAGE, RW, WITNESS};
use crate::dma::traffic::{blocked, roundtrip};

/// Which entry of the run `H_GET_TCE` reads back.
const PROBED_PAGE: u64 = 5;

/// The witness by in-kernel `H_PUT_TCE`, then `H_PUT_TCE_INDIRECT` through the VMM.
pub fn indirect(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    m.hcall(H_PUT_TCE, [liobn, WITNESS.bus, WITNESS.gpa | RW, 0])?
        .in_kernel_success("H_PUT_TCE (witness)")?;
    let tces: Vec<u64> = (0..LINEAR_PAGES)
        .map(|i| (LINEAR.gpa + i * PAGE) | RW)
        .collect();
    write_list(m, LIST_DEFAULT, &tces)?;
    let before = m.guest.acc.counters();
    let step = m.hcall(
        H_PUT_TCE_INDIRECT,
        [liobn, LINEAR.bus, LIST_DEFAULT, LINEAR_PAGES],
    )?;
    let punt = step.punted_once(H_PUT_TCE_INDIRECT, "H_PUT_TCE_INDIRECT")?;
    completed_with(&punt, HcallStatus::SUCCESS)?;
    step.success("H_PUT_TCE_INDIRECT")?;
    let calls = host_calls(m, &before, Effect::mapped(LINEAR_PAGES, 1))?;
    let probe = LINEAR.bus + PROBED_PAGE * PAGE;
    let get = m.hcall(H_GET_TCE, [liobn, probe, 0, 0])?;
    get.in_kernel_success("H_GET_TCE")?;
    let expected = tces[PROBED_PAGE as usize];
    if get.marker.r4 != expected {
        return Err(format!(
            "in-kernel H_GET_TCE of the VMM's entry gave {:#x}, expected {expected:#x}",
            get.marker.r4
        ));
    }
    translates(m, liobn, LINEAR.at(15 * PAGE))?;
    let dma = roundtrip(
        &m.guest,
        &mut m.engine,
        LINEAR.at(PAGE + 0x800),
        LINEAR.at(9 * PAGE + 0x400),
        LEN,
        300,
    )?;
    Ok(format!(
        "H_PUT_TCE_INDIRECT exited to the VMM ({} us), the accelerator mapped it ({calls}); \
         in-kernel H_GET_TCE reads the VMM's entry {:#x}; {dma}",
        step.elapsed.as_micros(),
        get.marker.r4
    ))
}

/// `H_STUFF_TCE` through the VMM: one coalesced `UNMAP_DMA`, the kernel's view cleared.
pub fn stuff(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    let before = m.guest.acc.counters();
    let step = m.hcall(H_STUFF_TCE, [liobn, LINEAR.bus, 0, LINEAR_PAGES])?;
    let punt = step.punted_once(H_STUFF_TCE, "H_STUFF_TCE")?;
    completed_with(&punt, HcallStatus::SUCCESS)?;
    step.success("H_STUFF_TCE")?;
    let calls = host_calls(m, &before, Effect::unmapped(LINEAR_PAGES, 1))?;
    let get = m.hcall(H_GET_TCE, [liobn, LINEAR.bus + PROBED_PAGE * PAGE, 0, 0])?;
    get.in_kernel_success("H_GET_TCE")?;
    if get.marker.r4 != 0 {
        return Err(format!(
            "in-kernel H_GET_TCE after the VMM's stuff gave {:#x}",
            get.marker.r4
        ));
    }
    untranslated(m, liobn, LINEAR.bus)?;
    let dma = blocked(
        &m.guest,
        &mut m.engine,
        LINEAR.at(3 * PAGE),
        WITNESS,
        LEN,
        301,
    )?;
    Ok(format!(
        "H_STUFF_TCE exited to the VMM ({} us), the accelerator unmapped it ({calls}); \
         in-kernel H_GET_TCE reads 0; {dma}",
        step.elapsed.as_micros()
    ))
}
