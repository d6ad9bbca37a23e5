// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The table runner of the hostile-input catalogue: every case starts from the same populated
//! world ([`spapr_tce::fuzzing::layout`]), prepares what it needs, performs one hostile
//! request, and is checked for its exact PAPR/RTAS code and for its effect: either nothing
//! changed at all (guest views, windows, model hardware and host windows of both PEs,
//! registrations and their `mapped` counts, locked_vm, backend and model call counters), or
//! exactly the documented change. The world's invariants are checked after every case.

#![allow(dead_code)] // Each table uses a subset of the helpers.

pub mod concurrency;
pub mod indirect;
pub mod put_get;
pub mod rtas;
pub mod stuff;

use papr_hcall::rtas::{RtasCall, RtasStatus};
use papr_hcall::{HcallRequest, HcallStatus, Ioba, Liobn, Tce, H_RTAS};
use spapr_tce::check::check_invariants;
use spapr_tce::fuzzing::checks::{accounting, hardware_inside_registered_ram};
use spapr_tce::fuzzing::layout::{
    PE0_DEFAULT, PE1_DEFAULT, REGION_A, REGION_B, RTAS_BUFFER, SCRATCH_LISTS, VIO, WINDOW_LIOBNS,
};
use spapr_tce::fuzzing::World;
use spapr_tce::BackendCallCounts;
use vfio_spapr::model::{HwExtent, ModelCounters, RegionSnapshot, WindowSnapshot};
use vfio_spapr::SpaprTceIommu;
use vm_memory::{Bytes, GuestAddress};

pub const OK: HcallStatus = HcallStatus::SUCCESS;
pub const P: HcallStatus = HcallStatus::PARAMETER;
pub const RTAS_OK: RtasStatus = RtasStatus::SUCCESS;
pub const RTAS_PARAM: RtasStatus = RtasStatus::PARAMETER_ERROR;

/// 4 KiB.
pub const PAGE: u64 = 0x1000;
/// Bus address of the populated entries of PE 0's default window (8 entries).
pub const MAPPED_IOBA: u64 = 0x4000;
/// Where those 8 entries point (region B, read/write).
pub const MAPPED_GPA: u64 = REGION_B.0;
/// A valid data page in region A.
pub const DATA: u64 = REGION_A.0 + 0x40_0000;

/// Everything a refused request must leave as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Active windows: (LIOBN, bus offset, size, page shift).
    pub windows: Vec<(u64, u64, u64, u32)>,
    /// Non-zero guest-view entries per active window.
    pub entries: Vec<(u64, Vec<(u64, u64)>)>,
    /// Live hardware entries of PE 0 and PE 1.
    pub hw: [Vec<HwExtent>; 2],
    /// Host windows of PE 0 and PE 1.
    pub host_windows: [Vec<WindowSnapshot>; 2],
    /// The process's registrations.
    pub registrations: Vec<RegionSnapshot>,
    /// Pages charged to locked_vm.
    pub locked_vm: u64,
    /// The accelerator's backend counters.
    pub backend: BackendCallCounts,
    /// The models' call counters.
    pub model: [ModelCounters; 2],
}

impl Snapshot {
    pub fn of(world: &World) -> Self {
        let acc = &world.acc;
        let [c0, c1] = &world.containers;
        Self {
            windows: acc
                .windows()
                .iter()
                .map(|w| (w.liobn.0, w.bus_offset, w.size, w.page_shift.get()))
                .collect(),
            entries: WINDOW_LIOBNS
                .iter()
                .filter_map(|&l| {
                    let entries = acc.entries(l)?;
                    Some((l.0, entries.into_iter().map(|(i, t)| (i, t.0)).collect()))
                })
                .collect(),
            hw: [c0.hw_extents(), c1.hw_extents()],
            host_windows: [c0.windows(), c1.windows()],
            registrations: c0.registrations(),
            locked_vm: world.process.locked_vm_pages(),
            backend: acc.counters().backend,
            model: [c0.counters(), c1.counters()],
        }
    }

    /// The non-zero entries of window `liobn` (empty when inactive).
    pub fn entries_of(&self, liobn: Liobn) -> Vec<(u64, u64)> {
        self.entries
            .iter()
            .find(|(l, _)| *l == liobn.0)
            .map(|(_, e)| e.clone())
            .unwrap_or_default()
    }

    /// Live hardware pages of PE `pe`.
    pub fn hw_pages(&self, pe: usize) -> u64 {
        self.hw[pe].iter().map(|e| e.pages).sum()
    }

    /// Is window `liobn` active?
    pub fn has_window(&self, liobn: Liobn) -> bool {
        self.windows.iter().any(|w| w.0 == liobn.0)
    }
}

/// What the case does.
pub enum Act {
    /// A TCE hypercall built from the (prepared) world.
    Hcall(fn(&World) -> HcallRequest),
    /// A hypercall from raw registers.
    Raw(u64, [u64; 9]),
    /// An RTAS call: the function writes the buffer and returns its address; the call goes
    /// through `handle_rtas`.
    Rtas(fn(&World) -> u64),
    /// The same through `handle_hcall(H_RTAS, [address, ..])`.
    RtasHcall(fn(&World) -> u64),
}

/// The exact answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A hypercall status without r4.
    H(HcallStatus),
    /// H_SUCCESS with this r4 (H_GET_TCE).
    Get(u64),
    /// An RTAS status (returned and written in the buffer).
    Rtas(RtasStatus),
    /// An RTAS status returned, with no return cell to write it in.
    RtasUnwritten(RtasStatus),
    /// `handle_rtas` refuses the buffer itself (`Some(Err)`), writing nothing.
    RtasBufferError,
    /// Not a call of the accelerator (`None`).
    NotOurs,
}

/// The effect.
pub enum Effect {
    /// Nothing at all changed.
    Unchanged,
    /// The change is checked by the function (`before`, `after`); it returns why it is wrong.
    Check(fn(&World, &Snapshot, &Snapshot) -> Result<(), String>),
}

/// One catalogue entry.
pub struct Case {
    /// Unique name.
    pub name: &'static str,
    /// The rule and its source.
    pub rule: &'static str,
    /// Brings the populated world into the state the case needs (not part of the check).
    pub prepare: fn(&World),
    /// The hostile request.
    pub act: Act,
    /// Its exact answer.
    pub expect: Expect,
    /// Its effect.
    pub effect: Effect,
}

pub fn nothing(_: &World) {}

pub fn args(values: &[u64]) -> [u64; 9] {
    let mut args = [0; 9];
    args[..values.len()].copy_from_slice(values);
    args
}

pub fn put(liobn: Liobn, ioba: u64, tce: u64) -> HcallRequest {
    HcallRequest::PutTce {
        liobn,
        ioba: Ioba(ioba),
        tce: Tce(tce),
    }
}

pub fn get(liobn: Liobn, ioba: u64) -> HcallRequest {
    HcallRequest::GetTce {
        liobn,
        ioba: Ioba(ioba),
    }
}

pub fn stuff(liobn: Liobn, ioba: u64, value: u64, count: u64) -> HcallRequest {
    HcallRequest::StuffTce {
        liobn,
        ioba: Ioba(ioba),
        value: Tce(value),
        count,
    }
}

pub fn indirect(liobn: Liobn, ioba: u64, list: u64, count: u64) -> HcallRequest {
    HcallRequest::PutTceIndirect {
        liobn,
        ioba: Ioba(ioba),
        list,
        count,
    }
}

/// Writes an RTAS buffer (token, declared nargs/nret, argument cells, nret zero cells) at
/// `address`, dropping cells outside RAM; returns `address`.
pub fn write_rtas(
    world: &World,
    address: u64,
    token: u32,
    args: &[u32],
    nargs: u32,
    nret: u32,
) -> u64 {
    let cells: Vec<u32> = [token, nargs, nret]
        .into_iter()
        .chain(args.iter().copied())
        .chain(std::iter::repeat_n(0, nret.min(16) as usize))
        .collect();
    for (i, cell) in cells.iter().enumerate() {
        let _ = world
            .mem
            .write_slice(&cell.to_be_bytes(), GuestAddress(address + 4 * i as u64));
    }
    address
}

/// A well-formed RTAS call at [`RTAS_BUFFER`].
pub fn rtas_call(world: &World, token: u32, args: &[u32], nret: u32) -> u64 {
    write_rtas(world, RTAS_BUFFER, token, args, args.len() as u32, nret)
}

/// The (config_addr, BUID hi, BUID lo) cells of PE `pe`.
pub fn pe_cells(pe: usize) -> [u32; 3] {
    let buid = World::buid(pe);
    [0, (buid >> 32) as u32, buid as u32]
}

/// Creates a DDW on PE `pe` (page shift, window shift) and returns (LIOBN, start).
pub fn create_ddw(world: &World, pe: usize, page_shift: u32, window_shift: u32) -> (Liobn, u64) {
    let [c, hi, lo] = pe_cells(pe);
    let buffer = rtas_call(world, 0x2027, &[c, hi, lo, page_shift, window_shift], 4);
    let status = world.acc.handle_rtas(GuestAddress(buffer));
    assert!(
        matches!(status, Some(Ok(RtasStatus::SUCCESS))),
        "create: {status:?}"
    );
    let rets = RtasCall::read_from(&*world.mem, GuestAddress(buffer))
        .and_then(|call| call.read_rets(&*world.mem))
        .expect("rets");
    (
        Liobn(u64::from(rets[1])),
        (u64::from(rets[2]) << 32) | u64::from(rets[3]),
    )
}

/// Removes window `liobn` through RTAS.
pub fn remove_window(world: &World, liobn: Liobn) {
    let buffer = rtas_call(world, 0x2028, &[liobn.0 as u32], 1);
    let status = world.acc.handle_rtas(GuestAddress(buffer));
    assert!(
        matches!(status, Some(Ok(RtasStatus::SUCCESS))),
        "remove: {status:?}"
    );
}

/// Writes `tces` big-endian at scratch list page `slot`; returns its address.
pub fn list(world: &World, slot: u64, tces: &[u64]) -> u64 {
    let address = SCRATCH_LISTS + slot * PAGE;
    world.write_list(address, tces);
    address
}

/// `count` read/write TCEs for consecutive 4 KiB pages from `gpa`.
pub fn linear(gpa: u64, count: u64, permission: u64) -> Vec<u64> {
    (0..count).map(|i| (gpa + i * PAGE) | permission).collect()
}

/// The populated world every case starts from: 8 R/W entries in PE 0's default window at
/// [`MAPPED_IOBA`], one read-only entry in PE 1's, one write-only entry in the VIO window.
pub fn populated() -> World {
    let world = World::new().expect("world");
    let address = list(&world, 7, &linear(MAPPED_GPA, 8, 3));
    assert_eq!(world.indirect(PE0_DEFAULT, MAPPED_IOBA, address, 8), OK);
    assert_eq!(world.put(PE1_DEFAULT, 0x2000, DATA | 1), OK);
    assert_eq!(world.put(VIO, 0x3000, DATA | 2), OK);
    world
}

/// What happened.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    H(HcallStatus, Option<u64>),
    Rtas(Option<Result<RtasStatus, String>>),
}

fn perform(world: &World, act: &Act) -> Answer {
    match act {
        Act::Hcall(build) => {
            let (nr, args) = build(world).encode();
            match world.acc.handle_hcall(nr, &args) {
                Some(o) => Answer::H(o.status, o.r4),
                None => Answer::Rtas(None),
            }
        }
        Act::Raw(nr, args) => match world.acc.handle_hcall(*nr, args) {
            Some(o) => Answer::H(o.status, o.r4),
            None => Answer::Rtas(None),
        },
        Act::Rtas(write) => {
            let address = write(world);
            Answer::Rtas(
                world
                    .acc
                    .handle_rtas(GuestAddress(address))
                    .map(|r| r.map_err(|e| e.to_string())),
            )
        }
        Act::RtasHcall(write) => {
            let address = write(world);
            match world.acc.handle_hcall(H_RTAS, &args(&[address])) {
                Some(o) => Answer::H(o.status, o.r4),
                None => Answer::Rtas(None),
            }
        }
    }
}

fn rtas_status_in_buffer(world: &World, act: &Act) -> Option<RtasStatus> {
    let (Act::Rtas(_) | Act::RtasHcall(_)) = act else {
        return None;
    };
    let call = RtasCall::read_from(&*world.mem, GuestAddress(RTAS_BUFFER)).ok()?;
    let rets = call.read_rets(&*world.mem).ok()?;
    rets.first().map(|&c| RtasStatus::from_cell(c))
}

/// Runs one case on a fresh populated world; `Err` says what is wrong.
pub fn run_case(case: &Case) -> Result<(), String> {
    let world = populated();
    (case.prepare)(&world);
    let before = Snapshot::of(&world);
    let rets_before = rtas_status_in_buffer(&world, &case.act);
    let answer = perform(&world, &case.act);
    let after = Snapshot::of(&world);
    let ok = match (case.expect, &answer) {
        (Expect::H(status), Answer::H(s, None)) => *s == status,
        (Expect::Get(value), Answer::H(s, Some(r4))) => *s == OK && *r4 == value,
        (Expect::Rtas(status), Answer::Rtas(Some(Ok(s)))) => {
            *s == status && rtas_status_in_buffer(&world, &case.act) == Some(status)
        }
        (Expect::Rtas(status), Answer::H(OK, None)) => {
            rtas_status_in_buffer(&world, &case.act) == Some(status)
        }
        (Expect::RtasUnwritten(status), Answer::Rtas(Some(Ok(s)))) => {
            *s == status && rtas_status_in_buffer(&world, &case.act).is_none()
        }
        (Expect::RtasBufferError, Answer::Rtas(Some(Err(_)))) => {
            rtas_status_in_buffer(&world, &case.act) == rets_before
        }
        (Expect::RtasBufferError, Answer::H(P, None)) => true,
        (Expect::NotOurs, Answer::Rtas(None)) => true,
        _ => false,
    };
    if !ok {
        return Err(format!("answered {answer:?}, expected {:?}", case.expect));
    }
    match &case.effect {
        Effect::Unchanged if before != after => {
            return Err(format!(
                "state changed:\nbefore {before:#x?}\nafter  {after:#x?}"
            ));
        }
        Effect::Unchanged => {}
        Effect::Check(check) => check(&world, &before, &after)?,
    }
    check_invariants(&world.acc).map_err(|v| format!("invariants: {v:#?}"))?;
    accounting(&world).map_err(|v| v.to_string())?;
    for pe in 0..2 {
        hardware_inside_registered_ram(&world, pe).map_err(|v| v.to_string())?;
    }
    world.acc.shutdown().map_err(|e| format!("shutdown: {e}"))?;
    if world.process.locked_vm_pages() != 0 || !world.containers[0].registrations().is_empty() {
        return Err("shutdown left registrations or locked_vm".into());
    }
    Ok(())
}

/// Runs a table; every failing case is reported, with its rule.
pub fn run_table(cases: &[Case]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            run_case(case)
                .err()
                .map(|why| format!("{} [{}]: {why}", case.name, case.rule))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
