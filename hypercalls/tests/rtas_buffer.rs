// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! RTAS argument buffers read from and written to real `GuestMemoryMmap` memory.

use papr_hcall::rtas::{RtasCall, RtasError, RtasStatus};
use proptest::prelude::*;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const RAM_SIZE: usize = 0x10000;

/// 64 KiB of RAM at 0, and a second 64 KiB region at 0x20000 (a hole in between).
fn guest_memory() -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[
        (GuestAddress(0), RAM_SIZE),
        (GuestAddress(0x20000), RAM_SIZE),
    ])
    .expect("guest memory")
}

/// Writes big-endian cells as a guest would.
fn write_cells(mem: &GuestMemoryMmap, at: u64, cells: &[u32]) {
    let bytes: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
    mem.write_slice(&bytes, GuestAddress(at))
        .expect("write cells");
}

fn raw(mem: &GuestMemoryMmap, at: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    mem.read_slice(&mut bytes, GuestAddress(at))
        .expect("read raw");
    bytes
}

#[test]
fn reads_big_endian_cells() {
    let mem = guest_memory();
    write_cells(
        &mem,
        0x1000,
        &[0x2026, 3, 5, 0x0001_0800, 0x0800_0000, 0x2000_0000],
    );
    let call = RtasCall::read_from(&mem, GuestAddress(0x1000)).unwrap();
    assert_eq!(call.token, 0x2026);
    assert_eq!((call.nargs, call.nret), (3, 5));
    assert_eq!(call.args, [0x0001_0800, 0x0800_0000, 0x2000_0000]);
    assert_eq!(call.buffer, GuestAddress(0x1000));
    assert_eq!(call.rets_address().unwrap(), GuestAddress(0x1000 + 24));
}

#[test]
fn writes_rets_big_endian_after_the_args_only() {
    let mem = guest_memory();
    mem.write_slice(&[0xAA; 64], GuestAddress(0x2000)).unwrap();
    write_cells(&mem, 0x2000, &[0x2027, 5, 4, 1, 2, 3, 24, 33]);
    let call = RtasCall::read_from(&mem, GuestAddress(0x2000)).unwrap();
    call.write_rets(&mem, &[0, 0x8000_0001, 0x0800_0000, 0x1234_5678])
        .unwrap();
    let rets = raw(&mem, 0x2000 + 32, 16);
    assert_eq!(
        rets,
        [0, 0, 0, 0, 0x80, 0, 0, 1, 0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]
    );
    // Header and arguments untouched; the byte after the last return cell untouched.
    assert_eq!(raw(&mem, 0x2000, 4), [0, 0, 0x20, 0x27]);
    assert_eq!(raw(&mem, 0x2000 + 28, 4), [0, 0, 0, 33]);
    assert_eq!(raw(&mem, 0x2000 + 48, 1), [0xAA]);
}

#[test]
fn write_rets_stops_at_nret_and_at_rets_len() {
    let mem = guest_memory();
    mem.write_slice(&[0xAA; 64], GuestAddress(0x3000)).unwrap();
    write_cells(&mem, 0x3000, &[0x2028, 1, 2, 7]);
    let call = RtasCall::read_from(&mem, GuestAddress(0x3000)).unwrap();
    // Four cells offered, room for two.
    call.write_rets(&mem, &[1, 2, 3, 4]).unwrap();
    assert_eq!(call.read_rets(&mem).unwrap(), [1, 2]);
    assert_eq!(raw(&mem, 0x3000 + 24, 4), [0xAA; 4]);
    // One cell offered: the second return cell keeps its value.
    call.write_status(&mem, RtasStatus::PARAMETER_ERROR)
        .unwrap();
    assert_eq!(
        raw(&mem, 0x3000 + 16, 8),
        [0xFF, 0xFF, 0xFF, 0xFD, 0, 0, 0, 2]
    );
}

#[test]
fn write_status_without_return_cells_writes_nothing() {
    let mem = guest_memory();
    mem.write_slice(&[0xAA; 32], GuestAddress(0x3000)).unwrap();
    write_cells(&mem, 0x3000, &[0x2028, 1, 0, 7]);
    let call = RtasCall::read_from(&mem, GuestAddress(0x3000)).unwrap();
    call.write_status(&mem, RtasStatus::PARAMETER_ERROR)
        .unwrap();
    assert_eq!(raw(&mem, 0x3000 + 16, 4), [0xAA; 4]);
    assert_eq!(call.read_rets(&mem).unwrap(), Vec::<u32>::new());
}

#[test]
fn buffer_may_span_adjacent_regions() {
    let mem =
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x1000), (GuestAddress(0x1000), 0x1000)])
            .unwrap();
    write_cells(&mem, 0xFF8, &[0x2028, 1, 1, 0x8000_0001]);
    let call = RtasCall::read_from(&mem, GuestAddress(0xFF8)).unwrap();
    assert_eq!(call.args, [0x8000_0001]);
    call.write_status(&mem, RtasStatus::SUCCESS).unwrap();
    assert_eq!(raw(&mem, 0x1008, 4), [0; 4]);
}

#[test]
fn buffers_outside_ram_are_errors() {
    let mem = guest_memory();
    for addr in [
        RAM_SIZE as u64,
        0x18000,
        0x30000,
        u64::MAX - 11,
        u64::MAX - 3,
        u64::MAX,
    ] {
        let err = RtasCall::read_from(&mem, GuestAddress(addr)).unwrap_err();
        assert!(
            matches!(
                err,
                RtasError::ReadBuffer { .. } | RtasError::AddressOverflow { .. }
            ),
            "{addr:#x}: {err}"
        );
    }
}

#[test]
fn buffers_crossing_the_end_of_ram_are_errors() {
    let mem = guest_memory();
    let end = RAM_SIZE as u64;
    // Header straddles the end.
    assert!(matches!(
        RtasCall::read_from(&mem, GuestAddress(end - 8)),
        Err(RtasError::ReadBuffer { .. })
    ));
    // Header fits, arguments do not.
    write_cells(&mem, end - 12, &[0x2028, 1, 1]);
    assert!(matches!(
        RtasCall::read_from(&mem, GuestAddress(end - 12)),
        Err(RtasError::ReadBuffer { .. })
    ));
    // Arguments fit, return cells do not: refused before anything can be written.
    write_cells(&mem, end - 16, &[0x2028, 1, 1, 5]);
    let err = RtasCall::read_from(&mem, GuestAddress(end - 16)).unwrap_err();
    assert!(
        matches!(err, RtasError::ReadBuffer { len: 20, .. }),
        "{err}"
    );
    // Same with no return cells: fits exactly.
    write_cells(&mem, end - 16, &[0x2028, 1, 0, 5]);
    let call = RtasCall::read_from(&mem, GuestAddress(end - 16)).unwrap();
    assert_eq!(call.args, [5]);
    // The second region ends at 0x30000 too.
    write_cells(&mem, 0x30000 - 16, &[0x2028, 1, 1, 5]);
    assert!(RtasCall::read_from(&mem, GuestAddress(0x30000 - 16)).is_err());
}

#[test]
fn forged_calls_fail_to_write_outside_ram() {
    let mem = guest_memory();
    let call = RtasCall::new(GuestAddress(RAM_SIZE as u64 - 12), 0x2028, &[1], 1);
    assert!(matches!(
        call.write_status(&mem, RtasStatus::SUCCESS),
        Err(RtasError::WriteRets { .. })
    ));
    let call = RtasCall::new(GuestAddress(u64::MAX - 12), 0x2028, &[1], 1);
    assert!(matches!(
        call.write_status(&mem, RtasStatus::SUCCESS),
        Err(RtasError::AddressOverflow { .. })
    ));
}

#[test]
fn too_many_args_or_rets_are_refused() {
    let mem = guest_memory();
    write_cells(&mem, 0x100, &[0x2026, RtasCall::MAX_NARGS + 1, 1]);
    assert!(matches!(
        RtasCall::read_from(&mem, GuestAddress(0x100)),
        Err(RtasError::TooManyArgs { nargs: 17, .. })
    ));
    write_cells(&mem, 0x100, &[0x2026, 3, u32::MAX]);
    let err = RtasCall::read_from(&mem, GuestAddress(0x100)).unwrap_err();
    assert!(matches!(err, RtasError::TooManyRets { nret: u32::MAX, .. }));
    assert!(err.to_string().contains("4294967295"), "{err}");
    write_cells(&mem, 0x100, &[0x2026, 16, 16]);
    let call = RtasCall::read_from(&mem, GuestAddress(0x100)).unwrap();
    assert_eq!(call.args.len(), 16);
}

#[test]
fn to_bytes_round_trips_through_memory() {
    let mem = guest_memory();
    let call = RtasCall::new(GuestAddress(0x20100), 0x2029, &[1, 2, 3, 1], 1);
    mem.write_slice(&call.to_bytes(), call.buffer).unwrap();
    assert_eq!(raw(&mem, 0x20100, 8), [0, 0, 0x20, 0x29, 0, 0, 0, 4]);
    assert_eq!(RtasCall::read_from(&mem, call.buffer).unwrap(), call);
}

proptest! {
    /// Whatever the guest writes, and wherever (including across the end of RAM and into
    /// the hole), reading never panics, and a successful read obeys the limits and matches
    /// the bytes in memory.
    #[test]
    fn arbitrary_buffers_never_panic(
        offset in prop_oneof![
            0u64..0x100,
            (RAM_SIZE as u64 - 0x100)..(RAM_SIZE as u64 + 0x10),
            (0x30000u64 - 0x100)..0x30010,
            (u64::MAX - 0x100)..=u64::MAX,
        ],
        token in any::<u32>(),
        nargs in prop_oneof![0u32..=20, any::<u32>()],
        nret in prop_oneof![0u32..=20, any::<u32>()],
        body in proptest::collection::vec(any::<u8>(), 0..160),
    ) {
        let mem = guest_memory();
        let mut image: Vec<u8> = [token, nargs, nret].iter().flat_map(|c| c.to_be_bytes()).collect();
        image.extend(&body);
        // Write what fits; the rest of the buffer is whatever memory holds (or nothing).
        for (i, byte) in image.iter().enumerate() {
            if let Some(at) = offset.checked_add(i as u64) {
                let _ = mem.write_slice(&[*byte], GuestAddress(at));
            }
        }
        match RtasCall::read_from(&mem, GuestAddress(offset)) {
            Ok(call) => {
                prop_assert_eq!((call.token, call.nargs, call.nret), (token, nargs, nret));
                prop_assert!(nargs <= RtasCall::MAX_NARGS && nret <= RtasCall::MAX_NRET);
                prop_assert_eq!(call.args.len(), nargs as usize);
                let len = RtasCall::buffer_len(nargs, nret) as usize;
                prop_assert_eq!(raw(&mem, offset, len)[..12 + 4 * call.args.len()].to_vec(),
                    call.to_bytes()[..12 + 4 * call.args.len()].to_vec());
                // Every return cell is writable and reads back.
                let rets: Vec<u32> = (0..nret).map(|i| i.wrapping_mul(0x0101_0101) ^ token).collect();
                call.write_rets(&mem, &rets).unwrap();
                prop_assert_eq!(call.read_rets(&mem).unwrap(), rets);
            }
            Err(RtasError::TooManyArgs { nargs: n, .. }) => {
                prop_assert_eq!(n, nargs);
                prop_assert!(nargs > RtasCall::MAX_NARGS);
            }
            Err(RtasError::TooManyRets { nret: n, .. }) => {
                prop_assert_eq!(n, nret);
                prop_assert!(nret > RtasCall::MAX_NRET);
            }
            Err(RtasError::ReadBuffer { .. }) | Err(RtasError::AddressOverflow { .. }) => {
                // Only possible when some byte of the declared buffer is outside RAM.
                let in_ram = |a: u64| a < RAM_SIZE as u64 || (0x20000..0x30000).contains(&a);
                let declared = if nargs > RtasCall::MAX_NARGS || nret > RtasCall::MAX_NRET {
                    12
                } else {
                    RtasCall::buffer_len(nargs, nret)
                };
                let all_in_ram = (0..declared)
                    .all(|i| offset.checked_add(i).is_some_and(in_ram));
                prop_assert!(!all_in_ram);
            }
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
    }

    /// `write_rets` never writes outside the declared return cells.
    #[test]
    fn write_rets_touches_only_the_return_cells(
        nargs in 0u32..=16, nret in 0u32..=16, offered in 0usize..20,
    ) {
        let mem = guest_memory();
        let at = 0x5000u64;
        mem.write_slice(&[0xAA; 256], GuestAddress(at)).unwrap();
        let args: Vec<u32> = (0..nargs).collect();
        let call = RtasCall::new(GuestAddress(at), 0x2026, &args, nret);
        mem.write_slice(&call.to_bytes(), call.buffer).unwrap();
        let before = raw(&mem, at, 256);
        let call = RtasCall::read_from(&mem, GuestAddress(at)).unwrap();
        let rets = vec![0x5555_5555u32; offered];
        call.write_rets(&mem, &rets).unwrap();
        let after = raw(&mem, at, 256);
        let first = 12 + 4 * nargs as usize;
        let written = 4 * offered.min(nret as usize);
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            if (first..first + written).contains(&i) {
                prop_assert_eq!(*a, 0x55, "byte {}", i);
            } else {
                prop_assert_eq!(a, b, "byte {}", i);
            }
        }
    }
}
