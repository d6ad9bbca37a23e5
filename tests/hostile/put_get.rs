// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! H_PUT_TCE and H_GET_TCE (kernel-host.md §1.5, §1.8, §7 items 5, 7, 12, 13, 15, 44;
//! qemu-and-guest.md §2.2, §2.3; LoPAR 2.9 §14.5.4.2.1–2).

use spapr_tce::fuzzing::layout::{
    HOLE, PE0_DDW, PE0_DEFAULT, PE1_DEFAULT, RAM_END, REGION_A, REGION_B, VIO,
};
use spapr_tce::fuzzing::World;
use vfio_spapr::DmaAccess;

use super::*;

const WINDOW_END: u64 = 1 << 30;
/// Entry 1 of the default windows.
const IOBA1: u64 = 0x1000;

fn unchanged_except_entry(
    world: &World,
    before: &Snapshot,
    after: &Snapshot,
    index: u64,
    value: u64,
    hw_access: Option<DmaAccess>,
) -> Result<(), String> {
    let mut expected = before.entries_of(PE0_DEFAULT);
    expected.retain(|&(i, _)| i != index);
    if value != 0 {
        expected.push((index, value));
        expected.sort_unstable();
    }
    if after.entries_of(PE0_DEFAULT) != expected {
        return Err(format!("entries {:x?}", after.entries_of(PE0_DEFAULT)));
    }
    let found = world.containers[0].hw_entry(index * PAGE).map(|e| e.access);
    if found != hw_access {
        return Err(format!(
            "hardware at entry {index}: {found:?}, expected {hw_access:?}"
        ));
    }
    Ok(())
}

/// Host address and length of RAM region A.
fn region_a(world: &World) -> (u64, u64) {
    let region = world.acc.ram().regions()[0];
    (region.host_addr.expect("mapped"), region.len)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "put: unknown LIOBN",
            rule:
                "LoPAR §14.5.4.2.1 / QEMU: unknown LIOBN -> H_PARAMETER (KVM punts it, §7 item 5)",
            prepare: nothing,
            act: Act::Hcall(|_| put(Liobn(0x8000_0002), 0x1000, DATA | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: LIOBN with bits above 32",
            rule: "QEMU h_put_tce: LIOBN > 32 bits -> H_PARAMETER (qemu-and-guest.md §2.2)",
            prepare: nothing,
            act: Act::Hcall(|_| put(Liobn(0x1_8000_0000), 0x1000, DATA | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: DDW LIOBN before any create",
            rule: "a window that does not exist is an unknown LIOBN: H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DDW, 1 << 59, DATA | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: LIOBN of a removed window",
            rule: "after ibm,remove-pe-dma-window the LIOBN names no window: H_PARAMETER",
            prepare: |w| {
                let (liobn, _) = create_ddw(w, 0, 16, 30);
                remove_window(w, liobn);
            },
            act: Act::Hcall(|_| put(PE0_DDW, 1 << 59, DATA | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: LIOBN of the removed default window",
            rule: "removing the default window frees its LIOBN: H_PARAMETER",
            prepare: |w| {
                let (liobn, _) = create_ddw(w, 1, 16, 30);
                assert_eq!(liobn, spapr_tce::fuzzing::layout::PE1_DDW);
                remove_window(w, PE1_DEFAULT);
            },
            act: Act::Hcall(|_| put(PE1_DEFAULT, 0x2000, DATA | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: ioba not page aligned",
            rule: "kernel-host.md §1.4 ioba rule 1, §7 item 7: H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, 0x1008, DATA | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: ioba one byte below a page",
            rule: "§7 item 7: misaligned ioba -> H_PARAMETER (no silent rounding as in QEMU)",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, MAPPED_IOBA - 1, DATA | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: ioba at the window end",
            rule: "§1.4 ioba rule 3: first entry beyond the window -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, WINDOW_END, DATA | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: ioba that wraps the address space",
            rule: "§7 item 8: overflowing bus addresses -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, !0xFFF_u64, DATA | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: ioba below a DDW at 2^59",
            rule: "§1.4 ioba rule 2: below the window -> H_PARAMETER",
            prepare: |w| {
                create_ddw(w, 0, 16, 30);
            },
            act: Act::Hcall(|_| put(PE0_DDW, (1 << 59) - 0x1_0000, DATA | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: TCE above the end of RAM",
            rule: "LoPAR: logical address outside the partition -> H_PARAMETER (KVM: no memslot)",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, IOBA1, RAM_END | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: TCE into the hole between regions (MMIO)",
            rule: "LoPAR: not a logical page of the partition -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, IOBA1, HOLE.0 | 1)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: TCE at the top of the address space",
            rule: "LoPAR: outside the partition -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, IOBA1, u64::MAX)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: misaligned TCE address",
            rule: "§7 item 12: address bits below the page size with R/W -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, IOBA1, (DATA + 0x800) | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: 4K-aligned TCE in a 64K-page DDW",
            rule: "§7 item 12: the TCE must be aligned to the window's page -> H_PARAMETER",
            prepare: |w| {
                create_ddw(w, 0, 16, 30);
            },
            act: Act::Hcall(|_| put(PE0_DDW, 1 << 59, (DATA + 0x1000) | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: 16M page starting in the hole",
            rule: "LoPAR: the whole page must be a logical page of the partition -> H_PARAMETER",
            prepare: |w| {
                create_ddw(w, 0, 24, 34);
            },
            act: Act::Hcall(|_| put(PE0_DDW, 1 << 59, HOLE.0 | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: emulated VIO window, TCE in the hole",
            rule: "the same RAM rule holds for emulated windows (LoPAR) -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| put(VIO, 0x1000, HOLE.0 | 3)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "put: write-only TCE is allowed",
            rule: "§2.1: W-only is a valid direction; PowerNV stores it as R|W (§7 item 44)",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, IOBA1, DATA | 2)),
            expect: Expect::H(OK),
            effect: Effect::Check(|w, b, a| {
                unchanged_except_entry(w, b, a, 1, DATA | 2, Some(DmaAccess::ReadWrite))
            }),
        },
        Case {
            name: "put: read-only TCE maps read-only",
            rule: "§2.1: R-only -> DMA_TO_DEVICE, hardware read-only",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, IOBA1, DATA | 1)),
            expect: Expect::H(OK),
            effect: Effect::Check(|w, b, a| {
                unchanged_except_entry(w, b, a, 1, DATA | 1, Some(DmaAccess::Read))
            }),
        },
        Case {
            name: "put: last page of RAM",
            rule: "the last page of a region is RAM: accepted",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, IOBA1, (RAM_END - PAGE) | 3)),
            expect: Expect::H(OK),
            effect: Effect::Check(|w, b, a| {
                unchanged_except_entry(w, b, a, 1, (RAM_END - PAGE) | 3, Some(DmaAccess::ReadWrite))
            }),
        },
        Case {
            name: "put: permission-less junk is stored verbatim and unmaps",
            rule: "§7 item 13: no R/W -> accepted whatever the other bits, stored verbatim, unmaps",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE0_DEFAULT, MAPPED_IOBA, 0xdead_beef_0000_0ffc)),
            expect: Expect::H(OK),
            effect: Effect::Check(|w, b, a| {
                unchanged_except_entry(w, b, a, MAPPED_IOBA / PAGE, 0xdead_beef_0000_0ffc, None)
            }),
        },
        Case {
            name: "put: TCE the host refuses (registration gone behind our back)",
            rule: "a host MAP_DMA failure (EINVAL) is H_HARDWARE with the entry unchanged \
                   (qemu-and-guest.md §6 item 3: never report success for a failed map)",
            prepare: |w| {
                // Region A loses its only mapping, then both containers drop it: the kernel
                // unpins it while the accelerator still believes it registered.
                assert_eq!(w.put(PE1_DEFAULT, 0x2000, 0), OK);
                let (vaddr, len) = region_a(w);
                for c in &w.containers {
                    c.unregister_memory(vaddr, len)
                        .expect("unregister region A");
                }
            },
            act: Act::Hcall(|_| put(PE0_DEFAULT, IOBA1, DATA | 3)),
            expect: Expect::H(HcallStatus::HARDWARE),
            effect: Effect::Check(|w, b, a| {
                let ok =
                    a.entries == b.entries && a.hw == b.hw && a.registrations == b.registrations;
                // Give region A back so that the runner's checks and shutdown see a sane host.
                let (vaddr, len) = region_a(w);
                for c in &w.containers {
                    c.register_memory(vaddr, len)
                        .expect("register region A again");
                }
                ok.then_some(())
                    .ok_or_else(|| "guest view or hardware changed".into())
            }),
        },
        Case {
            name: "get: ioba not page aligned",
            rule: "§1.8: kvmppc_ioba_validate -> H_PARAMETER, nothing in r4",
            prepare: nothing,
            act: Act::Hcall(|_| get(PE0_DEFAULT, MAPPED_IOBA + 4)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "get: ioba at the window end",
            rule: "§1.8 -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| get(PE0_DEFAULT, WINDOW_END)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "get: unknown LIOBN",
            rule: "LoPAR / QEMU -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| get(Liobn(u64::MAX), 0)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
        Case {
            name: "get: never written entry reads 0",
            rule: "§7 item 15: 0 for never-written entries",
            prepare: nothing,
            act: Act::Hcall(|_| get(PE0_DEFAULT, WINDOW_END - PAGE)),
            expect: Expect::Get(0),
            effect: Effect::Unchanged,
        },
        Case {
            name: "get: returns the stored value, not hardware's",
            rule: "§7 items 15, 44: the guest view (W-only) is returned, not hardware's R|W",
            prepare: |w| assert_eq!(w.put(VIO, 0x5000, DATA | 2), OK),
            act: Act::Hcall(|_| get(VIO, 0x5000)),
            expect: Expect::Get(DATA | 2),
            effect: Effect::Unchanged,
        },
        Case {
            name: "get: verbatim permission-less junk",
            rule: "§7 item 13: H_GET_TCE returns the junk value stored",
            prepare: |w| assert_eq!(w.put(PE0_DEFAULT, 0x9000, 0x1234_5678_9abc_def0), OK),
            act: Act::Hcall(|_| get(PE0_DEFAULT, 0x9000)),
            expect: Expect::Get(0x1234_5678_9abc_def0),
            effect: Effect::Unchanged,
        },
        Case {
            name: "raw: other hypercall numbers are not ours",
            rule: "handle_hcall claims only the four TCE hcalls and H_RTAS (§7 item 1)",
            prepare: nothing,
            act: Act::Raw(0x21, [u64::MAX; 9]),
            expect: Expect::NotOurs,
            effect: Effect::Unchanged,
        },
        Case {
            name: "raw: H_PUT_TCE with garbage in unused registers",
            rule: "§1.2: only r4..r6 are arguments; r7..r12 are ignored",
            prepare: nothing,
            act: Act::Raw(0x20, [PE0_DEFAULT.0, 0x1000, DATA | 3, 7, 7, 7, 7, 7, 7]),
            expect: Expect::H(OK),
            effect: Effect::Check(|w, b, a| {
                unchanged_except_entry(w, b, a, 1, DATA | 3, Some(DmaAccess::ReadWrite))
            }),
        },
    ]
    .into_iter()
    .chain(region_edges())
    .collect()
}

/// Pages at the edges of both RAM regions, through the emulated PE 1 window.
fn region_edges() -> Vec<Case> {
    vec![
        Case {
            name: "put: first page of region B (after the hole)",
            rule: "RAM right after a hole is RAM: accepted",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE1_DEFAULT, 0x8000, REGION_B.0 | 3)),
            expect: Expect::H(OK),
            effect: Effect::Check(|_, b, a| {
                let mut e = b.entries_of(PE1_DEFAULT);
                e.push((8, REGION_B.0 | 3));
                e.sort_unstable();
                (a.entries_of(PE1_DEFAULT) == e)
                    .then_some(())
                    .ok_or_else(|| format!("{a:x?}"))
            }),
        },
        Case {
            name: "put: first page of the hole (end of region A)",
            rule: "LoPAR: not RAM -> H_PARAMETER",
            prepare: nothing,
            act: Act::Hcall(|_| put(PE1_DEFAULT, 0x8000, (REGION_A.0 + REGION_A.1) | 2)),
            expect: Expect::H(P),
            effect: Effect::Unchanged,
        },
    ]
}
