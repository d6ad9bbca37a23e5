// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Confirming and completing the command-line layout with the trace's start-up tables.
//!
//! At start-up QEMU allocates one table per window (`new_table` lines before any other event,
//! `shared/traces/README.md` §2: the VIO windows, then the PHBs' default windows). These lines
//! are authoritative:
//!
//! * a PHB of the command line whose default LIOBN has no start-up table is an error;
//! * a PCI default LIOBN (`0x80000000 | index << 8`) without a PHB adds PHB `index` with the
//!   properties of the machine's own PHB 0 (QEMU defaults plus `-global`s);
//! * the non-PCI LIOBNs are the VIO windows: if they differ from the `reg`s guessed from the
//!   command line, the trace's LIOBNs are taken in creation order, keeping the device types by
//!   position (`unknown` beyond), each with the default 256 MiB 4K window.
//!
//! A trace without start-up `new_table` lines keeps the command-line layout.

use super::machine::{
    phb_buid, phb_liobn, MachineLayout, VioWindow, PCI_LIOBN_BASE, TCE_PAGE_SHIFT, VIO_WINDOW_SIZE,
};

/// What reconciling changed, for the source description.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LayoutNotes {
    pub(crate) phbs_added: Vec<u32>,
    pub(crate) vio_from_trace: bool,
}

/// Reconciles `machine` with the LIOBNs of the start-up `new_table` lines (in trace order).
pub(crate) fn reconcile(
    machine: &mut MachineLayout,
    startup: &[u64],
) -> Result<LayoutNotes, String> {
    let mut notes = LayoutNotes::default();
    if startup.is_empty() {
        return Ok(notes);
    }
    let is_pci = |liobn: u64| liobn & PCI_LIOBN_BASE != 0;
    for phb in &machine.phbs {
        if !startup.contains(&phb.default_liobn) {
            return Err(format!(
                "PHB {} of the command line has no start-up table for LIOBN {:#x}",
                phb.index, phb.default_liobn
            ));
        }
    }
    for &liobn in startup.iter().filter(|l| is_pci(**l)) {
        if machine.phbs.iter().any(|p| p.default_liobn == liobn) {
            continue;
        }
        let index = u32::try_from((liobn & !PCI_LIOBN_BASE) >> 8).unwrap_or(u32::MAX);
        if liobn != phb_liobn(index, 0) || liobn > u64::from(u32::MAX) {
            return Err(format!(
                "start-up table {liobn:#x} is no PHB's default window"
            ));
        }
        let Some(template) = machine.phbs.iter().find(|p| p.index == 0) else {
            return Err("the layout has no PHB 0".into());
        };
        let mut phb = template.clone();
        phb.index = index;
        phb.buid = phb_buid(index);
        phb.default_liobn = phb_liobn(index, 0);
        phb.ddw_liobn = phb_liobn(index, 1);
        machine.phbs.push(phb);
        notes.phbs_added.push(index);
    }
    machine.phbs.sort_by_key(|p| p.index);

    let traced_vio: Vec<u64> = startup.iter().copied().filter(|l| !is_pci(*l)).collect();
    let mut guessed: Vec<u64> = machine.vio.iter().map(|v| v.liobn).collect();
    let mut sorted_trace = traced_vio.clone();
    sorted_trace.sort_unstable();
    guessed.sort_unstable();
    if guessed != sorted_trace {
        let devices: Vec<String> = machine.vio.iter().map(|v| v.device.clone()).collect();
        machine.vio = traced_vio
            .iter()
            .enumerate()
            .map(|(i, &liobn)| {
                let reg = u32::try_from(liobn).map_err(|_| format!("VIO LIOBN {liobn:#x}"))?;
                Ok(VioWindow {
                    reg,
                    device: devices.get(i).cloned().unwrap_or_else(|| "unknown".into()),
                    liobn,
                    bus_offset: 0,
                    size: VIO_WINDOW_SIZE,
                    page_shift: TCE_PAGE_SHIFT,
                })
            })
            .collect::<Result<_, String>>()?;
        machine.vio.sort_by_key(|v| v.reg);
        notes.vio_from_trace = true;
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::machine::{PhbLayout, RtasTokens};

    fn machine() -> MachineLayout {
        MachineLayout {
            source: String::new(),
            ram_size: 1 << 31,
            maxmem: None,
            rtas: RtasTokens::default(),
            phbs: vec![PhbLayout::qemu_default(0)],
            vio: vec![VioWindow {
                reg: 0x7100_0001,
                device: "spapr-vlan".into(),
                liobn: 0x7100_0001,
                bus_offset: 0,
                size: VIO_WINDOW_SIZE,
                page_shift: 12,
            }],
        }
    }

    #[test]
    fn confirmed_layout_is_unchanged() {
        let mut m = machine();
        let notes = reconcile(&mut m, &[0x7100_0001, 0x8000_0000]).unwrap();
        assert_eq!(notes, LayoutNotes::default());
        assert_eq!(m, machine());
    }

    #[test]
    fn trace_completes_phbs_and_fixes_vio() {
        let mut m = machine();
        m.phbs[0].pgsz = 0x11000;
        let notes = reconcile(&mut m, &[0x7100_0002, 0x8000_0300, 0x8000_0000]).unwrap();
        assert_eq!(notes.phbs_added, [3]);
        assert!(notes.vio_from_trace);
        assert_eq!(m.phbs[1].buid, 0x800000020000003);
        assert_eq!(m.phbs[1].pgsz, 0x11000);
        assert_eq!(
            (m.vio[0].reg, m.vio[0].device.as_str()),
            (0x7100_0002, "spapr-vlan")
        );
    }

    #[test]
    fn missing_or_odd_tables_fail() {
        assert!(reconcile(&mut machine(), &[0x7100_0001]).is_err());
        assert!(reconcile(&mut machine(), &[0x8000_0000, 0x8000_0101]).is_err());
    }
}
