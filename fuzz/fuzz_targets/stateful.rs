// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The input as a sequence of TCE hypercalls, DDW RTAS calls, TCE-list writes and raw registers against two PEs on model containers and a VIO window; every step is checked (guest view vs hardware, hardware inside registered RAM, registration counts, locked_vm, counters) and teardown must give everything back.
//! The logic is `spapr_tce::fuzzing::run_ops`, shared with `tests/fuzz_corpus.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(failure) = spapr_tce::fuzzing::run_ops(data) {
        panic!("{failure}");
    }
});
