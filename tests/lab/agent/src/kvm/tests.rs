//! Host tests of the part's pieces that do not need KVM: the ioctl ABI, the L2 program's
//! layout and the mailbox encoding.

use std::mem::{offset_of, size_of};

use vfio_spapr::ioctl::IoctlLayout;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::program::{
    self, command_addr, command_loop, entry_regs, exception_stub, Command, Marker, CODE, MAILBOX,
    VECTORS,
};
use super::sys::{self, OneReg, Regs, UserMemoryRegion};

#[test]
fn structures_match_the_ppc64_uapi() {
    // Printed with powerpc64le-linux-gnu-gcc from <linux/kvm.h> and run under qemu-ppc64le.
    assert_eq!(size_of::<Regs>(), 0x188);
    assert_eq!(offset_of!(Regs, msr), 0x28);
    assert_eq!(offset_of!(Regs, srr0), 0x30);
    assert_eq!(offset_of!(Regs, gpr), 0x88);
    assert_eq!(size_of::<UserMemoryRegion>(), 32);
    assert_eq!(offset_of!(UserMemoryRegion, userspace_addr), 24);
    assert_eq!(size_of::<OneReg>(), 16);
}

#[test]
fn ppc64_request_numbers() {
    let ppc = IoctlLayout::POWERPC;
    let kvmio = spapr_tce::kvm::bindings::KVMIO;
    let cases = [
        (
            ppc.iow(kvmio, 0x46, size_of::<UserMemoryRegion>()),
            0x8020_ae46,
        ),
        (ppc.io(kvmio, 0x41), 0x2000_ae41),
        (ppc.io(kvmio, 0x04), 0x2000_ae04),
        (ppc.io(kvmio, 0x80), 0x2000_ae80),
        (ppc.ior(kvmio, 0x81, size_of::<Regs>()), 0x4188_ae81),
        (ppc.iow(kvmio, 0x82, size_of::<Regs>()), 0x8188_ae82),
        (ppc.iow(kvmio, 0xab, size_of::<OneReg>()), 0x8010_aeab),
        (ppc.iow(kvmio, 0xac, size_of::<OneReg>()), 0x8010_aeac),
    ];
    for (got, want) in cases {
        assert_eq!(got, want, "{got:#x} != {want:#x}");
    }
    assert_eq!(sys::KVM_REG_PPC_LPCR_64, 0x1030_0000_0000_00b5);
}

#[test]
fn host_request_numbers_agree_with_libc() {
    // libc applies this target's own layout: an independent check of `IoctlLayout::HOST`.
    let kvmio = u32::from(spapr_tce::kvm::bindings::KVMIO);
    assert_eq!(sys::KVM_RUN as u64, libc::_IO(kvmio, 0x80) as u64);
    assert_eq!(sys::KVM_CREATE_VCPU as u64, libc::_IO(kvmio, 0x41) as u64);
    assert_eq!(
        sys::KVM_GET_REGS as u64,
        libc::_IOR::<Regs>(kvmio, 0x81) as u64
    );
    assert_eq!(
        sys::KVM_SET_REGS as u64,
        libc::_IOW::<Regs>(kvmio, 0x82) as u64
    );
    assert_eq!(
        sys::KVM_SET_USER_MEMORY_REGION as u64,
        libc::_IOW::<UserMemoryRegion>(kvmio, 0x46) as u64
    );
    assert_eq!(
        sys::KVM_SET_ONE_REG as u64,
        libc::_IOW::<OneReg>(kvmio, 0xac) as u64
    );
}

#[test]
fn the_loop_branches_back_to_its_start() {
    let code = command_loop();
    // The last word is `b` (primary 18) whose offset leads to the first word.
    let last = code[code.len() - 1];
    assert_eq!(last >> 26, 18);
    let offset = ((last & 0x03ff_fffc) as i32) << 6 >> 6;
    assert_eq!(offset, -4 * (code.len() as i32 - 1));
    // Exactly two hypercalls per command: the command's, then the marker.
    assert_eq!(code.iter().filter(|&&w| w == 0x4400_0022).count(), 2);
}

#[test]
fn program_image_in_memory() {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
    program::load(&mem).unwrap();
    let word = |gpa: u64| mem.read_obj::<u32>(GuestAddress(gpa)).unwrap();
    assert_eq!(word(CODE), command_loop()[0]);
    for vector in VECTORS {
        assert_eq!(word(vector), exception_stub(vector)[0]);
        // The stub's li carries the vector, so an exception names itself.
        assert_eq!(u64::from(word(vector) & 0xffff), 0x7000 + vector);
    }
    // Stubs fit between vectors (the closest ones are 0x20 apart).
    assert!(exception_stub(0).len() * 4 <= 0x20);
    let regs = entry_regs(sys::Regs::default());
    assert_eq!((regs.pc, regs.gpr[30]), (CODE, MAILBOX));
    assert_eq!(regs.msr & 1, 1, "little-endian");
}

#[test]
fn commands_are_little_endian_doublewords() {
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
    let command = Command {
        nr: 0x13c,
        args: [0x8000_0400, 0x10_0000, 0x2000, 16],
    };
    program::write_command(&mem, 3, &command).unwrap();
    let at = command_addr(3);
    assert_eq!(at, MAILBOX + 3 * 64);
    let mut raw = [0u8; 40];
    mem.read_slice(&mut raw, GuestAddress(at)).unwrap();
    let words: Vec<u64> = raw
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(words, [0x13c, 0x8000_0400, 0x10_0000, 0x2000, 16]);
    assert!(program::write_command(&mem, program::MAX_COMMANDS, &command).is_err());
}

#[test]
fn markers_decode_the_loop_registers() {
    // r4 = status (-4 as a register), r5 = r4 output, r6 = command address.
    let marker = Marker::from_args(&[(-4i64) as u64, 0x1003, MAILBOX + 64, 0, 0, 0, 0, 0, 0]);
    assert_eq!(marker.status, papr_hcall::HcallStatus::PARAMETER);
    assert_eq!((marker.r4, marker.command_addr), (0x1003, MAILBOX + 64));
}
