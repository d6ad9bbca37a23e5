// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! RTAS: the argument buffer, status codes, and the Dynamic DMA Window calls with the
//! device-tree properties that advertise them (qemu-and-guest.md §2.1, §2.6–§2.10;
//! kernel-host.md Appendix A).
//!
//! A guest calls RTAS through QEMU's RTAS blob, which issues `KVMPPC_H_RTAS`
//! ([`H_RTAS`](crate::H_RTAS)) with the guest-physical address of an argument buffer in r4.
//! [`RtasCall::read_from`] reads and bounds-checks that buffer, [`ddw`] decodes the DDW calls,
//! and [`RtasCall::write_rets`] stores the reply.
//!
//! ```
//! use papr_hcall::rtas::{ddw::{CreateArgs, CreateResult}, Buid, ConfigAddr, RtasCall};
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//!
//! let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap();
//! let buffer = GuestAddress(0x4000);
//! // What the guest writes: token, nargs 5, nret 4, then the five arguments, big-endian.
//! let guest = RtasCall::new(buffer, 0x2027, &[0x0000_0800, 0x0800_0000, 0x2000_0000, 24, 33], 4);
//! mem.write_slice(&guest.to_bytes(), buffer).unwrap();
//!
//! let call = RtasCall::read_from(&mem, buffer).unwrap();
//! let args = CreateArgs::decode(&call).unwrap();
//! assert_eq!(args.config_addr, ConfigAddr::new(0, 0x08));
//! assert_eq!(args.buid, Buid(0x0800_0000_2000_0000));
//! assert_eq!((args.page_shift, args.window_shift), (24, 33));
//!
//! let reply = CreateResult { liobn: 0x8000_0001, start: 1 << 59 };
//! call.write_rets(&mem, &reply.to_rets()).unwrap();
//! // The return cells follow the arguments (12 + 5 * 4 bytes in), big-endian on the wire.
//! let mut liobn_cell = [0u8; 4];
//! mem.read_slice(&mut liobn_cell, GuestAddress(0x4000 + 32 + 4)).unwrap();
//! assert_eq!(liobn_cell, [0x80, 0, 0, 0x01]);
//! assert_eq!(call.read_rets(&mem).unwrap(), [0, 0x8000_0001, 0x0800_0000, 0]);
//! ```

pub mod buffer;
pub mod ddw;
pub mod extensions;
pub mod page_sizes;
pub mod pe_address;
pub mod status;
pub mod tokens;

pub use buffer::{RtasCall, RtasError};
pub use extensions::DdwExtensions;
pub use page_sizes::PageSizeMask;
pub use pe_address::{Buid, ConfigAddr};
pub use status::RtasStatus;
pub use tokens::{DdwCall, DdwTokens};
