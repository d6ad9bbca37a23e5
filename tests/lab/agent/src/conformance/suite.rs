//! The scenario suite: data, written once, that every side runs (the real kernel through
//! `VfioSpaprContainer`, the reference model through `ModelContainer`).
//!
//! Expectations are those of kernel-host.md §3.4 (per-ioctl checks, in order), §3.5 (pSeries
//! windows) and §7 (checklist) for the lab's host: a Linux 6.12 pseries guest with 4 KiB
//! pages, `edu` alone on PHB 4 with a 256 MiB default window at 0, DDWs at `1 << 59`
//! (shared/lab/README.md §9.2). `Expect::Any` marks what the reference leaves open; there
//! only the sides are compared.

use vfio_spapr::DmaAccess::{Read, ReadWrite, Write};

use super::scenario::Bus::{At, Created};
use super::scenario::{Checked, Expect, Scenario, Step};

const K4: u64 = 0x1000;
const K64: u64 = 0x1_0000;
const M1: u64 = 0x10_0000;
const M16: u64 = 0x100_0000;
/// The default window of the lab's PHB 4 (`dma_win_size=0x10000000`).
const DEFAULT_WINDOW: u64 = 0x1000_0000;
/// Where QEMU's pseries places every DDW (`dma64_win_addr`).
const DDW: u64 = 1 << 59;

/// Observed in the lab (6.12.95), against kernel-host.md §3.4 UNREGISTER 5 / §7 item 36
/// (EBUSY): `tce_iommu_unregister_pages` drops the container's reference, returns 0, and
/// ignores the EBUSY of its final `mm_iommu_put`, so the still-mapped region stays pinned
/// for the life of the process (WARNING in `destroy_context` at exit).
const UNREGISTER_MAPPED: &str =
    "observed: 0 while mapped (kernel-host.md §3.4 UNREGISTER 5 says EBUSY)";

/// The reference model's deliberate deviation from [`UNREGISTER_MAPPED`]: it refuses with
/// EBUSY and keeps the registration instead of leaking it (vfio_spapr::model docs).
const MODEL_EBUSY: &str = "model: EBUSY, keeps the registration (refuses to leak)";

/// Observed in the lab: MAP_DMA/UNMAP_DMA with an IOVA not aligned to the IOMMU page
/// return **+1** (`iommu_tce_put_param_check` is a `||` of two checks, and the ioctl
/// returns its value), which the container reports as success.
const POSITIVE_RETURN: &str =
    "observed: the ioctl returns +1, not an errno (§3.4 MAP_DMA 7 says EINVAL)";

const EPERM: i32 = libc::EPERM;
const ENOENT: i32 = libc::ENOENT;
const ENXIO: i32 = libc::ENXIO;
const EBUSY: i32 = libc::EBUSY;
const EINVAL: i32 = libc::EINVAL;
const ENOSPC: i32 = libc::ENOSPC;

/// Bytes of arena the suite addresses (every `off + len` stays inside).
pub const ARENA_BYTES: u64 = 4 * M1;

fn ok(step: Step, rule: &'static str) -> Checked {
    Checked {
        step,
        expect: Expect::Ok,
        rule,
        deviation: None,
    }
}

fn at(start: u64, step: Step, rule: &'static str) -> Checked {
    Checked {
        step,
        expect: Expect::CreatedAt(start),
        rule,
        deviation: None,
    }
}

fn err(errno: i32, step: Step, rule: &'static str) -> Checked {
    Checked {
        step,
        expect: Expect::Err(errno),
        rule,
        deviation: None,
    }
}

fn any(step: Step, rule: &'static str) -> Checked {
    Checked {
        step,
        expect: Expect::Any,
        rule,
        deviation: None,
    }
}

fn reg(off: u64, len: u64) -> Step {
    Step::Register { off, len }
}

fn unreg(off: u64, len: u64) -> Step {
    Step::Unregister { off, len }
}

fn create(page_shift: u32, window_size: u64, levels: u32) -> Step {
    Step::Create {
        page_shift,
        window_size,
        levels,
    }
}

fn map(iova: super::scenario::Bus, len: u64, off: u64) -> Step {
    Step::Map {
        iova,
        len,
        off,
        access: ReadWrite,
    }
}

fn unmap(iova: super::scenario::Bus, len: u64) -> Step {
    Step::Unmap { iova, len }
}

fn scenario(name: &'static str, steps: Vec<Checked>) -> Scenario {
    Scenario { name, steps }
}

/// Every scenario of the regular suite, in the order the lab runs them.
pub fn scenarios() -> Vec<Scenario> {
    let mut all = registration();
    all.extend(windows());
    all.extend(mapping());
    all
}

/// Requests that hurt the lab's guest kernel (6.12.95): each one is a reason for the
/// accelerator to validate before calling the kernel. Run only on request (part
/// `hazards`), and last: they taint the kernel or kill the calling process.
pub fn hazards() -> Vec<Scenario> {
    vec![
        scenario(
            "register-size-0",
            vec![any(
                reg(0, 0),
                "observed: ENOMEM after a WARNING in __vmalloc_node_range (vzalloc(0) in \
                 mm_iommu_do_alloc); kernel-host.md §3.4 REGISTER: unverified",
            )],
        ),
        scenario(
            "map-past-window-end",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER"),
                at(DDW, create(12, M16, 1), "§3.5 pSeries DDW"),
                any(
                    map(Created(0, M16 - K4), 2 * K4, 0),
                    "§7 item 8: the range end is not checked; observed: kernel Oops \
                     (bad read in tce_iommu_unuse_page_v2), the caller dies of SIGSEGV",
                ),
            ],
        ),
    ]
}

fn registration() -> Vec<Scenario> {
    vec![
        scenario("info", vec![ok(Step::Info, "§3.4 GET_INFO")]),
        scenario(
            "map-before-register",
            vec![
                err(EPERM, map(At(0), K4, 0), "§3.4 MAP_DMA 1, §7 item 33"),
                err(EPERM, unmap(At(0), K4), "§3.4 UNMAP_DMA 1"),
            ],
        ),
        scenario(
            "unregister-unbound",
            vec![err(EPERM, unreg(0, K64), "§3.4 UNREGISTER 1, §7 item 32")],
        ),
        scenario(
            "register-unregister",
            vec![
                ok(reg(0, K64), "§3.4 REGISTER 6"),
                ok(unreg(0, K64), "§3.4 UNREGISTER 5"),
                err(ENOENT, unreg(0, K64), "§3.4 UNREGISTER 4"),
            ],
        ),
        scenario(
            "register-duplicate",
            vec![
                ok(reg(0, K64), "§3.4 REGISTER 6"),
                err(EBUSY, reg(0, K64), "§3.4 REGISTER 4, §7 item 34"),
            ],
        ),
        scenario(
            "register-overlap",
            vec![
                ok(reg(0, K64), "§3.4 REGISTER 6"),
                err(EINVAL, reg(K64 / 2, K64), "§3.4 REGISTER 5: overlap"),
                err(
                    EINVAL,
                    reg(0, 2 * K64),
                    "§3.4 REGISTER 5: same start, other size",
                ),
                ok(reg(K64, K64), "§3.4 REGISTER: adjacent is no overlap"),
                err(
                    ENOENT,
                    unreg(0, 2 * K64),
                    "§7 items 36, 48: regions are not merged",
                ),
            ],
        ),
        scenario(
            "register-misaligned",
            vec![
                err(EINVAL, reg(0x800, K4), "§3.4 REGISTER 3: vaddr"),
                err(EINVAL, reg(0, 0x800), "§3.4 REGISTER 3: size"),
            ],
        ),
        scenario(
            "unregister-mismatch",
            vec![
                ok(reg(0, K64), "§3.4 REGISTER 6"),
                err(ENOENT, unreg(0, K64 / 2), "§3.4 UNREGISTER 4: size"),
                err(ENOENT, unreg(K4, K64 - K4), "§3.4 UNREGISTER 4: vaddr"),
                err(
                    EINVAL,
                    unreg(0x800, K64),
                    "§3.4 UNREGISTER 3: alignment first",
                ),
                ok(unreg(0, K64), "§3.4 UNREGISTER 5"),
            ],
        ),
        scenario(
            "unregister-while-mapped",
            vec![
                ok(reg(0, K64), "§3.4 REGISTER 6"),
                ok(reg(K64, K64), "§3.4 REGISTER 6"),
                ok(map(At(K64), K4, K64 + K4), "§3.4 MAP_DMA 8"),
                ok(
                    unreg(0, K64),
                    "§3.4 UNREGISTER 5: no mapping in this region",
                ),
                ok(unreg(K64, K64), UNREGISTER_MAPPED).deviates(Expect::Err(EBUSY), MODEL_EBUSY),
                err(
                    ENOENT,
                    unreg(K64, K64),
                    "observed: the container forgot the region",
                )
                .deviates(Expect::Err(EBUSY), MODEL_EBUSY),
                ok(unmap(At(K64), K4), "§3.4 UNMAP_DMA 7"),
                ok(
                    reg(K64, K64),
                    "§3.4 REGISTER 4: the leaked region is taken again",
                )
                .deviates(
                    Expect::Err(EBUSY),
                    "model: still registered in this container",
                ),
                ok(unreg(K64, K64), "§3.4 UNREGISTER 5"),
                err(
                    EINVAL,
                    reg(K64, 2 * K64),
                    "observed: the region still leaks (overlap)",
                )
                .deviates(Expect::Ok, "model: nothing leaked"),
            ],
        ),
    ]
}

fn windows() -> Vec<Scenario> {
    vec![
        scenario(
            "default-window-lazy",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER 6"),
                ok(
                    map(At(0), K4, 0),
                    "§3.4 MAP_DMA 3: default window materialised",
                ),
                ok(
                    Step::Map {
                        iova: At(DEFAULT_WINDOW - K4),
                        len: K4,
                        off: K4,
                        access: Read,
                    },
                    "§3.4 MAP_DMA: last page of the default window",
                ),
                ok(
                    Step::Map {
                        iova: At(K4),
                        len: K4,
                        off: 2 * K4,
                        access: Write,
                    },
                    "§7 item 44: write-only",
                ),
                err(ENXIO, map(At(DEFAULT_WINDOW), K4, 0), "§3.4 MAP_DMA 4"),
                ok(unmap(At(0), 2 * K4), "§3.4 UNMAP_DMA 7"),
                ok(unmap(At(0), 2 * K4), "§7 item 43: already empty"),
                ok(unmap(At(DEFAULT_WINDOW - K4), K4), "§3.4 UNMAP_DMA 7"),
            ],
        ),
        scenario(
            "default-window-suppressed",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER 6"),
                ok(Step::Remove { at: At(0) }, "§3.4 REMOVE 4, §7 item 39"),
                err(ENXIO, map(At(0), K4, 0), "§3.4 MAP_DMA 4: no window"),
                err(EINVAL, Step::Remove { at: At(0) }, "§3.4 REMOVE 5"),
                at(
                    0,
                    create(12, M16, 1),
                    "§3.5 pSeries: slot 0 re-creates the default window",
                ),
                ok(map(Created(0, 0), K4, 0), "§3.4 MAP_DMA"),
                err(
                    ENXIO,
                    map(Created(0, M16), K4, 0),
                    "§3.5 pSeries: the window shrank",
                ),
            ],
        ),
        scenario(
            "ddw-create-remove",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER 6"),
                at(
                    DDW,
                    create(12, M16, 1),
                    "§7 item 38: default window first, DDW in slot 1",
                ),
                ok(map(Created(0, 0), K64, 0), "§3.4 MAP_DMA"),
                ok(map(Created(0, M16 - K4), K4, 0), "§3.4 MAP_DMA: last page"),
                err(ENXIO, map(Created(0, M16), K4, 0), "§3.4 MAP_DMA 4"),
                ok(map(At(0), K4, 0), "§7 item 38: the default window exists"),
                err(ENOSPC, create(12, M16, 1), "§3.4 CREATE 5"),
                ok(
                    Step::Remove {
                        at: Created(0, 0x5000),
                    },
                    "§7 item 39: any address inside",
                ),
                err(EINVAL, Step::Remove { at: Created(0, 0) }, "§3.4 REMOVE 5"),
                err(ENXIO, unmap(Created(0, 0), K4), "§3.4 UNMAP_DMA 4"),
            ],
        ),
        scenario(
            "create-invalid",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER 6"),
                err(EINVAL, create(13, M16, 1), "§3.4 CREATE 6: page size"),
                err(EINVAL, create(30, 1 << 32, 1), "§3.4 CREATE 6: 1 GiB pages"),
                err(
                    EINVAL,
                    create(12, M16 + M16 / 2, 1),
                    "§3.4 CREATE 7: not a power of 2",
                ),
                Checked {
                    step: Step::Info,
                    expect: Expect::Ok,
                    rule: "§3.4 GET_INFO",
                    deviation: None,
                },
            ],
        ),
        scenario(
            "create-levels-0",
            vec![at(
                DDW,
                create(12, M16, 0),
                "observed: pSeries accepts levels 0 (§3.4 CREATE 7 says EINVAL: PowerNV)",
            )],
        ),
        scenario(
            "create-levels-2",
            vec![err(
                EINVAL,
                create(12, M16, 2),
                "observed: pSeries refuses levels > 1 (§3.5: unverified, likely ENOMEM)",
            )],
        ),
        scenario(
            "create-levels-6",
            vec![err(EINVAL, create(12, M16, 6), "§3.4 CREATE 7: levels > 5")],
        ),
        scenario(
            "slot-reuse",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER 6"),
                ok(Step::Remove { at: At(0) }, "§3.4 REMOVE 4"),
                at(0, create(12, M16, 1), "§3.5 pSeries slot 0"),
                at(DDW, create(12, M16, 1), "§3.5 pSeries slot 1"),
                ok(Step::Remove { at: Created(0, 0) }, "§3.4 REMOVE 6"),
                err(
                    EPERM,
                    create(12, M16, 1),
                    "observed: no slot-0 re-create while a DDW exists (§3.4 CREATE 5 says ok@0)",
                ),
                ok(Step::Remove { at: Created(1, 0) }, "§3.4 REMOVE 6"),
                at(
                    0,
                    create(12, M16, 1),
                    "observed: slot 0 again once the DDW is gone",
                ),
            ],
        ),
        scenario(
            "remove-window-releases-mappings",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER 6"),
                at(DDW, create(12, M16, 1), "§3.5 pSeries DDW"),
                any(Step::Info, "§3.5 pSeries: windows left after a DDW"),
                ok(map(Created(0, 0), K64, 0), "§3.4 MAP_DMA"),
                ok(
                    Step::Remove { at: Created(0, 0) },
                    "§3.4 REMOVE 6: clears every entry",
                ),
                ok(unreg(0, M1), "§3.4 UNREGISTER 5: nothing mapped any more"),
                ok(reg(0, 2 * M1), "§4.2: the region is gone (no overlap)"),
            ],
        ),
    ]
}

fn mapping() -> Vec<Scenario> {
    vec![
        scenario(
            "map-invalid",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER 6"),
                err(EINVAL, map(At(0x800), K4, 0), POSITIVE_RETURN),
                err(EINVAL, map(At(0), 0x800, 0), "§3.4 MAP_DMA 5: size"),
                err(EINVAL, map(At(0), K4, 0x800), "§3.4 MAP_DMA 5: vaddr"),
                err(
                    EINVAL,
                    map(At(0), K4, 2 * M1),
                    "§3.4 MAP_DMA 8: not registered",
                ),
                err(
                    EINVAL,
                    map(At(0), 2 * K4, M1 - K4),
                    "§3.4 MAP_DMA 8: past the region",
                ),
                ok(map(At(0), 0, 0), "§3.4 MAP_DMA: size 0 maps nothing"),
                err(ENXIO, map(At(DDW), K4, 0), "§3.4 MAP_DMA 4: no DDW yet"),
            ],
        ),
        scenario(
            "map-replace",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER 6"),
                ok(map(At(0), K4, 0), "§3.4 MAP_DMA"),
                ok(
                    Step::Map {
                        iova: At(0),
                        len: K4,
                        off: K4,
                        access: Read,
                    },
                    "§7 item 42: replaces, no EBUSY",
                ),
                ok(unmap(At(0), K4), "§3.4 UNMAP_DMA"),
                ok(
                    unreg(0, M1),
                    "§3.4 UNREGISTER 5: the replaced entry left no reference",
                ),
                ok(reg(0, 2 * M1), "§4.2: the region is gone (no overlap)"),
            ],
        ),
        scenario(
            "ddw-64k-anonymous",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER 6"),
                at(DDW, create(16, M16, 1), "§3.5 pSeries DDW, 64 KiB pages"),
                err(
                    EINVAL,
                    map(Created(0, 0), K64, 0),
                    "§4.3: anonymous memory backs only host-page (4 KiB) IOMMU pages",
                ),
                err(EINVAL, map(Created(0, 0), K4, 0), "§3.4 MAP_DMA 5: size"),
            ],
        ),
        scenario(
            "unmap-invalid",
            vec![
                ok(reg(0, M1), "§3.4 REGISTER 6"),
                err(ENXIO, unmap(At(DEFAULT_WINDOW), K4), "§3.4 UNMAP_DMA 4"),
                err(EINVAL, unmap(At(0x800), K4), POSITIVE_RETURN),
                err(EINVAL, unmap(At(0), 0x800), "§3.4 UNMAP_DMA 5"),
                ok(unmap(At(0), 0), "§3.4 UNMAP_DMA 7: always 0"),
            ],
        ),
    ]
}
