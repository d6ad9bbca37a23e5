//! The KVM calls of a VMM that `spapr_tce::kvm` leaves to it: the system fd, the VM's
//! memory slot, the vCPU, its `kvm_run` mapping and registers.
//!
//! kvm-ioctls does not build for powerpc64 (shared/reference/rust-vmm.md §0), so the request
//! numbers are built here with [`IoctlLayout::HOST`], the same way `spapr_tce::kvm::bindings`
//! builds the TCE ones; the host tests pin the ppc64 values (printed with the cross
//! compiler's `<linux/kvm.h>`, shared/lab/README.md §13) and compare with libc's `_IO*`.

use std::fs::{File, OpenOptions};
use std::io;
use std::marker::PhantomData;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use libc::{c_int, c_ulong, c_void};
use spapr_tce::kvm::bindings::{KVMIO, KVM_CREATE_VM, KVM_GET_API_VERSION};
use vfio_spapr::ioctl::IoctlLayout;

/// `KVM_VM_PPC_HV`: the VM type that asks for HV KVM (shared/lab/README.md §12.3).
pub const KVM_VM_PPC_HV: c_ulong = 1;
/// `KVM_GET_VCPU_MMAP_SIZE` = `_IO(KVMIO, 0x04)` (system fd).
pub const KVM_GET_VCPU_MMAP_SIZE: u32 = IoctlLayout::HOST.io(KVMIO, 0x04);
/// `KVM_CREATE_VCPU` = `_IO(KVMIO, 0x41)` (VM fd; argument: the vCPU id by value).
pub const KVM_CREATE_VCPU: u32 = IoctlLayout::HOST.io(KVMIO, 0x41);
/// `KVM_SET_USER_MEMORY_REGION` = `_IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)`.
pub const KVM_SET_USER_MEMORY_REGION: u32 =
    IoctlLayout::HOST.iow(KVMIO, 0x46, size_of::<UserMemoryRegion>());
/// `KVM_RUN` = `_IO(KVMIO, 0x80)` (vCPU fd).
pub const KVM_RUN: u32 = IoctlLayout::HOST.io(KVMIO, 0x80);
/// `KVM_GET_REGS` = `_IOR(KVMIO, 0x81, struct kvm_regs)`.
pub const KVM_GET_REGS: u32 = IoctlLayout::HOST.ior(KVMIO, 0x81, size_of::<Regs>());
/// `KVM_SET_REGS` = `_IOW(KVMIO, 0x82, struct kvm_regs)`.
pub const KVM_SET_REGS: u32 = IoctlLayout::HOST.iow(KVMIO, 0x82, size_of::<Regs>());
/// `KVM_GET_ONE_REG` = `_IOW(KVMIO, 0xab, struct kvm_one_reg)` (the kernel writes through
/// `addr`, the struct itself is only read).
pub const KVM_GET_ONE_REG: u32 = IoctlLayout::HOST.iow(KVMIO, 0xab, size_of::<OneReg>());
/// `KVM_SET_ONE_REG` = `_IOW(KVMIO, 0xac, struct kvm_one_reg)`.
pub const KVM_SET_ONE_REG: u32 = IoctlLayout::HOST.iow(KVMIO, 0xac, size_of::<OneReg>());
/// `KVM_REG_PPC_LPCR_64` = `KVM_REG_PPC | KVM_REG_SIZE_U64 | 0xb5`.
pub const KVM_REG_PPC_LPCR_64: u64 = 0x1000_0000_0000_0000 | 0x0030_0000_0000_0000 | 0xb5;
/// LPCR[ILE]: interrupts are taken little-endian (so the L2's vector stubs decode).
pub const LPCR_ILE: u64 = 1 << 25;

/// `struct kvm_userspace_memory_region` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UserMemoryRegion {
    /// Slot number.
    pub slot: u32,
    /// `KVM_MEM_*` flags.
    pub flags: u32,
    /// Guest-physical start.
    pub guest_phys_addr: u64,
    /// Bytes (0 deletes the slot).
    pub memory_size: u64,
    /// Host virtual address of the backing mapping.
    pub userspace_addr: u64,
}

/// powerpc's `struct kvm_regs` (0x188 bytes, `arch/powerpc/include/uapi/asm/kvm.h`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Regs {
    /// Next instruction.
    pub pc: u64,
    /// Condition register.
    pub cr: u64,
    /// Count register.
    pub ctr: u64,
    /// Link register.
    pub lr: u64,
    /// Fixed-point exception register.
    pub xer: u64,
    /// Machine state register.
    pub msr: u64,
    /// Save/restore register 0 (interrupted address).
    pub srr0: u64,
    /// Save/restore register 1 (interrupted MSR).
    pub srr1: u64,
    /// Process id.
    pub pid: u64,
    /// SPRG0..7.
    pub sprg: [u64; 8],
    /// r0..r31.
    pub gpr: [u64; 32],
}

/// `struct kvm_one_reg` (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OneReg {
    /// `KVM_REG_*` id.
    pub id: u64,
    /// User address of the value.
    pub addr: u64,
}

/// `ioctl(fd, request, arg)` → the non-negative return value or the errno.
///
/// # Safety
///
/// `arg` must be what `request` expects: an integer by value, or a pointer to a live object
/// of the request's argument type that stays valid across the call.
unsafe fn ioctl(fd: BorrowedFd<'_>, request: u32, arg: c_ulong) -> io::Result<c_int> {
    // SAFETY: forwarded to the caller; `request as _` widens (glibc) or reinterprets (musl).
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Takes ownership of the descriptor a successful ioctl returned.
fn owned(fd: c_int) -> OwnedFd {
    // SAFETY: the kernel just returned `fd` (non-negative, checked by `ioctl`) as a new
    // descriptor of this process that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `/dev/kvm`.
pub struct Kvm {
    file: File,
}

impl Kvm {
    /// Opens `/dev/kvm` read-write.
    pub fn open() -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open("/dev/kvm")?;
        Ok(Self { file })
    }

    /// `KVM_GET_API_VERSION` (12).
    pub fn api_version(&self) -> io::Result<i32> {
        // SAFETY: takes no argument.
        unsafe { ioctl(self.file.as_fd(), KVM_GET_API_VERSION, 0) }
    }

    /// `KVM_CREATE_VM(vm_type)`: the VM fd.
    pub fn create_vm(&self, vm_type: c_ulong) -> io::Result<OwnedFd> {
        // SAFETY: the VM type is passed by value.
        unsafe { ioctl(self.file.as_fd(), KVM_CREATE_VM, vm_type) }.map(owned)
    }

    /// `KVM_GET_VCPU_MMAP_SIZE`: bytes of each vCPU's `kvm_run` mapping.
    pub fn vcpu_mmap_size(&self) -> io::Result<usize> {
        // SAFETY: takes no argument.
        let size = unsafe { ioctl(self.file.as_fd(), KVM_GET_VCPU_MMAP_SIZE, 0) }?;
        Ok(size as usize)
    }
}

impl AsRawFd for Kvm {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }
}

/// A VM whose memory slots point into mappings that live for `'m`.
pub struct Vm<'m> {
    fd: OwnedFd,
    _memory: PhantomData<&'m [u8]>,
}

impl<'m> Vm<'m> {
    /// Wraps a VM fd from [`Kvm::create_vm`].
    pub fn new(fd: OwnedFd) -> Self {
        Self {
            fd,
            _memory: PhantomData,
        }
    }

    /// Another descriptor of the same VM (for `spapr_tce::kvm::KvmVm`).
    pub fn try_clone(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// `KVM_SET_USER_MEMORY_REGION`: guest-physical `[gpa, gpa + len)` is the host mapping
    /// at `host`.
    ///
    /// # Safety
    ///
    /// `[host, host + len)` must be one mapping of this process that stays mapped for `'m`,
    /// and every descriptor of this VM (vCPUs, TCE tables, clones) must be closed within
    /// `'m`: the guest reads and writes it behind Rust's back, so it may only be accessed
    /// with volatile accesses (vm-memory's `Bytes`) meanwhile.
    pub unsafe fn set_memory(
        &self,
        slot: u32,
        gpa: u64,
        host: *mut u8,
        len: u64,
    ) -> io::Result<()> {
        let region = UserMemoryRegion {
            slot,
            flags: 0,
            guest_phys_addr: gpa,
            memory_size: len,
            userspace_addr: host as u64,
        };
        // SAFETY: the ioctl reads one `UserMemoryRegion`, which lives across the call; the
        // memory it names is the caller's promise.
        unsafe {
            ioctl(
                self.fd.as_fd(),
                KVM_SET_USER_MEMORY_REGION,
                &region as *const UserMemoryRegion as c_ulong,
            )
        }
        .map(drop)
    }

    /// `KVM_CREATE_VCPU(id)` with its `kvm_run` mapped.
    pub fn create_vcpu(&self, kvm: &Kvm, id: c_ulong) -> io::Result<Vcpu> {
        // SAFETY: the vCPU id is passed by value.
        let fd = owned(unsafe { ioctl(self.fd.as_fd(), KVM_CREATE_VCPU, id) }?);
        let run = RunMapping::map(&fd, kvm.vcpu_mmap_size()?)?;
        Ok(Vcpu { run, fd })
    }
}

impl AsRawFd for Vm<'_> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// A vCPU's shared `struct kvm_run`, mapped from the vCPU fd.
pub struct RunMapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl RunMapping {
    fn map(vcpu: &OwnedFd, len: usize) -> io::Result<Self> {
        if len < spapr_tce::kvm::bindings::KVM_RUN_PAPR_HCALL_END {
            return Err(io::Error::other(format!("kvm_run of {len} bytes")));
        }
        // SAFETY: a fresh shared mapping of the vCPU fd; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                vcpu.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave 0"))?;
        Ok(Self { ptr, len })
    }
}

impl Drop for RunMapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `map` created; nothing refers to it any more
        // (views borrow the `Vcpu`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast::<c_void>(), self.len) };
    }
}

/// A vCPU: its fd and `kvm_run`. Field order is drop order: unmap, then close.
pub struct Vcpu {
    run: RunMapping,
    fd: OwnedFd,
}

impl Vcpu {
    /// `KVM_RUN` once: `Ok` when the vCPU exited to us (see [`exit`](Self::exit)).
    pub fn run(&mut self) -> io::Result<()> {
        // SAFETY: takes no argument; the kernel writes the exit into the mapped `kvm_run`,
        // which no Rust reference covers.
        unsafe { ioctl(self.fd.as_fd(), KVM_RUN, 0) }.map(drop)
    }

    /// The `papr_hcall` view of the last exit, borrowed until the next `KVM_RUN`.
    pub fn exit(&mut self) -> spapr_tce::kvm::PaprHcallExit<'_> {
        // SAFETY: the mapping holds at least KVM_RUN_PAPR_HCALL_END bytes (checked in `map`)
        // and stays mapped while `self` is borrowed; only this thread touches it between two
        // `KVM_RUN`s, and `&mut self` excludes a concurrent `run`.
        unsafe { spapr_tce::kvm::PaprHcallExit::from_raw(self.run.ptr) }
    }

    /// `KVM_GET_REGS`.
    pub fn regs(&self) -> io::Result<Regs> {
        let mut regs = Regs::default();
        // SAFETY: the kernel writes one `Regs` (size encoded in the request) into `regs`.
        unsafe {
            ioctl(
                self.fd.as_fd(),
                KVM_GET_REGS,
                &mut regs as *mut Regs as c_ulong,
            )
        }?;
        Ok(regs)
    }

    /// `KVM_SET_REGS`.
    pub fn set_regs(&self, regs: &Regs) -> io::Result<()> {
        // SAFETY: the kernel reads one `Regs` from the live `regs`.
        unsafe {
            ioctl(
                self.fd.as_fd(),
                KVM_SET_REGS,
                regs as *const Regs as c_ulong,
            )
        }
        .map(drop)
    }

    /// `KVM_GET_ONE_REG` of a 64-bit register.
    pub fn one_reg(&self, id: u64) -> io::Result<u64> {
        let mut value = 0u64;
        let reg = OneReg {
            id,
            addr: &mut value as *mut u64 as u64,
        };
        // SAFETY: the kernel reads `reg` and writes 8 bytes (the id's size) to `value`; both
        // live across the call.
        unsafe {
            ioctl(
                self.fd.as_fd(),
                KVM_GET_ONE_REG,
                &reg as *const OneReg as c_ulong,
            )
        }?;
        Ok(value)
    }

    /// `KVM_SET_ONE_REG` of a 64-bit register.
    pub fn set_one_reg(&self, id: u64, value: u64) -> io::Result<()> {
        let reg = OneReg {
            id,
            addr: &value as *const u64 as u64,
        };
        // SAFETY: the kernel reads `reg` and 8 bytes at `value`; both live across the call.
        unsafe {
            ioctl(
                self.fd.as_fd(),
                KVM_SET_ONE_REG,
                &reg as *const OneReg as c_ulong,
            )
        }
        .map(drop)
    }
}

impl AsRawFd for Vcpu {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Vcpu {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
