//! The L2 program: a command loop in real mode that issues the hypercalls its mailbox
//! holds, each followed by a marker hypercall that always exits to the VMM.
//!
//! Technique of shared/lab/README.md §12.5: 0x6f00 is not a PAPR hcall, so KVM never
//! handles it and it reaches userspace as `KVM_EXIT_PAPR_HCALL`, carrying the previous
//! hcall's r3 (status) and r4 (`H_GET_TCE`'s TCE). A TCE hcall the kernel completes itself
//! therefore shows up as a marker exit alone; one the kernel punts shows up as its own exit
//! before the marker.
//!
//! Guest-physical layout (the memslot starts at 0; MSR = SF|ME|LE, IR = DR = 0):
//!
//! | gpa | what |
//! |---|---|
//! | 0x0100..0x0f60 | one stub per exception vector: `li r3,0x7000+vector; mfsrr0 r4; mfsrr1 r5; sc 1; b .` |
//! | 0x1000 | the command loop (below) |
//! | 0x2000, 0x3000 | TCE list pages for `H_PUT_TCE_INDIRECT` (big-endian entries) |
//! | 0x4000 | RTAS argument buffers |
//! | 0x8000 | the mailbox: 64-byte commands `{nr, arg0..arg3}` (little-endian u64s) |
//!
//! The loop, r30 = address of the next command:
//!
//! ```text
//! loop: ld r3,0(r30); ld r4,8(r30); ld r5,16(r30); ld r6,24(r30); ld r7,32(r30)
//!       sc 1                  the command's hcall
//!       mr r6,r30             which command (so the VMM can tell they stay in step)
//!       mr r5,r4              its r4 output
//!       mr r4,r3              its status
//!       li r3,0x6f00
//!       sc 1                  marker: exits to the VMM
//!       addi r30,r30,64
//!       b loop
//! ```
//!
//! The VMM writes command `i` before resuming the vCPU that stopped at marker `i - 1`, and
//! reads guest state only while the vCPU is stopped. r30 survives every hcall: KVM writes
//! r3..r12 only (kernel-host.md §1.3).

use papr_hcall::HcallStatus;
use vm_memory::{Bytes, GuestAddress};

use super::asm::{addi, b, ld, li, mfspr, mr, B_SELF, SC_1, SPR_SRR0, SPR_SRR1};
use super::sys::Regs;
use crate::dma::guest::Memory;

/// Where the loop starts.
pub const CODE: u64 = 0x1000;
/// TCE list of the default-window run.
pub const LIST_DEFAULT: u64 = 0x2000;
/// TCE list of the DDW run.
pub const LIST_DDW: u64 = 0x3000;
/// RTAS argument buffer of `ibm,create-pe-dma-window`.
pub const RTAS_CREATE: u64 = 0x4000;
/// RTAS argument buffer of `ibm,remove-pe-dma-window`.
pub const RTAS_REMOVE: u64 = 0x4100;
/// RTAS argument buffer of `ibm,reset-pe-dma-window`.
pub const RTAS_RESET: u64 = 0x4200;
/// The first command.
pub const MAILBOX: u64 = 0x8000;
/// Bytes per command.
pub const COMMAND_BYTES: u64 = 64;
/// Commands the mailbox holds (up to 0xc000).
pub const MAX_COMMANDS: u64 = 256;
/// r3 of the marker hcall.
pub const MARKER: u64 = 0x6f00;
/// r3 of an exception stub is this plus the vector.
pub const EXCEPTION_MARKER: u64 = 0x7000;
/// MSR of the L2: 64-bit (SF), machine checks on (ME), little-endian (LE), real mode.
pub const MSR: u64 = (1 << 63) | (1 << 12) | 1;
/// The register holding the mailbox pointer.
const R_COMMAND: u32 = 30;

/// Book3S exception vectors in real mode (Power ISA 3.1 Book III §7.5), up to 0xf60.
pub const VECTORS: [u64; 26] = [
    0x100, 0x200, 0x300, 0x380, 0x400, 0x480, 0x500, 0x600, 0x700, 0x800, 0x900, 0x980, 0xa00,
    0xb00, 0xc00, 0xd00, 0xe00, 0xe20, 0xe40, 0xe60, 0xe80, 0xea0, 0xf00, 0xf20, 0xf40, 0xf60,
];

const _: () = assert!(EXCEPTION_MARKER + 0xf60 <= i16::MAX as u64);
const _: () = assert!(MAILBOX + MAX_COMMANDS * COMMAND_BYTES <= 0x10_0000);

/// The command loop, as stored at [`CODE`].
pub fn command_loop() -> [u32; 13] {
    let r = R_COMMAND;
    [
        ld(3, 0, r),
        ld(4, 8, r),
        ld(5, 16, r),
        ld(6, 24, r),
        ld(7, 32, r),
        SC_1,
        mr(6, r),
        mr(5, 4),
        mr(4, 3),
        li(3, MARKER as i16),
        SC_1,
        addi(r, r, COMMAND_BYTES as i16),
        b(-12 * 4),
    ]
}

/// The stub at exception `vector`: reports the vector, SRR0 and SRR1 through an hcall.
pub fn exception_stub(vector: u64) -> [u32; 5] {
    [
        li(3, (EXCEPTION_MARKER + vector) as i16),
        mfspr(4, SPR_SRR0),
        mfspr(5, SPR_SRR1),
        SC_1,
        B_SELF,
    ]
}

fn write_words(mem: &Memory, gpa: u64, words: &[u32]) -> Result<(), String> {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.write_slice(&bytes, GuestAddress(gpa))
        .map_err(|e| format!("writing the L2 program at {gpa:#x}: {e}"))
}

/// Writes the exception stubs and the loop into L2 memory.
pub fn load(mem: &Memory) -> Result<(), String> {
    for vector in VECTORS {
        write_words(mem, vector, &exception_stub(vector))?;
    }
    write_words(mem, CODE, &command_loop())
}

/// `regs` with the L2's entry state: pc at the loop, real-mode LE MSR, r30 at command 0.
pub fn entry_regs(mut regs: Regs) -> Regs {
    regs.pc = CODE;
    regs.msr = MSR;
    regs.gpr[R_COMMAND as usize] = MAILBOX;
    regs
}

/// One hypercall for the L2 to issue: r3 = `nr`, r4..r7 = `args`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    /// The hcall number.
    pub nr: u64,
    /// r4..r7.
    pub args: [u64; 4],
}

/// Guest-physical address of command `index`.
pub fn command_addr(index: u64) -> u64 {
    MAILBOX + index * COMMAND_BYTES
}

/// Writes command `index` into the mailbox.
pub fn write_command(mem: &Memory, index: u64, command: &Command) -> Result<(), String> {
    if index >= MAX_COMMANDS {
        return Err(format!("the mailbox holds {MAX_COMMANDS} commands"));
    }
    let mut bytes = Vec::with_capacity(COMMAND_BYTES as usize);
    for value in std::iter::once(command.nr).chain(command.args) {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes.resize(COMMAND_BYTES as usize, 0);
    mem.write_slice(&bytes, GuestAddress(command_addr(index)))
        .map_err(|e| format!("writing command {index}: {e}"))
}

/// What a marker exit reports about the command before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The command's status (its r3 after the hcall).
    pub status: HcallStatus,
    /// Its r4 after the hcall.
    pub r4: u64,
    /// The address of the command (r30).
    pub command_addr: u64,
}

impl Marker {
    /// Decodes the marker's r4..r6 (`papr_hcall.args[0..3]`).
    pub fn from_args(args: &[u64; 9]) -> Self {
        Self {
            status: HcallStatus::from_register(args[0]),
            r4: args[1],
            command_addr: args[2],
        }
    }
}
