//! The handful of Power ISA instructions the L2 program uses, encoded by hand (Power ISA
//! 3.1, Book I/III instruction formats). The tests compare every encoder with what
//! `powerpc64le-linux-gnu-as -mpower10` produces for the same instruction.
//!
//! A general-purpose register is a plain number 0..=31.

/// Primary opcode in bits 0..5 (IBM numbering: the most significant six bits).
const fn primary(opcode: u32) -> u32 {
    opcode << 26
}

/// `ld rt, ds(ra)`: DS-form, primary 58, XO 0 in the low two bits; `ds` is a multiple of 4.
pub const fn ld(rt: u32, ds: i16, ra: u32) -> u32 {
    assert!(ds % 4 == 0, "ld displacement must be a multiple of 4");
    primary(58) | (rt << 21) | (ra << 16) | (ds as u16 as u32 & 0xfffc)
}

/// `addi rt, ra, si`: D-form, primary 14 (with `ra` = 0 the operand is 0, not r0).
pub const fn addi(rt: u32, ra: u32, si: i16) -> u32 {
    primary(14) | (rt << 21) | (ra << 16) | (si as u16 as u32)
}

/// `li rt, si` = `addi rt, 0, si`.
pub const fn li(rt: u32, si: i16) -> u32 {
    addi(rt, 0, si)
}

/// `mr ra, rs` = `or ra, rs, rs`: X-form, primary 31, XO 444.
pub const fn mr(ra: u32, rs: u32) -> u32 {
    primary(31) | (rs << 21) | (ra << 16) | (rs << 11) | (444 << 1)
}

/// `sc 1`: SC-form, primary 17, LEV = 1 (hypervisor call), bit 30 set.
pub const SC_1: u32 = primary(17) | (1 << 5) | 0b10;

/// `b target`: I-form, primary 18, relative (`AA` = 0, `LK` = 0); `offset` is the byte
/// distance from this instruction, a multiple of 4 within ±32 MiB.
pub const fn b(offset: i32) -> u32 {
    assert!(offset % 4 == 0, "branch offsets are word multiples");
    primary(18) | (offset as u32 & 0x03ff_fffc)
}

/// `b .`: branch to itself (where the program parks if it is ever resumed past its end).
pub const B_SELF: u32 = b(0);

/// `mfspr rt, spr`: XFX-form, primary 31, XO 339; the SPR number's two 5-bit halves are
/// swapped in the instruction.
pub const fn mfspr(rt: u32, spr: u32) -> u32 {
    let split = ((spr & 0x1f) << 5) | ((spr >> 5) & 0x1f);
    primary(31) | (rt << 21) | (split << 11) | (339 << 1)
}

/// SRR0: the address an interrupt interrupted.
pub const SPR_SRR0: u32 = 26;
/// SRR1: the MSR bits an interrupt saved.
pub const SPR_SRR1: u32 = 27;

#[cfg(test)]
mod tests {
    use super::*;

    /// `powerpc64le-linux-gnu-as -mpower10` + objdump, as little-endian words.
    #[test]
    fn encodings_match_the_assembler() {
        let cases = [
            (ld(3, 0, 30), 0xe87e_0000, "ld r3,0(r30)"),
            (ld(4, 8, 30), 0xe89e_0008, "ld r4,8(r30)"),
            (ld(7, 32, 30), 0xe8fe_0020, "ld r7,32(r30)"),
            (SC_1, 0x4400_0022, "sc 1"),
            (mr(6, 30), 0x7fc6_f378, "mr r6,r30"),
            (mr(5, 4), 0x7c85_2378, "mr r5,r4"),
            (mr(4, 3), 0x7c64_1b78, "mr r4,r3"),
            (li(3, 0x6f00), 0x3860_6f00, "li r3,0x6f00"),
            (li(3, 0x7100), 0x3860_7100, "li r3,0x7100"),
            (addi(30, 30, 64), 0x3bde_0040, "addi r30,r30,64"),
            (b(-48), 0x4bff_ffd0, "b .-48"),
            (B_SELF, 0x4800_0000, "b ."),
            (mfspr(4, SPR_SRR0), 0x7c9a_02a6, "mfsrr0 r4"),
            (mfspr(5, SPR_SRR1), 0x7cbb_02a6, "mfsrr1 r5"),
        ];
        for (got, want, text) in cases {
            assert_eq!(got, want, "{text}: {got:#010x} != {want:#010x}");
        }
    }

    #[test]
    fn negative_displacements_stay_in_their_field() {
        // ld r3,-8(r1): the displacement's sign bits must not spill into RA/RT.
        assert_eq!(ld(3, -8, 1), 0xe861_fff8);
        assert_eq!(addi(1, 1, -16), 0x3821_fff0);
        assert_eq!(b(4) & !0x03ff_fffc, primary(18));
    }
}
