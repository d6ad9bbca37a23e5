// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Reading fuzz input as a stream of little-endian integers, and writing it back.
//!
//! An exhausted input reads as zeros, so every byte string decodes to something and a
//! truncated input still decodes to a prefix of the same operations (libFuzzer's mutations
//! stay meaningful). [`ByteSink`] is the exact inverse, used to write seed inputs.

/// A cursor over fuzz input.
#[derive(Clone, Debug)]
pub struct ByteSource<'a> {
    data: &'a [u8],
}

impl<'a> ByteSource<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.data.len()
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut bytes = [0u8; N];
        let n = N.min(self.data.len());
        bytes[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        bytes
    }

    /// The next byte (0 once exhausted).
    pub fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    /// True when the next byte is odd.
    pub fn flag(&mut self) -> bool {
        self.u8() & 1 == 1
    }
}

/// Builds fuzz input: every `ByteSource` reader has its writer here.
#[derive(Clone, Debug, Default)]
pub struct ByteSink {
    bytes: Vec<u8>,
}

impl ByteSink {
    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Writes one byte.
    pub fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    /// Writes two bytes, little-endian.
    pub fn u16(&mut self, value: u16) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Writes four bytes, little-endian.
    pub fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Writes eight bytes, little-endian.
    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Writes a flag as one byte.
    pub fn flag(&mut self, value: bool) {
        self.u8(u8::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhausted_input_reads_zero_and_partial_values_keep_their_low_bytes() {
        let mut source = ByteSource::new(&[0x34, 0x12, 0x78]);
        assert_eq!(source.u16(), 0x1234);
        assert_eq!(source.u32(), 0x78);
        assert!(source.is_empty());
        assert_eq!(source.u64(), 0);
        assert!(!source.flag());
    }

    #[test]
    fn sink_is_the_inverse_of_source() {
        let mut sink = ByteSink::default();
        sink.u8(7);
        sink.u16(0xBEEF);
        sink.u32(0xDEAD_BEEF);
        sink.u64(u64::MAX - 1);
        sink.flag(true);
        let bytes = sink.into_bytes();
        let mut source = ByteSource::new(&bytes);
        assert_eq!(
            (
                source.u8(),
                source.u16(),
                source.u32(),
                source.u64(),
                source.flag()
            ),
            (7, 0xBEEF, 0xDEAD_BEEF, u64::MAX - 1, true)
        );
        assert_eq!(source.remaining(), 0);
    }
}
