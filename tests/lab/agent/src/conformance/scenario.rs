//! The scenario language: steps on one container, what the kernel is documented to answer,
//! and how one side executes them.

use std::fmt;

use vfio_spapr::{DmaAccess, SpaprIommuInfo, SpaprTceIommu, WindowRequest};

/// A bus address, either absolute or relative to a window this scenario created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bus {
    /// This exact bus address.
    At(u64),
    /// `offset` bytes into the window returned by the scenario's `n`-th successful
    /// `create_window` (0-based), on the side executing it.
    Created(usize, u64),
}

/// One container operation. Memory is named by offsets into the shared [`Arena`]
/// (`crate::arena::Arena`), so every side issues the same virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `VFIO_IOMMU_SPAPR_TCE_GET_INFO`.
    Info,
    /// `VFIO_IOMMU_SPAPR_REGISTER_MEMORY` of `[base + off, + len)`.
    Register { off: u64, len: u64 },
    /// `VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY` of `[base + off, + len)`.
    Unregister { off: u64, len: u64 },
    /// `VFIO_IOMMU_SPAPR_TCE_CREATE`.
    Create {
        page_shift: u32,
        window_size: u64,
        levels: u32,
    },
    /// `VFIO_IOMMU_SPAPR_TCE_REMOVE` of the window containing `at`.
    Remove { at: Bus },
    /// `VFIO_IOMMU_MAP_DMA` of `len` bytes at `iova` to `base + off`.
    Map {
        iova: Bus,
        len: u64,
        off: u64,
        access: DmaAccess,
    },
    /// `VFIO_IOMMU_UNMAP_DMA` of `len` bytes at `iova`.
    Unmap { iova: Bus, len: u64 },
}

/// What one step returned on one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success without a value.
    Ok,
    /// `create_window` succeeded at this bus address.
    Created(u64),
    /// `info` succeeded.
    Info(SpaprIommuInfo),
    /// The operation failed with this errno.
    Err(i32),
    /// Not executed: it names a window this side never created.
    Unresolved,
}

/// What kernel-host.md documents for a step on the lab's pseries host (PHB 4 of
/// `tests/lab/run`: 4 KiB host pages, 256 MiB default window at 0, DDWs at `1 << 59`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Success (any value).
    Ok,
    /// `create_window` returns this bus address.
    CreatedAt(u64),
    /// Failure with this errno.
    Err(i32),
    /// Undocumented or unverified: only the sides are compared with each other.
    Any,
}

impl Expect {
    /// True when `outcome` is what this expectation documents.
    pub fn admits(self, outcome: Outcome) -> bool {
        match (self, outcome) {
            (Expect::Any, _) => true,
            (_, Outcome::Unresolved) => false,
            (Expect::Ok, Outcome::Ok | Outcome::Created(_) | Outcome::Info(_)) => true,
            (Expect::CreatedAt(want), Outcome::Created(got)) => want == got,
            (Expect::Err(want), Outcome::Err(got)) => want == got,
            _ => false,
        }
    }
}

/// One step with its documented result and the rule it checks.
#[derive(Clone, Copy, Debug)]
pub struct Checked {
    /// The operation.
    pub step: Step,
    /// The documented result.
    pub expect: Expect,
    /// Where the rule is written down (e.g. "§3.4 MAP_DMA 1").
    pub rule: &'static str,
    /// A deliberate, documented deviation of the reference model from the kernel at this
    /// step: what the model answers instead, and why. Sides other than the first (the
    /// kernel) are judged against it, and their difference from the kernel is reported as a
    /// known deviation rather than a failure.
    pub deviation: Option<(Expect, &'static str)>,
}

impl Checked {
    /// This step with a documented model deviation.
    pub fn deviates(self, model: Expect, why: &'static str) -> Self {
        Self {
            deviation: Some((model, why)),
            ..self
        }
    }
}

/// A named sequence of steps on one fresh container (group attached, v2 IOMMU set, nothing
/// else done).
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short unique name (no spaces): the result line's name.
    pub name: &'static str,
    /// The steps, in order.
    pub steps: Vec<Checked>,
}

/// Executes `steps` on `iommu`; `base` is the arena's address. Returns one outcome per step.
pub fn execute(iommu: &dyn SpaprTceIommu, base: u64, steps: &[Checked]) -> Vec<Outcome> {
    let mut created: Vec<u64> = Vec::new();
    let mut outcomes = Vec::with_capacity(steps.len());
    for checked in steps {
        let outcome = execute_step(iommu, base, &created, checked.step);
        if let Outcome::Created(start) = outcome {
            created.push(start);
        }
        outcomes.push(outcome);
    }
    outcomes
}

fn resolve(created: &[u64], bus: Bus) -> Option<u64> {
    match bus {
        Bus::At(addr) => Some(addr),
        Bus::Created(n, offset) => created.get(n).and_then(|s| s.checked_add(offset)),
    }
}

fn execute_step(iommu: &dyn SpaprTceIommu, base: u64, created: &[u64], step: Step) -> Outcome {
    let unit = |r: Result<(), vfio_spapr::IommuError>| match r {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::Err(e.errno),
    };
    match step {
        Step::Info => match iommu.info() {
            Ok(info) => Outcome::Info(info),
            Err(e) => Outcome::Err(e.errno),
        },
        Step::Register { off, len } => unit(iommu.register_memory(base.wrapping_add(off), len)),
        Step::Unregister { off, len } => unit(iommu.unregister_memory(base.wrapping_add(off), len)),
        Step::Create {
            page_shift,
            window_size,
            levels,
        } => match iommu.create_window(WindowRequest {
            page_shift,
            window_size,
            levels,
        }) {
            Ok(start) => Outcome::Created(start),
            Err(e) => Outcome::Err(e.errno),
        },
        Step::Remove { at } => match resolve(created, at) {
            Some(addr) => unit(iommu.remove_window(addr)),
            None => Outcome::Unresolved,
        },
        Step::Map {
            iova,
            len,
            off,
            access,
        } => match resolve(created, iova) {
            Some(iova) => unit(iommu.map_dma(iova, len, base.wrapping_add(off), access)),
            None => Outcome::Unresolved,
        },
        Step::Unmap { iova, len } => match resolve(created, iova) {
            Some(iova) => unit(iommu.unmap_dma(iova, len)),
            None => Outcome::Unresolved,
        },
    }
}

impl fmt::Display for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bus::At(addr) => write!(f, "{addr:#x}"),
            Bus::Created(n, 0) => write!(f, "w{n}"),
            Bus::Created(n, off) => write!(f, "w{n}+{off:#x}"),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Info => write!(f, "info"),
            Step::Register { off, len } => write!(f, "register(+{off:#x},{len:#x})"),
            Step::Unregister { off, len } => write!(f, "unregister(+{off:#x},{len:#x})"),
            Step::Create {
                page_shift,
                window_size,
                levels,
            } => write!(f, "create(shift {page_shift},{window_size:#x},{levels}L)"),
            Step::Remove { at } => write!(f, "remove({at})"),
            Step::Map {
                iova,
                len,
                off,
                access,
            } => write!(f, "map({iova},{len:#x},+{off:#x},{access:?})"),
            Step::Unmap { iova, len } => write!(f, "unmap({iova},{len:#x})"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => write!(f, "ok"),
            Outcome::Created(start) => write!(f, "ok@{start:#x}"),
            Outcome::Info(info) => {
                write!(
                    f,
                    "ok[dma32 {:#x}+{:#x}",
                    info.dma32_window_start, info.dma32_window_size
                )?;
                match info.ddw {
                    Some(d) => write!(
                        f,
                        " pgsizes {:#x} windows {} levels {}]",
                        d.pgsizes, d.max_dynamic_windows_supported, d.levels
                    ),
                    None => write!(f, " no-ddw]"),
                }
            }
            Outcome::Err(errno) => write!(f, "{}", errno_name(*errno)),
            Outcome::Unresolved => write!(f, "unresolved"),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Ok => write!(f, "ok"),
            Expect::CreatedAt(start) => write!(f, "ok@{start:#x}"),
            Expect::Err(errno) => write!(f, "{}", errno_name(*errno)),
            Expect::Any => write!(f, "any"),
        }
    }
}

/// The errno's symbolic name (`EINVAL`), or its number.
pub fn errno_name(errno: i32) -> String {
    match vfio_spapr::IommuError::new(vfio_spapr::IommuOp::Open, errno).errno_name() {
        "errno" => format!("errno{errno}"),
        name => name.to_string(),
    }
}

impl Outcome {
    /// One-line text form, for passing outcomes between processes ([`Outcome::decode`]).
    pub fn encode(&self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Created(start) => format!("created {start}"),
            Outcome::Info(i) => match i.ddw {
                Some(d) => format!(
                    "info {} {} {} {} {}",
                    i.dma32_window_start,
                    i.dma32_window_size,
                    d.pgsizes,
                    d.max_dynamic_windows_supported,
                    d.levels
                ),
                None => format!("info {} {}", i.dma32_window_start, i.dma32_window_size),
            },
            Outcome::Err(errno) => format!("err {errno}"),
            Outcome::Unresolved => "unresolved".into(),
        }
    }

    /// Parses [`Outcome::encode`]'s form.
    pub fn decode(line: &str) -> Option<Outcome> {
        let words: Vec<&str> = line.split_whitespace().collect();
        Some(match words.as_slice() {
            ["ok"] => Outcome::Ok,
            ["unresolved"] => Outcome::Unresolved,
            ["created", start] => Outcome::Created(start.parse().ok()?),
            ["err", errno] => Outcome::Err(errno.parse().ok()?),
            ["info", start, size] => Outcome::Info(SpaprIommuInfo {
                dma32_window_start: start.parse().ok()?,
                dma32_window_size: size.parse().ok()?,
                ddw: None,
            }),
            ["info", start, size, pgsizes, windows, levels] => Outcome::Info(SpaprIommuInfo {
                dma32_window_start: start.parse().ok()?,
                dma32_window_size: size.parse().ok()?,
                ddw: Some(vfio_spapr::DdwInfo {
                    pgsizes: pgsizes.parse().ok()?,
                    max_dynamic_windows_supported: windows.parse().ok()?,
                    levels: levels.parse().ok()?,
                }),
            }),
            _ => return None,
        })
    }
}
