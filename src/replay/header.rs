// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Parser of the machine header of the canonical text format (see [`super::format`]).

use std::collections::BTreeMap;

use super::machine::{MachineLayout, PhbLayout, RtasTokens, VioWindow};
use super::text::parse_u64;

/// Collects the header lines until `events`.
#[derive(Default)]
pub(crate) struct HeaderBuilder {
    source: Option<String>,
    ram_size: Option<u64>,
    maxmem: Option<Option<u64>>,
    rtas: Option<RtasTokens>,
    phbs: Vec<PhbLayout>,
    vio: Vec<VioWindow>,
}

/// `key=value` words of one header line; each key once, all of them consumed.
struct KeyValues<'a>(BTreeMap<&'a str, &'a str>);

impl<'a> KeyValues<'a> {
    fn parse(words: &[&'a str]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for word in words {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, found `{word}`"))?;
            if map.insert(key, value).is_some() {
                return Err(format!("`{key}` given twice"));
            }
        }
        Ok(KeyValues(map))
    }

    fn text(&mut self, key: &str) -> Result<&'a str, String> {
        self.0
            .remove(key)
            .ok_or_else(|| format!("missing `{key}=`"))
    }

    fn number(&mut self, key: &str) -> Result<u64, String> {
        let value = self.text(key)?;
        parse_u64(value).ok_or_else(|| format!("bad number `{key}={value}`"))
    }

    fn small<T: TryFrom<u64>>(&mut self, key: &str) -> Result<T, String> {
        T::try_from(self.number(key)?).map_err(|_| format!("`{key}` out of range"))
    }

    /// Fails on keys nobody asked for.
    fn done(self) -> Result<(), String> {
        match self.0.keys().next() {
            Some(key) => Err(format!("unknown key `{key}`")),
            None => Ok(()),
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, what: &str) -> Result<(), String> {
    if slot.replace(value).is_some() {
        return Err(format!("`{what}` given twice"));
    }
    Ok(())
}

fn number(word: &str) -> Result<u64, String> {
    parse_u64(word).ok_or_else(|| format!("bad number `{word}`"))
}

impl HeaderBuilder {
    /// Takes one header line (`words` is `line` split at whitespace).
    pub(crate) fn line(&mut self, line: &str, words: &[&str]) -> Result<(), String> {
        match words {
            ["source", ..] => {
                let text = line["source".len()..].trim().to_string();
                set_once(&mut self.source, text, "source")
            }
            ["ram", size] => set_once(&mut self.ram_size, number(size)?, "ram"),
            ["maxmem", "none"] => set_once(&mut self.maxmem, None, "maxmem"),
            ["maxmem", size] => set_once(&mut self.maxmem, Some(number(size)?), "maxmem"),
            ["rtas", rest @ ..] => {
                let mut kv = KeyValues::parse(rest)?;
                let tokens = RtasTokens {
                    query: kv.small("query")?,
                    create: kv.small("create")?,
                    remove: kv.small("remove")?,
                    reset: kv.small("reset")?,
                };
                kv.done()?;
                set_once(&mut self.rtas, tokens, "rtas")
            }
            ["phb", index, rest @ ..] => {
                let index = u32::try_from(number(index)?).map_err(|_| "PHB index out of range")?;
                let mut kv = KeyValues::parse(rest)?;
                let ddw = match kv.text("ddw")? {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("ddw must be on or off, found `{other}`")),
                };
                let phb = PhbLayout {
                    index,
                    buid: kv.number("buid")?,
                    default_liobn: kv.number("liobn")?,
                    ddw_liobn: kv.number("ddw_liobn")?,
                    dma_win_addr: kv.number("dma_win_addr")?,
                    dma_win_size: kv.number("dma_win_size")?,
                    page_shift: kv.small("page_shift")?,
                    pgsz: kv.number("pgsz")?,
                    ddw,
                    dma64_win_addr: kv.number("dma64_win_addr")?,
                };
                kv.done()?;
                self.phbs.push(phb);
                Ok(())
            }
            ["vio", reg, rest @ ..] => {
                let reg = u32::try_from(number(reg)?).map_err(|_| "VIO reg out of range")?;
                let mut kv = KeyValues::parse(rest)?;
                let vio = VioWindow {
                    reg,
                    device: kv.text("device")?.to_string(),
                    liobn: kv.number("liobn")?,
                    bus_offset: kv.number("win_addr")?,
                    size: kv.number("win_size")?,
                    page_shift: kv.small("page_shift")?,
                };
                kv.done()?;
                self.vio.push(vio);
                Ok(())
            }
            _ => Err(format!("unknown header line `{line}`")),
        }
    }

    /// The machine layout, once `events` ends the header.
    pub(crate) fn build(self) -> Result<MachineLayout, String> {
        Ok(MachineLayout {
            source: self.source.unwrap_or_default(),
            ram_size: self.ram_size.ok_or("header lacks `ram`")?,
            maxmem: self.maxmem.ok_or("header lacks `maxmem`")?,
            rtas: self.rtas.ok_or("header lacks `rtas`")?,
            phbs: self.phbs,
            vio: self.vio,
        })
    }
}
