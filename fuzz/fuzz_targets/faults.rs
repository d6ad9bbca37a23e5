// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Like stateful, with container calls failing with arbitrary errnos (ModelContainer::inject_fault), including during setup.
//! The logic is `spapr_tce::fuzzing::run_faults`, shared with `tests/fuzz_corpus.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(failure) = spapr_tce::fuzzing::run_faults(data) {
        panic!("{failure}");
    }
});
