//! Phase 1: the multi-TCE hcalls enabled in the kernel. The L2's TCE hcalls on windows
//! whose tables are in KVM with `edu`'s group attached complete inside L1's kernel (only
//! the markers exit), which programs the hardware itself: the accelerator makes no host
//! call, yet the shared table shows the entries and the device reaches the L2's RAM. What
//! the kernel cannot do exits to the accelerator ([`super::punts`], [`super::ddw`]).

use papr_hcall::Liobn;
use papr_hcall::{H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE};
use spapr_tce::{CountersSnapshot, LiobnScheme};

use super::checks::{host_calls, in_kernel, translates, untranslated, write_list};
use super::machine::Machine;
use super::program::LIST_DEFAULT;
use crate::dma::counts::Effect;
use crate::dma::scenario::{Ddw, LEN, LINEAR, LINEAR_PAGES, PAGE, PHB, RW, SINGLE, WITNESS};
use crate::dma::traffic::{blocked, roundtrip};

/// The default window's LIOBN (QEMU's PHB 4 numbering).
pub fn default_liobn() -> u64 {
    LiobnScheme::QEMU.liobn(PHB, 0).0
}

/// What the steps share.
#[derive(Default)]
pub struct State {
    /// Set by `ddw-create`.
    pub ddw: Option<Ddw>,
}

/// The accelerator made no host call since `before`: the kernel did the work.
pub fn kernel_effect(m: &Machine<'_>, before: &CountersSnapshot) -> Result<(), String> {
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
