// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The DDW RTAS calls end to end: `handle_hcall(H_RTAS, ..)` over real guest memory and the
//! kernel reference model, checking the guest view against the model's hardware after every
//! step (qemu-and-guest.md §2.6–§2.9, §3.2; kernel-host.md Appendix A).

#![cfg(feature = "model")]

mod ddw;
