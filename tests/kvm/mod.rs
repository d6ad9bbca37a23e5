// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! A stand-in for POWER KVM ([`FakeKvm`]): guest-view tables over memfds, whose "kernel side"
//! the tests read and write directly, and a log of every KVM operation with the host windows
//! the model container held at that moment. Plus a logger capturing the accelerator's
//! warnings per test thread.

#![allow(dead_code)] // Each test uses a different subset.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use papr_hcall::Liobn;
use spapr_tce::kvm::{
    KvmError, KvmOp, KvmTableError, KvmTceCaps, KvmTceOps, KvmTceTable, KvmTceTableGeometry,
};

use crate::common::Container;

/// Every capability the accelerator looks at.
pub const FULL_CAPS: KvmTceCaps = KvmTceCaps {
    spapr_tce_64: true,
    spapr_tce_vfio: true,
    spapr_multitce: true,
    ppc_enable_hcall: true,
};

/// One KVM operation, as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    EnableMultitce,
    AddGroup {
        group: RawFd,
    },
    Create {
        liobn: u64,
        bus_offset: u64,
        page_shift: u32,
        entries: u64,
        /// Bus starts of the model's windows at that moment.
        host_windows: Vec<u64>,
    },
    Attach {
        liobn: u64,
        group: RawFd,
        host_windows: Vec<u64>,
    },
    Release {
        liobn: u64,
        host_windows: Vec<u64>,
        /// Live hardware entries in the model at that moment.
        hw_pages: u64,
    },
}

/// [`KvmTceOps`] over memfds.
pub struct FakeKvm {
    caps: KvmTceCaps,
    model: Container,
    events: Mutex<Vec<Event>>,
    /// The kernel side of every live table, by LIOBN.
    kernel: Mutex<HashMap<u64, File>>,
    fail_create: Mutex<Option<u64>>,
    fail_attach: Mutex<Option<u64>>,
    fail_add_group: Mutex<bool>,
}

impl FakeKvm {
    pub fn new(caps: KvmTceCaps, model: &Container) -> Arc<Self> {
        Arc::new(Self {
            caps,
            model: model.clone(),
            events: Mutex::new(Vec::new()),
            kernel: Mutex::new(HashMap::new()),
            fail_create: Mutex::new(None),
            fail_attach: Mutex::new(None),
            fail_add_group: Mutex::new(false),
        })
    }

    /// `KVM_CREATE_SPAPR_TCE_64` for `liobn` will fail with ENOMEM.
    pub fn fail_create(&self, liobn: Liobn) {
        *self.fail_create.lock().unwrap() = Some(liobn.0);
    }

    /// `SET_SPAPR_TCE` to the table of `liobn` will fail with EINVAL.
    pub fn fail_attach(&self, liobn: Liobn) {
        *self.fail_attach.lock().unwrap() = Some(liobn.0);
    }

    /// `FILE_ADD` will fail with EINVAL.
    pub fn fail_add_group(&self) {
        *self.fail_add_group.lock().unwrap() = true;
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    pub fn clear_events(&self) {
        self.events.lock().unwrap().clear();
    }

    /// LIOBNs with a live kernel table, sorted.
    pub fn live_tables(&self) -> Vec<u64> {
        let mut liobns: Vec<u64> = self.kernel.lock().unwrap().keys().copied().collect();
        liobns.sort_unstable();
        liobns
    }

    /// What the kernel's H_PUT_TCE stores: entry `index` of `liobn`'s table.
    pub fn kernel_write(&self, liobn: Liobn, index: u64, value: u64) {
        let kernel = self.kernel.lock().unwrap();
        let file = kernel.get(&liobn.0).expect("a live kernel table");
        file.write_all_at(&value.to_ne_bytes(), index * 8)
            .expect("pwrite");
    }

    /// What the kernel's H_GET_TCE reads.
    pub fn kernel_read(&self, liobn: Liobn, index: u64) -> u64 {
        let kernel = self.kernel.lock().unwrap();
        let file = kernel.get(&liobn.0).expect("a live kernel table");
        let mut bytes = [0; 8];
        file.read_exact_at(&mut bytes, index * 8).expect("pread");
        u64::from_ne_bytes(bytes)
    }

    fn host_windows(&self) -> Vec<u64> {
        self.model.windows().iter().map(|w| w.start).collect()
    }

    fn record(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }
}

impl KvmTceOps for FakeKvm {
    fn caps(&self) -> KvmTceCaps {
        self.caps
    }

    fn enable_multitce_hcalls(&self) -> Result<(), KvmError> {
        self.record(Event::EnableMultitce);
        Ok(())
    }

    fn create_table(&self, geometry: KvmTceTableGeometry) -> Result<KvmTceTable, KvmTableError> {
        self.record(Event::Create {
            liobn: geometry.liobn.0,
            bus_offset: geometry.bus_offset,
            page_shift: geometry.page_shift.get(),
            entries: geometry.entries,
            host_windows: self.host_windows(),
        });
        if *self.fail_create.lock().unwrap() == Some(geometry.liobn.0) {
            return Err(KvmError::new(KvmOp::CreateSpaprTce64, libc::ENOMEM).into());
        }
        let mut kernel = self.kernel.lock().unwrap();
        if kernel.contains_key(&geometry.liobn.0) {
            // Checklist item 23: the same LIOBN twice.
            return Err(KvmError::new(KvmOp::CreateSpaprTce64, libc::EBUSY).into());
        }
        let file = memfd(geometry.entries * 8);
        let table = KvmTceTable::from_file(file.try_clone().expect("dup").into(), geometry)?;
        kernel.insert(geometry.liobn.0, file);
        Ok(table)
    }

    fn add_group(&self, group: BorrowedFd<'_>) -> Result<(), KvmError> {
        self.record(Event::AddGroup {
            group: group.as_raw_fd(),
        });
        if *self.fail_add_group.lock().unwrap() {
            return Err(KvmError::new(KvmOp::VfioFileAdd, libc::EINVAL));
        }
        Ok(())
    }

    fn attach_group(&self, group: BorrowedFd<'_>, table: &KvmTceTable) -> Result<(), KvmError> {
        self.record(Event::Attach {
            liobn: table.liobn().0,
            group: group.as_raw_fd(),
            host_windows: self.host_windows(),
        });
        if *self.fail_attach.lock().unwrap() == Some(table.liobn().0) {
            return Err(KvmError::new(KvmOp::VfioSetSpaprTce, libc::EINVAL));
        }
        Ok(())
    }

    fn release_table(&self, table: KvmTceTable) {
        self.record(Event::Release {
            liobn: table.liobn().0,
            host_windows: self.host_windows(),
            hw_pages: self.model.mapped_pages(),
        });
        self.kernel.lock().unwrap().remove(&table.liobn().0);
        drop(table);
    }
}

/// A memfd of at least `len` bytes (a whole number of 64 KiB pages, so the table's mapping
/// is backed on any host page size).
pub fn memfd(len: u64) -> File {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "spapr-tce-fake-kvm-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let c_name = CString::new(name).expect("no NUL");
    // SAFETY: `c_name` is a valid NUL-terminated string for the duration of the call.
    let fd = unsafe { libc::memfd_create(c_name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: memfd_create just returned this new descriptor; nothing else owns it.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.set_len(len.next_multiple_of(1 << 16))
        .expect("ftruncate");
    file
}

/// A stand-in for a VFIO group fd: KVM is faked, so any open file will do.
pub fn group() -> Arc<File> {
    Arc::new(File::open("/dev/null").expect("/dev/null"))
}

/// Log records of the current thread: `(level, message)`.
pub fn logs() -> Vec<(log::Level, String)> {
    let id = std::thread::current().id();
    LOGGER
        .records
        .lock()
        .unwrap()
        .iter()
        .filter(|(thread, _, _)| *thread == id)
        .map(|(_, level, message)| (*level, message.clone()))
        .collect()
}

/// Warnings of the current thread.
pub fn warnings() -> Vec<String> {
    logs()
        .into_iter()
        .filter(|(level, _)| *level == log::Level::Warn)
        .map(|(_, message)| message)
        .collect()
}

/// Starts capturing (idempotent; call at the start of every test that reads the logs).
pub fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        log::set_logger(&LOGGER).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Debug);
    });
    let id = std::thread::current().id();
    LOGGER
        .records
        .lock()
        .unwrap()
        .retain(|(thread, _, _)| *thread != id);
}

struct Capture {
    records: Mutex<Vec<(std::thread::ThreadId, log::Level, String)>>,
}

static LOGGER: Capture = Capture {
    records: Mutex::new(Vec::new()),
};

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.records.lock().unwrap().push((
            std::thread::current().id(),
            record.level(),
            record.args().to_string(),
        ));
    }

    fn flush(&self) {}
}
