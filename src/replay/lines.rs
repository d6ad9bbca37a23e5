// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Line streaming from plain or xz-compressed input without holding the whole text.
//!
//! xz is detected by its magic bytes. `lzma_rs::xz_decompress` pushes decompressed bytes into
//! a [`Write`]r; [`LineSplitter`] cuts them into lines and hands each to a [`LineSink`] as it
//! completes, so a 90 MB trace is never held in memory.

use std::io::{self, BufRead, Write};

/// The six magic bytes that start an xz stream.
pub const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];

/// Receives the lines of an input in order (without the line end).
pub(crate) trait LineSink {
    /// The sink's own error.
    type Error;
    /// Line `number` (1-based).
    fn line(&mut self, number: u64, line: &[u8]) -> Result<(), Self::Error>;
}

/// Why feeding lines stopped.
#[derive(Debug)]
pub(crate) enum FeedError<E> {
    /// The sink refused a line.
    Sink(E),
    /// Reading the input failed.
    Io(io::Error),
    /// The xz stream is corrupt.
    Xz(String),
}

/// Whether `input` starts with the xz magic (peeks, consumes nothing).
pub(crate) fn is_xz(input: &mut impl BufRead) -> io::Result<bool> {
    Ok(input.fill_buf()?.starts_with(&XZ_MAGIC))
}

/// Feeds every line of `input` (decompressing xz) to `sink`; returns the number of lines.
pub(crate) fn feed_lines<S: LineSink>(
    mut input: impl BufRead,
    sink: &mut S,
) -> Result<u64, FeedError<S::Error>> {
    if is_xz(&mut input).map_err(FeedError::Io)? {
        let mut splitter = LineSplitter::new(sink);
        let result = lzma_rs::xz_decompress(&mut input, &mut splitter);
        if let Some(error) = splitter.error.take() {
            return Err(FeedError::Sink(error));
        }
        result.map_err(|e| FeedError::Xz(e.to_string()))?;
        splitter.finish().map_err(FeedError::Sink)
    } else {
        let mut line = Vec::new();
        let mut number = 0;
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line).map_err(FeedError::Io)? == 0 {
                return Ok(number);
            }
            number += 1;
            sink.line(number, trim_line_end(&line))
                .map_err(FeedError::Sink)?;
        }
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A [`Write`]r that cuts the bytes written into lines for a [`LineSink`].
struct LineSplitter<'a, S: LineSink> {
    sink: &'a mut S,
    partial: Vec<u8>,
    number: u64,
    error: Option<S::Error>,
}

impl<'a, S: LineSink> LineSplitter<'a, S> {
    fn new(sink: &'a mut S) -> Self {
        LineSplitter {
            sink,
            partial: Vec::new(),
            number: 0,
            error: None,
        }
    }

    fn emit(&mut self, line: &[u8]) -> Result<(), S::Error> {
        self.number += 1;
        self.sink.line(self.number, trim_line_end(line))
    }

    /// Delivers a last line without a line end.
    fn finish(mut self) -> Result<u64, S::Error> {
        if !self.partial.is_empty() {
            let last = std::mem::take(&mut self.partial);
            self.emit(&last)?;
        }
        Ok(self.number)
    }
}

impl<S: LineSink> Write for LineSplitter<'_, S> {
    fn write(&mut self, mut bytes: &[u8]) -> io::Result<usize> {
        if self.error.is_some() {
            return Err(io::Error::other("line sink stopped"));
        }
        let written = bytes.len();
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            let (line, rest) = bytes.split_at(end + 1);
            bytes = rest;
            let result = if self.partial.is_empty() {
                self.emit(line)
            } else {
                let mut joined = std::mem::take(&mut self.partial);
                joined.extend_from_slice(line);
                self.emit(&joined)
            };
            if let Err(error) = result {
                self.error = Some(error);
                return Err(io::Error::other("line sink stopped"));
            }
        }
        self.partial.extend_from_slice(bytes);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<(u64, String)>);

    impl LineSink for Collect {
        type Error = u64;
        fn line(&mut self, number: u64, line: &[u8]) -> Result<(), u64> {
            if line == b"stop" {
                return Err(number);
            }
            self.0
                .push((number, String::from_utf8_lossy(line).into_owned()));
            Ok(())
        }
    }

    fn xz(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        lzma_rs::xz_compress(&mut &text[..], &mut out).unwrap();
        out
    }

    #[test]
    fn plain_and_xz_give_the_same_lines() {
        let text = b"a\r\nbb\n\nlast";
        for input in [text.to_vec(), xz(text)] {
            let mut sink = Collect::default();
            let n = feed_lines(&input[..], &mut sink).unwrap();
            assert_eq!(n, 4);
            let lines: Vec<&str> = sink.0.iter().map(|(_, l)| l.as_str()).collect();
            assert_eq!(lines, ["a", "bb", "", "last"]);
        }
    }

    #[test]
    fn sink_error_stops_with_its_line_number() {
        for input in [b"x\nstop\ny\n".to_vec(), xz(b"x\nstop\ny\n")] {
            let mut sink = Collect::default();
            assert!(matches!(
                feed_lines(&input[..], &mut sink),
                Err(FeedError::Sink(2))
            ));
        }
    }

    #[test]
    fn corrupt_xz_is_an_error() {
        let mut data = xz(b"hello\n");
        let middle = data.len() / 2;
        data[middle] ^= 0xff;
        data.truncate(data.len() - 3);
        let mut sink = Collect::default();
        assert!(matches!(
            feed_lines(&data[..], &mut sink),
            Err(FeedError::Xz(_))
        ));
    }
}
