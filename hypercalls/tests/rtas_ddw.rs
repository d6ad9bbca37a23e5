// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! DDW call decoding from guest memory: shapes accepted and refused, replies on the wire.

use papr_hcall::rtas::ddw::{
    CreateArgs, CreateResult, DdwRequest, QueryArgs, QueryResult, RemoveArgs, ResetArgs,
};
use papr_hcall::rtas::{
    Buid, ConfigAddr, DdwExtensions, DdwTokens, PageSizeMask, RtasCall, RtasStatus,
};
use proptest::prelude::*;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

fn guest_memory() -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10000)]).expect("guest memory")
}

const PE: [u32; 3] = [0x0000_0800, 0x0800_0000, 0x2000_0000];

/// Puts a guest-written buffer in memory and reads it back the way the VMM does.
fn guest_call(mem: &GuestMemoryMmap, token: u32, args: &[u32], nret: u32) -> RtasCall {
    let buffer = GuestAddress(0x4000);
    mem.write_slice(&RtasCall::new(buffer, token, args, nret).to_bytes(), buffer)
        .unwrap();
    RtasCall::read_from(mem, buffer).unwrap()
}

#[test]
fn linux_query_sequence_on_qemu_defaults() {
    // Linux >= 6.9 with QEMU's extensions: query with 6 outputs (kernel-host.md Appendix A).
    let mem = guest_memory();
    let call = guest_call(&mem, 0x2026, &PE, 6);
    let Some(Ok(DdwRequest::Query { args, six_outputs })) =
        DdwRequest::decode(&call, &DdwTokens::QEMU, &DdwExtensions::QEMU)
    else {
        panic!("not a query");
    };
    assert_eq!(args.config_addr, ConfigAddr::new(0, 8));
    assert_eq!(args.buid, Buid(0x0800_0000_2000_0000));
    let result = QueryResult {
        windows_available: 1,
        largest_block: 1 << 37,
        page_sizes: PageSizeMask::from_qemu_pgsz(0x121_1000),
        migration_capable: 0,
    };
    call.write_rets(&mem, &result.to_rets(six_outputs)).unwrap();
    let mut wire = [0u8; 24];
    mem.read_slice(&mut wire, GuestAddress(0x4000 + 24))
        .unwrap();
    assert_eq!(
        wire,
        [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0x01, 0x07, 0, 0, 0, 0]
    );
    assert_eq!(
        QueryResult::from_rets(&call.read_rets(&mem).unwrap()),
        Some(result)
    );
}

#[test]
fn create_then_remove_on_the_wire() {
    let mem = guest_memory();
    let create = guest_call(&mem, 0x2027, &[PE[0], PE[1], PE[2], 24, 33], 4);
    let args = CreateArgs::decode(&create).unwrap();
    assert_eq!(args.check_geometry(PageSizeMask(0x107)).unwrap().get(), 24);
    assert_eq!(args.tce_count(), Some(512));
    let result = CreateResult {
        liobn: 0x8000_0001,
        start: 1 << 59,
    };
    create.write_rets(&mem, &result.to_rets()).unwrap();
    let rets = create.read_rets(&mem).unwrap();
    assert_eq!(CreateResult::from_rets(&rets), Some(result));

    let remove = guest_call(&mem, 0x2028, &[rets[1]], 1);
    assert_eq!(RemoveArgs::decode(&remove).unwrap().liobn, 0x8000_0001);
}

#[test]
fn refused_calls_get_parameter_error_in_their_status_cell() {
    let mem = guest_memory();
    // Create with 4 return cells but only 4 arguments (a lying nargs).
    let call = guest_call(&mem, 0x2027, &PE, 4);
    let status = CreateArgs::decode(&call).unwrap_err();
    call.write_status(&mem, status).unwrap();
    let mut cell = [0u8; 4];
    mem.read_slice(&mut cell, GuestAddress(0x4000 + 24))
        .unwrap();
    assert_eq!(cell, (-3i32).to_be_bytes());
}

/// The accepted shapes, written out from qemu-and-guest.md §2.6–§2.9 rather than from the
/// crate's constants.
fn accepted(call: usize, nargs: u32, nret: u32, six: bool, limited: bool) -> bool {
    match call {
        0 => nargs == 3 && (nret == 5 || (nret == 6 && six)),
        1 => nargs == 5 && nret == 4,
        2 => nargs == 1 && nret == 1,
        _ => nret == 1 && (nargs == 3 || (nargs == 4 && limited)),
    }
}

proptest! {
    /// Arbitrary nargs/nret (consistent or lying about `args`) never panic any decoder, and
    /// exactly the LoPAR/QEMU shapes are accepted.
    #[test]
    fn decoders_accept_exactly_the_documented_shapes(
        call_kind in 0usize..4,
        nargs in prop_oneof![0u32..8, any::<u32>()],
        nret in prop_oneof![0u32..8, any::<u32>()],
        args in proptest::collection::vec(any::<u32>(), 0..8),
        lie in any::<bool>(),
        six in any::<bool>(),
        limited in any::<bool>(),
    ) {
        let tokens = DdwTokens::QEMU;
        let extensions = DdwExtensions {
            reset_token: Some(tokens.reset),
            query_six_outputs: six,
            limited_addressing: limited,
        };
        let token = [tokens.query, tokens.create, tokens.remove, tokens.reset][call_kind];
        let mut call = RtasCall::new(GuestAddress(0x4000), token, &args, nret);
        if lie {
            call.nargs = nargs;
        }
        let consistent = call.nargs as usize == call.args.len();
        let expect_ok = consistent && accepted(call_kind, call.nargs, nret, six, limited);

        let decoded = DdwRequest::decode(&call, &tokens, &extensions).expect("a DDW token");
        match decoded {
            Ok(request) => {
                prop_assert!(expect_ok, "accepted {:?}", request);
                match request {
                    DdwRequest::Query { args: q, six_outputs } => {
                        prop_assert_eq!(six_outputs, nret == 6);
                        prop_assert_eq!(q.to_args().to_vec(), call.args.clone());
                    }
                    DdwRequest::Create(c) => prop_assert_eq!(c.to_args().to_vec(), call.args.clone()),
                    DdwRequest::Remove(r) => prop_assert_eq!(r.to_args().to_vec(), call.args.clone()),
                    DdwRequest::Reset(r) => {
                        prop_assert_eq!(r.limited_addressing.is_some(), call.nargs == 4);
                        prop_assert_eq!(r.to_args(), call.args.clone());
                    }
                }
            }
            Err(status) => {
                prop_assert!(!expect_ok);
                prop_assert_eq!(status, RtasStatus::PARAMETER_ERROR);
            }
        }
        // The per-call decoders agree with the dispatcher.
        let direct = match call_kind {
            0 => QueryArgs::decode(&call, six).map(|_| ()),
            1 => CreateArgs::decode(&call).map(|_| ()),
            2 => RemoveArgs::decode(&call).map(|_| ()),
            _ => ResetArgs::decode(&call, limited).map(|_| ()),
        };
        prop_assert_eq!(direct.is_ok(), expect_ok);
    }

    #[test]
    fn query_result_round_trips(
        windows in any::<u32>(), block in any::<u64>(), mask in any::<u32>(), migration in any::<u32>(),
    ) {
        let result = QueryResult {
            windows_available: windows,
            largest_block: block,
            page_sizes: PageSizeMask(mask),
            migration_capable: migration,
        };
        let six = result.to_rets(true);
        prop_assert_eq!(six.len(), 6);
        prop_assert_eq!(QueryResult::from_rets(&six), Some(result));
        let five = result.to_rets(false);
        prop_assert_eq!(five.len(), 5);
        prop_assert_eq!(u64::from(five[2]), block.min(u64::from(u32::MAX)));
        prop_assert_eq!(&five[3..], &six[4..]);
    }

    #[test]
    fn create_geometry_never_panics(page_shift in any::<u32>(), window_shift in any::<u32>()) {
        let args = CreateArgs {
            config_addr: ConfigAddr(0),
            buid: Buid(0),
            page_shift,
            window_shift,
        };
        let offered = PageSizeMask(u32::MAX);
        let ok = args.check_geometry(offered).is_ok();
        prop_assert_eq!(
            ok,
            PageSizeMask::bit_for_shift(page_shift).is_some()
                && window_shift >= page_shift
                && window_shift < 64
        );
        if ok {
            prop_assert_eq!(args.tce_count(), Some(1u64 << (window_shift - page_shift)));
        }
        let result = CreateResult { liobn: page_shift, start: u64::from(window_shift) << 20 };
        prop_assert_eq!(CreateResult::from_rets(&result.to_rets()), Some(result));
    }
}
