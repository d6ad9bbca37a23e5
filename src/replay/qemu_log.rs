// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Parser of QEMU `spapr_iommu_*` trace lines (`log` backend), exactly as QEMU printed them
//! (`shared/traces/README.md` §3). Reconstruction of the guest's calls is [`super::convert`]'s
//! job; this module does not interpret the fields.
//!
//! ```
//! use spapr_tce::replay::{QemuEvent, QemuLine};
//!
//! let line = "3261@1795258858.161275:spapr_iommu_pci_indirect liobn=0x80000101 \
//!             ioba=0x800000000000000 tcelist=0x2ee1000 iobaN=0x7f tceN=0x7f000003 ret=0";
//! let parsed = QemuLine::parse(line).unwrap().unwrap();
//! assert_eq!(parsed.thread_id, Some(3261));
//! assert!(matches!(parsed.event, QemuEvent::Indirect { last_index: 0x7f, .. }));
//! // Without the `pid@time:` prefix, and an unrelated line:
//! assert!(QemuLine::parse("spapr_iommu_ddw_remove liobn=0x80000401").unwrap().is_some());
//! assert!(QemuLine::parse("qemu-system-ppc64: warning: foo").unwrap().is_none());
//! ```

use super::text::{parse_i64, parse_u64};

/// The fields of one `spapr_iommu_*` event as QEMU printed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuEvent {
    /// `spapr_iommu_(pci_)put`.
    Put {
        /// LIOBN.
        liobn: u64,
        /// IOBA, masked to the page size.
        ioba: u64,
        /// TCE written.
        tce: u64,
        /// Return code.
        ret: i64,
    },
    /// `spapr_iommu_(pci_)get`.
    Get {
        /// LIOBN.
        liobn: u64,
        /// IOBA, masked to the page size.
        ioba: u64,
        /// Return code.
        ret: i64,
        /// TCE returned.
        tce: u64,
    },
    /// `spapr_iommu_(pci_)indirect`.
    Indirect {
        /// LIOBN.
        liobn: u64,
        /// First IOBA as passed by the guest.
        ioba: u64,
        /// Guest-physical address of the TCE list.
        tcelist: u64,
        /// `iobaN`: index of the last processed entry (not an IOBA).
        last_index: u64,
        /// `tceN`: TCE of that entry.
        last_tce: u64,
        /// Return code.
        ret: i64,
    },
    /// `spapr_iommu_(pci_)stuff`.
    Stuff {
        /// LIOBN.
        liobn: u64,
        /// IOBA after the loop: start + npages × page size on success.
        end_ioba: u64,
        /// Value stored.
        tce_value: u64,
        /// Number of entries.
        npages: u64,
        /// Return code.
        ret: i64,
    },
    /// `spapr_iommu_xlate`.
    Xlate {
        /// LIOBN.
        liobn: u64,
        /// Offset inside the window (excludes the window's bus offset).
        addr: u64,
        /// Page-aligned translated address.
        translated: u64,
        /// TCE permission bits.
        perm: u8,
        /// Page size − 1.
        mask: u64,
    },
    /// `spapr_iommu_new_table`.
    NewTable {
        /// LIOBN.
        liobn: u64,
        /// Host pointer of the table.
        table: u64,
        /// KVM table fd (-1: userspace table).
        fd: i64,
    },
    /// `spapr_iommu_ddw_query` (successful queries only).
    DdwQuery {
        /// BUID.
        buid: u64,
        /// PE configuration address.
        config_addr: u32,
        /// Windows available.
        windows_available: u32,
        /// `max window size`: a constant in QEMU's trace call, not what the guest received.
        max_window_size: u64,
        /// Page-size mask in RTAS encoding.
        mask: u32,
    },
    /// `spapr_iommu_ddw_create` (successful creates only).
    DdwCreate {
        /// BUID.
        buid: u64,
        /// PE configuration address.
        config_addr: u32,
        /// 1 << page_shift.
        page_size: u64,
        /// 1 << window_shift.
        requested: u64,
        /// Bus address of the new window.
        start: u64,
        /// LIOBN of the new window.
        liobn: u64,
    },
    /// `spapr_iommu_ddw_remove`.
    DdwRemove {
        /// LIOBN removed.
        liobn: u64,
    },
    /// `spapr_iommu_ddw_reset`.
    DdwReset {
        /// BUID.
        buid: u64,
        /// PE configuration address.
        config_addr: u32,
    },
}

/// One trace line: the optional `pid@seconds.micro:` prefix and the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QemuLine {
    /// Id of the emitting thread (QEMU prints it as "pid"), if the line had the prefix.
    pub thread_id: Option<u64>,
    /// Host time in microseconds since the epoch, if the line had the prefix.
    pub time_us: Option<u64>,
    /// Whether the event name had `_pci_` (PCI LIOBN).
    pub pci: bool,
    /// The event.
    pub event: QemuEvent,
}

/// A `spapr_iommu_*` line whose arguments do not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed `spapr_iommu_{event}` line: {message}")]
pub struct QemuLogError {
    /// Event name without the `spapr_iommu_` prefix.
    pub event: String,
    /// What is wrong.
    pub message: String,
}

/// Words of the argument text; `key=value` words are split, commas dropped.
struct Args<'a> {
    words: Vec<&'a str>,
}

impl<'a> Args<'a> {
    fn new(text: &'a str) -> Self {
        let words = text
            .split(|c: char| c.is_ascii_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        Args { words }
    }

    /// The value of `key=`; a key of several words (`page size`) must match the words before.
    fn value(&self, key: &str) -> Result<&'a str, String> {
        let mut parts: Vec<&str> = key.split(' ').collect();
        let last = parts.pop().unwrap_or(key);
        for (i, word) in self.words.iter().enumerate() {
            let Some(value) = word.strip_prefix(last).and_then(|w| w.strip_prefix('=')) else {
                continue;
            };
            let before = &self.words[..i];
            if before.ends_with(&parts) {
                return Ok(value);
            }
        }
        Err(format!("no `{key}=`"))
    }

    fn u64(&self, key: &str) -> Result<u64, String> {
        let value = self.value(key)?;
        parse_u64(value).ok_or_else(|| format!("bad number `{key}={value}`"))
    }

    fn i64(&self, key: &str) -> Result<i64, String> {
        let value = self.value(key)?;
        parse_i64(value).ok_or_else(|| format!("bad number `{key}={value}`"))
    }

    fn small<T: TryFrom<u64>>(&self, key: &str) -> Result<T, String> {
        T::try_from(self.u64(key)?).map_err(|_| format!("`{key}` out of range"))
    }

    /// Positional word `index` as a number.
    fn at(&self, index: usize) -> Result<u64, String> {
        let word = self.words.get(index).ok_or("too few words")?;
        parse_u64(word).ok_or_else(|| format!("bad number `{word}`"))
    }
}

/// Splits `pid@seconds.micro:` off a line; `None` if the line has no such prefix.
fn split_prefix(line: &str) -> Option<(u64, u64, &str)> {
    let (prefix, rest) = line.split_once(':')?;
    let (pid, time) = prefix.split_once('@')?;
    let (seconds, micros) = time.split_once('.').unwrap_or((time, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(pid) || !all_digits(seconds) || !all_digits(micros) || micros.len() > 6 {
        return None;
    }
    let micros: u64 = format!("{micros:0<6}").parse().ok()?;
    let time_us = seconds.parse::<u64>().ok()?.checked_mul(1_000_000)? + micros;
    Some((pid.parse().ok()?, time_us, rest))
}

impl QemuLine {
    /// Parses one line. `Ok(None)`: not a `spapr_iommu_*` event this parser knows (other
    /// output, or e.g. the migration events); the caller skips and counts it.
    pub fn parse(line: &str) -> Result<Option<QemuLine>, QemuLogError> {
        let line = line.trim_end();
        let (thread_id, time_us, body) = match split_prefix(line) {
            Some((pid, time, body)) => (Some(pid), Some(time), body),
            None => (None, None, line),
        };
        let Some(body) = body.strip_prefix("spapr_iommu_") else {
            return Ok(None);
        };
        let (name, rest) = body.split_once(' ').unwrap_or((body, ""));
        let (pci, short) = match name.strip_prefix("pci_") {
            Some(short) => (true, short),
            None => (false, name),
        };
        let error = |message: String| QemuLogError {
            event: name.to_string(),
            message,
        };
        let Some(event) = parse_event(short, &Args::new(rest)).map_err(error)? else {
            return Ok(None);
        };
        Ok(Some(QemuLine {
            thread_id,
            time_us,
            pci,
            event,
        }))
    }
}

fn parse_event(name: &str, a: &Args) -> Result<Option<QemuEvent>, String> {
    let event = match name {
        "put" => QemuEvent::Put {
            liobn: a.u64("liobn")?,
            ioba: a.u64("ioba")?,
            tce: a.u64("tce")?,
            ret: a.i64("ret")?,
        },
        "get" => QemuEvent::Get {
            liobn: a.u64("liobn")?,
            ioba: a.u64("ioba")?,
            ret: a.i64("ret")?,
            tce: a.u64("tce")?,
        },
        "indirect" => QemuEvent::Indirect {
            liobn: a.u64("liobn")?,
            ioba: a.u64("ioba")?,
            tcelist: a.u64("tcelist")?,
            last_index: a.u64("iobaN")?,
            last_tce: a.u64("tceN")?,
            ret: a.i64("ret")?,
        },
        "stuff" => QemuEvent::Stuff {
            liobn: a.u64("liobn")?,
            end_ioba: a.u64("ioba")?,
            tce_value: a.u64("tcevalue")?,
            npages: a.u64("npages")?,
            ret: a.i64("ret")?,
        },
        "xlate" => {
            // liobn=0x.. 0x<addr> -> 0x<translated> perm=P mask=0x..
            if a.words.get(2) != Some(&"->") {
                return Err("expected `liobn=.. ADDR -> TRANSLATED`".into());
            }
            QemuEvent::Xlate {
                liobn: a.u64("liobn")?,
                addr: a.at(1)?,
                translated: a.at(3)?,
                perm: a.small("perm")?,
                mask: a.u64("mask")?,
            }
        }
        "new_table" => QemuEvent::NewTable {
            liobn: a.u64("liobn")?,
            table: a.u64("table")?,
            fd: a.i64("fd")?,
        },
        "ddw_query" => {
            let at = a
                .words
                .windows(3)
                .position(|w| w[1] == "windows" && w[2] == "available")
                .ok_or("no `N windows available`")?;
            QemuEvent::DdwQuery {
                buid: a.u64("buid")?,
                config_addr: a.small("addr")?,
                windows_available: u32::try_from(a.at(at)?).map_err(|e| e.to_string())?,
                max_window_size: a.u64("max window size")?,
                mask: a.small("mask")?,
            }
        }
        "ddw_create" => QemuEvent::DdwCreate {
            buid: a.u64("buid")?,
            config_addr: a.small("addr")?,
            page_size: a.u64("page size")?,
            requested: a.u64("requested")?,
            start: a.u64("start addr")?,
            liobn: a.u64("liobn")?,
        },
        "ddw_remove" => QemuEvent::DdwRemove {
            liobn: a.u64("liobn")?,
        },
        "ddw_reset" => QemuEvent::DdwReset {
            buid: a.u64("buid")?,
            config_addr: a.small("addr")?,
        },
        _ => return Ok(None),
    };
    Ok(Some(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> QemuEvent {
        QemuLine::parse(line).unwrap().unwrap().event
    }

    #[test]
    fn every_event_with_and_without_prefix() {
        let lines = [
            "spapr_iommu_pci_put liobn=0x80000100 ioba=0x20000 tce=0x24f6003 ret=0",
            "spapr_iommu_pci_get liobn=0x80000400 ioba=0x1000 ret=0 tce=0x0",
            "spapr_iommu_stuff liobn=0x71000002 ioba=0x200000 tcevalue=0x0 npages=512 ret=0",
            "spapr_iommu_indirect liobn=0x71000002 ioba=0x2000 tcelist=0x24c4000 iobaN=0x1 tceN=0x482f003 ret=0",
            "spapr_iommu_xlate liobn=0x80000100 0x20402 -> 0x24f6000 perm=3 mask=0xfff",
            "spapr_iommu_new_table liobn=0x71000002 table=0x564b7846e7b0 fd=-1",
            "spapr_iommu_ddw_query buid=0x800000020000004 addr=0x0, 1 windows available, max window size=0x80000000, mask=0x107",
            "spapr_iommu_ddw_create buid=0x800000020000004 addr=0x0, page size=0x1000, requested=0x40000000, start addr=0x800000000000000, liobn=0x80000401",
            "spapr_iommu_ddw_remove liobn=0x80000401",
            "spapr_iommu_ddw_reset buid=0x800000020000004 addr=0x0",
        ];
        for line in lines {
            let plain = QemuLine::parse(line).unwrap().unwrap();
            assert_eq!(plain.thread_id, None);
            let prefixed = format!("2998@1795258830.7401:{line}");
            let with = QemuLine::parse(&prefixed).unwrap().unwrap();
            assert_eq!(with.thread_id, Some(2998));
            assert_eq!(with.time_us, Some(1_795_258_830_740_100));
            assert_eq!(with.event, plain.event);
            assert_eq!(with.pci, line.contains("_pci_"));
        }
    }

    #[test]
    fn quirky_fields() {
        assert_eq!(
            event("spapr_iommu_ddw_create buid=0x800000020000004 addr=0x0, page size=0x1000, requested=0x40000000, start addr=0x800000000000000, liobn=0x80000401"),
            QemuEvent::DdwCreate {
                buid: 0x800000020000004,
                config_addr: 0,
                page_size: 0x1000,
                requested: 0x40000000,
                start: 0x800000000000000,
                liobn: 0x80000401
            }
        );
        assert_eq!(
            event("spapr_iommu_ddw_query buid=0x800000020000001 addr=0x0, 1 windows available, max window size=0x80000000, mask=0x107"),
            QemuEvent::DdwQuery {
                buid: 0x800000020000001,
                config_addr: 0,
                windows_available: 1,
                max_window_size: 0x80000000,
                mask: 0x107
            }
        );
        assert_eq!(
            event("spapr_iommu_xlate liobn=0x80000101 0x3f001 -> 0x0 perm=3 mask=0xffffff"),
            QemuEvent::Xlate {
                liobn: 0x80000101,
                addr: 0x3f001,
                translated: 0,
                perm: 3,
                mask: 0xffffff
            }
        );
        assert!(matches!(
            event("spapr_iommu_put liobn=0x1 ioba=0x0 tce=0x0 ret=-4"),
            QemuEvent::Put { ret: -4, .. }
        ));
    }

    #[test]
    fn unknown_lines_are_skipped() {
        for line in [
            "",
            "qemu-system-ppc64: terminating on signal 15",
            "12@1.5:spapr_iommu_pre_save liobn=0x1 nb=2 offset=0x0 ps=12",
            "12@1.5:vfio_listener_region_add_iommu x",
            "abc@1.5:other",
        ] {
            assert_eq!(QemuLine::parse(line).unwrap(), None, "{line}");
        }
    }

    #[test]
    fn malformed_lines_are_errors() {
        for line in [
            "spapr_iommu_pci_put liobn=0x80000100 ioba=0x20000 ret=0",
            "spapr_iommu_pci_put liobn=0x80000100 ioba=zz tce=0x1 ret=0",
            "spapr_iommu_xlate liobn=0x1 0x2 0x3 perm=3 mask=0xfff",
            "spapr_iommu_xlate liobn=0x1 0x2 -> 0x3 perm=300 mask=0xfff",
            "1@2.3:spapr_iommu_ddw_query buid=0x1 addr=0x0, max window size=0x1, mask=0x107",
            "spapr_iommu_ddw_reset buid=0x1 addr=0x100000000",
            "spapr_iommu_get",
        ] {
            let error = QemuLine::parse(line).unwrap_err();
            assert!(!error.message.is_empty(), "{line}");
        }
    }
}
