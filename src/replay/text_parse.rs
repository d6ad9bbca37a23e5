// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Parser of the canonical text format (specified in [`super::format`]).

use std::io::BufRead;

use super::event::{DdwCreate, DdwQuery, DdwRemove, DdwReset, PutTceIndirect, TceList, TraceEvent};
use super::fold::{FoldFields, FoldKind, Repeat, Steps, MAX_WIDE};
use super::format::{CanonicalTrace, TraceRecord, FORMAT_MAGIC, FORMAT_VERSION};
use super::header::HeaderBuilder;
use super::lines::{feed_lines, FeedError, LineSink};
use super::text::{fold_kind_of, layout, parse_i64, parse_stepped, parse_u64, Slot, ARROW};

/// Errors of the canonical text parser.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A line does not follow the format.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The input ended before the `end` line.
    #[error("input ends after line {line} without the `end` line (truncated?)")]
    Truncated {
        /// Number of lines read.
        line: u64,
    },
    /// Reading the input failed.
    #[error("reading the trace: {0}")]
    Io(#[from] std::io::Error),
    /// The xz stream is corrupt.
    #[error("decompressing the trace: {0}")]
    Xz(String),
}

impl CanonicalTrace {
    /// Parses a canonical trace, plain text or xz-compressed (detected by magic bytes).
    pub fn parse(input: impl BufRead) -> Result<Self, FormatError> {
        let mut parser = TextParser::default();
        match feed_lines(input, &mut parser) {
            Ok(lines) => parser.finish(lines),
            Err(FeedError::Sink(e)) => Err(e),
            Err(FeedError::Io(e)) => Err(FormatError::Io(e)),
            Err(FeedError::Xz(e)) => Err(FormatError::Xz(e)),
        }
    }

    /// Parses a canonical trace from text.
    pub fn parse_str(text: &str) -> Result<Self, FormatError> {
        Self::parse(text.as_bytes())
    }
}

#[derive(Default)]
enum State {
    #[default]
    Magic,
    Header(HeaderBuilder),
    Records {
        trace: CanonicalTrace,
        expected_events: u64,
        events: u64,
    },
    Done(CanonicalTrace),
}

/// Push parser: one line at a time.
#[derive(Default)]
pub(crate) struct TextParser {
    state: State,
}

impl TextParser {
    pub(crate) fn finish(self, lines: u64) -> Result<CanonicalTrace, FormatError> {
        match self.state {
            State::Done(trace) => Ok(trace),
            _ => Err(FormatError::Truncated { line: lines }),
        }
    }

    fn step(&mut self, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        let state = std::mem::take(&mut self.state);
        self.state = match state {
            State::Magic => {
                if words != [FORMAT_MAGIC, &FORMAT_VERSION.to_string()] {
                    return Err(format!(
                        "expected `{FORMAT_MAGIC} {FORMAT_VERSION}`, found `{line}`"
                    ));
                }
                State::Header(HeaderBuilder::default())
            }
            State::Header(mut header) => {
                if words[0] == "events" {
                    let [_, count] = words[..] else {
                        return Err("expected `events COUNT`".into());
                    };
                    let expected_events =
                        parse_u64(count).ok_or_else(|| format!("bad event count `{count}`"))?;
                    let trace = CanonicalTrace {
                        machine: header.build()?,
                        records: Vec::new(),
                    };
                    State::Records {
                        trace,
                        expected_events,
                        events: 0,
                    }
                } else {
                    header.line(line, &words)?;
                    State::Header(header)
                }
            }
            State::Records {
                mut trace,
                expected_events,
                events,
            } => {
                if words == ["end"] {
                    if events != expected_events {
                        return Err(format!(
                            "header announces {expected_events} events, records hold {events}"
                        ));
                    }
                    State::Done(trace)
                } else {
                    let record = parse_record(&words)?;
                    let events = events
                        .checked_add(record.event_count())
                        .ok_or("event count overflows")?;
                    trace.records.push(record);
                    State::Records {
                        trace,
                        expected_events,
                        events,
                    }
                }
            }
            State::Done(_) => return Err("text after the `end` line".into()),
        };
        Ok(())
    }
}

impl LineSink for TextParser {
    type Error = FormatError;

    fn line(&mut self, number: u64, line: &[u8]) -> Result<(), FormatError> {
        let syntax = |message: String| FormatError::Syntax {
            line: number,
            message,
        };
        let line = std::str::from_utf8(line).map_err(|_| syntax("not UTF-8".into()))?;
        let trimmed = line.trim();
        let is_comment = trimmed.is_empty() || trimmed.starts_with('#');
        if is_comment && !matches!(self.state, State::Magic) {
            return Ok(());
        }
        self.step(trimmed).map_err(syntax)
    }
}

/// Parses one record line (already split into words).
pub(crate) fn parse_record(words: &[&str]) -> Result<TraceRecord, String> {
    if words[0] != "repeat" {
        return match parse_event(words)? {
            Parsed::Foldable(fields, steps) if steps == [0; MAX_WIDE] => {
                Ok(TraceRecord::Event(fields.event()))
            }
            Parsed::Foldable(..) => Err("a step (`+`/`-`) outside `repeat`".into()),
            Parsed::Other(event) => Ok(TraceRecord::Event(event)),
        };
    }
    let (count, body) = match words {
        [_, count, "{", body @ .., "}"] => (*count, body),
        _ => return Err("expected `repeat COUNT { EVENT ; ... }`".into()),
    };
    let count = parse_u64(count)
        .filter(|c| *c > 0)
        .ok_or_else(|| format!("bad repeat count `{count}`"))?;
    let mut events = Vec::new();
    for event_words in body.split(|w| *w == ";") {
        match parse_event(event_words)? {
            Parsed::Foldable(fields, steps) => events.push((fields, steps)),
            Parsed::Other(_) => {
                return Err("only put/get/stuff/indirect linear/xlate can repeat".into())
            }
        }
    }
    Repeat::new(count, events)
        .map(TraceRecord::Repeat)
        .ok_or_else(|| "empty repeat body".into())
}

enum Parsed {
    Foldable(FoldFields, Steps),
    Other(TraceEvent),
}

fn parse_event(words: &[&str]) -> Result<Parsed, String> {
    let Some((&keyword, args)) = words.split_first() else {
        return Err("empty event".into());
    };
    if keyword == "indirect" && args.get(4) == Some(&"list") {
        return parse_explicit_indirect(args).map(Parsed::Other);
    }
    if let Some(kind) = fold_kind_of(keyword) {
        return parse_foldable(kind, args).map(|(f, s)| Parsed::Foldable(f, s));
    }
    parse_rtas(keyword, args).map(Parsed::Other)
}

fn parse_foldable(kind: FoldKind, args: &[&str]) -> Result<(FoldFields, Steps), String> {
    let (keyword, slots) = layout(kind);
    if args.len() != slots.len() {
        return Err(format!("`{keyword}` takes {} words", slots.len()));
    }
    let mut fields = FoldFields {
        kind,
        wide: [0; MAX_WIDE],
        fixed: 0,
    };
    let mut steps = [0; MAX_WIDE];
    for (slot, word) in slots.iter().zip(args) {
        match *slot {
            Slot::Wide(i, _) => {
                (fields.wide[i], steps[i]) =
                    parse_stepped(word).ok_or_else(|| format!("bad number `{word}`"))?;
            }
            Slot::Fixed => {
                fields.fixed = parse_i64(word).ok_or_else(|| format!("bad number `{word}`"))?;
            }
            Slot::Word(expected) if *word == expected => {}
            Slot::Word(expected) => return Err(format!("expected `{expected}`, found `{word}`")),
        }
    }
    if kind == FoldKind::Xlate && !(0..=3).contains(&fields.fixed) {
        return Err(format!("xlate permission {} is not 0..3", fields.fixed));
    }
    Ok((fields, steps))
}

fn number(word: &str) -> Result<u64, String> {
    parse_u64(word).ok_or_else(|| format!("bad number `{word}`"))
}

fn signed(word: &str) -> Result<i64, String> {
    parse_i64(word).ok_or_else(|| format!("bad number `{word}`"))
}

fn small<T: TryFrom<u64>>(word: &str) -> Result<T, String> {
    T::try_from(number(word)?).map_err(|_| format!("`{word}` is out of range"))
}

fn optional<T: TryFrom<u64>>(word: &str) -> Result<Option<T>, String> {
    if word == "?" {
        Ok(None)
    } else {
        small(word).map(Some)
    }
}

fn parse_explicit_indirect(args: &[&str]) -> Result<TraceEvent, String> {
    let [liobn, ioba, list_gpa, npages, "list", entries, ARROW, ret] = args else {
        return Err("expected `indirect LIOBN IOBA LIST_GPA NPAGES list T0,T1,... -> RET`".into());
    };
    let entries: Vec<u64> = entries.split(',').map(number).collect::<Result<_, _>>()?;
    let npages = number(npages)?;
    if entries.len() as u64 != npages {
        return Err(format!(
            "list has {} entries, npages is {npages}",
            entries.len()
        ));
    }
    Ok(TraceEvent::PutTceIndirect(PutTceIndirect {
        liobn: number(liobn)?,
        ioba: number(ioba)?,
        list_gpa: number(list_gpa)?,
        npages,
        list: TceList::Explicit(entries),
        ret: signed(ret)?,
    }))
}

fn parse_rtas(keyword: &str, args: &[&str]) -> Result<TraceEvent, String> {
    let event = match (keyword, args) {
        ("query", [config, buid, ARROW, status, windows, largest, mask]) => {
            TraceEvent::DdwQuery(DdwQuery {
                config_addr: small(config)?,
                buid: number(buid)?,
                status: signed(status)?,
                windows_available: optional(windows)?,
                largest_block: optional(largest)?,
                page_mask: optional(mask)?,
            })
        }
        ("create", [config, buid, page_shift, window_shift, ARROW, status, liobn, start]) => {
            TraceEvent::DdwCreate(DdwCreate {
                config_addr: small(config)?,
                buid: number(buid)?,
                page_shift: small(page_shift)?,
                window_shift: small(window_shift)?,
                status: signed(status)?,
                liobn: number(liobn)?,
                start: number(start)?,
            })
        }
        ("remove", [liobn, ARROW, status]) => TraceEvent::DdwRemove(DdwRemove {
            liobn: number(liobn)?,
            status: signed(status)?,
        }),
        ("reset", [config, buid, ARROW, status]) => TraceEvent::DdwReset(DdwReset {
            config_addr: small(config)?,
            buid: number(buid)?,
            status: signed(status)?,
        }),
        ("query" | "create" | "remove" | "reset", _) => {
            return Err(format!("wrong number of words for `{keyword}`"))
        }
        _ => return Err(format!("unknown record `{keyword}`")),
    };
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "spapr-tce-trace 1\n\
        # a comment\n\
        source test\n\
        ram 0x80000000\n\
        maxmem none\n\
        rtas query=0x2026 create=0x2027 remove=0x2028 reset=0x2029\n\
        phb 0 buid=0x800000020000000 liobn=0x80000000 ddw_liobn=0x80000001 dma_win_addr=0x0 \
        dma_win_size=0x40000000 page_shift=12 pgsz=0x1211000 ddw=on dma64_win_addr=0x800000000000000\n";

    fn parse(records: &str, count: u64) -> Result<CanonicalTrace, FormatError> {
        CanonicalTrace::parse_str(&format!("{HEADER}events {count}\n{records}end\n"))
    }

    fn error_line(records: &str, count: u64) -> u64 {
        match parse(records, count) {
            Err(FormatError::Syntax { line, .. }) => line,
            other => panic!("{records}: expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn every_record_kind_round_trips() {
        let records = "put 0x80000000 0x1000 0x3 -> 0\n\
            get 0x80000000 0x1000 -> 0 0x3\n\
            stuff 0x80000000 0x0 0x0 512 -> 0\n\
            indirect 0x80000000 0x0 0x9000 2 linear 0x3 0x1000 -> 0\n\
            indirect 0x80000000 0x0 0x9000 3 list 0x3,0x7003,0x1 -> -4\n\
            xlate 0x80000000 0x10 -> 0x0 1\n\
            query 0x0 0x800000020000000 -> 0 1 ? 0x107\n\
            query 0x0 0x800000020000000 -> -3 ? ? ?\n\
            create 0x0 0x800000020000000 24 0 -> -3 0x0 0x0\n\
            remove 0x80000001 -> 0\n\
            reset 0x0 0x800000020000000 -> 0\n\
            repeat 3 { get 0x80000000 0x0+0x1000 -> 0 0x0 ; put 0x80000000 0x0+0x1000 0x5003-0x1000 -> 0 }\n";
        let trace = parse(records, 17).unwrap();
        assert_eq!(trace.event_count(), 17);
        assert_eq!(trace.machine.source, "test");
        let events: Vec<TraceEvent> = trace.events().collect();
        assert_eq!(
            events[16],
            TraceEvent::PutTce(crate::replay::PutTce {
                liobn: 0x8000_0000,
                ioba: 0x2000,
                tce: 0x3003,
                ret: 0
            })
        );
        assert_eq!(CanonicalTrace::parse_str(&trace.to_text()).unwrap(), trace);
    }

    #[test]
    fn malformed_records_are_errors_with_line_numbers() {
        // The header ends on line 8 (`events`), so the first record is line 9.
        for bad in [
            "put 0x80000000 0x1000 0x3\n",
            "put 0x80000000 0x1000+0x1000 0x3 -> 0\n",
            "put 0x80000000 0x1000 0x3 => 0\n",
            "get 0x80000000 0x1000 -> 0 zz\n",
            "xlate 0x80000000 0x10 -> 0x0 4\n",
            "indirect 0x80000000 0x0 0x9000 3 list 0x3,0x7003 -> 0\n",
            "indirect 0x80000000 0x0 0x9000 3 linear 0x3 -> 0\n",
            "query 0x0 0x800000020000000 -> 0 1 ?\n",
            "create 0x100000000 0x800000020000000 24 0 -> -3 0x0 0x0\n",
            "frobnicate 1\n",
            "repeat 0 { put 0x1 0x0 0x0 -> 0 }\n",
            "repeat 2 { put 0x1 0x0 0x0 -> 0\n",
            "repeat 2 { query 0x0 0x1 -> 0 1 ? ? }\n",
            "repeat 2 { put 0x1 0x0 0x0 -> 0+1 }\n",
        ] {
            assert_eq!(error_line(bad, 1), 9, "{bad}");
        }
        // A wrong event count is reported at `end`.
        assert_eq!(error_line("put 0x1 0x0 0x0 -> 0\n", 2), 10);
    }

    #[test]
    fn malformed_headers_and_truncation_are_errors() {
        let full = format!("{HEADER}events 0\nend\n");
        assert!(CanonicalTrace::parse_str(&full).is_ok());
        for (from, to) in [
            ("spapr-tce-trace 1", "spapr-tce-trace 2"),
            ("maxmem none", "maxmem lots"),
            ("ram 0x80000000\n", ""),
            ("ddw=on", "ddw=maybe"),
            ("page_shift=12", "page_shift=12 colour=blue"),
            ("rtas query=0x2026", "rtas query=0x2026 query=0x1"),
            ("events 0", "events"),
            ("end\n", "end\nput 0x1 0x0 0x0 -> 0\n"),
        ] {
            let text = full.replacen(from, to, 1);
            assert!(
                matches!(
                    CanonicalTrace::parse_str(&text),
                    Err(FormatError::Syntax { .. })
                ),
                "{from} -> {to}"
            );
        }
        let truncated = full.replace("end\n", "");
        assert!(matches!(
            CanonicalTrace::parse_str(&truncated),
            Err(FormatError::Truncated { line: 8 })
        ));
        assert!(matches!(
            CanonicalTrace::parse_str(""),
            Err(FormatError::Truncated { line: 0 })
        ));
        let not_utf8 = [&full.as_bytes()[..full.len() - 4], b"\xff\n"].concat();
        assert!(CanonicalTrace::parse(&not_utf8[..]).is_err());
    }
}
