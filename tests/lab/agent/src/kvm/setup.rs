//! Assembling one VMM: the VFIO container with `edu`, an HV VM whose memory slot is the
//! guest RAM mapping, the L2's vCPU in PAPR mode, and the accelerator with its windows'
//! tables in KVM (kernel-host.md §5.6; shared/lab/README.md §12.4 for the vCPU rules).

use std::sync::Arc;

use spapr_tce::kvm::bindings::{
    KVM_CAP_PPC_ENABLE_HCALL, KVM_CAP_PPC_PAPR, KVM_CAP_PPC_RTAS, KVM_CAP_SPAPR_MULTITCE,
    KVM_CAP_SPAPR_TCE, KVM_CAP_SPAPR_TCE_64, KVM_CAP_SPAPR_TCE_VFIO,
};
use spapr_tce::kvm::{check_extension, enable_papr, KvmConfig, KvmTceCaps, KvmTceOps, KvmVm};
use spapr_tce::TceAccelerator;
use vfio_spapr::{SpaprTceIommu, VfioSpaprContainer};
use vm_memory::{GuestAddress, GuestMemoryBackend};

use super::machine::Machine;
use super::program;
use super::sys::{Kvm, Vm, KVM_REG_PPC_LPCR_64, KVM_VM_PPC_HV, LPCR_ILE};
use crate::dma::guest::{Guest, Memory};
use crate::dma::scenario::BUID;
use crate::dma::{device_name, pe_config};
use crate::edu::Edu;

/// `KVM_CAP_PPC_MMU_RADIX`.
const KVM_CAP_PPC_MMU_RADIX: u32 = 134;
/// `KVM_CAP_PPC_MMU_HASH_V3`.
const KVM_CAP_PPC_MMU_HASH_V3: u32 = 135;
/// `KVM_CAP_PPC_NESTED_HV`.
const KVM_CAP_PPC_NESTED_HV: u32 = 160;

/// What setting a machine up found, for the result lines.
#[derive(Debug, Default)]
pub struct Found {
    /// `/dev/kvm`, VM, memory slot and vCPU.
    pub vm: String,
    /// The VM's TCE capabilities.
    pub caps: KvmTceCaps,
    /// Every probed capability, as text.
    pub caps_text: String,
    /// The device.
    pub edu: String,
}

fn edu_open(container: &VfioSpaprContainer, group: u32) -> Result<(Edu, String), String> {
    let name = device_name(group)?;
    let device = container
        .device_fd(group, &name)
        .map_err(|e| format!("device {name}: {e}"))?;
    let (edu, setup) = Edu::open(device).map_err(|e| format!("edu {name}: {e}"))?;
    let text = format!(
        "{name}: BAR0 {:#x} bytes, id {:#010x} as read",
        setup.bar0_len, setup.raw_id
    );
    Ok((edu, text))
}

fn caps_text(vm: &Vm<'_>) -> String {
    let caps = [
        ("PPC_PAPR", KVM_CAP_PPC_PAPR),
        ("SPAPR_TCE", KVM_CAP_SPAPR_TCE),
        ("SPAPR_TCE_64", KVM_CAP_SPAPR_TCE_64),
        ("SPAPR_MULTITCE", KVM_CAP_SPAPR_MULTITCE),
        ("SPAPR_TCE_VFIO", KVM_CAP_SPAPR_TCE_VFIO),
        ("PPC_ENABLE_HCALL", KVM_CAP_PPC_ENABLE_HCALL),
        ("PPC_RTAS", KVM_CAP_PPC_RTAS),
        ("PPC_MMU_RADIX", KVM_CAP_PPC_MMU_RADIX),
        ("PPC_MMU_HASH_V3", KVM_CAP_PPC_MMU_HASH_V3),
        ("PPC_NESTED_HV", KVM_CAP_PPC_NESTED_HV),
    ];
    caps.iter()
        .map(|(name, cap)| match check_extension(vm, *cap) {
            Ok(value) => format!("{name}={value}"),
            Err(e) => format!("{name}:{e}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds a machine over `mem` (one region of [`L2_RAM`](super::L2_RAM) bytes at gpa 0) with the
/// device of VFIO group `group`; `multitce` is passed to
/// [`KvmConfig::in_kernel_multitce`].
pub fn start(mem: &Memory, group: u32, multitce: bool) -> Result<(Machine<'_>, Found), String> {
    let mut found = Found::default();
    let container = Arc::new(VfioSpaprContainer::open().map_err(|e| format!("container: {e}"))?);
    let vfio_group = container
        .add_group(group)
        .map_err(|e| format!("group {group}: {e}"))?;
    let info = container.info().map_err(|e| format!("GET_INFO: {e}"))?;
    let (engine, edu_text) = edu_open(&container, group)?;
    found.edu = edu_text;

    let kvm = Kvm::open().map_err(|e| format!("/dev/kvm: {e}"))?;
    let api = kvm
        .api_version()
        .map_err(|e| format!("KVM_GET_API_VERSION: {e}"))?;
    let vm = Vm::new(
        kvm.create_vm(KVM_VM_PPC_HV)
            .map_err(|e| format!("KVM_CREATE_VM(KVM_VM_PPC_HV): {e}"))?,
    );
    found.caps_text = caps_text(&vm);

    program::load(mem)?;
    let ram = super::L2_RAM;
    let host = mem
        .get_host_address(GuestAddress(0))
        .map_err(|e| format!("host address of gpa 0: {e}"))?;
    // SAFETY: `host` is the start of `mem`'s single anonymous mapping of `ram` bytes, which
    // lives for the `'_` the machine borrows `mem` for; the VM and every descriptor of it
    // (vCPU, KVM tables, the accelerator's clone) belong to the machine.
    unsafe { vm.set_memory(0, 0, host, ram) }
        .map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))?;

    let vcpu = vm
        .create_vcpu(&kvm, 0)
        .map_err(|e| format!("KVM_CREATE_VCPU: {e}"))?;
    enable_papr(&vcpu).map_err(|e| format!("KVM_ENABLE_CAP(PPC_PAPR) on the vCPU: {e}"))?;
    let lpcr = vcpu
        .one_reg(KVM_REG_PPC_LPCR_64)
        .map_err(|e| format!("KVM_GET_ONE_REG(LPCR): {e}"))?;
    vcpu.set_one_reg(KVM_REG_PPC_LPCR_64, lpcr | LPCR_ILE)
        .map_err(|e| format!("KVM_SET_ONE_REG(LPCR|ILE): {e}"))?;
    let lpcr_now = vcpu.one_reg(KVM_REG_PPC_LPCR_64).unwrap_or(0);
    let regs = vcpu.regs().map_err(|e| format!("KVM_GET_REGS: {e}"))?;
    let initial = (regs.pc, regs.msr);
    vcpu.set_regs(&program::entry_regs(regs))
        .map_err(|e| format!("KVM_SET_REGS: {e}"))?;
    found.vm = format!(
        "API {api}, HV VM, memslot 0: gpa 0 + {ram:#x} at {host:p}, vCPU 0 in PAPR mode \
         (initial pc {:#x} msr {:#x}), LPCR {lpcr:#x} -> {lpcr_now:#x}",
        initial.0, initial.1
    );

    let kvm_vm = KvmVm::new(vm.try_clone().map_err(|e| format!("dup VM fd: {e}"))?)
        .map_err(|e| format!("KvmVm::new: {e}"))?;
    found.caps = kvm_vm.caps();
    let config = KvmConfig::new(kvm_vm)
        .pe_group(BUID, vfio_group)
        .in_kernel_multitce(multitce);
    let acc = TceAccelerator::builder(mem)
        .pe(pe_config(&info, container))
        .kvm(config)
        .build()
        .map_err(|e| format!("accelerator build: {e}"))?;
    let guest = Guest { acc, mem };
    Ok((Machine::new(kvm, vm, vcpu, guest, engine), found))
}
