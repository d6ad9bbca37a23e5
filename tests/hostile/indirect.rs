// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! H_PUT_TCE_INDIRECT (kernel-host.md §1.6, §2.5, §7 items 8, 9, 10, 16, 17, 19;
//! qemu-and-guest.md §2.5; LoPAR 2.9 §14.5.4.2.3).

use spapr_tce::fuzzing::layout::{HOLE, PE0_DEFAULT, RAM_END, REGION_A, SCRATCH_LISTS, VIO};
use vfio_spapr::DmaAccess;

use super::*;

const LAST: u64 = (1 << 30) - PAGE;
/// Scratch list page 0, where most cases put their list.
const LIST: u64 = SCRATCH_LISTS;

/// Entries `first..first+tces.len()` of PE 0's default window now hold `tces`, everything
/// else as before, and hardware agrees (checked by the runner's invariant check).
fn entries_now(
    before: &Snapshot,
    after: &Snapshot,
    first: u64,
    tces: &[u64],
) -> Result<(), String> {
    let range = first..first + tces.len() as u64;
    let mut expected = before.entries_of(PE0_DEFAULT);
    expected.retain(|(i, _)| !range.contains(i));
    expected.extend(range.zip(tces.iter().copied()).filter(|&(_, t)| t != 0));
    expected.sort_unstable();
    let found = after.entries_of(PE0_DEFAULT);
    (found == expected)
        .then_some(())
        .ok_or_else(|| format!("entries {found:x?}, expected {expected:x?}"))
}

fn good_list(w: &World) {
    list(w, 0, &linear(DATA, 8, 3));
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "indirect: count 513",
            rule: "kernel-host.md §1.6 step 2, §7 item 9: npages > 512 -> H_PARAMETER",
            prepare: good_list,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0, LIST, 513)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: count 2^63",
            rule: "§7 item 9 -> H_PARAMETER",
            prepare: good_list,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0, LIST, 1 << 63)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: count 0",
            rule: "§1.6 step 8, §7 item 10: npages 0 with valid ioba and list -> H_SUCCESS, no change",
            prepare: good_list,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, MAPPED_IOBA, LIST, 0)),
            expect: Expect::H(OK),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: count 0 with the list in the hole",
            rule: "§1.6 step 5 precedes the count: list page not guest RAM -> H_PARAMETER (LoPAR)",
            prepare: nothing,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0, HOLE.0, 0)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: count 0 at the window end",
            rule: "§1.4: the first entry is range-checked even for npages 0 -> H_PARAMETER",
            prepare: good_list,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 1 << 30, LIST, 0)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: list not 4K aligned",
            rule: "§1.6 step 3, §7 item 9: tce_list & 0xFFF -> H_PARAMETER",
            prepare: good_list,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0, LIST + 8, 1)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: list 2 KiB into a page (would cross it)",
            rule: "§1.6 step 3: a 4K-aligned list cannot cross a page; unaligned -> H_PARAMETER",
            prepare: good_list,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0, LIST + 0x800, 512)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: list in the last page of RAM",
            rule: "the last 4K page of RAM is a valid list page: 512 entries accepted",
            prepare: |w| w.write_list(RAM_END - PAGE, &linear(DATA, 512, 3)),
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0x10_0000, RAM_END - PAGE, 512)),
            expect: Expect::H(OK),
            effect: Effect::Check(|_, b, a| entries_now(b, a, 0x100, &linear(DATA, 512, 3))),
        },
        Case {
            name: "indirect: list in the last page before the hole",
            rule: "the last page of region A is RAM: accepted",
            prepare: |w| w.write_list(REGION_A.1 - PAGE, &linear(DATA, 2, 1)),
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0, REGION_A.1 - PAGE, 2)),
            expect: Expect::H(OK),
            effect: Effect::Check(|_, b, a| entries_now(b, a, 0, &linear(DATA, 2, 1))),
        },
        Case {
            name: "indirect: list in the hole (MMIO)",
            rule: "LoPAR: the list must be a valid logical page (KVM: memslot) -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0, HOLE.0, 1)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: list beyond RAM",
            rule: "LoPAR -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0, RAM_END, 1)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: list at the top of the address space",
            rule: "LoPAR -> H_PARAMETER (no wrap-around read)",
            prepare: nothing,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0, !0xFFF_u64, 512)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: one entry outside RAM changes nothing",
            rule: "§7 item 17, LoPAR: every entry is validated before anything is written",
            prepare: |w| {
                let mut tces = linear(DATA, 8, 3);
                tces[5] = RAM_END | 3;
                list(w, 0, &tces);
            },
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, MAPPED_IOBA, LIST, 8)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: one misaligned entry changes nothing",
            rule: "§7 items 12, 17 -> H_PARAMETER, no partial update",
            prepare: |w| {
                let mut tces = linear(DATA, 8, 3);
                tces[7] = (DATA + 0x10) | 3;
                list(w, 0, &tces);
            },
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0, LIST, 8)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: last entry runs past the window end",
            rule: "§7 item 8 recommendation -> H_PARAMETER",
            prepare: good_list,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, LAST, LIST, 2)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: ioba not aligned",
            rule: "§1.4 rule 1 -> H_PARAMETER",
            prepare: good_list,
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0x200, LIST, 1)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: unknown LIOBN",
            rule: "LoPAR / QEMU -> H_PARAMETER",
            prepare: good_list,
            act: Act::Hcall(|_| indirect(Liobn(0x7100_0001), 0, LIST, 1)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "indirect: permission-less entries unmap",
            rule: "§7 item 19 recommendation: no R/W in a list entry is an unmap (no leaked reference)",
            prepare: |w| {
                list(w, 0, &[0, 0xfff0, 0, 0]);
            },
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, MAPPED_IOBA, LIST, 4)),
            expect: Expect::H(OK),
            effect: Effect::Check(|_, b, a| {
                entries_now(b, a, 4, &[0, 0xfff0, 0, 0])?;
                let refs = |s: &Snapshot| s.registrations.iter().map(|r| r.mapped).sum::<u64>();
                (a.hw_pages(0) == 4 && refs(a) == refs(b) - 4)
                    .then_some(())
                    .ok_or_else(|| format!("hardware {} pages, regions {:x?}", a.hw_pages(0), a.registrations))
            }),
        },
        Case {
            name: "indirect: write-only entries are mapped",
            rule: "§2.1: W-only is valid; PowerNV installs it as R|W (§7 item 44)",
            prepare: |w| {
                list(w, 0, &linear(DATA, 3, 2));
            },
            act: Act::Hcall(|_| indirect(PE0_DEFAULT, 0x20_0000, LIST, 3)),
            expect: Expect::H(OK),
            effect: Effect::Check(|w, b, a| {
                entries_now(b, a, 0x200, &linear(DATA, 3, 2))?;
                let hw = w.containers[0].hw_entry(0x20_0000).map(|e| e.access);
                (hw == Some(DmaAccess::ReadWrite))
                    .then_some(())
                    .ok_or_else(|| format!("hardware access {hw:?}"))
            }),
        },
        Case {
            name: "indirect: the list is read once (big-endian)",
            rule: "§7 item 16: list entries are big-endian; LoPAR: copied to a private buffer",
            prepare: |w| {
                list(w, 0, &[DATA | 1]);
            },
            act: Act::Hcall(|_| indirect(VIO, 0x7000, LIST, 1)),
            expect: Expect::H(OK),
            effect: Effect::Check(|_, b, a| {
                let mut e = b.entries_of(VIO);
                e.push((7, DATA | 1));
                e.sort_unstable();
                (a.entries_of(VIO) == e).then_some(()).ok_or_else(|| format!("{:x?}", a.entries_of(VIO)))
            }),
        },
    ]
}
