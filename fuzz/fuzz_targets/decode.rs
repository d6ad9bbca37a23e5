// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Arbitrary hypercall registers and RTAS buffers through every decoder of papr-hcall: never panics, every decode/encode pair round-trips.
//! The logic is `spapr_tce::fuzzing::run_decode`, shared with `tests/fuzz_corpus.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(failure) = spapr_tce::fuzzing::run_decode(data) {
        panic!("{failure}");
    }
});
