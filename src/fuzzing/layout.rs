// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The fixed world every fuzz input and hostile-input test runs against.
//!
//! * Guest RAM: 64 MiB in two regions with a 16 MiB hole between them (where a real machine
//!   would have MMIO), so TCEs and lists can point below, into, between and above RAM.
//! * PE 0 and PE 1: QEMU PHBs 0 and 1, each with its own model container, both containers in
//!   **one** simulated process (they share the registrations and the locked_vm charge,
//!   kernel-host.md §7 item 34), each with QEMU's 1 GiB default window of 4 KiB pages and a
//!   DDW slot offering QEMU's page sizes (4K, 64K, 2M, 16M).
//! * One VIO window (emulated, no container).
//! * A 16 MiB region ([`HOTPLUG`]) that operations may hot-add; boot RAM may be hot-removed.

use papr_hcall::Liobn;

const MIB: u64 = 1 << 20;

/// First guest RAM region: guest-physical start and length.
pub const REGION_A: (u64, u64) = (0, 32 * MIB);
/// The hole between the regions: not RAM.
pub const HOLE: (u64, u64) = (32 * MIB, 16 * MIB);
/// Second guest RAM region, 16 MiB aligned (so 16 MiB TCE pages fit in it).
pub const REGION_B: (u64, u64) = (48 * MIB, 32 * MIB);
/// One past the last byte of boot-time guest RAM.
pub const RAM_END: u64 = REGION_B.0 + REGION_B.1;
/// A region that is not guest RAM at boot and can be hot-added (and removed) by
/// [`Op::Hotplug`](super::Op::Hotplug); it is not part of the guest memory the accelerator
/// reads TCE lists and RTAS buffers from.
pub const HOTPLUG: (u64, u64) = (96 * MIB, 16 * MIB);
/// The RAM regions, in order.
pub const REGIONS: [(u64, u64); 2] = [REGION_A, REGION_B];

/// Eight 4 KiB pages where operations write TCE lists.
pub const SCRATCH_LISTS: u64 = MIB;
/// Where RTAS argument buffers go by default.
pub const RTAS_BUFFER: u64 = 2 * MIB;

/// BUID of PE 0 (QEMU PHB 0).
pub const PE0_BUID: u64 = 0x0800_0000_2000_0000;
/// BUID of PE 1 (QEMU PHB 1).
pub const PE1_BUID: u64 = 0x0800_0000_2000_0001;
/// A BUID no PE has.
pub const UNKNOWN_BUID: u64 = 0x0800_0000_2000_0007;
/// Default window of PE 0.
pub const PE0_DEFAULT: Liobn = Liobn(0x8000_0000);
/// DDW slot of PE 0.
pub const PE0_DDW: Liobn = Liobn(0x8000_0001);
/// Default window of PE 1.
pub const PE1_DEFAULT: Liobn = Liobn(0x8000_0100);
/// DDW slot of PE 1.
pub const PE1_DDW: Liobn = Liobn(0x8000_0101);
/// The VIO window.
pub const VIO: Liobn = Liobn(0x7100_0000);
/// Size of the VIO window (4 KiB pages at bus address 0).
pub const VIO_WINDOW_SIZE: u64 = 64 * MIB;
/// Size of each PE's default window (QEMU's 1 GiB of 4 KiB pages at bus address 0).
pub const DEFAULT_WINDOW_SIZE: u64 = 1 << 30;

/// The LIOBNs a [`LiobnSel::Known`](super::LiobnSel::Known) picks from: the five windows,
/// an unused LIOBN next to PE 0's, PE 0's default LIOBN with bit 32 set (QEMU: LIOBNs are
/// 32-bit), and 0.
pub const KNOWN_LIOBNS: [Liobn; 8] = [
    PE0_DEFAULT,
    PE0_DDW,
    PE1_DEFAULT,
    PE1_DDW,
    VIO,
    Liobn(0x8000_0002),
    Liobn(0x1_8000_0000),
    Liobn(0),
];

/// The LIOBNs of all windows the world can have.
pub const WINDOW_LIOBNS: [Liobn; 5] = [PE0_DEFAULT, PE0_DDW, PE1_DEFAULT, PE1_DDW, VIO];
