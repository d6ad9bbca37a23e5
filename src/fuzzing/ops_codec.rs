// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The byte encoding of [`Op`]s: every byte string decodes (the fuzzers' input), and
//! [`encode_ops`] writes what [`decode_ops`] reads back (the seeds).

use super::ops::{
    FaultSpec, ListFill, Op, RtasKind, RtasOp, FAULT_ERRNOS, FAULT_OPS, MAX_LIST_TCES, MAX_OPS,
};
use super::select::{Codec, CountSel, GpaSel, IobaSel, LiobnSel, PeSel, ShiftSel, TceSel};
use super::source::{ByteSink, ByteSource};

/// Hypercall numbers a [`Op::RawHcall`] picks from before falling back to any value.
const RAW_OPCODES: [u64; 6] = [0x20, 0x1C, 0x138, 0x13C, 0xF000, 0x4];

impl Codec for ListFill {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        if source.flag() {
            Self::Linear {
                first: TceSel::decode(source),
                count: source.u16() % (MAX_LIST_TCES + 1),
                step: source.u8(),
            }
        } else {
            let count = source.u8() % 64;
            Self::Explicit((0..count).map(|_| TceSel::decode(source)).collect())
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        match self {
            Self::Linear { first, count, step } => {
                sink.flag(true);
                first.encode(sink);
                sink.u16(*count % (MAX_LIST_TCES + 1));
                sink.u8(*step);
            }
            Self::Explicit(tces) => {
                sink.flag(false);
                let tces = &tces[..tces.len().min(63)];
                sink.u8(tces.len() as u8);
                tces.iter().for_each(|tce| tce.encode(sink));
            }
        }
    }
}

fn decode_opt_u32(source: &mut ByteSource<'_>) -> Option<u32> {
    source.flag().then(|| source.u32())
}

fn encode_opt_u32(sink: &mut ByteSink, value: Option<u32>) {
    sink.flag(value.is_some());
    if let Some(value) = value {
        sink.u32(value);
    }
}

impl Codec for RtasKind {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        match source.u8() % 6 {
            0 => Self::Query {
                pe: PeSel::decode(source),
                six: source.flag(),
            },
            1 | 2 => Self::Create {
                pe: PeSel::decode(source),
                page_shift: ShiftSel::decode(source),
                window_shift: ShiftSel::decode(source),
            },
            3 => Self::Remove {
                liobn: LiobnSel::decode(source),
            },
            4 => Self::Reset {
                pe: PeSel::decode(source),
                flags: decode_opt_u32(source),
            },
            _ => {
                let token = source.u32();
                let count = source.u8() % 17;
                let args = (0..count).map(|_| source.u32()).collect();
                Self::Other {
                    token,
                    args,
                    nret: source.u8() % 17,
                }
            }
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        match self {
            Self::Query { pe, six } => {
                sink.u8(0);
                pe.encode(sink);
                sink.flag(*six);
            }
            Self::Create {
                pe,
                page_shift,
                window_shift,
            } => {
                sink.u8(1);
                pe.encode(sink);
                page_shift.encode(sink);
                window_shift.encode(sink);
            }
            Self::Remove { liobn } => {
                sink.u8(3);
                liobn.encode(sink);
            }
            Self::Reset { pe, flags } => {
                sink.u8(4);
                pe.encode(sink);
                encode_opt_u32(sink, *flags);
            }
            Self::Other { token, args, nret } => {
                sink.u8(5);
                sink.u32(*token);
                let args = &args[..args.len().min(16)];
                sink.u8(args.len() as u8);
                args.iter().for_each(|&arg| sink.u32(arg));
                sink.u8(*nret % 17);
            }
        }
    }
}

impl Codec for RtasOp {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        let shape = source.u8();
        let kind = RtasKind::decode(source);
        let buffer = if shape & 1 == 1 {
            GpaSel::decode(source)
        } else {
            GpaSel::Zero
        };
        let offset = if shape & 2 == 2 {
            source.u16() % 4096
        } else {
            0
        };
        Self {
            buffer,
            offset,
            kind,
            nargs_lie: if shape & 4 == 4 {
                Some(source.u32())
            } else {
                None
            },
            nret_lie: if shape & 8 == 8 {
                Some(source.u32())
            } else {
                None
            },
            via_hcall: shape & 16 == 16,
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        let explicit_buffer = self.buffer != GpaSel::Zero;
        let shape = u8::from(explicit_buffer)
            | u8::from(self.offset % 4096 != 0) << 1
            | u8::from(self.nargs_lie.is_some()) << 2
            | u8::from(self.nret_lie.is_some()) << 3
            | u8::from(self.via_hcall) << 4;
        sink.u8(shape);
        self.kind.encode(sink);
        if explicit_buffer {
            self.buffer.encode(sink);
        }
        if self.offset % 4096 != 0 {
            sink.u16(self.offset % 4096);
        }
        if let Some(nargs) = self.nargs_lie {
            sink.u32(nargs);
        }
        if let Some(nret) = self.nret_lie {
            sink.u32(nret);
        }
    }
}

impl Codec for FaultSpec {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        let container = source.u8() % 2;
        let op = FAULT_OPS[usize::from(source.u8()) % FAULT_OPS.len()];
        let nth = source.u8() % 4 + 1;
        let errno_index = source.u8();
        let errno = match FAULT_ERRNOS.get(usize::from(errno_index)) {
            Some(&errno) => errno,
            None if errno_index == u8::MAX => source.u32() as i32,
            None => FAULT_ERRNOS[usize::from(errno_index) % FAULT_ERRNOS.len()],
        };
        Self {
            container,
            op,
            nth,
            errno,
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        sink.u8(self.container % 2);
        let op = FAULT_OPS.iter().position(|&op| op == self.op).unwrap_or(0);
        sink.u8(op as u8);
        sink.u8(self.nth.clamp(1, 4) - 1);
        match FAULT_ERRNOS.iter().position(|&e| e == self.errno) {
            Some(index) => sink.u8(index as u8),
            None => {
                sink.u8(u8::MAX);
                sink.u32(self.errno as u32);
            }
        }
    }
}

impl Codec for Op {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        match source.u8() % 17 {
            0..=2 => Self::Put {
                liobn: LiobnSel::decode(source),
                ioba: IobaSel::decode(source),
                tce: TceSel::decode(source),
            },
            3 => Self::Get {
                liobn: LiobnSel::decode(source),
                ioba: IobaSel::decode(source),
            },
            4 | 5 => Self::Stuff {
                liobn: LiobnSel::decode(source),
                ioba: IobaSel::decode(source),
                value: TceSel::decode(source),
                count: CountSel::decode(source),
            },
            6..=8 => Self::Indirect {
                liobn: LiobnSel::decode(source),
                ioba: IobaSel::decode(source),
                list: GpaSel::decode(source),
                count: CountSel::decode(source),
            },
            9 | 10 => Self::WriteList {
                list: GpaSel::decode(source),
                page_of: LiobnSel::decode(source),
                fill: ListFill::decode(source),
            },
            11 | 12 => Self::Rtas(RtasOp::decode(source)),
            13 => {
                let pick = source.u8();
                let nr = match RAW_OPCODES.get(usize::from(pick)) {
                    Some(&nr) => nr,
                    None => source.u64(),
                };
                let mut args = [0u64; 9];
                let used = usize::from(source.u8() % 10);
                for arg in &mut args[..used] {
                    *arg = source.u64();
                }
                Self::RawHcall { nr, args }
            }
            14 | 15 => Self::Fault(FaultSpec::decode(source)),
            _ => {
                let region = source.u8() % 3;
                let flags = source.u8();
                Self::Hotplug {
                    region,
                    add: flags & 1 == 1,
                    unmap_first: flags & 2 == 2,
                }
            }
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        match self {
            Self::Put { liobn, ioba, tce } => {
                sink.u8(0);
                liobn.encode(sink);
                ioba.encode(sink);
                tce.encode(sink);
            }
            Self::Get { liobn, ioba } => {
                sink.u8(3);
                liobn.encode(sink);
                ioba.encode(sink);
            }
            Self::Stuff {
                liobn,
                ioba,
                value,
                count,
            } => {
                sink.u8(4);
                liobn.encode(sink);
                ioba.encode(sink);
                value.encode(sink);
                count.encode(sink);
            }
            Self::Indirect {
                liobn,
                ioba,
                list,
                count,
            } => {
                sink.u8(6);
                liobn.encode(sink);
                ioba.encode(sink);
                list.encode(sink);
                count.encode(sink);
            }
            Self::WriteList {
                list,
                page_of,
                fill,
            } => {
                sink.u8(9);
                list.encode(sink);
                page_of.encode(sink);
                fill.encode(sink);
            }
            Self::Rtas(op) => {
                sink.u8(11);
                op.encode(sink);
            }
            Self::RawHcall { nr, args } => {
                sink.u8(13);
                match RAW_OPCODES.iter().position(|&known| known == *nr) {
                    Some(index) => sink.u8(index as u8),
                    None => {
                        sink.u8(u8::MAX);
                        sink.u64(*nr);
                    }
                }
                let used = args.iter().rposition(|&a| a != 0).map_or(0, |i| i + 1);
                sink.u8(used as u8);
                args[..used].iter().for_each(|&arg| sink.u64(arg));
            }
            Self::Fault(spec) => {
                sink.u8(14);
                spec.encode(sink);
            }
            Self::Hotplug {
                region,
                add,
                unmap_first,
            } => {
                sink.u8(16);
                sink.u8(region % 3);
                sink.u8(u8::from(*add) | u8::from(*unmap_first) << 1);
            }
        }
    }
}

/// Decodes a whole input into at most [`MAX_OPS`] operations.
pub fn decode_ops(data: &[u8]) -> Vec<Op> {
    let mut source = ByteSource::new(data);
    let mut ops = Vec::new();
    while !source.is_empty() && ops.len() < MAX_OPS {
        ops.push(Op::decode(&mut source));
    }
    ops
}

/// Encodes operations into an input that [`decode_ops`] reads back.
pub fn encode_ops(ops: &[Op]) -> Vec<u8> {
    let mut sink = ByteSink::default();
    ops.iter().for_each(|op| op.encode(&mut sink));
    sink.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfio_spapr::IommuOp;

    #[test]
    fn operations_round_trip() {
        let ops = vec![
            Op::Put {
                liobn: LiobnSel::Known(0),
                ioba: IobaSel::Entry(3),
                tce: TceSel::Page {
                    gpa: GpaSel::Ram(1, 2),
                    permission: 3,
                },
            },
            Op::Get {
                liobn: LiobnSel::Raw(7),
                ioba: IobaSel::Last,
            },
            Op::Stuff {
                liobn: LiobnSel::Known(4),
                ioba: IobaSel::Entry(0),
                value: TceSel::Raw(0),
                count: CountSel::OverMax,
            },
            Op::Indirect {
                liobn: LiobnSel::Known(2),
                ioba: IobaSel::Far(63),
                list: GpaSel::Hole,
                count: CountSel::Max,
            },
            Op::WriteList {
                list: GpaSel::Ram(0, 256),
                page_of: LiobnSel::Known(1),
                fill: ListFill::Linear {
                    first: TceSel::Raw(0x1003),
                    count: 512,
                    step: 1,
                },
            },
            Op::WriteList {
                list: GpaSel::Zero,
                page_of: LiobnSel::Known(0),
                fill: ListFill::Explicit(vec![TceSel::Raw(1), TceSel::Raw(2)]),
            },
            Op::Rtas(RtasOp {
                buffer: GpaSel::RegionLast(1),
                offset: 4090,
                kind: RtasKind::Create {
                    pe: PeSel::Known(1),
                    page_shift: ShiftSel::Listed(3),
                    window_shift: ShiftSel::Raw(40),
                },
                nargs_lie: Some(u32::MAX),
                nret_lie: None,
                via_hcall: true,
            }),
            Op::Rtas(RtasOp {
                buffer: GpaSel::Zero,
                offset: 0,
                kind: RtasKind::Other {
                    token: 0x2001,
                    args: vec![1, 2, 3],
                    nret: 16,
                },
                nargs_lie: None,
                nret_lie: Some(0),
                via_hcall: false,
            }),
            Op::Rtas(RtasOp {
                buffer: GpaSel::Zero,
                offset: 0,
                kind: RtasKind::Reset {
                    pe: PeSel::UnknownBuid,
                    flags: Some(1),
                },
                nargs_lie: None,
                nret_lie: None,
                via_hcall: false,
            }),
            Op::RawHcall {
                nr: 0x13C,
                args: [1, 2, 3, 0, 0, 0, 0, 0, 9],
            },
            Op::RawHcall {
                nr: 0xDEAD,
                args: [0; 9],
            },
            Op::Fault(FaultSpec {
                container: 1,
                op: IommuOp::UnmapDma,
                nth: 2,
                errno: -77,
            }),
            Op::Hotplug {
                region: 2,
                add: true,
                unmap_first: false,
            },
            Op::Hotplug {
                region: 0,
                add: false,
                unmap_first: true,
            },
        ];
        assert_eq!(decode_ops(&encode_ops(&ops)), ops);
    }

    #[test]
    fn any_bytes_decode_and_the_count_is_bounded() {
        let noise: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let ops = decode_ops(&noise);
        assert_eq!(ops.len(), MAX_OPS);
        assert!(decode_ops(&[]).is_empty());
    }
}
