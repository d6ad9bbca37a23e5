// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Selectors: how one operand of an operation is chosen. Most pick a value relative to the
//! world (an entry of the addressed window, a page of one RAM region, the hole between the
//! regions) so that random bytes hit the interesting boundaries often; every selector also
//! has a `Raw` form carrying any 64-bit value. They are resolved when the operation runs
//! ([`World`](super::World)), against the window state of that moment.

use super::source::{ByteSink, ByteSource};

/// Decoding from and encoding to fuzz input; `decode(encode(x)) == x` for every `x` that
/// `decode` can return.
pub trait Codec: Sized {
    /// Reads one value.
    fn decode(source: &mut ByteSource<'_>) -> Self;
    /// Writes the bytes `decode` reads back as `self`.
    fn encode(&self, sink: &mut ByteSink);
}

/// Which LIOBN a hypercall names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LiobnSel {
    /// One of [`KNOWN_LIOBNS`](super::layout::KNOWN_LIOBNS) (index taken modulo its length).
    Known(u8),
    /// Any value.
    Raw(u64),
}

impl Codec for LiobnSel {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        let byte = source.u8();
        if byte == u8::MAX {
            Self::Raw(source.u64())
        } else {
            Self::Known(byte % super::layout::KNOWN_LIOBNS.len() as u8)
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        match *self {
            Self::Known(index) => sink.u8(index % super::layout::KNOWN_LIOBNS.len() as u8),
            Self::Raw(value) => {
                sink.u8(u8::MAX);
                sink.u64(value);
            }
        }
    }
}

/// Which bus address an operation starts at, relative to the addressed window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IobaSel {
    /// Entry `n % entries` of the window.
    Entry(u16),
    /// The last entry.
    Last,
    /// One past the last entry (the window end).
    PastEnd,
    /// Entry `n % entries` plus `offset` bytes inside the page (0 is bumped to 1).
    Misaligned(u16, u16),
    /// One page below the window start (wrapping).
    BelowStart,
    /// The window start plus `2^(shift % 64)` (wrapping): far outside, or overflowing.
    Far(u8),
    /// Any value.
    Raw(u64),
}

impl Codec for IobaSel {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        match source.u8() % 8 {
            0 | 1 => Self::Entry(source.u16()),
            2 => Self::Last,
            3 => Self::PastEnd,
            4 => Self::Misaligned(source.u16(), source.u16()),
            5 => Self::BelowStart,
            6 => Self::Far(source.u8() % 64),
            _ => Self::Raw(source.u64()),
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        match *self {
            Self::Entry(n) => {
                sink.u8(0);
                sink.u16(n);
            }
            Self::Last => sink.u8(2),
            Self::PastEnd => sink.u8(3),
            Self::Misaligned(n, offset) => {
                sink.u8(4);
                sink.u16(n);
                sink.u16(offset);
            }
            Self::BelowStart => sink.u8(5),
            Self::Far(shift) => {
                sink.u8(6);
                sink.u8(shift % 64);
            }
            Self::Raw(value) => {
                sink.u8(7);
                sink.u64(value);
            }
        }
    }
}

/// Where a TCE (or a TCE list, or an RTAS buffer) points in guest-physical space. Page
/// numbers are in units of the page size given at resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GpaSel {
    /// Page `n % pages` of RAM region `region % 2`.
    Ram(u8, u16),
    /// The last page of region `region % 2`.
    RegionLast(u8),
    /// The first page of the hole between the regions (MMIO-like, not RAM).
    Hole,
    /// The first page above the end of RAM.
    BeyondRam,
    /// Page `n` of region 0 plus a non-zero offset below the page size, multiple of 4.
    Misaligned(u16, u16),
    /// Guest-physical 0.
    Zero,
    /// Any value.
    Raw(u64),
}

impl Codec for GpaSel {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        match source.u8() % 8 {
            0 | 1 => Self::Ram(source.u8() % 2, source.u16()),
            2 => Self::RegionLast(source.u8() % 2),
            3 => Self::Hole,
            4 => Self::BeyondRam,
            5 => Self::Misaligned(source.u16(), source.u16()),
            6 => Self::Zero,
            _ => Self::Raw(source.u64()),
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        match *self {
            Self::Ram(region, n) => {
                sink.u8(0);
                sink.u8(region % 2);
                sink.u16(n);
            }
            Self::RegionLast(region) => {
                sink.u8(2);
                sink.u8(region % 2);
            }
            Self::Hole => sink.u8(3),
            Self::BeyondRam => sink.u8(4),
            Self::Misaligned(n, offset) => {
                sink.u8(5);
                sink.u16(n);
                sink.u16(offset);
            }
            Self::Zero => sink.u8(6),
            Self::Raw(value) => {
                sink.u8(7);
                sink.u64(value);
            }
        }
    }
}

/// A TCE value: an address and the permission bits 0..3 (none, R, W, RW).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TceSel {
    /// `address | permission`, the address aligned to the window page where it can be.
    Page {
        /// Where it points.
        gpa: GpaSel,
        /// Permission bits (taken modulo 4).
        permission: u8,
    },
    /// Any 64-bit value.
    Raw(u64),
}

impl Codec for TceSel {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        let byte = source.u8();
        if byte >= 0xF0 {
            Self::Raw(source.u64())
        } else {
            Self::Page {
                gpa: GpaSel::decode(source),
                permission: byte % 4,
            }
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        match *self {
            Self::Page { gpa, permission } => {
                sink.u8(permission % 4);
                gpa.encode(sink);
            }
            Self::Raw(value) => {
                sink.u8(0xF0);
                sink.u64(value);
            }
        }
    }
}

/// The entry count of `H_STUFF_TCE` / `H_PUT_TCE_INDIRECT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CountSel {
    /// A small count (0..=255).
    Small(u8),
    /// 512, the largest allowed.
    Max,
    /// 513, one too many.
    OverMax,
    /// Exactly up to the window end from the first entry.
    ToEnd,
    /// One more than [`CountSel::ToEnd`].
    PastEnd,
    /// `2^(shift % 64)`.
    Power(u8),
    /// Any value.
    Raw(u64),
}

impl Codec for CountSel {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        match source.u8() % 10 {
            0..=3 => Self::Small(source.u8()),
            4 => Self::Max,
            5 => Self::OverMax,
            6 => Self::ToEnd,
            7 => Self::PastEnd,
            8 => Self::Power(source.u8() % 64),
            _ => Self::Raw(source.u64()),
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        match *self {
            Self::Small(n) => {
                sink.u8(0);
                sink.u8(n);
            }
            Self::Max => sink.u8(4),
            Self::OverMax => sink.u8(5),
            Self::ToEnd => sink.u8(6),
            Self::PastEnd => sink.u8(7),
            Self::Power(shift) => {
                sink.u8(8);
                sink.u8(shift % 64);
            }
            Self::Raw(value) => {
                sink.u8(9);
                sink.u64(value);
            }
        }
    }
}

/// A 32-bit shift operand of `ibm,create-pe-dma-window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShiftSel {
    /// One of [`SHIFTS`] (index modulo its length).
    Listed(u8),
    /// Any value.
    Raw(u32),
}

/// Shifts worth trying: offered page sizes, LoPAR's invalid 0..11, the window-size bounds.
pub const SHIFTS: [u32; 16] = [
    12, 16, 21, 24, 34, 0, 11, 20, 22, 30, 32, 40, 54, 55, 63, 64,
];

impl ShiftSel {
    /// The shift value.
    pub fn value(self) -> u32 {
        match self {
            Self::Listed(index) => SHIFTS[usize::from(index) % SHIFTS.len()],
            Self::Raw(value) => value,
        }
    }
}

impl Codec for ShiftSel {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        let byte = source.u8();
        if byte == u8::MAX {
            Self::Raw(source.u32())
        } else {
            Self::Listed(byte % SHIFTS.len() as u8)
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        match *self {
            Self::Listed(index) => sink.u8(index % SHIFTS.len() as u8),
            Self::Raw(value) => {
                sink.u8(u8::MAX);
                sink.u32(value);
            }
        }
    }
}

/// A PE address of a DDW call: configuration address and BUID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeSel {
    /// PE `index % 2` of the world, device 00:00.0.
    Known(u8),
    /// A BUID no PE has.
    UnknownBuid,
    /// Any configuration address and BUID.
    Raw(u32, u64),
}

impl Codec for PeSel {
    fn decode(source: &mut ByteSource<'_>) -> Self {
        match source.u8() % 6 {
            0..=3 => Self::Known(source.u8() % 2),
            4 => Self::UnknownBuid,
            _ => Self::Raw(source.u32(), source.u64()),
        }
    }

    fn encode(&self, sink: &mut ByteSink) {
        match *self {
            Self::Known(index) => {
                sink.u8(0);
                sink.u8(index % 2);
            }
            Self::UnknownBuid => sink.u8(4),
            Self::Raw(config_addr, buid) => {
                sink.u8(5);
                sink.u32(config_addr);
                sink.u64(buid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Codec + PartialEq + std::fmt::Debug>(value: T) {
        let mut sink = ByteSink::default();
        value.encode(&mut sink);
        let bytes = sink.into_bytes();
        let mut source = ByteSource::new(&bytes);
        assert_eq!(T::decode(&mut source), value);
        assert!(source.is_empty(), "{value:?} left bytes");
    }

    #[test]
    fn every_selector_form_round_trips() {
        round_trip(LiobnSel::Known(3));
        round_trip(LiobnSel::Raw(u64::MAX));
        for ioba in [
            IobaSel::Entry(9),
            IobaSel::Last,
            IobaSel::PastEnd,
            IobaSel::Misaligned(1, 2),
            IobaSel::BelowStart,
            IobaSel::Far(63),
            IobaSel::Raw(5),
        ] {
            round_trip(ioba);
        }
        for gpa in [
            GpaSel::Ram(1, 7),
            GpaSel::RegionLast(0),
            GpaSel::Hole,
            GpaSel::BeyondRam,
            GpaSel::Misaligned(3, 4),
            GpaSel::Zero,
            GpaSel::Raw(1),
        ] {
            round_trip(gpa);
            round_trip(TceSel::Page { gpa, permission: 3 });
        }
        round_trip(TceSel::Raw(0x1234));
        for count in [
            CountSel::Small(3),
            CountSel::Max,
            CountSel::OverMax,
            CountSel::ToEnd,
            CountSel::PastEnd,
            CountSel::Power(63),
            CountSel::Raw(0),
        ] {
            round_trip(count);
        }
        round_trip(ShiftSel::Listed(15));
        round_trip(ShiftSel::Raw(99));
        round_trip(PeSel::Known(1));
        round_trip(PeSel::UnknownBuid);
        round_trip(PeSel::Raw(1, 2));
        assert_eq!(ShiftSel::Listed(15).value(), 64);
    }
}
