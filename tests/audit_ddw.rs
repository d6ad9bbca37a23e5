// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Audit regressions of the DDW RTAS calls, on an emulated PE (no container) so that only the
//! accelerator's own limits decide (qemu-and-guest.md §2.6, §2.7).

use papr_hcall::rtas::{DdwTokens, RtasCall, RtasStatus};
use papr_hcall::{HcallStatus, Liobn, H_RTAS};
use spapr_tce::{AcceleratorConfig, LiobnScheme, NoContainer, PeConfig, TceAccelerator};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

type Memory = std::sync::Arc<GuestMemoryMmap>;
type Accelerator = TceAccelerator<Memory, NoContainer>;

const RTAS_GPA: u64 = 0x2_0000;
const TOKENS: DdwTokens = DdwTokens::QEMU;
const PARAMETER_ERROR: u32 = RtasStatus::PARAMETER_ERROR.0 as u32;

struct Fixture {
    acc: Accelerator,
    mem: Memory,
    buid: u64,
}

impl Fixture {
    fn new(tweak: impl FnOnce(&mut PeConfig<NoContainer>)) -> Self {
        let mem = std::sync::Arc::new(
            GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap(),
        );
        let mut pe = PeConfig::qemu_phb(0, &LiobnScheme::QEMU, None);
        tweak(&mut pe);
        let buid = pe.buid;
        let config = AcceleratorConfig {
            pes: vec![pe],
            vio_windows: vec![],
            host_page_size: Some(4096),
            hugepage_size: None,
        };
        let acc = TceAccelerator::new(mem.clone(), config).expect("accelerator");
        Self { acc, mem, buid }
    }

    fn rtas(&self, token: u32, args: &[u32], nret: u32) -> Vec<u32> {
        let buffer = GuestAddress(RTAS_GPA);
        let call = RtasCall::new(buffer, token, args, nret);
        self.mem.write_slice(&call.to_bytes(), buffer).unwrap();
        let mut regs = [0u64; 9];
        regs[0] = RTAS_GPA;
        let outcome = self.acc.handle_hcall(H_RTAS, &regs).expect("a DDW token");
        assert_eq!(outcome.status, HcallStatus::SUCCESS);
        call.read_rets(&*self.mem).unwrap()
    }

    fn pe_args(&self) -> [u32; 3] {
        [0, (self.buid >> 32) as u32, self.buid as u32]
    }

    fn query6(&self) -> Vec<u32> {
        self.rtas(TOKENS.query, &self.pe_args(), 6)
    }

    fn create(&self, page_shift: u32, window_shift: u32) -> Vec<u32> {
        let [c, hi, lo] = self.pe_args();
        self.rtas(TOKENS.create, &[c, hi, lo, page_shift, window_shift], 4)
    }
}

fn largest_block(rets: &[u32]) -> u64 {
    (u64::from(rets[2]) << 32) | u64::from(rets[3])
}

/// A dynamic window whose end would be exactly 2^64 (the `dma64` address is 2^63) cannot be
/// represented (a window's `bus_offset + size` must not overflow), so query must not count
/// it as room and create must refuse it as too large (-3), not fail it as a host error (-1).
#[test]
fn window_ending_at_the_top_of_the_bus_is_refused_as_too_large() {
    let fx = Fixture::new(|pe| {
        let ddw = pe.ddw.as_mut().unwrap();
        ddw.dma64_window_addr = 1 << 63;
        ddw.max_window_shift = 63;
    });
    // The default window is active: the next window goes to 2^63.
    let query = fx.query6();
    assert_eq!(query[0], 0);
    let largest = largest_block(&query);
    assert_eq!(
        largest,
        1 << (62 - 12),
        "room below 2^64 is 2^62 bytes of 4 KiB pages"
    );
    assert_eq!(fx.create(12, 63)[0], PARAMETER_ERROR);
    // What query advertised can be created.
    let created = fx.create(12, 12 + largest.trailing_zeros());
    assert_eq!(created[0], 0, "{created:x?}");
    assert_eq!(
        (u64::from(created[2]) << 32) | u64::from(created[3]),
        1 << 63
    );
    let liobn = Liobn(u64::from(created[1]));
    assert_eq!(fx.acc.window(liobn).unwrap().size, 1 << 62);
}
