// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Tests of crate-internal APIs against the reference model: the window operations the DDW
//! RTAS calls will use, the replay path, and the invariant checker itself.

mod window_ops;

use std::sync::Arc;

use papr_hcall::{Liobn, PageShift};
use vfio_spapr::model::{ModelContainer, PlatformProfile};
use vm_memory::{GuestAddress, GuestMemoryMmap};

use crate::config::{AcceleratorConfig, LiobnScheme, PeConfig, WindowConfig};
use crate::TceAccelerator;

pub(crate) type Accelerator = TceAccelerator<Arc<GuestMemoryMmap>, Arc<ModelContainer>>;

pub(crate) const BUID: u64 = PeConfig::<()>::QEMU_BUID_BASE;
pub(crate) const DEFAULT_LIOBN: Liobn = Liobn(0x8000_0000);
pub(crate) const DDW_LIOBN: Liobn = Liobn(0x8000_0001);
pub(crate) const VIO_LIOBN: Liobn = Liobn(0x7100_0000);
pub(crate) const RAM: u64 = 64 << 20;

pub(crate) fn host_page_size() -> u64 {
    1 << crate::ram::host_page_shift()
}

/// One VFIO PE (QEMU PHB 0) over 64 MiB of RAM, plus a VIO window.
pub(crate) fn fixture() -> (Accelerator, Arc<ModelContainer>) {
    let model = Arc::new(ModelContainer::new(PlatformProfile::for_host(
        host_page_size(),
    )));
    let memory =
        Arc::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap());
    let config = AcceleratorConfig {
        pes: vec![PeConfig::qemu_phb(
            0,
            &LiobnScheme::QEMU,
            Some(model.clone()),
        )],
        vio_windows: vec![WindowConfig {
            liobn: VIO_LIOBN,
            bus_offset: 0,
            size: 1 << 24,
            page_shift: PageShift::SZ_4K,
        }],
        host_page_size: Some(host_page_size()),
        hugepage_size: None,
    };
    (TceAccelerator::new(memory, config).unwrap(), model)
}
