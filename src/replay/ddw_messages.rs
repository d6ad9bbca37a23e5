// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The guest kernel's DDW debug messages (`kernel-ddw-messages.txt`), the only record of RTAS
//! calls that failed (QEMU traces successful ones only, `shared/traces/README.md` §3) and of
//! the largest block the guest received from a query.
//!
//! Linux `arch/powerpc/platforms/pseries/iommu.c` prints (all numbers hex except the status
//! and `wn`):
//!
//! ```text
//! ibm,query-pe-dma-windows(2026) 0 8000000 20000001 returned 0, lb=2000000000 ps=107 wn=1
//! ibm,create-pe-dma-window(2027) 0 8000000 20000001 18 0 returned -3 (liobn = 0x0 starting addr = 0 0)
//! ```
//!
//! The arguments are the config address, BUID high and low word, and for a create the page
//! and window shifts. Any other line is skipped and counted.
//!
//! ```
//! use spapr_tce::replay::{parse_ddw_messages, DdwMessageCall};
//! let text = "[   2.959] [    1.193924] virtio-pci 0001:00:00.0: ibm,create-pe-dma-window(2027) \
//!             0 8000000 20000001 18 0 returned -3 (liobn = 0x0 starting addr = 0 0)\nother\n";
//! let messages = parse_ddw_messages(text).unwrap();
//! assert_eq!(messages.skipped, 1);
//! let DdwMessageCall::Create(create) = messages.calls[0].call else { panic!() };
//! assert_eq!((create.buid, create.window_shift, create.status), (0x800000020000001, 0, -3));
//! ```

use super::event::{DdwCreate, DdwQuery};

/// One DDW RTAS call the guest logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdwMessageCall {
    /// A query; `windows_available`, `largest_block` and `page_mask` are always known.
    Query(DdwQuery),
    /// A create, successful or not.
    Create(DdwCreate),
}

impl DdwMessageCall {
    /// BUID of the PE the call addressed.
    pub fn buid(&self) -> u64 {
        match self {
            DdwMessageCall::Query(q) => q.buid,
            DdwMessageCall::Create(c) => c.buid,
        }
    }

    /// RTAS status the guest received.
    pub fn status(&self) -> i64 {
        match self {
            DdwMessageCall::Query(q) => q.status,
            DdwMessageCall::Create(c) => c.status,
        }
    }
}

/// One logged call with its place in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DdwMessage {
    /// 1-based line number in the messages file.
    pub line: u64,
    /// RTAS token the guest printed.
    pub token: u32,
    /// The call and its result.
    pub call: DdwMessageCall,
}

/// All DDW calls of a messages file, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DdwMessages {
    /// The calls in file order.
    pub calls: Vec<DdwMessage>,
    /// Lines that are not DDW query/create messages.
    pub skipped: u64,
}

/// A DDW message line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DDW messages line {line}: {message}")]
pub struct DdwMessagesError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

fn hex(word: &str) -> Result<u64, String> {
    let digits = word.strip_prefix("0x").unwrap_or(word);
    u64::from_str_radix(digits, 16).map_err(|_| format!("bad hex number `{word}`"))
}

fn small<T: TryFrom<u64>>(value: u64) -> Result<T, String> {
    T::try_from(value).map_err(|_| format!("{value:#x} out of range"))
}

/// Parses the guest's DDW messages.
pub fn parse_ddw_messages(text: &str) -> Result<DdwMessages, DdwMessagesError> {
    let mut messages = DdwMessages::default();
    for (index, line) in text.lines().enumerate() {
        let number = index as u64 + 1;
        let parsed = if let Some(at) = line.find("ibm,query-pe-dma-window") {
            parse_call(&line[at..], false)
        } else if let Some(at) = line.find("ibm,create-pe-dma-window") {
            parse_call(&line[at..], true)
        } else {
            messages.skipped += 1;
            continue;
        };
        let (token, call) = parsed.map_err(|message| DdwMessagesError {
            line: number,
            message,
        })?;
        messages.calls.push(DdwMessage {
            line: number,
            token,
            call,
        });
    }
    Ok(messages)
}

/// Parses `NAME(TOKEN) ARGS returned STATUS RESULT`.
fn parse_call(text: &str, create: bool) -> Result<(u32, DdwMessageCall), String> {
    let malformed = || format!("expected `NAME(TOKEN) ARGS returned STATUS ...`: `{text}`");
    let (_, rest) = text.split_once('(').ok_or_else(malformed)?;
    let (token, rest) = rest.split_once(')').ok_or_else(malformed)?;
    let (args, result) = rest.split_once(" returned ").ok_or_else(malformed)?;
    let token = small(hex(token)?)?;
    let args: Vec<u64> = args.split_whitespace().map(hex).collect::<Result<_, _>>()?;
    let status_word = result.split([',', ' ']).next().unwrap_or("");
    let status: i64 = status_word
        .parse()
        .map_err(|_| format!("bad status `{status_word}`"))?;
    let call = match (create, &args[..]) {
        (false, &[config, buid_hi, buid_lo]) => DdwMessageCall::Query(DdwQuery {
            config_addr: small(config)?,
            buid: buid_hi << 32 | buid_lo,
            status,
            windows_available: Some(small(decimal_after(result, "wn=")?)?),
            largest_block: Some(hex(word_after(result, "lb=")?)?),
            page_mask: Some(small(hex(word_after(result, "ps=")?)?)?),
        }),
        (true, &[config, buid_hi, buid_lo, page_shift, window_shift]) => {
            let start: Vec<u64> = rest_after(result, "starting addr = ")?
                .trim_end()
                .trim_end_matches(')')
                .split_whitespace()
                .map(hex)
                .collect::<Result<_, _>>()?;
            let [start_hi, start_lo] = start[..] else {
                return Err("expected `starting addr = HI LO`".into());
            };
            DdwMessageCall::Create(DdwCreate {
                config_addr: small(config)?,
                buid: buid_hi << 32 | buid_lo,
                page_shift: small(page_shift)?,
                window_shift: small(window_shift)?,
                status,
                liobn: hex(word_after(result, "liobn = ")?)?,
                start: start_hi << 32 | start_lo,
            })
        }
        _ => return Err(format!("unexpected number of arguments: `{text}`")),
    };
    Ok((token, call))
}

/// The text following `key` in `text`.
fn rest_after<'a>(text: &'a str, key: &str) -> Result<&'a str, String> {
    let at = text.find(key).ok_or_else(|| format!("no `{key}`"))? + key.len();
    Ok(&text[at..])
}

/// The word following `key` in `text`.
fn word_after<'a>(text: &'a str, key: &str) -> Result<&'a str, String> {
    rest_after(text, key)?
        .split([' ', ',', ')'])
        .next()
        .filter(|w| !w.is_empty())
        .ok_or_else(|| format!("nothing after `{key}`"))
}

fn decimal_after(text: &str, key: &str) -> Result<u64, String> {
    let word = word_after(text, key)?;
    word.parse()
        .map_err(|_| format!("bad number `{key}{word}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_successful_create() {
        let text = "[   4.207] [    2.770814] virtio-pci 0001:00:00.0: ibm,query-pe-dma-windows(2026) 0 8000000 20000001 returned 0, lb=2000000000 ps=107 wn=1\n\
                    [   4.208] [    2.771629] virtio-pci 0001:00:00.0: ibm,create-pe-dma-window(2027) 0 8000000 20000001 18 1f returned 0 (liobn = 0x80000101 starting addr = 8000000 0)\n";
        let m = parse_ddw_messages(text).unwrap();
        assert_eq!(m.skipped, 0);
        assert_eq!(m.calls[0].token, 0x2026);
        assert_eq!(
            m.calls[0].call,
            DdwMessageCall::Query(DdwQuery {
                config_addr: 0,
                buid: 0x800000020000001,
                status: 0,
                windows_available: Some(1),
                largest_block: Some(0x20_0000_0000),
                page_mask: Some(0x107),
            })
        );
        assert_eq!(m.calls[1].line, 2);
        assert_eq!(
            m.calls[1].call,
            DdwMessageCall::Create(DdwCreate {
                config_addr: 0,
                buid: 0x800000020000001,
                page_shift: 0x18,
                window_shift: 0x1f,
                status: 0,
                liobn: 0x80000101,
                start: 0x800000000000000,
            })
        );
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        for bad in [
            "ibm,create-pe-dma-window(2027) 0 8000000 20000001 18 returned -3 (liobn = 0x0 starting addr = 0 0)",
            "ibm,create-pe-dma-window(2027) 0 8000000 20000001 18 0 returned -3 (liobn = 0x0)",
            "ibm,query-pe-dma-windows(2026) 0 8000000 2000000g returned 0, lb=1 ps=1 wn=1",
            "ibm,query-pe-dma-windows(2026) 0 8000000 20000001 returned x, lb=1 ps=1 wn=1",
            "ibm,query-pe-dma-windows(2026) 0 8000000 20000001 returned 0, ps=1 wn=1",
            "ibm,query-pe-dma-windows 0 8000000 20000001",
        ] {
            let error = parse_ddw_messages(&format!("skip\n{bad}\n")).unwrap_err();
            assert_eq!(error.line, 2, "{bad}");
        }
    }
}
