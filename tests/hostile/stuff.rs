// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! H_STUFF_TCE (kernel-host.md §1.7, §7 items 7, 8, 11, 14; qemu-and-guest.md §2.4;
//! LoPAR 2.9 §14.5.4.2.4).

use papr_hcall::HcallStatus;
use spapr_tce::fuzzing::layout::{PE0_DEFAULT, VIO};

use super::*;

const P4: HcallStatus = HcallStatus::P4;
const LAST: u64 = (1 << 30) - PAGE;

/// The 8 populated entries (indices 4..12) are gone from guest view and hardware; the rest
/// is as before.
fn populated_entries_cleared(
    _: &World,
    before: &Snapshot,
    after: &Snapshot,
    value: u64,
) -> Result<(), String> {
    let mut expected = before.entries_of(PE0_DEFAULT);
    expected.retain(|&(i, _)| !(4..12).contains(&i));
    if value != 0 {
        expected.extend((4..12).map(|i| (i, value)));
        expected.sort_unstable();
    }
    if after.entries_of(PE0_DEFAULT) != expected || after.hw_pages(0) != 0 {
        return Err(format!(
            "entries {:x?}, {} hardware pages",
            after.entries_of(PE0_DEFAULT),
            after.hw_pages(0)
        ));
    }
    Ok(())
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "stuff: count 513",
            rule: "LoPAR §14.5.4.2.4: count > 512 -> H_P4 (qemu-and-guest.md §2.4)",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, MAPPED_IOBA, 0, 513)),
            expect: Expect::H(P4),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: count 2^63",
            rule: "LoPAR: count > 512 -> H_P4",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, 0, 0, 1 << 63)),
            expect: Expect::H(P4),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: count u64::MAX",
            rule: "LoPAR: count > 512 -> H_P4",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, 0, 0, u64::MAX)),
            expect: Expect::H(P4),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: count 513 with a misaligned ioba",
            rule: "LoPAR: the LIOBN/IOBA check comes first -> H_PARAMETER, not H_P4",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, 0x10, 0, 513)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: count 513 on an unknown LIOBN",
            rule: "LoPAR: LIOBN first -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(Liobn(0x8000_0002), 0, 0, 513)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: read/write value",
            rule: "kernel-host.md §1.7 step 3, §7 item 11: R or W in the value -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, 0, DATA | 3, 4)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: read-only value",
            rule: "§7 item 11 -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, 0, DATA | 1, 1)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: write-only value",
            rule: "§7 item 11 -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(VIO, 0, DATA | 2, 1)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: count 0",
            rule: "kernel-host.md §1.7 step 5, §7 item 11: count 0 -> H_SUCCESS, nothing changes \
                   (QEMU's H_PARAMETER is a bug, qemu-and-guest.md §6 item 4)",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, MAPPED_IOBA, 0, 0)),
            expect: Expect::H(OK),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: last entry plus one runs past the end",
            rule: "§7 item 8 recommendation: range past the window end -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, LAST, 0, 2)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: exactly to the end",
            rule: "§7 item 8: the last entry is inside -> H_SUCCESS",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, LAST - 511 * PAGE, 0, 512)),
            expect: Expect::H(OK),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: ioba wraps the address space",
            rule: "§7 item 8: overflow -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, !0xFFF_u64, 0, 2)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "stuff: 512 clears unmap the populated entries",
            rule: "§1.7 step 4: every covered entry is unmapped, then the value stored",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, 0, 0, 512)),
            expect: Expect::H(OK),
            effect: Effect::Check(|w, b, a| populated_entries_cleared(w, b, a, 0)),
        },
        Case {
            name: "stuff: junk without permission is stored verbatim",
            rule: "§7 item 14: STUFF stores the value verbatim (any non-R/W bits kept)",
            prepare: nothing,
            act: Act::Hcall(|_| stuff(PE0_DEFAULT, MAPPED_IOBA, 0xbad0_0000_0000_fffc, 8)),
            expect: Expect::H(OK),
            effect: Effect::Check(|w, b, a| {
                populated_entries_cleared(w, b, a, 0xbad0_0000_0000_fffc)
            }),
        },
    ]
}
