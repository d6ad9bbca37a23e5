// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The `decode` target: arbitrary hypercall registers and RTAS buffers through every decoder
//! of `papr-hcall`. Nothing may panic, and every decode/encode pair must round-trip.

use papr_hcall::rtas::ddw::{
    CreateArgs, CreateResult, DdwRequest, QueryArgs, QueryResult, RemoveArgs, ResetArgs,
};
use papr_hcall::rtas::{DdwExtensions, DdwTokens, PageSizeMask, RtasCall, RtasStatus};
use papr_hcall::{
    HcallOutcome, HcallRequest, HcallStatus, Liobn, PageShift, Tce, H_GET_TCE, H_PUT_TCE,
    H_PUT_TCE_INDIRECT, H_RTAS, H_STUFF_TCE,
};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::failure::{Failure, Violation};
use super::source::ByteSource;

/// Guest memory of the decode target: two 64 KiB regions with a 64 KiB hole.
const REGIONS: [(u64, usize); 2] = [(0, 0x1_0000), (0x2_0000, 0x1_0000)];

fn broken(detail: String) -> Result<(), Violation> {
    Err(Violation::Decode(detail))
}

/// One kind of decode step.
type Step = fn(&mut ByteSource<'_>, &GuestMemoryMmap) -> Result<(), Violation>;

/// Runs one decode input; see the module documentation.
pub fn run_decode(data: &[u8]) -> Result<(), Failure> {
    let mut source = ByteSource::new(data);
    let memory =
        GuestMemoryMmap::<()>::from_ranges(&REGIONS.map(|(start, len)| (GuestAddress(start), len)))
            .map_err(|e| Failure::outside("decode setup", Violation::Setup(e.to_string())))?;
    let steps: [(&str, Step); 3] = [
        ("hcall registers", |s, _| hcall(s)),
        ("RTAS buffer", rtas_buffer),
        ("DDW values", |s, _| ddw_values(s)),
    ];
    while !source.is_empty() {
        let (name, step) = steps[usize::from(source.u8()) % steps.len()];
        step(&mut source, &memory).map_err(|v| Failure::outside(name, v))?;
    }
    Ok(())
}

/// `HcallRequest::decode` / `encode` and the outcome's register image.
fn hcall(source: &mut ByteSource<'_>) -> Result<(), Violation> {
    const OPCODES: [u64; 5] = [
        H_PUT_TCE,
        H_GET_TCE,
        H_STUFF_TCE,
        H_PUT_TCE_INDIRECT,
        H_RTAS,
    ];
    let pick = source.u8();
    let nr = OPCODES
        .get(usize::from(pick))
        .copied()
        .unwrap_or_else(|| source.u64());
    let args: [u64; 9] = std::array::from_fn(|_| source.u64());
    let Some(request) = HcallRequest::decode(nr, &args) else {
        if [H_PUT_TCE, H_GET_TCE, H_STUFF_TCE, H_PUT_TCE_INDIRECT].contains(&nr) {
            return broken(format!("TCE hypercall {nr:#x} not decoded"));
        }
        return Ok(());
    };
    let (nr2, args2) = request.encode();
    let used = match request {
        HcallRequest::GetTce { .. } => 2,
        HcallRequest::PutTce { .. } => 3,
        _ => 4,
    };
    if nr2 != nr
        || request.opcode() != nr
        || args2[..used] != args[..used]
        || args2[used..].iter().any(|&a| a != 0)
        || HcallRequest::decode(nr2, &args2) != Some(request)
        || request.liobn() != Liobn(args[0])
        || request.ioba().0 != args[1]
    {
        return broken(format!(
            "{request:x?} does not round-trip ({nr:#x}, {args:x?})"
        ));
    }
    let status = HcallStatus(source.u64() as i64);
    let (mut ret, mut regs) = (0u64, args);
    HcallOutcome {
        status,
        r4: source.flag().then_some(args[8]),
    }
    .write_to(&mut ret, &mut regs);
    if HcallStatus::from_register(ret) != status || regs[1..] != args[1..] {
        return broken(format!("outcome {status} does not round-trip"));
    }
    let _ = (status.name(), status.to_string());
    Ok(())
}

/// Picks a buffer address: inside a region, straddling a region end, in the hole, or any.
fn buffer_address(source: &mut ByteSource<'_>) -> u64 {
    let offset = u64::from(source.u16());
    match source.u8() % 4 {
        0 => offset % 0x1_0000,
        1 => 0x1_0000 - (offset % 64) - 1,
        2 => 0x2_0000 + 0x1_0000 - (offset % 160),
        _ => source.u64(),
    }
}

/// True when `[address, address + len)` lies in one region.
fn in_memory(address: u64, len: u64) -> bool {
    REGIONS.iter().any(|&(start, size)| {
        address >= start
            && address
                .checked_add(len)
                .is_some_and(|end| end <= start + size as u64)
    })
}

fn read_cell(memory: &GuestMemoryMmap, address: u64) -> Option<u32> {
    memory
        .read_obj::<vm_memory::Be32>(GuestAddress(address))
        .ok()
        .map(u32::from)
}

/// `RtasCall::read_from` on arbitrary bytes at an arbitrary address, then every decoder.
fn rtas_buffer(source: &mut ByteSource<'_>, memory: &GuestMemoryMmap) -> Result<(), Violation> {
    let address = buffer_address(source);
    let len = usize::from(source.u8());
    let bytes: Vec<u8> = (0..len).map(|_| source.u8()).collect();
    for (i, byte) in bytes.iter().enumerate() {
        if let Some(at) = address.checked_add(i as u64) {
            let _ = memory.write_obj(*byte, GuestAddress(at));
        }
    }
    let header = [0u64, 4, 8].map(|o| address.checked_add(o).and_then(|a| read_cell(memory, a)));
    let well_formed = match header {
        [Some(_), Some(nargs), Some(nret)] => {
            nargs <= RtasCall::MAX_NARGS
                && nret <= RtasCall::MAX_NRET
                && in_memory(address, RtasCall::buffer_len(nargs, nret))
        }
        _ => false,
    };
    let call = match RtasCall::read_from(memory, GuestAddress(address)) {
        Ok(call) => call,
        Err(error) if !well_formed => {
            let _ = error.to_string();
            return Ok(());
        }
        Err(error) => {
            return broken(format!(
                "well-formed buffer at {address:#x} refused: {error}"
            ))
        }
    };
    let [Some(token), Some(nargs), Some(nret)] = header else {
        return broken(format!("unreadable header at {address:#x} accepted"));
    };
    if !well_formed
        || call != RtasCall::new(GuestAddress(address), token, &call.args, nret)
        || call.nargs != nargs
        || call.args.len() != nargs as usize
    {
        return broken(format!(
            "{call:x?} does not match its buffer at {address:#x}"
        ));
    }
    let image = call.to_bytes();
    let head = (RtasCall::HEADER_LEN + call.args.len() * RtasCall::CELL_LEN).min(image.len());
    let mut in_memory_now = vec![0u8; head];
    if memory
        .read_slice(&mut in_memory_now, GuestAddress(address))
        .is_err()
        || in_memory_now != image[..head]
    {
        return broken(format!("{call:x?}: to_bytes differs from the buffer"));
    }
    let rets: Vec<u32> = (0..source.u8() % 20).map(|_| source.u32()).collect();
    call.write_rets(memory, &rets)
        .map_err(|e| Violation::Decode(format!("write_rets: {e}")))?;
    let back = call
        .read_rets(memory)
        .map_err(|e| Violation::Decode(format!("read_rets: {e}")))?;
    let kept = rets.len().min(nret as usize);
    if back.len() != nret as usize || back[..kept] != rets[..kept] {
        return broken(format!("rets {rets:x?} read back as {back:x?}"));
    }
    ddw_decoders(&call)
}

/// Every DDW decoder on one call; accepted calls must re-encode to their arguments.
fn ddw_decoders(call: &RtasCall) -> Result<(), Violation> {
    let extension_sets = [
        DdwExtensions::QEMU,
        DdwExtensions::default(),
        DdwTokens::QEMU.extensions(true, true),
    ];
    for extensions in extension_sets {
        let decoded = DdwRequest::decode(call, &DdwTokens::QEMU, &extensions);
        let is_token = DdwTokens::QEMU.call_for(call.token).is_some();
        match decoded {
            None if !is_token => {}
            Some(Err(RtasStatus::PARAMETER_ERROR)) if is_token => {}
            Some(Ok(request)) => check_request(call, &request, &extensions)?,
            other => return broken(format!("{call:x?} decoded as {other:?}")),
        }
    }
    for six in [false, true] {
        if let Ok(args) = QueryArgs::decode(call, six) {
            if args.to_args()[..] != call.args[..] || !call.has_shape(3, call.nret) {
                return broken(format!("query {args:x?} from {call:x?}"));
            }
        }
        if let Ok(args) = ResetArgs::decode(call, six) {
            if args.to_args() != call.args {
                return broken(format!("reset {args:x?} from {call:x?}"));
            }
        }
    }
    if let Ok(args) = CreateArgs::decode(call) {
        check_create(call, &args)?;
    }
    if let Ok(args) = RemoveArgs::decode(call) {
        if args.to_args()[..] != call.args[..] || args.window() != Liobn(u64::from(call.args[0])) {
            return broken(format!("remove {args:x?} from {call:x?}"));
        }
    }
    Ok(())
}

fn check_request(
    call: &RtasCall,
    request: &DdwRequest,
    extensions: &DdwExtensions,
) -> Result<(), Violation> {
    let args: Vec<u32> = match request {
        DdwRequest::Query { args, six_outputs } => {
            if *six_outputs && !extensions.query_six_outputs {
                return broken(format!("six outputs not advertised: {call:x?}"));
            }
            args.to_args().to_vec()
        }
        DdwRequest::Create(args) => {
            check_create(call, args)?;
            args.to_args().to_vec()
        }
        DdwRequest::Remove(args) => args.to_args().to_vec(),
        DdwRequest::Reset(args) => {
            if args.limited_addressing.is_some() && !extensions.limited_addressing {
                return broken(format!("limited addressing not advertised: {call:x?}"));
            }
            args.to_args()
        }
    };
    if args != call.args || DdwTokens::QEMU.token_of(request.call()) != call.token {
        return broken(format!("{request:x?} does not re-encode to {call:x?}"));
    }
    Ok(())
}

fn check_create(call: &RtasCall, args: &CreateArgs) -> Result<(), Violation> {
    if args.to_args()[..] != call.args[..] || !call.has_shape(5, 4) {
        return broken(format!("create {args:x?} from {call:x?}"));
    }
    let masks = [PageSizeMask(0x107), PageSizeMask(u32::MAX), PageSizeMask(0)];
    for mask in masks {
        if let Ok(shift) = args.check_geometry(mask) {
            let tces = args.tce_count();
            if shift.get() != args.page_shift
                || !mask.contains_shift(args.page_shift)
                || args.window_shift < args.page_shift
                || args.window_shift > CreateArgs::MAX_WINDOW_SHIFT
                || tces != Some(1u64 << (args.window_shift - args.page_shift))
                || args.window_size() != Some(1u64 << args.window_shift)
            {
                return broken(format!("create geometry {args:x?} accepted for {mask:?}"));
            }
        }
    }
    Ok(())
}

/// Query/create results, extensions, page-size masks, page shifts, TCEs, statuses.
fn ddw_values(source: &mut ByteSource<'_>) -> Result<(), Violation> {
    let query = QueryResult {
        windows_available: source.u32(),
        largest_block: source.u64(),
        page_sizes: PageSizeMask(source.u32()),
        migration_capable: source.u32(),
    };
    let five = QueryResult {
        largest_block: query.largest_block.min(u64::from(u32::MAX)),
        ..query
    };
    if QueryResult::from_rets(&query.to_rets(true)) != Some(query)
        || QueryResult::from_rets(&query.to_rets(false)) != Some(five)
    {
        return broken(format!("{query:x?} does not round-trip"));
    }
    let create = CreateResult {
        liobn: source.u32(),
        start: source.u64(),
    };
    if CreateResult::from_rets(&create.to_rets()) != Some(create) {
        return broken(format!("{create:x?} does not round-trip"));
    }
    let cells: Vec<u32> = (0..source.u8() % 6).map(|_| source.u32()).collect();
    let extensions = DdwExtensions::from_cells(&cells);
    if DdwExtensions::from_cells(&extensions.to_cells()) != extensions {
        return broken(format!(
            "extensions {cells:x?} -> {extensions:?} do not round-trip"
        ));
    }
    let mask = PageSizeMask(source.u32());
    let shifts = mask.page_shifts();
    if PageSizeMask::from_page_shifts(shifts.iter().copied()).0 != mask.0 & PageSizeMask::KNOWN_BITS
        || shifts.windows(2).any(|w| w[0] >= w[1])
        || shifts.iter().any(|&s| !mask.contains_shift(s))
        || mask.is_empty() != shifts.is_empty()
    {
        return broken(format!(
            "page size mask {mask:?} is inconsistent: {shifts:?}"
        ));
    }
    let _ = (
        mask.largest_page_shift(),
        mask.smallest_shift(),
        mask.to_string(),
    );
    let shift = source.u32();
    if let Some(page) = PageShift::new(shift) {
        let tce = Tce(source.u64());
        let _ = (
            tce.is_address_aligned(page),
            tce.permission(),
            tce.address(),
        );
        if page.get() != shift || !page.is_aligned(page.size()) {
            return broken(format!("page shift {shift}"));
        }
    }
    let status = RtasStatus(source.u32() as i32);
    if RtasStatus::from_cell(status.to_cell()) != status {
        return broken(format!("{status} does not round-trip"));
    }
    let _ = (
        status.extended_delay_ms(),
        status.is_retry(),
        status.to_string(),
    );
    Ok(())
}
