// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Every refusal: its exact RTAS status, only the status cell written, nothing changed.

use papr_hcall::rtas::{RtasCall, RtasStatus};
use papr_hcall::{HcallStatus, H_RTAS};
use vm_memory::{Bytes, GuestAddress};

use super::*;

/// Runs `call`, expects `[PARAMETER_ERROR, POISON...]` and an unchanged state.
fn refused(fx: &Fixture, what: &str, call: impl FnOnce(&Fixture) -> Vec<u32>) {
    let before = fx.state();
    let rets = call(fx);
    assert!(!rets.is_empty(), "{what}: no return cell");
    assert_eq!(rets[0], PARAMETER_ERROR, "{what}: {rets:x?}");
    assert!(
        rets[1..].iter().all(|&cell| cell == POISON),
        "{what}: {rets:x?}"
    );
    assert_eq!(fx.state(), before, "{what}");
}

#[test]
fn query_refusals() {
    let fx = Fixture::new();
    let [c, hi, lo] = pe_args(VFIO_BUID);
    refused(&fx, "unknown BUID", |fx| fx.query(VFIO_BUID + 7, 6));
    refused(&fx, "DDW off", |fx| fx.query(NO_DDW_BUID, 6));
    refused(&fx, "two arguments", |fx| {
        fx.rtas(TOKENS.query, &[c, hi], 5)
    });
    refused(&fx, "four arguments", |fx| {
        fx.rtas(TOKENS.query, &[c, hi, lo, 0], 5)
    });
    refused(&fx, "seven return cells", |fx| {
        fx.rtas(TOKENS.query, &[c, hi, lo], 7)
    });
    refused(&fx, "four return cells", |fx| {
        fx.rtas(TOKENS.query, &[c, hi, lo], 4)
    });
    assert_eq!(fx.acc.counters().ddw.query.parameter_error, 6);
}

#[test]
fn create_refusals() {
    let fx = Fixture::new();
    let [c, hi, lo] = pe_args(VFIO_BUID);
    refused(&fx, "unknown BUID", |fx| fx.create(VFIO_BUID + 7, 16, 32));
    refused(&fx, "DDW off", |fx| fx.create(NO_DDW_BUID, 12, 32));
    refused(&fx, "page shift 13: no LoPAR size", |fx| {
        fx.create(VFIO_BUID, 13, 32)
    });
    refused(&fx, "256 MiB pages: not offered", |fx| {
        fx.create(VFIO_BUID, 28, 40)
    });
    refused(&fx, "page shift 0", |fx| fx.create(VFIO_BUID, 0, 32));
    refused(&fx, "window shift 0 (6.12 trace)", |fx| {
        fx.create(VFIO_BUID, 24, 0)
    });
    refused(&fx, "window below one page", |fx| {
        fx.create(VFIO_BUID, 24, 23)
    });
    refused(&fx, "above the PE's maximum", |fx| {
        fx.create(VFIO_BUID, 24, 55)
    });
    refused(&fx, "window shift 64", |fx| fx.create(VFIO_BUID, 16, 64));
    refused(&fx, "window shift u32::MAX", |fx| {
        fx.create(VFIO_BUID, 16, u32::MAX)
    });
    refused(&fx, "emulated PE above its maximum", |fx| {
        fx.create(EMU_BUID, 12, 55)
    });
    refused(&fx, "four arguments", |fx| {
        fx.rtas(TOKENS.create, &[c, hi, lo, 16], 4)
    });
    refused(&fx, "three return cells", |fx| {
        fx.rtas(TOKENS.create, &[c, hi, lo, 16, 32], 3)
    });
    // The limit itself is allowed.
    assert_eq!(fx.create(EMU_BUID, 12, 54)[0], 0);
    // Two windows present: no free slot ("too many").
    assert_eq!(fx.create(VFIO_BUID, 16, 32)[0], 0);
    refused(&fx, "no free slot", |fx| fx.create(VFIO_BUID, 16, 32));
    refused(&fx, "no free slot on the emulated PE", |fx| {
        fx.create(EMU_BUID, 16, 32)
    });
    assert_eq!(fx.query(VFIO_BUID, 6)[1], 0, "no window available");
    assert_eq!(fx.acc.counters().ddw.create.parameter_error, 15);
}

/// A window of more TCEs than the largest block query reports (here limited by the
/// configuration of the emulated PE) is refused; one of exactly the largest block is made.
#[test]
fn create_beyond_the_largest_block() {
    let fx = Fixture::with(host_profile(), |config| {
        let ddw = config.pes[1].ddw.as_mut().unwrap();
        ddw.max_window_shift = 40;
    });
    let largest = largest_block(&fx.query(EMU_BUID, 6));
    assert_eq!(largest, 1 << 28);
    refused(&fx, "2^41 bytes of 4 KiB pages", |fx| {
        fx.create(EMU_BUID, 12, 41)
    });
    assert_eq!(fx.create(EMU_BUID, 12, 40)[0], 0);
}

#[test]
fn remove_refusals() {
    let fx = Fixture::new();
    refused(&fx, "unknown LIOBN", |fx| fx.remove(Liobn(0x1234)));
    refused(&fx, "VIO window", |fx| fx.remove(VIO_LIOBN));
    refused(&fx, "PE without DDW", |fx| fx.remove(NO_DDW_DEFAULT));
    refused(&fx, "DDW not created", |fx| fx.remove(VFIO_DDW));
    refused(&fx, "emulated DDW not created", |fx| fx.remove(EMU_DDW));
    refused(&fx, "no argument", |fx| fx.rtas(TOKENS.remove, &[], 1));
    refused(&fx, "two arguments", |fx| {
        fx.rtas(TOKENS.remove, &[VFIO_DEFAULT.0 as u32, 0], 1)
    });
    refused(&fx, "two return cells", |fx| {
        fx.rtas(TOKENS.remove, &[VFIO_DEFAULT.0 as u32], 2)
    });
    assert_eq!(fx.acc.counters().ddw.remove.parameter_error, 8);
}

#[test]
fn reset_refusals() {
    let fx = Fixture::new();
    let [c, hi, lo] = pe_args(VFIO_BUID);
    refused(&fx, "unknown BUID", |fx| fx.reset(0x1234));
    refused(&fx, "DDW off", |fx| fx.reset(NO_DDW_BUID));
    refused(&fx, "limited addressing not advertised", |fx| {
        fx.rtas(TOKENS.reset, &[c, hi, lo, 1], 1)
    });
    refused(&fx, "two return cells", |fx| {
        fx.rtas(TOKENS.reset, &[c, hi, lo], 2)
    });
}

/// Other tokens are not ours: `None`, buffer untouched. Unusable buffers are errors, not
/// guest-visible statuses.
#[test]
fn foreign_tokens_and_bad_buffers() {
    let fx = Fixture::new();
    let buffer = GuestAddress(RTAS_GPA);
    let call = RtasCall::new(buffer, 0x2001, &[1, 2], 1);
    let mut image = call.to_bytes();
    image[20..24].copy_from_slice(&POISON.to_be_bytes());
    fx.mem.write_slice(&image, buffer).unwrap();
    assert!(fx.acc.handle_rtas(buffer).is_none());
    assert!(fx.acc.handle_hcall(H_RTAS, &regs(&[RTAS_GPA])).is_none());
    let mut after = vec![0u8; image.len()];
    fx.mem.read_slice(&mut after, buffer).unwrap();
    assert_eq!(after, image, "untouched");

    // A buffer outside RAM, or ending beyond it.
    assert!(matches!(
        fx.acc.handle_rtas(GuestAddress(RAM + 0x1000)),
        Some(Err(_))
    ));
    let edge = GuestAddress(RAM - 16);
    let query = RtasCall::new(edge, TOKENS.query, &pe_args(VFIO_BUID), 6);
    fx.mem.write_slice(&query.to_bytes()[..16], edge).unwrap();
    assert!(matches!(fx.acc.handle_rtas(edge), Some(Err(_))));
    let outcome = fx.acc.handle_hcall(H_RTAS, &regs(&[edge.0])).unwrap();
    assert_eq!(outcome.status, HcallStatus::PARAMETER);
    // Too many cells declared.
    let huge = RtasCall {
        nargs: 1000,
        ..RtasCall::new(buffer, TOKENS.query, &pe_args(VFIO_BUID), 6)
    };
    fx.mem.write_slice(&huge.to_bytes(), buffer).unwrap();
    assert!(matches!(fx.acc.handle_rtas(buffer), Some(Err(_))));
    let counters = fx.acc.counters().ddw;
    assert_eq!((counters.buffer_errors, counters.total()), (4, 0));
    assert_eq!(
        RtasStatus::from_cell(fx.query(VFIO_BUID, 5)[0]),
        RtasStatus::SUCCESS
    );
}
