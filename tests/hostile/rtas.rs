// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The DDW RTAS calls with hostile buffers and arguments (qemu-and-guest.md §2.1, §2.6–§2.9,
//! §0 fact 9, §6 items 3–4; LoPAR 2.9 `sec_rtas_dma_window.xml`; kernel-host.md Appendix A).

use papr_hcall::rtas::RtasStatus;
use spapr_tce::fuzzing::layout::{
    HOLE, PE0_DDW, PE0_DEFAULT, PE1_DDW, PE1_DEFAULT, RAM_END, REGION_A, RTAS_BUFFER, UNKNOWN_BUID,
    VIO,
};

use super::*;

const QUERY: u32 = 0x2026;
const CREATE: u32 = 0x2027;
const REMOVE: u32 = 0x2028;
const RESET: u32 = 0x2029;

fn create_args(pe: usize, page_shift: u32, window_shift: u32) -> Vec<u32> {
    let mut args = pe_cells(pe).to_vec();
    args.extend([page_shift, window_shift]);
    args
}

fn create_call(w: &World, page_shift: u32, window_shift: u32) -> u64 {
    rtas_call(w, CREATE, &create_args(0, page_shift, window_shift), 4)
}

/// PE 0 ended up with exactly these windows (LIOBN, bus offset, size, page shift), all empty.
fn pe0_windows(after: &Snapshot, expected: &[(Liobn, u64, u64, u32)]) -> Result<(), String> {
    let found: Vec<_> = after
        .windows
        .iter()
        .filter(|w| w.0 == PE0_DEFAULT.0 || w.0 == PE0_DDW.0)
        .copied()
        .collect();
    let expected: Vec<_> = expected
        .iter()
        .map(|&(l, b, s, p)| (l.0, b, s, p))
        .collect();
    if found != expected {
        return Err(format!("PE 0 windows {found:x?}, expected {expected:x?}"));
    }
    let mapped: usize = expected
        .iter()
        .map(|w| after.entries_of(Liobn(w.0)).len())
        .sum();
    if mapped != 0 || after.hw_pages(0) != 0 {
        return Err(format!(
            "{mapped} entries, {} hardware pages left",
            after.hw_pages(0)
        ));
    }
    Ok(())
}

const DEFAULT: (u64, u64, u32) = (0, 1 << 30, 12);

pub fn cases() -> Vec<Case> {
    let mut cases = create_cases();
    cases.extend(buffer_cases());
    cases.extend(remove_reset_cases());
    cases
}

fn create_cases() -> Vec<Case> {
    vec![
        Case {
            name: "create: window shift 0",
            rule: "qemu-and-guest.md §2.7, §0 fact 9: window_shift < page_shift -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| create_call(w, 16, 0)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: window shift 64",
            rule: "LoPAR: too big -> -3 (a 2^64 window does not fit the bus)",
            prepare: nothing,
            act: Act::Rtas(|w| create_call(w, 16, 64)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: window shift u32::MAX",
            rule: "LoPAR: too big -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| create_call(w, 12, u32::MAX)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: window shift above the maximum (55)",
            rule: "LoPAR: larger than the largest block query reports -> -3; a PowerNV table \
                   reaches fewer than 55 bits (kernel-host.md §3.4 TCE_CREATE step 9)",
            prepare: nothing,
            act: Act::Rtas(|w| create_call(w, 16, 55)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: page shift 11",
            rule: "LoPAR: page shift 0..11 invalid -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| create_call(w, 11, 30)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: page shift 20 (1 MiB, not offered)",
            rule: "QEMU: page shift not in pgsz -> -3 (qemu-and-guest.md §2.7)",
            prepare: nothing,
            act: Act::Rtas(|w| create_call(w, 20, 30)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: page shift 34 (16 GiB, not offered)",
            rule: "QEMU: page shift not in pgsz -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| create_call(w, 34, 40)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: unknown BUID",
            rule: "QEMU: BUID not a PHB -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| {
                let args = [0, (UNKNOWN_BUID >> 32) as u32, UNKNOWN_BUID as u32, 16, 30];
                rtas_call(w, CREATE, &args, 4)
            }),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: with two windows present",
            rule: "LoPAR: too many windows -> -3 (QEMU answers -1, qemu-and-guest.md §2.7)",
            prepare: |w| {
                create_ddw(w, 0, 16, 30);
            },
            act: Act::Rtas(|w| create_call(w, 16, 30)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: lying nargs (4 declared, 5 written)",
            rule: "QEMU/LoPAR: nargs != 5 -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| write_rtas(w, RTAS_BUFFER, CREATE, &create_args(0, 16, 30), 4, 4)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: lying nret (3)",
            rule: "QEMU/LoPAR: nret != 4 -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| write_rtas(w, RTAS_BUFFER, CREATE, &create_args(0, 16, 30), 5, 3)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: nret 0 leaves no room for a status",
            rule: "wrong shape -> refused and nothing written (no return cell)",
            prepare: nothing,
            act: Act::Rtas(|w| write_rtas(w, RTAS_BUFFER, CREATE, &create_args(0, 16, 30), 5, 0)),
            expect: Expect::RtasUnwritten(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "create: a valid 64K-page window at 2^59",
            rule: "qemu-and-guest.md §2.7: with the default window active the DDW goes to 2^59",
            prepare: nothing,
            act: Act::Rtas(|w| create_call(w, 16, 32)),
            expect: Expect::Rtas(RTAS_OK),
            effect: Effect::Check(|_, b, a| {
                let windows: Vec<_> = a
                    .windows
                    .iter()
                    .filter(|w| w.0 == PE0_DEFAULT.0 || w.0 == PE0_DDW.0)
                    .copied()
                    .collect();
                let expected = [
                    (PE0_DEFAULT.0, DEFAULT.0, DEFAULT.1, DEFAULT.2),
                    (PE0_DDW.0, 1 << 59, 1 << 32, 16),
                ];
                let ok = windows == expected
                    && a.entries_of(PE0_DDW).is_empty()
                    && a.entries_of(PE0_DEFAULT) == b.entries_of(PE0_DEFAULT)
                    && a.hw == b.hw;
                ok.then_some(())
                    .ok_or_else(|| format!("windows {windows:x?}"))
            }),
        },
    ]
}

fn buffer_cases() -> Vec<Case> {
    vec![
        Case {
            name: "rtas: buffer outside RAM",
            rule: "the buffer must be guest RAM; nothing is done (handle_rtas Err)",
            prepare: nothing,
            act: Act::Rtas(|_| RAM_END + 0x100),
            expect: Expect::RtasBufferError,
            effect: Effect::Unchanged,
        },
        Case {
            name: "rtas: buffer in the hole",
            rule: "not RAM -> buffer error, nothing done",
            prepare: nothing,
            act: Act::Rtas(|_| HOLE.0),
            expect: Expect::RtasBufferError,
            effect: Effect::Unchanged,
        },
        Case {
            name: "rtas: buffer straddling the end of region A",
            rule: "the whole buffer, return cells included, must be RAM (RtasCall::read_from)",
            prepare: nothing,
            act: Act::Rtas(|w| {
                let end = REGION_A.0 + REGION_A.1;
                write_rtas(w, end - 16, CREATE, &create_args(0, 16, 30), 5, 4)
            }),
            expect: Expect::RtasBufferError,
            effect: Effect::Unchanged,
        },
        Case {
            name: "rtas: nargs 17",
            rule: "more than RtasCall::MAX_NARGS -> buffer error",
            prepare: nothing,
            act: Act::Rtas(|w| write_rtas(w, RTAS_BUFFER, CREATE, &[0; 17], 17, 4)),
            expect: Expect::RtasBufferError,
            effect: Effect::Unchanged,
        },
        Case {
            name: "rtas: nret u32::MAX",
            rule: "more than RtasCall::MAX_NRET -> buffer error",
            prepare: nothing,
            act: Act::Rtas(|w| write_rtas(w, RTAS_BUFFER, QUERY, &pe_cells(0), 3, u32::MAX)),
            expect: Expect::RtasBufferError,
            effect: Effect::Unchanged,
        },
        Case {
            name: "rtas: foreign token",
            rule: "other RTAS services belong to the VMM: None, buffer untouched",
            prepare: nothing,
            act: Act::Rtas(|w| rtas_call(w, 0x2001, &[1, 2, 3], 1)),
            expect: Expect::NotOurs,
            effect: Effect::Unchanged,
        },
        Case {
            name: "rtas: via H_RTAS with a bad buffer",
            rule: "handle_hcall(H_RTAS) answers H_PARAMETER for an unusable buffer",
            prepare: nothing,
            act: Act::RtasHcall(|_| u64::MAX - 3),
            expect: Expect::RtasBufferError,
            effect: Effect::Unchanged,
        },
        Case {
            name: "rtas: via H_RTAS, query",
            rule: "H_SUCCESS; the RTAS status is in the buffer (qemu-and-guest.md §2.1)",
            prepare: nothing,
            act: Act::RtasHcall(|w| rtas_call(w, QUERY, &pe_cells(1), 5)),
            expect: Expect::Rtas(RTAS_OK),
            effect: Effect::Unchanged,
        },
        Case {
            name: "query: 6 outputs (advertised)",
            rule: "ibm,ddw-extensions index 2 = 1: nret 6 allowed (qemu-and-guest.md §2.6)",
            prepare: nothing,
            act: Act::Rtas(|w| rtas_call(w, QUERY, &pe_cells(0), 6)),
            expect: Expect::Rtas(RTAS_OK),
            effect: Effect::Unchanged,
        },
        Case {
            name: "query: nret 7",
            rule: "QEMU: nret not 5/6 -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| rtas_call(w, QUERY, &pe_cells(0), 7)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "query: nargs 2",
            rule: "QEMU: nargs != 3 -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| rtas_call(w, QUERY, &pe_cells(0)[..2], 5)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "query: unknown BUID",
            rule: "QEMU: BUID not a PHB -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| {
                rtas_call(
                    w,
                    QUERY,
                    &[0, (UNKNOWN_BUID >> 32) as u32, UNKNOWN_BUID as u32],
                    5,
                )
            }),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
    ]
}

fn remove_reset_cases() -> Vec<Case> {
    vec![
        Case {
            name: "remove: unknown LIOBN",
            rule: "QEMU: LIOBN unknown -> -3 (qemu-and-guest.md §2.8)",
            prepare: nothing,
            act: Act::Rtas(|w| rtas_call(w, REMOVE, &[0x8000_0002], 1)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "remove: VIO window",
            rule: "QEMU: the owner must be a PHB with DDW -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| rtas_call(w, REMOVE, &[VIO.0 as u32], 1)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "remove: DDW never created",
            rule: "QEMU: window not enabled -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| rtas_call(w, REMOVE, &[PE0_DDW.0 as u32], 1)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "remove: twice",
            rule: "the second remove names a disabled window -> -3",
            prepare: |w| {
                create_ddw(w, 1, 16, 30);
                remove_window(w, PE1_DDW);
            },
            act: Act::Rtas(|w| rtas_call(w, REMOVE, &[PE1_DDW.0 as u32], 1)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "remove: lying nret 2",
            rule: "QEMU: nargs/nret != 1/1 -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| rtas_call(w, REMOVE, &[PE0_DEFAULT.0 as u32], 2)),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "remove: the default window",
            rule: "QEMU/LoPAR: the default window may be removed (guests do, to make room); \
                   it is not restored since it was the default (qemu-and-guest.md §2.8)",
            prepare: nothing,
            act: Act::Rtas(|w| rtas_call(w, REMOVE, &[PE0_DEFAULT.0 as u32], 1)),
            expect: Expect::Rtas(RTAS_OK),
            effect: Effect::Check(|_, _, a| pe0_windows(a, &[])),
        },
        Case {
            name: "remove: a DDW while it still maps pages",
            rule: "QEMU removes without checking it is empty (§2.8); every hardware entry and \
                   its registration reference must go with it",
            prepare: |w| {
                let (liobn, start) = create_ddw(w, 0, 16, 30);
                let address = list(w, 1, &[DATA | 3, (DATA + 0x1_0000) | 3]);
                assert_eq!(w.indirect(liobn, start, address, 2), OK);
            },
            act: Act::Rtas(|w| rtas_call(w, REMOVE, &[PE0_DDW.0 as u32], 1)),
            expect: Expect::Rtas(RTAS_OK),
            effect: Effect::Check(|_, b, a| {
                let default_kept = a.entries_of(PE0_DEFAULT) == b.entries_of(PE0_DEFAULT);
                let gone =
                    !a.has_window(PE0_DDW) && a.hw_pages(0) == 8 && a.host_windows[0].len() == 1;
                let refs = |s: &Snapshot| s.registrations.iter().map(|r| r.mapped).sum::<u64>();
                let released = b.hw_pages(0) - a.hw_pages(0);
                // Two 64 KiB guest pages, in host IOMMU pages of the DDW's host window.
                let host_shift = b.host_windows[0]
                    .iter()
                    .find(|w| w.start == 1 << 59)
                    .map_or(0, |w| w.page_shift);
                let expected = 2 * ((1u64 << 16) >> host_shift);
                (default_kept && gone && released == expected && refs(a) == refs(b) - released)
                    .then_some(())
                    .ok_or_else(|| format!("{a:#x?}"))
            }),
        },
        Case {
            name: "remove: the last DDW restores the default window",
            rule: "LoPAR/QEMU: removing the last window, not the default, restores the default \
                   (qemu-and-guest.md §2.8)",
            prepare: |w| {
                remove_window(w, PE0_DEFAULT);
                create_ddw(w, 0, 24, 34);
            },
            act: Act::Rtas(|w| rtas_call(w, REMOVE, &[PE0_DDW.0 as u32], 1)),
            expect: Expect::Rtas(RTAS_OK),
            effect: Effect::Check(|_, _, a| {
                pe0_windows(a, &[(PE0_DEFAULT, DEFAULT.0, DEFAULT.1, DEFAULT.2)])
            }),
        },
        Case {
            name: "reset: with mappings in both windows",
            rule: "qemu-and-guest.md §2.9: remove every DDW, restore the default window",
            prepare: |w| {
                let (liobn, start) = create_ddw(w, 0, 16, 30);
                assert_eq!(w.put(liobn, start, DATA | 3), OK);
            },
            act: Act::Rtas(|w| rtas_call(w, RESET, &pe_cells(0), 1)),
            expect: Expect::Rtas(RTAS_OK),
            effect: Effect::Check(|_, _, a| {
                pe0_windows(a, &[(PE0_DEFAULT, DEFAULT.0, DEFAULT.1, DEFAULT.2)])
            }),
        },
        Case {
            name: "reset: twice",
            rule: "§2.9: a reset of a reset PE is again success with only the default window",
            prepare: |w| {
                let buffer = rtas_call(w, RESET, &pe_cells(0), 1);
                assert!(matches!(
                    w.acc.handle_rtas(GuestAddress(buffer)),
                    Some(Ok(RtasStatus::SUCCESS))
                ));
            },
            act: Act::Rtas(|w| rtas_call(w, RESET, &pe_cells(0), 1)),
            expect: Expect::Rtas(RTAS_OK),
            effect: Effect::Check(|_, _, a| {
                pe0_windows(a, &[(PE0_DEFAULT, DEFAULT.0, DEFAULT.1, DEFAULT.2)])
            }),
        },
        Case {
            name: "reset: 4-argument form not advertised",
            rule:
                "QEMU does not advertise ddw-extensions index 3: the 4-argument form -> -3 (§2.9)",
            prepare: nothing,
            act: Act::Rtas(|w| {
                let [c, hi, lo] = pe_cells(0);
                rtas_call(w, RESET, &[c, hi, lo, 1], 1)
            }),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "reset: unknown BUID",
            rule: "QEMU: BUID not a PHB -> -3",
            prepare: nothing,
            act: Act::Rtas(|w| {
                rtas_call(
                    w,
                    RESET,
                    &[0, (UNKNOWN_BUID >> 32) as u32, UNKNOWN_BUID as u32],
                    1,
                )
            }),
            expect: Expect::Rtas(RTAS_PARAM),
            effect: Effect::Unchanged,
        },
        Case {
            name: "reset: PE 1 leaves PE 0 alone",
            rule: "DDW state is per PE (qemu-and-guest.md §6 item 11)",
            prepare: nothing,
            act: Act::Rtas(|w| rtas_call(w, RESET, &pe_cells(1), 1)),
            expect: Expect::Rtas(RTAS_OK),
            effect: Effect::Check(|_, b, a| {
                let pe0_same =
                    a.entries_of(PE0_DEFAULT) == b.entries_of(PE0_DEFAULT) && a.hw[0] == b.hw[0];
                let pe1_empty = a.entries_of(PE1_DEFAULT).is_empty() && a.has_window(PE1_DEFAULT);
                (pe0_same && pe1_empty)
                    .then_some(())
                    .ok_or_else(|| format!("{a:#x?}"))
            }),
        },
    ]
}
