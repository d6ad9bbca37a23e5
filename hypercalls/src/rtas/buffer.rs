// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The RTAS argument buffer in guest memory.
//!
//! The guest passes the guest-physical address of the buffer in r4 of `KVMPPC_H_RTAS`
//! ([`H_RTAS`](crate::H_RTAS)); the buffer holds big-endian 32-bit cells: `token`, `nargs`,
//! `nret`, `nargs` arguments, then `nret` return cells, the first being the status
//! (qemu-and-guest.md §2.1; kvmtool `powerpc/spapr_rtas.c` uses the same layout).
//!
//! The buffer is accessed only through vm-memory's [`Bytes`]: never through a Rust reference,
//! since the guest may change it concurrently. Every header field is read once; later
//! decisions use the copy.

use thiserror::Error;
use vm_memory::{Bytes, GuestAddress, GuestMemoryError};

use super::status::RtasStatus;

/// Errors accessing an RTAS buffer.
///
/// None of these can be reported to the guest in the buffer itself with confidence: the
/// buffer is not where the guest says, or its header is nonsense.
#[derive(Debug, Error)]
pub enum RtasError {
    /// `nargs` exceeds [`RtasCall::MAX_NARGS`].
    #[error("RTAS buffer at {addr:#x} declares {nargs} arguments (at most {max})", addr = buffer.0, max = RtasCall::MAX_NARGS)]
    TooManyArgs {
        /// Guest-physical address of the buffer.
        buffer: GuestAddress,
        /// The declared count.
        nargs: u32,
    },
    /// `nret` exceeds [`RtasCall::MAX_NRET`].
    #[error("RTAS buffer at {addr:#x} declares {nret} return cells (at most {max})", addr = buffer.0, max = RtasCall::MAX_NRET)]
    TooManyRets {
        /// Guest-physical address of the buffer.
        buffer: GuestAddress,
        /// The declared count.
        nret: u32,
    },
    /// The buffer would end beyond the 64-bit guest-physical address space.
    #[error("RTAS buffer at {addr:#x} of {len} bytes wraps around the address space", addr = buffer.0)]
    AddressOverflow {
        /// Guest-physical address of the buffer.
        buffer: GuestAddress,
        /// Length of the access in bytes.
        len: u64,
    },
    /// Reading the buffer failed: it is not (entirely) in guest memory.
    #[error("cannot read RTAS buffer at {addr:#x} ({len} bytes): {source}", addr = address.0)]
    ReadBuffer {
        /// Guest-physical address of the failed access.
        address: GuestAddress,
        /// Length of the access in bytes.
        len: usize,
        /// vm-memory's error.
        #[source]
        source: GuestMemoryError,
    },
    /// Writing the return cells failed: they are not (entirely) in guest memory.
    #[error("cannot write RTAS return cells at {addr:#x} ({len} bytes): {source}", addr = address.0)]
    WriteRets {
        /// Guest-physical address of the failed access.
        address: GuestAddress,
        /// Length of the access in bytes.
        len: usize,
        /// vm-memory's error.
        #[source]
        source: GuestMemoryError,
    },
}

/// One RTAS call as read from guest memory: header, arguments, and where it lives.
///
/// `nargs` and `nret` are the guest's own declarations (already bounded by
/// [`RtasCall::MAX_NARGS`] / [`RtasCall::MAX_NRET`] when read with [`RtasCall::read_from`]);
/// `args.len() == nargs`. The per-call decoders in [`ddw`](super::ddw) check them against
/// what the call takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtasCall {
    /// The RTAS token (which service is called).
    pub token: u32,
    /// Number of argument cells the guest declared.
    pub nargs: u32,
    /// Number of return cells the guest declared (room the guest left after the arguments).
    pub nret: u32,
    /// The argument cells, in host order.
    pub args: Vec<u32>,
    /// Guest-physical address of the buffer (the `r4` of `KVMPPC_H_RTAS`).
    pub buffer: GuestAddress,
}

impl RtasCall {
    /// Size of one cell in bytes.
    pub const CELL_LEN: usize = 4;
    /// Size of the header (`token`, `nargs`, `nret`) in bytes.
    pub const HEADER_LEN: usize = 3 * Self::CELL_LEN;
    /// Most argument cells accepted. LoPAR sets no limit; this crate's bound, far above the
    /// 5 arguments of `ibm,create-pe-dma-window` (qemu-and-guest.md §2.7), keeps a buffer read
    /// small and bounded whatever the guest writes.
    pub const MAX_NARGS: u32 = 16;
    /// Most return cells accepted; above the 6 of the extended `ibm,query-pe-dma-window`
    /// (qemu-and-guest.md §2.6).
    pub const MAX_NRET: u32 = 16;

    /// A call as a guest would write it: `nargs = args.len()`.
    pub fn new(buffer: GuestAddress, token: u32, args: &[u32], nret: u32) -> Self {
        Self {
            token,
            nargs: args.len() as u32,
            nret,
            args: args.to_vec(),
            buffer,
        }
    }

    /// Length in bytes of a buffer declaring `nargs` arguments and `nret` return cells.
    pub fn buffer_len(nargs: u32, nret: u32) -> u64 {
        Self::HEADER_LEN as u64 + Self::CELL_LEN as u64 * (u64::from(nargs) + u64::from(nret))
    }

    /// Reads and bounds-checks the buffer at `buffer`.
    ///
    /// The header is read first; `nargs` and `nret` are checked against
    /// [`Self::MAX_NARGS`]/[`Self::MAX_NRET`]; then the whole buffer, return cells included,
    /// must be readable guest memory, so that a later [`Self::write_rets`] cannot run off the
    /// end of RAM. Never panics, whatever the memory holds.
    pub fn read_from<M>(mem: &M, buffer: GuestAddress) -> Result<Self, RtasError>
    where
        M: Bytes<GuestAddress, E = GuestMemoryError> + ?Sized,
    {
        let mut header = [0u8; Self::HEADER_LEN];
        check_span(buffer, Self::HEADER_LEN as u64)?;
        mem.read_slice(&mut header, buffer)
            .map_err(|source| RtasError::ReadBuffer {
                address: buffer,
                len: Self::HEADER_LEN,
                source,
            })?;
        let [token, nargs, nret] = {
            let mut cells = cells_from_be(&header);
            [cells.next(), cells.next(), cells.next()].map(Option::unwrap_or_default)
        };
        if nargs > Self::MAX_NARGS {
            return Err(RtasError::TooManyArgs { buffer, nargs });
        }
        if nret > Self::MAX_NRET {
            return Err(RtasError::TooManyRets { buffer, nret });
        }
        let len = Self::buffer_len(nargs, nret);
        check_span(buffer, len)?;
        // Bounded by MAX_NARGS/MAX_NRET: at most 140 bytes.
        let mut whole = vec![0u8; len as usize];
        mem.read_slice(&mut whole, buffer)
            .map_err(|source| RtasError::ReadBuffer {
                address: buffer,
                len: whole.len(),
                source,
            })?;
        let args_bytes = whole
            .get(Self::HEADER_LEN..Self::HEADER_LEN + nargs as usize * Self::CELL_LEN)
            .unwrap_or_default();
        Ok(Self {
            token,
            nargs,
            nret,
            args: cells_from_be(args_bytes).collect(),
            buffer,
        })
    }

    /// Argument `index`, if the guest declared it.
    pub fn arg(&self, index: usize) -> Option<u32> {
        self.args.get(index).copied()
    }

    /// True when the guest declared exactly `nargs` arguments and `nret` return cells.
    pub fn has_shape(&self, nargs: u32, nret: u32) -> bool {
        self.nargs == nargs && self.nret == nret && self.args.len() == nargs as usize
    }

    /// Guest-physical address of the first return cell (the status).
    pub fn rets_address(&self) -> Result<GuestAddress, RtasError> {
        let offset = Self::HEADER_LEN as u64 + Self::CELL_LEN as u64 * u64::from(self.nargs);
        self.buffer
            .0
            .checked_add(offset)
            .map(GuestAddress)
            .ok_or(RtasError::AddressOverflow {
                buffer: self.buffer,
                len: offset,
            })
    }

    /// Writes the return cells `rets[0..min(nret, rets.len())]` after the arguments, as
    /// big-endian cells; `rets[0]` is the status. Cells the guest did not make room for are
    /// dropped; cells beyond `rets.len()` are left as they are.
    pub fn write_rets<M>(&self, mem: &M, rets: &[u32]) -> Result<(), RtasError>
    where
        M: Bytes<GuestAddress, E = GuestMemoryError> + ?Sized,
    {
        let count = rets.len().min(self.nret as usize);
        if count == 0 {
            return Ok(());
        }
        let address = self.rets_address()?;
        let bytes: Vec<u8> = rets[..count]
            .iter()
            .flat_map(|cell| cell.to_be_bytes())
            .collect();
        check_span(address, bytes.len() as u64)?;
        mem.write_slice(&bytes, address)
            .map_err(|source| RtasError::WriteRets {
                address,
                len: bytes.len(),
                source,
            })
    }

    /// Writes only the status cell (when the guest left at least one return cell).
    pub fn write_status<M>(&self, mem: &M, status: RtasStatus) -> Result<(), RtasError>
    where
        M: Bytes<GuestAddress, E = GuestMemoryError> + ?Sized,
    {
        self.write_rets(mem, &[status.to_cell()])
    }

    /// Reads the `nret` return cells back (what the guest will see), e.g. for tests and replay.
    pub fn read_rets<M>(&self, mem: &M) -> Result<Vec<u32>, RtasError>
    where
        M: Bytes<GuestAddress, E = GuestMemoryError> + ?Sized,
    {
        let address = self.rets_address()?;
        let len = self.nret.min(Self::MAX_NRET) as usize * Self::CELL_LEN;
        check_span(address, len as u64)?;
        let mut bytes = vec![0u8; len];
        mem.read_slice(&mut bytes, address)
            .map_err(|source| RtasError::ReadBuffer {
                address,
                len,
                source,
            })?;
        Ok(cells_from_be(&bytes).collect())
    }

    /// The wire image a guest writes: header, arguments, and `nret` zeroed return cells, all
    /// big-endian. Uses the `nargs` field for the header and `args` for the cells.
    pub fn to_bytes(&self) -> Vec<u8> {
        [self.token, self.nargs, self.nret]
            .iter()
            .chain(self.args.iter())
            .chain(std::iter::repeat_n(&0u32, self.nret as usize))
            .flat_map(|cell| cell.to_be_bytes())
            .collect()
    }
}

/// Fails when `[address, address + len)` wraps around the 64-bit address space.
fn check_span(address: GuestAddress, len: u64) -> Result<(), RtasError> {
    match len.checked_sub(1) {
        Some(last) if address.0.checked_add(last).is_none() => Err(RtasError::AddressOverflow {
            buffer: address,
            len,
        }),
        _ => Ok(()),
    }
}

/// Decodes big-endian cells; a trailing partial cell is ignored.
fn cells_from_be(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(RtasCall::CELL_LEN)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_len_counts_header_args_and_rets() {
        assert_eq!(RtasCall::buffer_len(0, 0), 12);
        assert_eq!(RtasCall::buffer_len(5, 4), 12 + 36);
        assert_eq!(
            RtasCall::buffer_len(u32::MAX, u32::MAX),
            12 + 8 * u64::from(u32::MAX)
        );
    }

    #[test]
    fn to_bytes_is_big_endian_with_zeroed_rets() {
        let call = RtasCall::new(GuestAddress(0), 0x2028, &[0x8000_0001], 1);
        assert_eq!(
            call.to_bytes(),
            [0, 0, 0x20, 0x28, 0, 0, 0, 1, 0, 0, 0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0]
        );
    }

    #[test]
    fn spans_ending_at_the_top_of_the_address_space_are_allowed() {
        assert!(check_span(GuestAddress(u64::MAX - 3), 4).is_ok());
        assert!(check_span(GuestAddress(u64::MAX - 2), 4).is_err());
        assert!(check_span(GuestAddress(u64::MAX), 0).is_ok());
    }

    #[test]
    fn rets_address_of_a_forged_call_does_not_overflow() {
        let mut call = RtasCall::new(GuestAddress(u64::MAX - 8), 1, &[], 1);
        call.nargs = u32::MAX;
        assert!(matches!(
            call.rets_address(),
            Err(RtasError::AddressOverflow { .. })
        ));
    }
}
