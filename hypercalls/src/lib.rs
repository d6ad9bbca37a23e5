// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The PAPR ABI of the sPAPR TCE hypercalls and the Dynamic DMA Window RTAS calls.
//!
//! This crate is pure: it performs no system calls and contains no `unsafe`. It defines
//! the hypercall opcodes and return codes, the TCE format with its invariants, the decoding
//! of a hypercall from the KVM `papr_hcall` register layout, and the RTAS argument buffers
//! of the four DDW calls (read from and written to guest memory through vm-memory's
//! [`Bytes`](vm_memory::Bytes)).
//!
//! Sources: LoPAR 2.9 (`ch_lpar_option.xml`, `sec_rtas_dma_window.xml`), Linux
//! `arch/powerpc/include/asm/hvcall.h` and `asm/tce.h`, as summarised in the project's
//! `shared/reference/kernel-host.md` §1–§2 and `qemu-and-guest.md` §2.
//!
//! ```
//! use papr_hcall::{HcallRequest, H_PUT_TCE, Liobn, Ioba, Tce};
//!
//! let args = [0x8000_0000, 0x1000, 0x7f00_0003, 0, 0, 0, 0, 0, 0];
//! let req = HcallRequest::decode(H_PUT_TCE, &args).unwrap();
//! assert_eq!(
//!     req,
//!     HcallRequest::PutTce { liobn: Liobn(0x8000_0000), ioba: Ioba(0x1000), tce: Tce(0x7f00_0003) }
//! );
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod opcode;
pub mod request;
pub mod rtas;
pub mod status;
pub mod tce;

pub use opcode::{H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_RTAS, H_STUFF_TCE};
pub use request::{HcallOutcome, HcallRequest, MAX_INDIRECT_TCES, MAX_STUFF_TCES};
pub use rtas::{RtasCall, RtasError, RtasStatus};
pub use status::HcallStatus;
pub use tce::{Ioba, Liobn, PageShift, Tce, TcePermission};
