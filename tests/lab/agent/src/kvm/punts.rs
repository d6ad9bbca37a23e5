//! Hypercalls the kernel cannot complete (kernel-host.md §1.10: H_TOO_HARD inside KVM)
//! exit with `KVM_EXIT_PAPR_HCALL`; the accelerator refuses them, and the L2 must see its
//! H_PARAMETER with nothing changed: no entry, no host call.

use papr_hcall::{HcallStatus, H_PUT_TCE, H_PUT_TCE_INDIRECT};

use super::checks::{completed_with, host_calls, untranslated, write_list};
use super::kernel_path::{default_liobn, State};
use super::machine::{Machine, Step};
use super::program::LIST_DEFAULT;
use crate::dma::counts::Effect;
use crate::dma::scenario::{PAGE, RW, WITNESS};

/// A gpa beyond the L2's only memory slot.
pub const OUTSIDE_MEMSLOT: u64 = 0x4000_0000;
/// A LIOBN neither KVM nor the accelerator knows.
pub const UNKNOWN_LIOBN: u64 = 0x8000_0777;
/// Bus address of the refused mappings: entries nothing else uses.
const REFUSED_BUS: u64 = 0x20_0000;
/// RAM behind the valid entries of the refused list.
const LIST_GPA: u64 = 0x60_0000;

/// One exit of `nr`, answered H_PARAMETER, which the L2 saw.
fn refused(step: &Step, nr: u64, what: &str) -> Result<[u64; 9], String> {
    let punt = step.punted_once(nr, what)?;
    completed_with(&punt, HcallStatus::PARAMETER)?;
    if step.marker.status != HcallStatus::PARAMETER {
        return Err(format!("{what}: the L2 got {}", step.marker.status));
    }
    Ok(punt.args)
}

/// `H_PUT_TCE` whose TCE names a gpa without a memory slot.
pub fn outside_memslot(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    let before = m.guest.acc.counters();
    let step = m.hcall(H_PUT_TCE, [liobn, REFUSED_BUS, OUTSIDE_MEMSLOT | RW, 0])?;
    let args = refused(&step, H_PUT_TCE, "H_PUT_TCE outside the memslot")?;
    untranslated(m, liobn, REFUSED_BUS)?;
    host_calls(m, &before, Effect::default())?;
    Ok(format!(
        "H_PUT_TCE(tce {:#x}) exited to the VMM (args {:x?}), the accelerator answered, the \
         L2 saw {}; entry still empty, no host call",
        OUTSIDE_MEMSLOT | RW,
        &args[..3],
        step.marker.status
    ))
}

/// `H_PUT_TCE` whose address is not aligned to the 4 KiB TCE page (the kernel punts it
/// rather than deciding, §1.4 `kvmppc_tce_validate` step 2).
pub fn misaligned_tce(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    let tce = (WITNESS.gpa + 0x800) | RW;
    let before = m.guest.acc.counters();
    let step = m.hcall(H_PUT_TCE, [liobn, REFUSED_BUS, tce, 0])?;
    refused(&step, H_PUT_TCE, "H_PUT_TCE misaligned")?;
    untranslated(m, liobn, REFUSED_BUS)?;
    host_calls(m, &before, Effect::default())?;
    Ok(format!(
        "H_PUT_TCE(tce {tce:#x}) exited to the VMM, the L2 saw {}; entry still empty",
        step.marker.status
    ))
}

/// `H_PUT_TCE_INDIRECT` whose last entry has no memory slot: the kernel's validation pass
/// punts before changing anything (§1.6 step 6), and the accelerator must not map the
/// valid entries before it either (checklist item 17).
pub fn indirect_bad_entry(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let liobn = default_liobn();
    let tces = [
        LIST_GPA | RW,
        (LIST_GPA + PAGE) | RW,
        (LIST_GPA + 2 * PAGE) | RW,
        OUTSIDE_MEMSLOT | RW,
    ];
    write_list(m, LIST_DEFAULT, &tces)?;
    let before = m.guest.acc.counters();
    let step = m.hcall(
        H_PUT_TCE_INDIRECT,
        [liobn, REFUSED_BUS, LIST_DEFAULT, tces.len() as u64],
    )?;
    refused(&step, H_PUT_TCE_INDIRECT, "H_PUT_TCE_INDIRECT")?;
    for page in 0..tces.len() as u64 {
        untranslated(m, liobn, REFUSED_BUS + page * PAGE)?;
    }
    host_calls(m, &before, Effect::default())?;
    Ok(format!(
        "H_PUT_TCE_INDIRECT of 3 valid TCEs and one at {OUTSIDE_MEMSLOT:#x} exited to the \
         VMM, the L2 saw {}; none of the 4 entries mapped, no host call",
        step.marker.status
    ))
}

/// A LIOBN KVM does not know: exits; the accelerator does not know it either.
pub fn unknown_liobn(m: &mut Machine<'_>, _: &mut State) -> Result<String, String> {
    let step = m.hcall(H_PUT_TCE, [UNKNOWN_LIOBN, 0, WITNESS.gpa | RW, 0])?;
    refused(&step, H_PUT_TCE, "H_PUT_TCE on an unknown LIOBN")?;
    Ok(format!(
        "H_PUT_TCE(LIOBN {UNKNOWN_LIOBN:#x}) exited to the VMM, the L2 saw {}",
        step.marker.status
    ))
}
