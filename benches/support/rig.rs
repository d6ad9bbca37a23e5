// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! An accelerator over anonymous guest RAM, with QEMU-style PHBs whose containers are the
//! kernel reference model (or none: emulated devices only), and hypercall helpers.

use std::sync::Arc;

use papr_hcall::rtas::ddw::{CreateArgs, CreateResult, QueryArgs, QueryResult};
use papr_hcall::rtas::{Buid, ConfigAddr, RtasCall, RtasStatus};
use papr_hcall::{HcallOutcome, HcallStatus, H_RTAS};
use spapr_tce::{LiobnScheme, PeConfig, TceAccelerator};
use vfio_spapr::model::{ModelContainer, PlatformProfile};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Guest RAM.
pub type Memory = Arc<GuestMemoryMmap>;
/// A reference-model container, kept by the rig to inspect it.
pub type Model = Arc<ModelContainer>;
/// The accelerator under test.
pub type Accelerator = TceAccelerator<Memory, Model>;

/// What stands behind each PE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A VFIO container simulated by the kernel reference model: every TCE change is also
    /// programmed into the (simulated) host IOMMU.
    Model,
    /// No container: emulated devices only, the guest view is all there is.
    Emulated,
}

impl Backend {
    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Emulated => "emulated",
        }
    }
}

/// The LIOBN of PHB `phb`'s default window (QEMU numbering).
pub fn default_liobn(phb: u32) -> u64 {
    LiobnScheme::QEMU.liobn(phb, 0).0
}

/// The BUID of PHB `phb` (QEMU numbering).
pub fn buid(phb: u32) -> u64 {
    PeConfig::<()>::QEMU_BUID_BASE + u64::from(phb)
}

/// Where RTAS argument buffers go.
pub const RTAS_BUFFER: u64 = 0x2000;

/// An accelerator with `phbs` QEMU PHBs over `ram` bytes of guest RAM at address 0.
pub struct Rig {
    /// The accelerator.
    pub acc: Accelerator,
    /// Its guest RAM.
    pub memory: Memory,
    /// One container per PHB with [`Backend::Model`], each in its own simulated process
    /// (as separate VMM processes would be: no lock is shared between PEs).
    pub models: Vec<Model>,
}

impl Rig {
    /// Builds the rig; guest RAM is mapped `MAP_NORESERVE`, so only touched pages cost memory.
    pub fn new(ram: u64, phbs: u32, backend: Backend) -> Self {
        let len = usize::try_from(ram).expect("guest RAM size fits usize");
        let memory: Memory = Arc::new(
            GuestMemoryMmap::from_ranges(&[(GuestAddress(0), len)]).expect("guest RAM mmap"),
        );
        let host_page_size = 1u64 << spapr_tce::ram::host_page_shift();
        let mut builder = TceAccelerator::builder(memory.clone());
        let mut models = Vec::new();
        for phb in 0..phbs {
            let container = match backend {
                Backend::Model => {
                    let model = Arc::new(ModelContainer::new(PlatformProfile::for_host(
                        host_page_size,
                    )));
                    models.push(model.clone());
                    Some(model)
                }
                Backend::Emulated => None,
            };
            builder = builder.qemu_phb(phb, container);
        }
        let acc = builder.build().expect("accelerator");
        Self {
            acc,
            memory,
            models,
        }
    }

    /// Issues one hypercall; `args` fills r4 onwards.
    #[inline]
    pub fn hcall(&self, nr: u64, args: &[u64]) -> HcallOutcome {
        let mut registers = [0u64; 9];
        registers[..args.len()].copy_from_slice(args);
        self.acc
            .handle_hcall(nr, &registers)
            .expect("a TCE hypercall")
    }

    /// Issues one hypercall that must succeed.
    #[inline]
    pub fn hcall_ok(&self, nr: u64, args: &[u64]) -> HcallOutcome {
        let outcome = self.hcall(nr, args);
        assert_eq!(
            outcome.status,
            HcallStatus::SUCCESS,
            "hcall {nr:#x} {args:x?}"
        );
        outcome
    }

    /// Writes TCEs, big-endian as the guest does, as a list page at `gpa`.
    pub fn write_list(&self, gpa: u64, tces: &[u64]) {
        let mut bytes = Vec::with_capacity(tces.len() * 8);
        for tce in tces {
            bytes.extend_from_slice(&tce.to_be_bytes());
        }
        self.memory
            .write_slice(&bytes, GuestAddress(gpa))
            .expect("list page in guest RAM");
    }

    /// Calls a DDW RTAS service through `H_RTAS` as a guest does; returns the return cells.
    fn rtas(&self, token: u32, args: &[u32], nret: u32) -> Vec<u32> {
        let buffer = GuestAddress(RTAS_BUFFER);
        let call = RtasCall::new(buffer, token, args, nret);
        self.memory
            .write_slice(&call.to_bytes(), buffer)
            .expect("RTAS buffer");
        self.hcall_ok(H_RTAS, &[RTAS_BUFFER]);
        let rets = call.read_rets(&*self.memory).expect("RTAS return cells");
        assert_eq!(
            rets.first().map(|&cell| RtasStatus::from_cell(cell)),
            Some(RtasStatus::SUCCESS),
            "RTAS token {token:#x} {args:x?}"
        );
        rets
    }

    /// `ibm,query-pe-dma-window` (6 outputs) for PHB `phb`.
    pub fn query_ddw(&self, phb: u32) -> QueryResult {
        let args = QueryArgs {
            config_addr: ConfigAddr(0),
            buid: Buid(buid(phb)),
        }
        .to_args();
        let rets = self.rtas(self.acc.ddw_tokens().query, &args, QueryArgs::NRET_EXTENDED);
        QueryResult::from_rets(&rets).expect("query result")
    }

    /// `ibm,create-pe-dma-window` for PHB `phb`: returns the new window's LIOBN and start.
    pub fn create_ddw(&self, phb: u32, page_shift: u32, window_shift: u32) -> (u64, u64) {
        let args = CreateArgs {
            config_addr: ConfigAddr(0),
            buid: Buid(buid(phb)),
            page_shift,
            window_shift,
        }
        .to_args();
        let rets = self.rtas(self.acc.ddw_tokens().create, &args, CreateArgs::NRET);
        let created = CreateResult::from_rets(&rets).expect("create result");
        (u64::from(created.liobn), created.start)
    }
}
