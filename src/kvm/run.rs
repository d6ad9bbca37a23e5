// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The `papr_hcall` member of a vCPU's `struct kvm_run`, read and written by byte offset.
//!
//! kvm-bindings has no powerpc64 module, so on POWER the VMM holds `kvm_run` as raw mmapped
//! bytes; on x86_64 (tests) kvm-bindings' `kvm_run` works too. Both give the same view because
//! the header before the exit union is generic (kernel-host.md §1.3).

use std::marker::PhantomData;
use std::ptr::NonNull;

use papr_hcall::HcallOutcome;

use super::bindings::{
    KVM_EXIT_PAPR_HCALL, KVM_RUN_EXIT_REASON_OFFSET, KVM_RUN_PAPR_HCALL_ARGS_OFFSET,
    KVM_RUN_PAPR_HCALL_END, KVM_RUN_PAPR_HCALL_NR_OFFSET, KVM_RUN_PAPR_HCALL_RET_OFFSET,
    PAPR_HCALL_ARG_COUNT,
};

/// A `kvm_run` image shorter than the `papr_hcall` member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error(
    "a kvm_run image of {len} bytes is too short for papr_hcall (needs {KVM_RUN_PAPR_HCALL_END})"
)]
pub struct KvmRunTooShort {
    /// The image's length.
    pub len: usize,
}

/// Access to `exit_reason` and `papr_hcall { nr, ret, args[9] }` of one `struct kvm_run`.
///
/// Fields are copied in and out with volatile byte accesses, so the image needs no
/// alignment and no Rust reference to a field is ever formed. The view does not check the
/// exit reason; [`handle_papr_hcall_exit`](super::handle_papr_hcall_exit) does.
///
/// ```
/// use spapr_tce::kvm::{bindings::KVM_EXIT_PAPR_HCALL, PaprHcallExit};
/// let mut run = vec![0u8; 2048]; // a stand-in for the vCPU's mmapped kvm_run
/// run[8..12].copy_from_slice(&KVM_EXIT_PAPR_HCALL.to_ne_bytes());
/// run[32..40].copy_from_slice(&0x1Cu64.to_ne_bytes()); // nr = H_GET_TCE
/// let mut exit = PaprHcallExit::from_bytes(&mut run)?;
/// assert!(exit.is_papr_hcall());
/// assert_eq!(exit.nr(), 0x1C);
/// exit.set_ret(0);
/// exit.set_arg(0, 0x7000_0003);
/// assert_eq!(run[48..56], 0x7000_0003u64.to_ne_bytes());
/// # Ok::<(), spapr_tce::kvm::KvmRunTooShort>(())
/// ```
#[derive(Debug)]
pub struct PaprHcallExit<'a> {
    /// Start of `struct kvm_run`; at least [`KVM_RUN_PAPR_HCALL_END`] bytes are accessible.
    run: NonNull<u8>,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> PaprHcallExit<'a> {
    /// A view of a `kvm_run` image held as bytes (at least 120 of them).
    pub fn from_bytes(run: &'a mut [u8]) -> Result<Self, KvmRunTooShort> {
        if run.len() < KVM_RUN_PAPR_HCALL_END {
            return Err(KvmRunTooShort { len: run.len() });
        }
        Ok(Self {
            run: NonNull::from(run).cast(),
            _borrow: PhantomData,
        })
    }

    /// A view of the `kvm_run` of a vCPU, as mmapped from the vCPU fd (length
    /// `KVM_GET_VCPU_MMAP_SIZE`).
    ///
    /// # Safety
    ///
    /// `run` must point to at least 120 bytes that stay mapped and writable for `'a`, that no
    /// other code accesses while the view exists — in practice: the vCPU's `kvm_run` mapping,
    /// used by the vCPU thread between two `KVM_RUN` calls.
    pub unsafe fn from_raw(run: NonNull<u8>) -> Self {
        Self {
            run,
            _borrow: PhantomData,
        }
    }

    /// A view of kvm-bindings' `kvm_run`, e.g. from kvm-ioctls' `VcpuFd::get_kvm_run()`.
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    ))]
    pub fn from_kvm_run(run: &'a mut kvm_bindings::kvm_run) -> Self {
        const _: () =
            assert!(std::mem::size_of::<kvm_bindings::kvm_run>() >= KVM_RUN_PAPR_HCALL_END);
        Self {
            run: NonNull::from(run).cast(),
            _borrow: PhantomData,
        }
    }

    /// Reads the `N` bytes at `offset`.
    fn read<const N: usize>(&self, offset: usize) -> [u8; N] {
        debug_assert!(offset + N <= KVM_RUN_PAPR_HCALL_END);
        // SAFETY: callers pass a field's offset, so `offset + N <= 120` (args: index < 9 is
        // checked first), and the constructors guarantee 120 accessible bytes; `[u8; N]` needs
        // no alignment.
        unsafe {
            self.run
                .as_ptr()
                .add(offset)
                .cast::<[u8; N]>()
                .read_volatile()
        }
    }

    /// Writes `bytes` at `offset`.
    fn write<const N: usize>(&mut self, offset: usize, bytes: [u8; N]) {
        debug_assert!(offset + N <= KVM_RUN_PAPR_HCALL_END);
        // SAFETY: as in `read`; the constructors also guarantee exclusive, writable access.
        unsafe {
            self.run
                .as_ptr()
                .add(offset)
                .cast::<[u8; N]>()
                .write_volatile(bytes)
        }
    }

    /// `kvm_run.exit_reason`.
    pub fn exit_reason(&self) -> u32 {
        u32::from_ne_bytes(self.read(KVM_RUN_EXIT_REASON_OFFSET))
    }

    /// True when `exit_reason` is [`KVM_EXIT_PAPR_HCALL`], i.e. `papr_hcall` is valid.
    pub fn is_papr_hcall(&self) -> bool {
        self.exit_reason() == KVM_EXIT_PAPR_HCALL
    }

    /// `papr_hcall.nr`: the hcall number (the guest's r3).
    pub fn nr(&self) -> u64 {
        u64::from_ne_bytes(self.read(KVM_RUN_PAPR_HCALL_NR_OFFSET))
    }

    /// `papr_hcall.ret`: what becomes r3 on the next `KVM_RUN`.
    pub fn ret(&self) -> u64 {
        u64::from_ne_bytes(self.read(KVM_RUN_PAPR_HCALL_RET_OFFSET))
    }

    /// Sets `papr_hcall.ret`.
    pub fn set_ret(&mut self, ret: u64) {
        self.write(KVM_RUN_PAPR_HCALL_RET_OFFSET, ret.to_ne_bytes());
    }

    /// `papr_hcall.args[index]` (r4 + index), or `None` for `index >= 9`.
    pub fn arg(&self, index: usize) -> Option<u64> {
        (index < PAPR_HCALL_ARG_COUNT)
            .then(|| u64::from_ne_bytes(self.read(KVM_RUN_PAPR_HCALL_ARGS_OFFSET + 8 * index)))
    }

    /// All nine `papr_hcall.args` (r4..r12).
    pub fn args(&self) -> [u64; PAPR_HCALL_ARG_COUNT] {
        std::array::from_fn(|index| {
            u64::from_ne_bytes(self.read(KVM_RUN_PAPR_HCALL_ARGS_OFFSET + 8 * index))
        })
    }

    /// Sets `papr_hcall.args[index]` (r4 + index on the next `KVM_RUN`); `false` and nothing
    /// written for `index >= 9`.
    pub fn set_arg(&mut self, index: usize, value: u64) -> bool {
        if index >= PAPR_HCALL_ARG_COUNT {
            return false;
        }
        self.write(
            KVM_RUN_PAPR_HCALL_ARGS_OFFSET + 8 * index,
            value.to_ne_bytes(),
        );
        true
    }

    /// Stores a completed hcall: `ret` ← status and, if the outcome has one, `args[0]` ← r4
    /// (`H_GET_TCE`'s TCE). The other arguments keep the guest's values, which KVM copies
    /// back to r5..r12 unchanged (kernel-host.md §1.3).
    pub fn complete(&mut self, outcome: &HcallOutcome) {
        self.set_ret(outcome.status.to_register());
        if let Some(r4) = outcome.r4 {
            self.set_arg(0, r4);
        }
    }
}
