// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The seed inputs committed under `fuzz/corpus/<target>/seed-<name>`, written from
//! operations so they stay meaningful when the encoding changes (`tests/fuzz_corpus.rs`
//! checks the committed files against these and rewrites them with
//! `SPAPR_TCE_WRITE_SEEDS=1`).

use vfio_spapr::IommuOp;

use super::ops::{FaultSpec, ListFill, Op, RtasKind, RtasOp};
use super::ops_codec::encode_ops;
use super::select::{CountSel, GpaSel, IobaSel, LiobnSel, PeSel, ShiftSel, TceSel};
use super::source::ByteSink;

/// One seed input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed {
    /// The fuzz target: `decode`, `stateful` or `faults`.
    pub target: &'static str,
    /// File name without the `seed-` prefix.
    pub name: &'static str,
    /// The input.
    pub data: Vec<u8>,
}

const PE0: LiobnSel = LiobnSel::Known(0);
const PE0_DDW: LiobnSel = LiobnSel::Known(1);
const PE1: LiobnSel = LiobnSel::Known(2);
const PE1_DDW: LiobnSel = LiobnSel::Known(3);
const VIO: LiobnSel = LiobnSel::Known(4);

fn page(region: u8, n: u16, permission: u8) -> TceSel {
    TceSel::Page {
        gpa: GpaSel::Ram(region, n),
        permission,
    }
}

fn linear_list(slot: u16, page_of: LiobnSel, first: TceSel, count: u16) -> Op {
    Op::WriteList {
        list: GpaSel::Ram(0, 256 + slot),
        page_of,
        fill: ListFill::Linear {
            first,
            count,
            step: 1,
        },
    }
}

fn indirect(liobn: LiobnSel, ioba: IobaSel, slot: u16, count: CountSel) -> Op {
    Op::Indirect {
        liobn,
        ioba,
        list: GpaSel::Ram(0, 256 + slot),
        count,
    }
}

fn rtas(kind: RtasKind) -> Op {
    Op::Rtas(RtasOp {
        buffer: GpaSel::Zero,
        offset: 0,
        kind,
        nargs_lie: None,
        nret_lie: None,
        via_hcall: false,
    })
}

fn create(pe: u8, page_shift: u8, window_shift: u8) -> Op {
    rtas(RtasKind::Create {
        pe: PeSel::Known(pe),
        page_shift: ShiftSel::Listed(page_shift),
        window_shift: ShiftSel::Listed(window_shift),
    })
}

fn remove(liobn: LiobnSel) -> Op {
    rtas(RtasKind::Remove { liobn })
}

fn query(pe: u8) -> Op {
    rtas(RtasKind::Query {
        pe: PeSel::Known(pe),
        six: true,
    })
}

fn fault(container: u8, op: IommuOp, nth: u8, errno: i32) -> Op {
    Op::Fault(FaultSpec {
        container,
        op,
        nth,
        errno,
    })
}

/// What a Linux guest does at boot: map a run with H_PUT_TCE_INDIRECT, single pages with
/// H_PUT_TCE, read back, clear with H_STUFF_TCE.
fn linux_like() -> Vec<Op> {
    vec![
        linear_list(0, PE0, page(0, 2048, 3), 512),
        indirect(PE0, IobaSel::Entry(0), 0, CountSel::Max),
        Op::Put {
            liobn: PE1,
            ioba: IobaSel::Entry(7),
            tce: page(1, 9, 1),
        },
        Op::Get {
            liobn: PE0,
            ioba: IobaSel::Entry(511),
        },
        Op::Stuff {
            liobn: PE0,
            ioba: IobaSel::Entry(100),
            value: TceSel::Raw(0),
            count: CountSel::Small(200),
        },
        Op::Put {
            liobn: VIO,
            ioba: IobaSel::Last,
            tce: page(1, 0, 2),
        },
    ]
}

/// QEMU's DDW flow: query, create a 64 KiB-page window, map through it, remove, reset.
fn ddw_lifecycle() -> Vec<Op> {
    vec![
        query(0),
        create(0, 1, 9),
        query(0),
        linear_list(1, PE0_DDW, page(1, 0, 3), 64),
        indirect(PE0_DDW, IobaSel::Entry(3), 1, CountSel::Small(64)),
        remove(PE0_DDW),
        create(0, 3, 9),
        linear_list(2, PE0_DDW, page(1, 0, 3), 2),
        indirect(PE0_DDW, IobaSel::Entry(0), 2, CountSel::Small(2)),
        rtas(RtasKind::Reset {
            pe: PeSel::Known(0),
            flags: None,
        }),
        remove(PE1),
        create(1, 2, 9),
        Op::Put {
            liobn: PE1_DDW,
            ioba: IobaSel::Entry(1),
            tce: page(1, 1, 3),
        },
        remove(PE1_DDW),
    ]
}

/// Hypercalls the rules refuse, each next to an accepted twin.
fn hostile_hcalls() -> Vec<Op> {
    let put = |ioba, tce| Op::Put {
        liobn: PE0,
        ioba,
        tce,
    };
    vec![
        put(IobaSel::Misaligned(1, 8), page(0, 1, 3)),
        put(IobaSel::PastEnd, page(0, 1, 3)),
        put(IobaSel::Far(63), page(0, 1, 3)),
        put(
            IobaSel::Entry(1),
            TceSel::Page {
                gpa: GpaSel::Hole,
                permission: 3,
            },
        ),
        put(
            IobaSel::Entry(1),
            TceSel::Page {
                gpa: GpaSel::BeyondRam,
                permission: 1,
            },
        ),
        put(
            IobaSel::Entry(1),
            TceSel::Page {
                gpa: GpaSel::Misaligned(1, 0x800),
                permission: 2,
            },
        ),
        put(IobaSel::Entry(1), TceSel::Raw(u64::MAX)),
        Op::Stuff {
            liobn: PE0,
            ioba: IobaSel::Entry(0),
            value: TceSel::Raw(0),
            count: CountSel::OverMax,
        },
        Op::Stuff {
            liobn: PE0,
            ioba: IobaSel::Last,
            value: TceSel::Raw(0),
            count: CountSel::PastEnd,
        },
        Op::Stuff {
            liobn: PE0,
            ioba: IobaSel::Entry(0),
            value: page(0, 1, 3),
            count: CountSel::Small(1),
        },
        Op::Indirect {
            liobn: PE0,
            ioba: IobaSel::Entry(0),
            list: GpaSel::Hole,
            count: CountSel::Small(1),
        },
        Op::Indirect {
            liobn: PE0,
            ioba: IobaSel::Entry(0),
            list: GpaSel::Misaligned(0, 8),
            count: CountSel::Small(1),
        },
        Op::Indirect {
            liobn: PE0,
            ioba: IobaSel::Entry(0),
            list: GpaSel::RegionLast(1),
            count: CountSel::Max,
        },
        Op::Get {
            liobn: LiobnSel::Known(6),
            ioba: IobaSel::Entry(0),
        },
        Op::Get {
            liobn: PE1_DDW,
            ioba: IobaSel::Entry(0),
        },
    ]
}

/// RTAS buffers that lie about their shape, hang off RAM, or use foreign tokens.
fn hostile_rtas() -> Vec<Op> {
    let op = |buffer, offset, kind, nargs_lie, nret_lie, via_hcall| {
        Op::Rtas(RtasOp {
            buffer,
            offset,
            kind,
            nargs_lie,
            nret_lie,
            via_hcall,
        })
    };
    let create_kind = RtasKind::Create {
        pe: PeSel::Known(0),
        page_shift: ShiftSel::Listed(0),
        window_shift: ShiftSel::Listed(9),
    };
    vec![
        op(GpaSel::Zero, 0, create_kind.clone(), Some(4), None, false),
        op(GpaSel::Zero, 0, create_kind.clone(), None, Some(17), true),
        op(
            GpaSel::RegionLast(0),
            4090,
            create_kind.clone(),
            None,
            None,
            false,
        ),
        op(GpaSel::Hole, 0, create_kind.clone(), None, None, true),
        op(GpaSel::Raw(u64::MAX - 3), 0, create_kind, None, None, false),
        op(
            GpaSel::Zero,
            3,
            RtasKind::Other {
                token: 0x2001,
                args: vec![1, 2],
                nret: 1,
            },
            None,
            None,
            true,
        ),
        op(
            GpaSel::Zero,
            0,
            RtasKind::Reset {
                pe: PeSel::Known(1),
                flags: Some(1),
            },
            None,
            None,
            false,
        ),
        op(
            GpaSel::Zero,
            0,
            RtasKind::Create {
                pe: PeSel::UnknownBuid,
                page_shift: ShiftSel::Listed(1),
                window_shift: ShiftSel::Raw(64),
            },
            None,
            None,
            false,
        ),
        Op::RawHcall {
            nr: 0xF000,
            args: [0x20_0000, 0, 0, 0, 0, 0, 0, 0, 0],
        },
        Op::RawHcall {
            nr: 0x4,
            args: [1; 9],
        },
    ]
}

/// Host failures during mapping, rollback, window creation and removal.
fn faults() -> Vec<Op> {
    let mut ops = vec![
        linear_list(0, PE0, page(0, 0, 3), 32),
        fault(0, IommuOp::MapDma, 1, libc::ENOMEM),
        indirect(PE0, IobaSel::Entry(0), 0, CountSel::Small(32)),
        indirect(PE0, IobaSel::Entry(0), 0, CountSel::Small(32)),
        fault(0, IommuOp::UnmapDma, 1, libc::EIO),
        Op::Stuff {
            liobn: PE0,
            ioba: IobaSel::Entry(0),
            value: TceSel::Raw(0),
            count: CountSel::Small(16),
        },
        fault(1, IommuOp::CreateWindow, 1, libc::ENOSPC),
        create(1, 1, 9),
        create(1, 1, 9),
        fault(1, IommuOp::RemoveWindow, 1, libc::EBUSY),
        remove(PE1_DDW),
        remove(PE1_DDW),
    ];
    // A failure whose rollback fails too: the accelerator's documented limit.
    ops.extend([
        linear_list(1, PE1, page(1, 0, 3), 8),
        fault(1, IommuOp::MapDma, 1, libc::EINVAL),
        fault(1, IommuOp::UnmapDma, 1, libc::EIO),
        indirect(PE1, IobaSel::Entry(0), 1, CountSel::Small(8)),
    ]);
    ops
}

fn hotplug(region: u8, add: bool, unmap_first: bool) -> Op {
    Op::Hotplug {
        region,
        add,
        unmap_first,
    }
}

/// Hot-add a region, map into it, refuse and force its removal; remove boot RAM.
fn memory_hotplug() -> Vec<Op> {
    let into_hotplug = TceSel::Raw(super::layout::HOTPLUG.0 | 3);
    let put_pe1 = Op::Put {
        liobn: PE1,
        ioba: IobaSel::Entry(3),
        tce: page(0, 5, 3),
    };
    vec![
        Op::Put {
            liobn: PE0,
            ioba: IobaSel::Entry(1),
            tce: into_hotplug,
        },
        hotplug(2, true, false),
        hotplug(2, true, false),
        linear_list(0, PE0, into_hotplug, 16),
        indirect(PE0, IobaSel::Entry(16), 0, CountSel::Small(16)),
        Op::Put {
            liobn: VIO,
            ioba: IobaSel::Entry(2),
            tce: into_hotplug,
        },
        hotplug(2, false, false),
        hotplug(2, false, true),
        hotplug(2, false, true),
        put_pe1.clone(),
        hotplug(0, false, false),
        hotplug(0, false, true),
        put_pe1.clone(),
        hotplug(0, true, false),
        put_pe1,
        hotplug(2, true, false),
    ]
}

fn decode_seed(steps: impl FnOnce(&mut ByteSink)) -> Vec<u8> {
    let mut sink = ByteSink::default();
    steps(&mut sink);
    sink.into_bytes()
}

/// Every seed, by target.
pub fn all() -> Vec<Seed> {
    let seed = |target, name, data| Seed { target, name, data };
    let with_setup_byte = |byte: u8, ops: &[Op]| {
        let mut data = vec![byte];
        data.extend(encode_ops(ops));
        data
    };
    vec![
        seed(
            "decode",
            "put-tce-registers",
            decode_seed(|s| {
                s.u8(0);
                s.u8(0);
                [0x8000_0000u64, 0x1000, 0x10_0003, 0, 0, 0, 0, 0, 0]
                    .iter()
                    .for_each(|&a| s.u64(a));
                s.u64(0);
                s.flag(false);
            }),
        ),
        seed(
            "decode",
            "create-buffer",
            decode_seed(|s| {
                s.u8(1);
                s.u16(0x100);
                s.u8(0);
                let cells = [0x2027u32, 5, 4, 0, 0x0800_0000, 0x2000_0000, 16, 30];
                s.u8((cells.len() * 4) as u8);
                cells
                    .iter()
                    .flat_map(|c| c.to_be_bytes())
                    .for_each(|b| s.u8(b));
                s.u8(4);
                [0u32, 0x8000_0001, 0x0800_0000, 0]
                    .iter()
                    .for_each(|&c| s.u32(c));
            }),
        ),
        seed(
            "decode",
            "ddw-values",
            decode_seed(|s| {
                s.u8(2);
                s.u32(1);
                s.u64(1 << 37);
                s.u32(0x107);
                s.u32(0);
                s.u32(0x8000_0001);
                s.u64(1 << 59);
                s.u8(3);
                [2u32, 0x2029, 1].iter().for_each(|&c| s.u32(c));
                s.u32(0x1FF);
                s.u32(24);
                s.u64(0x100_0003);
                s.u32(9900);
            }),
        ),
        seed("stateful", "linux-like", encode_ops(&linux_like())),
        seed("stateful", "ddw-lifecycle", encode_ops(&ddw_lifecycle())),
        seed("stateful", "hostile-hcalls", encode_ops(&hostile_hcalls())),
        seed("stateful", "hostile-rtas", encode_ops(&hostile_rtas())),
        seed("stateful", "memory-hotplug", encode_ops(&memory_hotplug())),
        seed(
            "faults",
            "hotplug-with-failures",
            with_setup_byte(0, &{
                let mut ops = memory_hotplug();
                ops.insert(1, fault(0, IommuOp::RegisterMemory, 1, libc::ENOMEM));
                ops.insert(3, fault(1, IommuOp::RegisterMemory, 1, libc::EFAULT));
                ops.insert(9, fault(0, IommuOp::UnmapDma, 1, libc::EIO));
                ops.insert(11, fault(1, IommuOp::UnregisterMemory, 1, libc::EBUSY));
                ops
            }),
        ),
        seed("faults", "host-failures", with_setup_byte(0, &faults())),
        seed(
            "faults",
            "ddw-with-failures",
            with_setup_byte(0, &{
                let mut ops = ddw_lifecycle();
                ops.insert(1, fault(0, IommuOp::CreateWindow, 2, libc::ENOMEM));
                ops.insert(5, fault(0, IommuOp::MapDma, 1, libc::EFAULT));
                ops
            }),
        ),
        seed(
            "faults",
            "setup-get-info",
            with_setup_byte(0x80, &linux_like()),
        ),
        seed(
            "faults",
            "setup-register",
            with_setup_byte(0x83, &linux_like()),
        ),
        seed(
            "faults",
            "setup-remove-default",
            with_setup_byte(0x84, &linux_like()),
        ),
        seed(
            "faults",
            "setup-create-default",
            with_setup_byte(0x87, &linux_like()),
        ),
    ]
}
