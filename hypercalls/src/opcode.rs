// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Hypercall opcodes (`arch/powerpc/include/asm/hvcall.h`; kernel-host.md §1.1).

/// `H_GET_TCE`: read one TCE of a window (LoPAR 2.9 §14.5.4.2.2).
pub const H_GET_TCE: u64 = 0x1C;
/// `H_PUT_TCE`: write one TCE of a window (LoPAR 2.9 §14.5.4.2.1).
pub const H_PUT_TCE: u64 = 0x20;
/// `H_STUFF_TCE`: write one value into a range of TCEs (LoPAR 2.9 §14.5.4.2.4, multi-TCE option).
pub const H_STUFF_TCE: u64 = 0x138;
/// `H_PUT_TCE_INDIRECT`: write up to 512 TCEs from a big-endian list in guest memory
/// (LoPAR 2.9 §14.5.4.2.3, multi-TCE option).
pub const H_PUT_TCE_INDIRECT: u64 = 0x13C;
/// `KVMPPC_H_RTAS`: the QEMU/KVM-private hypercall through which the RTAS blob passes the
/// guest-physical address of an RTAS argument buffer in r4 (qemu-and-guest.md §2.1).
pub const H_RTAS: u64 = 0xF000;

/// Returns the name of a TCE hypercall opcode, for logs and reports.
///
/// ```
/// assert_eq!(papr_hcall::opcode::name(0x13C), Some("H_PUT_TCE_INDIRECT"));
/// assert_eq!(papr_hcall::opcode::name(0x4), None);
/// ```
pub fn name(opcode: u64) -> Option<&'static str> {
    match opcode {
        H_GET_TCE => Some("H_GET_TCE"),
        H_PUT_TCE => Some("H_PUT_TCE"),
        H_STUFF_TCE => Some("H_STUFF_TCE"),
        H_PUT_TCE_INDIRECT => Some("H_PUT_TCE_INDIRECT"),
        H_RTAS => Some("H_RTAS"),
        _ => None,
    }
}
