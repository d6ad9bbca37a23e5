// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Machine layout from a shell-quoted QEMU command line (`qemu-cmdline.txt` of a recording).
//!
//! Understood: `-m` (size, `slots=`, `maxmem=`), `-device spapr-pci-host-bridge,index=N,...`
//! (`dma_win_addr`, `dma_win_size`, `dma64_win_addr`, `pgsz`, `ddw`), `-global
//! spapr-pci-host-bridge.PROP=VALUE` (both `-global` forms), VIO devices (`spapr-vlan`,
//! `spapr-vscsi` get a 256 MiB window; `spapr-vty`, `spapr-nvram` take a `reg` only),
//! `-serial`, `-nodefaults`. Every other option is ignored. The machine's own `pci.0` is PHB 0
//! with QEMU's defaults plus the `-global`s.
//!
//! VIO `reg`s: an explicit `reg=` wins; otherwise QEMU numbers VIO devices from 0x71000000 in
//! creation order: first the machine's own (one `spapr-vty` per serial port, then
//! `spapr-nvram`), then `-device`s in command-line order. This is a heuristic; the converter
//! confirms it against the trace's start-up `new_table` lines.
//!
//! ```
//! let cmdline = r"qemu-system-ppc64 -M pseries -m 2G\,slots=4\,maxmem=4G -serial stdio \
//!     -device spapr-vlan\,netdev=n2 \
//!     -device spapr-pci-host-bridge\,index=4\,id=phb4\,dma_win_size=0x10000000";
//! let machine = spapr_tce::replay::machine_from_qemu_cmdline(cmdline).unwrap();
//! assert_eq!(machine.ram_size, 2 << 30);
//! assert_eq!(machine.maxmem, Some(4 << 30));
//! assert_eq!(machine.phbs.len(), 2);
//! assert_eq!(machine.phbs[1].dma_win_size, 0x1000_0000);
//! assert_eq!(machine.vio[0].reg, 0x7100_0002);
//! ```

use std::collections::BTreeMap;

use super::machine::{
    MachineLayout, PhbLayout, RtasTokens, VioWindow, TCE_PAGE_SHIFT, VIO_REG_BASE, VIO_WINDOW_SIZE,
};
use super::text::parse_u64;

/// Errors reading a QEMU command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError {
    /// Unbalanced quotes or a trailing backslash.
    #[error("command line: unterminated quote or escape")]
    Quoting,
    /// An option that needs a value is the last word.
    #[error("command line: `{0}` needs a value")]
    MissingValue(String),
    /// A value does not parse.
    #[error("command line: bad value in `{option} {value}`: {message}")]
    BadValue {
        /// The option, e.g. `-device`.
        option: String,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
    /// No `-m`.
    #[error("command line has no `-m` (RAM size)")]
    NoRam,
}

/// Splits a shell-quoted command line into words (backslash escapes, '...' and "...").
pub fn split_shell_words(text: &str) -> Result<Vec<String>, CmdlineError> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next().ok_or(CmdlineError::Quoting)?;
                // A backslash-newline is a line continuation.
                if escaped != '\n' {
                    word.get_or_insert_with(String::new).push(escaped);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next().ok_or(CmdlineError::Quoting)? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next().ok_or(CmdlineError::Quoting)? {
                        '"' => break,
                        '\\' => match chars.next().ok_or(CmdlineError::Quoting)? {
                            c @ ('"' | '\\' | '$' | '`') => w.push(c),
                            '\n' => {}
                            c => {
                                w.push('\\');
                                w.push(c);
                            }
                        },
                        c => w.push(c),
                    }
                }
            }
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Splits a QEMU option value at commas (`,,` is a literal comma) into (key, value) pairs;
/// a part without `=` has key `None`.
pub fn split_qemu_options(value: &str) -> Vec<(Option<String>, String)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ',' if chars.peek() == Some(&',') => {
                chars.next();
                current.push(',');
            }
            ',' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|part| match part.split_once('=') {
            Some((k, v)) => (Some(k.to_string()), v.to_string()),
            None => (None, part),
        })
        .collect()
}

/// Parses a QEMU size (`2G`, `512M`, `0x10000000`, `1024`); a bare number is multiplied by
/// `unit` (bytes for properties, MiB for `-m`).
pub fn parse_qemu_size(text: &str, unit: u64) -> Option<u64> {
    let suffix_shift = |c: char| match c.to_ascii_uppercase() {
        'B' => Some(0),
        'K' => Some(10),
        'M' => Some(20),
        'G' => Some(30),
        'T' => Some(40),
        'P' => Some(50),
        'E' => Some(60),
        _ => None,
    };
    let last = text.chars().last()?;
    let is_hex = text.starts_with("0x") || text.starts_with("0X");
    match suffix_shift(last) {
        // 'B' and 'E' are hex digits: a 0x number keeps them.
        Some(shift) if !is_hex || !last.is_ascii_hexdigit() => {
            let number = parse_u64(&text[..text.len() - 1])?;
            number.checked_mul(1u64.checked_shl(shift)?)
        }
        _ => parse_u64(text)?.checked_mul(unit),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "on" | "yes" | "true" | "y" => Some(true),
        "off" | "no" | "false" | "n" => Some(false),
        _ => None,
    }
}

const PHB_DRIVER: &str = "spapr-pci-host-bridge";
/// VIO device types with a DMA window and the ones that only take a `reg`.
const VIO_WITH_WINDOW: [&str; 2] = ["spapr-vlan", "spapr-vscsi"];
const VIO_WITHOUT_WINDOW: [&str; 3] = ["spapr-vty", "spapr-nvram", "spapr-rng"];

/// Applies one PHB property; `Ok(false)` if the property is not one the layout needs.
fn apply_phb_property(phb: &mut PhbLayout, key: &str, value: &str) -> Result<bool, String> {
    let size = || parse_qemu_size(value, 1).ok_or(format!("bad size `{value}`"));
    match key {
        "dma_win_addr" => phb.dma_win_addr = size()?,
        "dma_win_size" => phb.dma_win_size = size()?,
        "dma64_win_addr" => phb.dma64_win_addr = size()?,
        "pgsz" => phb.pgsz = parse_u64(value).ok_or(format!("bad pgsz `{value}`"))?,
        "ddw" => phb.ddw = parse_bool(value).ok_or(format!("bad bool `{value}`"))?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// `-global DRIVER.PROP=VALUE` or `-global driver=D,property=P,value=V`.
fn parse_global(value: &str) -> Option<(String, String, String)> {
    let parts = split_qemu_options(value);
    let lookup = |k: &str| {
        parts
            .iter()
            .find(|(key, _)| key.as_deref() == Some(k))
            .map(|(_, v)| v.clone())
    };
    if let (Some(d), Some(p), Some(v)) = (lookup("driver"), lookup("property"), lookup("value")) {
        return Some((d, p, v));
    }
    // QEMU takes everything after the first '=' literally.
    let (name, v) = value.split_once('=')?;
    let (driver, property) = name.split_once('.')?;
    Some((driver.to_string(), property.to_string(), v.to_string()))
}

/// Builds the machine layout from a QEMU command line (shell-quoted, one or more lines).
pub fn machine_from_qemu_cmdline(text: &str) -> Result<MachineLayout, CmdlineError> {
    let words = split_shell_words(text)?;
    let mut options: Vec<(&str, &str)> = Vec::new();
    let mut nodefaults = false;
    let mut i = 0;
    while i < words.len() {
        let option = words[i].as_str();
        // QEMU accepts `-opt` and `--opt`.
        let Some(normalized) = option.strip_prefix('-') else {
            i += 1;
            continue;
        };
        match normalized {
            "-nodefaults" | "nodefaults" => nodefaults = true,
            "m" | "-m" | "device" | "-device" | "global" | "-global" | "serial" | "-serial" => {
                let value = words
                    .get(i + 1)
                    .ok_or_else(|| CmdlineError::MissingValue(option.to_string()))?;
                options.push((normalized.trim_start_matches('-'), value));
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    let bad = |option: &str, value: &str, message: String| CmdlineError::BadValue {
        option: format!("-{option}"),
        value: value.to_string(),
        message,
    };

    let mut ram_size = None;
    let mut maxmem = None;
    let mut globals: Vec<(String, String)> = Vec::new();
    let mut serial_ports = 0u32;
    let mut saw_serial = false;
    for &(option, value) in &options {
        match option {
            "m" => {
                for (key, v) in split_qemu_options(value) {
                    let size = || {
                        parse_qemu_size(&v, 1 << 20)
                            .ok_or_else(|| bad(option, value, format!("bad size `{v}`")))
                    };
                    match key.as_deref() {
                        None | Some("size") => ram_size = Some(size()?),
                        Some("maxmem") => maxmem = Some(size()?),
                        _ => {}
                    }
                }
            }
            "global" => {
                let (driver, property, v) = parse_global(value)
                    .ok_or_else(|| bad(option, value, "expected DRIVER.PROP=VALUE".into()))?;
                if driver == PHB_DRIVER {
                    globals.push((property, v));
                }
            }
            "serial" => {
                saw_serial = true;
                if value != "none" {
                    serial_ports += 1;
                }
            }
            _ => {}
        }
    }
    if !saw_serial && !nodefaults {
        serial_ports = 1; // QEMU's default serial port
    }
    let ram_size = ram_size.ok_or(CmdlineError::NoRam)?;

    let new_phb = |index: u32| -> Result<PhbLayout, CmdlineError> {
        let mut phb = PhbLayout::qemu_default(index);
        for (key, v) in &globals {
            apply_phb_property(&mut phb, key, v)
                .map_err(|m| bad("global", &format!("{PHB_DRIVER}.{key}={v}"), m))?;
        }
        Ok(phb)
    };
    let mut phbs = BTreeMap::new();
    phbs.insert(0, new_phb(0)?);
    // The machine's own VIO devices come first: spapr-vty per serial port, then spapr-nvram.
    let mut next_reg = VIO_REG_BASE + serial_ports + 1;
    let mut vio = Vec::new();
    for &(option, value) in options.iter().filter(|(o, _)| *o == "device") {
        let parts = split_qemu_options(value);
        let Some((None, driver)) = parts.first() else {
            continue;
        };
        let props = || {
            parts
                .iter()
                .skip(1)
                .filter_map(|(k, v)| Some((k.as_deref()?, v.as_str())))
        };
        if driver == PHB_DRIVER {
            let index = props()
                .find(|(k, _)| *k == "index")
                .and_then(|(_, v)| parse_u64(v))
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| bad(option, value, "no valid index=".into()))?;
            let mut phb = new_phb(index)?;
            for (key, v) in props() {
                apply_phb_property(&mut phb, key, v).map_err(|m| bad(option, value, m))?;
            }
            phbs.insert(index, phb);
        } else if VIO_WITH_WINDOW.contains(&driver.as_str())
            || VIO_WITHOUT_WINDOW.contains(&driver.as_str())
        {
            let reg = match props().find(|(k, _)| *k == "reg") {
                Some((_, v)) => parse_u64(v)
                    .and_then(|r| u32::try_from(r).ok())
                    .ok_or_else(|| bad(option, value, format!("bad reg `{v}`")))?,
                None => {
                    next_reg += 1;
                    next_reg - 1
                }
            };
            if VIO_WITH_WINDOW.contains(&driver.as_str()) {
                vio.push(VioWindow {
                    reg,
                    device: driver.clone(),
                    liobn: u64::from(reg),
                    bus_offset: 0,
                    size: VIO_WINDOW_SIZE,
                    page_shift: TCE_PAGE_SHIFT,
                });
            }
        }
    }
    vio.sort_by_key(|v| v.reg);
    Ok(MachineLayout {
        source: String::new(),
        ram_size,
        maxmem,
        rtas: RtasTokens::default(),
        phbs: phbs.into_values().collect(),
        vio,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        let words = split_shell_words(r#"a\,b 'c d'  "e \"f\" \n" g\ h dyndbg=\"x\ +p\""#).unwrap();
        assert_eq!(
            words,
            ["a,b", "c d", r#"e "f" \n"#, "g h", r#"dyndbg="x +p""#]
        );
        assert_eq!(split_shell_words("a 'b"), Err(CmdlineError::Quoting));
        assert_eq!(split_shell_words("a \\"), Err(CmdlineError::Quoting));
    }

    #[test]
    fn qemu_options_and_sizes() {
        let parts = split_qemu_options("e1000,netdev=n0,,x,bus");
        assert_eq!(parts[0], (None, "e1000".to_string()));
        assert_eq!(parts[1], (Some("netdev".into()), "n0,x".into()));
        assert_eq!(parts[2], (None, "bus".to_string()));
        assert_eq!(parse_qemu_size("2G", 1 << 20), Some(2 << 30));
        assert_eq!(parse_qemu_size("2048", 1 << 20), Some(2 << 30));
        assert_eq!(parse_qemu_size("0x10000000", 1), Some(0x1000_0000));
        assert_eq!(parse_qemu_size("0xB", 1), Some(11));
        assert_eq!(parse_qemu_size("4k", 1), Some(4096));
        assert_eq!(parse_qemu_size("16E", 1), None);
        assert_eq!(parse_qemu_size("G", 1), None);
    }

    #[test]
    fn phbs_globals_and_vio() {
        let machine = machine_from_qemu_cmdline(
            "qemu -m size=4G,maxmem=8G -nodefaults \
             -global driver=spapr-pci-host-bridge,property=dma_win_size,value=0x20000000 \
             --global spapr-pci-host-bridge.pgsz=0x11000 \
             -device spapr-pci-host-bridge,index=2,ddw=off,dma64_win_addr=0x1000000000 \
             -device spapr-vscsi -device spapr-vlan,reg=0x71000010",
        )
        .unwrap();
        assert_eq!((machine.ram_size, machine.maxmem), (4 << 30, Some(8 << 30)));
        let indices: Vec<u32> = machine.phbs.iter().map(|p| p.index).collect();
        assert_eq!(indices, [0, 2]);
        for phb in &machine.phbs {
            assert_eq!((phb.dma_win_size, phb.pgsz), (0x2000_0000, 0x11000));
        }
        assert!(machine.phbs[0].ddw && !machine.phbs[1].ddw);
        assert_eq!(machine.phbs[1].dma64_win_addr, 0x10_0000_0000);
        assert_eq!(machine.phbs[1].buid, 0x800000020000002);
        // -nodefaults, no -serial: only spapr-nvram precedes the devices.
        let regs: Vec<(u32, &str)> = machine
            .vio
            .iter()
            .map(|v| (v.reg, v.device.as_str()))
            .collect();
        assert_eq!(
            regs,
            [(0x7100_0001, "spapr-vscsi"), (0x7100_0010, "spapr-vlan")]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            machine_from_qemu_cmdline("qemu -M pseries"),
            Err(CmdlineError::NoRam)
        );
        assert!(matches!(
            machine_from_qemu_cmdline("qemu -m"),
            Err(CmdlineError::MissingValue(_))
        ));
        for bad in [
            "qemu -m 2X",
            "qemu -m 2G -device spapr-pci-host-bridge,id=x",
            "qemu -m 2G -device spapr-pci-host-bridge,index=1,ddw=maybe",
            "qemu -m 2G -global nodot",
            "qemu -m 2G -device spapr-vlan,reg=zz",
        ] {
            assert!(
                matches!(
                    machine_from_qemu_cmdline(bad),
                    Err(CmdlineError::BadValue { .. })
                ),
                "{bad}"
            );
        }
    }
}
