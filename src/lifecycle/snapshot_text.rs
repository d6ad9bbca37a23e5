// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The serialised snapshot: a small line-based text format, versioned on its first line.
//!
//! ```text
//! spapr-tce-snapshot 1
//! pe <buid|vio> <default liobn> <bus offset> <page shift> <size> <ddw liobn|->
//! window <slot> <default|dynamic> <liobn> <bus offset> <page shift> <size>
//! run <first index> <first TCE> <count>
//! end
//! ```
//!
//! Numbers are hexadecimal with `0x` except slots, page shifts and run counts (decimal). A
//! `run` stands for `count` consecutive entries whose TCEs advance by one window page (a
//! direct-mapped DDW is one line); `window` lines belong to the `pe` line above them, `run`
//! lines to the `window` above them. A hand-written format keeps the crate free of
//! serialisation dependencies; VMMs embed the text (or its bytes) in their own state format.

use papr_hcall::{Liobn, PageShift, Tce};

use super::snapshot::{
    AcceleratorSnapshot, PeSnapshot, WindowKind, WindowSnapshot, SNAPSHOT_VERSION,
};
use crate::config::WindowConfig;

/// The first word of every snapshot.
const MAGIC: &str = "spapr-tce-snapshot";

/// Why a serialised snapshot cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotFormatError {
    /// The snapshot was written by a format version this crate does not read.
    #[error(
        "snapshot format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The version in the snapshot.
        found: u32,
        /// The version this crate reads.
        supported: u32,
    },
    /// A line does not follow the format.
    #[error("snapshot line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The text ends before its `end` line.
    #[error("snapshot is truncated (no `end` line)")]
    Truncated,
}

fn hex(value: u64) -> String {
    format!("{value:#x}")
}

fn write_window_config(out: &mut String, config: &WindowConfig) {
    out.push_str(&format!(
        "{} {} {} {}",
        hex(config.liobn.0),
        hex(config.bus_offset),
        config.page_shift.get(),
        hex(config.size)
    ));
}

/// Appends `run` lines for `entries` (increasing index order).
fn write_runs(out: &mut String, entries: &[(u64, Tce)], page_size: u64) {
    let mut rest = entries;
    while let Some(&(first, tce)) = rest.first() {
        let count = rest
            .iter()
            .enumerate()
            .take_while(|&(i, &(index, value))| {
                let step = i as u64;
                index == first + step
                    && step
                        .checked_mul(page_size)
                        .and_then(|offset| tce.0.checked_add(offset))
                        == Some(value.0)
            })
            .count();
        out.push_str(&format!("run {} {} {count}\n", hex(first), hex(tce.0)));
        rest = &rest[count..];
    }
}

impl AcceleratorSnapshot {
    /// The serialised form (see [`super::snapshot_text`]).
    pub fn to_text(&self) -> String {
        let mut out = format!("{MAGIC} {}\n", self.version);
        for pe in &self.pes {
            let buid = pe.buid.map_or_else(|| "vio".to_string(), hex);
            out.push_str(&format!("pe {buid} "));
            write_window_config(&mut out, &pe.default_window);
            let ddw = pe.ddw_liobn.map_or_else(|| "-".to_string(), |l| hex(l.0));
            out.push_str(&format!(" {ddw}\n"));
            for window in &pe.windows {
                let kind = match window.kind {
                    WindowKind::Default => "default",
                    WindowKind::Dynamic => "dynamic",
                };
                out.push_str(&format!("window {} {kind} ", window.slot));
                write_window_config(&mut out, &window.config);
                out.push('\n');
                write_runs(&mut out, &window.entries, window.config.page_shift.size());
            }
        }
        out.push_str("end\n");
        out
    }

    /// Reads the serialised form. Rejects other versions, malformed lines, entries out of
    /// order and runs that overflow; semantic checks against an accelerator are
    /// [`TceAccelerator::restore`](crate::TceAccelerator::restore)'s.
    pub fn from_text(text: &str) -> Result<Self, SnapshotFormatError> {
        let mut lines = text.lines().enumerate().map(|(i, line)| (i + 1, line));
        let (_, header) = lines.next().ok_or(SnapshotFormatError::Truncated)?;
        let version = match header.split_whitespace().collect::<Vec<_>>()[..] {
            [MAGIC, version] => version
                .parse::<u32>()
                .map_err(|_| syntax(1, "bad version"))?,
            _ => return Err(syntax(1, "not a spapr-tce snapshot")),
        };
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotFormatError::UnsupportedVersion {
                found: version,
                supported: SNAPSHOT_VERSION,
            });
        }
        let mut snapshot = AcceleratorSnapshot {
            version,
            pes: Vec::new(),
        };
        for (number, line) in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            let fail = |reason: &str| syntax(number, reason);
            match words.as_slice() {
                [] => {}
                ["end"] => return Ok(snapshot),
                ["pe", buid, config @ .., ddw] if config.len() == 4 => {
                    snapshot.pes.push(PeSnapshot {
                        buid: match *buid {
                            "vio" => None,
                            other => Some(parse_hex(other).ok_or_else(|| fail("bad BUID"))?),
                        },
                        default_window: parse_window(config).ok_or_else(|| fail("bad window"))?,
                        ddw_liobn: match *ddw {
                            "-" => None,
                            other => Some(Liobn(
                                parse_hex(other).ok_or_else(|| fail("bad DDW LIOBN"))?,
                            )),
                        },
                        windows: Vec::new(),
                    })
                }
                ["window", slot, kind, config @ ..] if config.len() == 4 => {
                    let pe = snapshot
                        .pes
                        .last_mut()
                        .ok_or_else(|| fail("window before any pe"))?;
                    pe.windows.push(WindowSnapshot {
                        slot: slot.parse().map_err(|_| fail("bad slot"))?,
                        kind: match *kind {
                            "default" => WindowKind::Default,
                            "dynamic" => WindowKind::Dynamic,
                            _ => return Err(fail("window kind must be default or dynamic")),
                        },
                        config: parse_window(config).ok_or_else(|| fail("bad window"))?,
                        entries: Vec::new(),
                    })
                }
                ["run", first, tce, count] => {
                    let window = snapshot
                        .pes
                        .last_mut()
                        .and_then(|pe| pe.windows.last_mut())
                        .ok_or_else(|| fail("run before any window"))?;
                    let (first, tce) = parse_hex(first)
                        .zip(parse_hex(tce))
                        .ok_or_else(|| fail("bad run"))?;
                    let count: u64 = count.parse().map_err(|_| fail("bad run count"))?;
                    push_run(window, first, tce, count).ok_or_else(|| {
                        fail("run is empty, out of order, or overflows the address space")
                    })?;
                }
                _ => return Err(fail("unknown line")),
            }
        }
        Err(SnapshotFormatError::Truncated)
    }
}

fn syntax(line: usize, reason: &str) -> SnapshotFormatError {
    SnapshotFormatError::Syntax {
        line,
        reason: reason.to_string(),
    }
}

fn parse_hex(word: &str) -> Option<u64> {
    u64::from_str_radix(word.strip_prefix("0x")?, 16).ok()
}

fn parse_window(words: &[&str]) -> Option<WindowConfig> {
    let [liobn, bus_offset, page_shift, size] = words else {
        return None;
    };
    Some(WindowConfig {
        liobn: Liobn(parse_hex(liobn)?),
        bus_offset: parse_hex(bus_offset)?,
        page_shift: PageShift::new(page_shift.parse().ok()?)?,
        size: parse_hex(size)?,
    })
}

/// Appends a run of entries; `None` if it is empty, does not follow the previous entry or
/// overflows. The count is bounded by the window's entries at restore; here only by
/// arithmetic, so a hostile count fails on overflow instead of allocating without bound.
fn push_run(window: &mut WindowSnapshot, first: u64, tce: u64, count: u64) -> Option<()> {
    if count == 0 || count > window.config.entries() {
        return None;
    }
    if window
        .entries
        .last()
        .is_some_and(|&(last, _)| first <= last)
    {
        return None;
    }
    let page_size = window.config.page_shift.size();
    first.checked_add(count - 1)?;
    tce.checked_add((count - 1).checked_mul(page_size)?)?;
    window
        .entries
        .extend((0..count).map(|i| (first + i, Tce(tce + i * page_size))));
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AcceleratorSnapshot {
        let default_window = WindowConfig {
            liobn: Liobn(0x8000_0000),
            bus_offset: 0,
            size: 1 << 30,
            page_shift: PageShift::SZ_4K,
        };
        let ddw = WindowConfig {
            liobn: Liobn(0x8000_0001),
            bus_offset: 1 << 59,
            size: 1 << 32,
            page_shift: PageShift::new(24).unwrap(),
        };
        let mut direct: Vec<(u64, Tce)> = (0..256).map(|i| (i, Tce((i << 24) | 3))).collect();
        direct.push((300, Tce(0x1234_5000)));
        AcceleratorSnapshot {
            version: SNAPSHOT_VERSION,
            pes: vec![
                PeSnapshot {
                    buid: Some(0x0800_0000_2000_0000),
                    default_window,
                    ddw_liobn: Some(Liobn(0x8000_0001)),
                    windows: vec![
                        WindowSnapshot {
                            slot: 0,
                            kind: WindowKind::Default,
                            config: default_window,
                            entries: vec![(3, Tce(0x10_0003)), (4, Tce(0x10_1001)), (9, Tce(2))],
                        },
                        WindowSnapshot {
                            slot: 1,
                            kind: WindowKind::Dynamic,
                            config: ddw,
                            entries: direct,
                        },
                    ],
                },
                PeSnapshot {
                    buid: None,
                    default_window: WindowConfig {
                        liobn: Liobn(0x7100_0000),
                        ..default_window
                    },
                    ddw_liobn: None,
                    windows: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn round_trip_with_runs() {
        let snapshot = sample();
        let text = snapshot.to_text();
        assert_eq!(AcceleratorSnapshot::from_text(&text), Ok(snapshot));
        // The direct map is one run; the last entry of that window another.
        assert!(text.contains("run 0x0 0x3 256\n"), "{text}");
        assert!(text.contains("run 0x12c 0x12345000 1\n"), "{text}");
        // 0x10_0003 then 0x10_1001: contiguous addresses but different bits, two runs.
        assert!(
            text.contains("run 0x3 0x100003 1\nrun 0x4 0x101001 1\n"),
            "{text}"
        );
    }

    #[test]
    fn other_versions_and_garbage_are_rejected() {
        let text = sample().to_text().replacen(" 1\n", " 2\n", 1);
        assert_eq!(
            AcceleratorSnapshot::from_text(&text),
            Err(SnapshotFormatError::UnsupportedVersion {
                found: 2,
                supported: 1
            })
        );
        let text = sample().to_text();
        assert_eq!(
            AcceleratorSnapshot::from_text(text.trim_end_matches("end\n")),
            Err(SnapshotFormatError::Truncated)
        );
        for (bad, line) in [
            ("run 0x4 0x3 1\n", 6), // not after the previous entry (4)
            ("window 0 other 0x1 0x0 12 0x1000\n", 6),
            ("run 0x1000 0xffffffffffffffff 2\n", 6),
            ("bogus\n", 6),
        ] {
            let lines: Vec<&str> = text.lines().collect();
            let mut edited = lines[..5].join("\n");
            edited.push('\n');
            edited.push_str(bad);
            edited.push_str(&lines[5..].join("\n"));
            match AcceleratorSnapshot::from_text(&edited) {
                Err(SnapshotFormatError::Syntax { line: found, .. }) => {
                    assert_eq!(found, line, "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(AcceleratorSnapshot::from_text("hello 1\nend\n").is_err());
    }
}
