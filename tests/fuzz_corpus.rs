// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`) through the same
//! functions the cargo-fuzz targets call, so `cargo test` runs them without a fuzzer; and
//! checks that the committed seeds match [`spapr_tce::fuzzing::seeds`]
//! (`SPAPR_TCE_WRITE_SEEDS=1 cargo test --test fuzz_corpus` rewrites them).

#![cfg(feature = "model")]

use std::path::{Path, PathBuf};

use spapr_tce::fuzzing::{run_decode, run_faults, run_ops, seeds, Failure};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Every file of the target's corpus, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("corpus file"))
        })
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8]) -> Result<(), Failure>) {
    let files = corpus(target);
    assert!(!files.is_empty(), "no corpus for {target}");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|(name, data)| run(data).err().map(|f| format!("{target}/{name}: {f}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn decode_corpus() {
    replay("decode", run_decode);
}

#[test]
fn stateful_corpus() {
    replay("stateful", run_ops);
}

#[test]
fn faults_corpus() {
    replay("faults", run_faults);
}

/// The stateful inputs also run in fault mode (with a setup byte of 0: no setup fault).
#[test]
fn stateful_corpus_without_faults_passes_in_fault_mode() {
    for (name, data) in corpus("stateful") {
        let mut input = vec![0];
        input.extend(data);
        if let Err(failure) = run_faults(&input) {
            panic!("stateful/{name} in fault mode: {failure}");
        }
    }
}

#[test]
fn committed_seeds_are_current() {
    let write = std::env::var_os("SPAPR_TCE_WRITE_SEEDS").is_some();
    for seed in seeds::all() {
        let path = corpus_dir(seed.target).join(format!("seed-{}", seed.name));
        if write {
            std::fs::write(&path, &seed.data).expect("write seed");
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (SPAPR_TCE_WRITE_SEEDS=1 writes it)",
                path.display()
            )
        });
        assert_eq!(
            committed,
            seed.data,
            "{} is stale (SPAPR_TCE_WRITE_SEEDS=1 rewrites it)",
            path.display()
        );
    }
}
