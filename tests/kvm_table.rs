// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! `KvmTceTable` over a memfd standing in for the table fd `KVM_CREATE_SPAPR_TCE_64` returns.
//!
//! This exercises the mapping, bounds checks, volatile accesses, byte order and teardown — the
//! code that is the same for a kernel table — not KVM itself (that needs /dev/kvm on a POWER
//! host: `examples/kvm-probe.rs`, run by the lab in L1).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};

use papr_hcall::{Liobn, PageShift};
use spapr_tce::kvm::{KvmOp, KvmTableError, KvmTceTable, KvmTceTableGeometry};
use spapr_tce::table::{nonzero_entries, TceStore};

/// A memfd of `len` bytes with a name unique in this process, and that name.
fn memfd(len: u64) -> (File, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "spapr-tce-kvm-table-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let c_name = CString::new(name.clone()).expect("no NUL in the name");
    // SAFETY: `c_name` is a valid NUL-terminated string for the duration of the call.
    let fd = unsafe { libc::memfd_create(c_name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: memfd_create just returned this new descriptor; nothing else owns it.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.set_len(len).expect("ftruncate");
    (file, name)
}

fn geometry(entries: u64) -> KvmTceTableGeometry {
    KvmTceTableGeometry {
        liobn: Liobn(0x8000_0001),
        page_shift: PageShift::SZ_4K,
        bus_offset: 0x4000_0000,
        entries,
    }
}

/// A table over a fresh memfd, and a second handle on the same file to check it independently.
fn table(entries: u64) -> (KvmTceTable, File) {
    let (file, _) = memfd(entries * 8);
    let check = file.try_clone().expect("dup");
    let table = KvmTceTable::from_file(file.into(), geometry(entries)).expect("map");
    (table, check)
}

fn file_entry(file: &File, index: u64) -> [u8; 8] {
    let mut bytes = [0; 8];
    file.read_exact_at(&mut bytes, index * 8).expect("pread");
    bytes
}

#[test]
fn entries_are_host_endian_u64s_at_eight_times_the_index() {
    let (mut table, file) = table(1024);
    assert!(table.write(3, 0x0000_0000_0001_0003));
    assert!(table.write(1023, 0x1122_3344_5566_7788));
    assert_eq!(file_entry(&file, 3), 0x1_0003u64.to_ne_bytes());
    assert_eq!(
        file_entry(&file, 1023),
        0x1122_3344_5566_7788u64.to_ne_bytes()
    );
    assert_eq!(file_entry(&file, 2), [0; 8]);
    assert_eq!(file_entry(&file, 4), [0; 8]);
}

#[test]
fn writes_by_the_other_side_are_seen() {
    // What in-kernel H_PUT_TCE does to the shared table.
    let (table, file) = table(512);
    assert_eq!(table.read(7), Some(0));
    file.write_all_at(&0xdead_b000_0000_1003u64.to_ne_bytes(), 7 * 8)
        .expect("pwrite");
    assert_eq!(table.read(7), Some(0xdead_b000_0000_1003));
    assert_eq!(TceStore::get(&table, 7), 0xdead_b000_0000_1003);
}

#[test]
fn accesses_beyond_the_table_are_refused() {
    let (mut table, file) = table(16);
    assert_eq!(table.read(16), None);
    assert_eq!(table.read(u64::MAX), None);
    assert!(!table.write(16, 0x1003));
    assert!(!table.write(u64::MAX, 0x1003));
    // Through the store: reads are 0, writes are ignored.
    TceStore::set(&mut table, 16, 0x2003);
    assert_eq!(TceStore::get(&table, 16), 0);
    assert_eq!(file.metadata().expect("fstat").len(), 16 * 8);
    assert!((0..16).all(|index| file_entry(&file, index) == [0; 8]));
}

#[test]
fn tables_span_several_host_pages() {
    // SAFETY: sysconf only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let entries = 3 * page / 8 + 1;
    let (mut table, file) = table(entries);
    assert_eq!(table.mapping_len() as u64, 4 * page);
    assert_eq!(table.entries(), entries);
    assert!(table.write(entries - 1, 0x7_0003));
    assert_eq!(file_entry(&file, entries - 1), 0x7_0003u64.to_ne_bytes());
}

#[test]
fn works_as_the_accelerators_store() {
    let (table, _file) = table(4096);
    let mut store: Box<dyn TceStore> = Box::new(table);
    assert_eq!(store.len(), 4096);
    store.set(10, 0x1001);
    store.set_range(100, 3, 0x2002);
    store.set(4095, 0x3003);
    let entries: Vec<_> = nonzero_entries(store.as_ref()).collect();
    assert_eq!(
        entries,
        [
            (10, 0x1001),
            (100, 0x2002),
            (101, 0x2002),
            (102, 0x2002),
            (4095, 0x3003)
        ]
    );
    assert!(store.memory_bytes() >= 4096 * 8);
}

#[test]
fn dropping_unmaps_the_table() {
    let (file, name) = memfd(64 * 8);
    let table = KvmTceTable::from_file(file.into(), geometry(64)).expect("map");
    let maps = || std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    assert!(maps().contains(&name), "the mapping of {name} is missing");
    drop(table);
    assert!(!maps().contains(&name), "{name} is still mapped after drop");
}

#[test]
fn short_backing_files_are_refused() {
    let (file, _) = memfd(100 * 8 - 1);
    let error = KvmTceTable::from_file(file.into(), geometry(100)).unwrap_err();
    assert_eq!(
        error,
        KvmTableError::FileTooSmall {
            needed: 800,
            actual: 799
        }
    );
}

#[test]
fn geometry_is_checked_before_any_system_call() {
    let (file, _) = memfd(4096);
    let empty = KvmTceTable::from_file(file.into(), geometry(0)).unwrap_err();
    assert_eq!(empty, KvmTableError::Empty);

    let misaligned = KvmTceTableGeometry {
        bus_offset: 0x800,
        ..geometry(1)
    };
    assert!(matches!(
        misaligned.create_args(),
        Err(KvmTableError::OffsetNotAligned {
            bus_offset: 0x800,
            page_size: 0x1000
        })
    ));

    let huge = geometry(u64::MAX / 4);
    let null = File::open("/dev/null").expect("/dev/null");
    assert!(matches!(
        KvmTceTable::create(&null, huge),
        Err(KvmTableError::TooLarge { .. })
    ));
}

#[test]
fn create_args_count_iommu_pages() {
    let args = KvmTceTableGeometry {
        liobn: Liobn(0xa000_0001),
        page_shift: PageShift::SZ_64K,
        bus_offset: 1 << 59,
        entries: 1 << 14,
    }
    .create_args()
    .expect("valid");
    assert_eq!(args.liobn, 0xa000_0001);
    assert_eq!(args.page_shift, 16);
    assert_eq!(args.flags, 0);
    assert_eq!(args.offset, 1 << 43);
    assert_eq!(args.size, 1 << 14);
}

#[test]
fn creating_on_a_non_vm_fd_reports_the_ioctl() {
    let null = File::open("/dev/null").expect("/dev/null");
    match KvmTceTable::create(&null, geometry(16)) {
        Err(KvmTableError::Kvm(error)) => assert_eq!(error.op, KvmOp::CreateSpaprTce64),
        other => panic!("expected a KVM error, got {other:?}"),
    }
}

#[test]
fn the_table_fd_is_what_set_spapr_tce_gets() {
    let (file, _) = memfd(8);
    let raw = file.as_raw_fd();
    let table = KvmTceTable::from_file(file.into(), geometry(1)).expect("map");
    assert_eq!(table.as_raw_fd(), raw);
    assert_eq!(table.liobn(), Liobn(0x8000_0001));
}
