// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! The device-tree properties: written with vm-fdt into a small tree, parsed back with a
//! minimal flattened-device-tree reader, compared with the layouts a Linux guest reads
//! (qemu-and-guest.md §2.10, measured QEMU 10 values in `traces/qemu10-dt-props.txt`).

use std::collections::BTreeMap;
use std::sync::Arc;

use papr_hcall::rtas::DdwTokens;
use papr_hcall::{Liobn, PageShift};
use spapr_tce::fdt::{FdtError, LrdrCapacity, HYPERTAS_TCE_FUNCTIONS};
use spapr_tce::{
    AcceleratorConfig, LiobnScheme, NoContainer, PeConfig, TceAccelerator, WindowConfig,
};
use vm_fdt::FdtWriter;
use vm_memory::{GuestAddress, GuestMemoryMmap};

const BUID: u64 = 0x0800_0000_2000_0000;
const RAM: u64 = 256 << 20;

type Accelerator = TceAccelerator<Arc<GuestMemoryMmap>, NoContainer>;

/// PHB 0 with DDW, PHB 1 without, one VIO window.
fn accelerator() -> Accelerator {
    let mem =
        Arc::new(GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap());
    let mut no_ddw = PeConfig::qemu_phb(1, &LiobnScheme::QEMU, None);
    no_ddw.ddw = None;
    let config = AcceleratorConfig {
        pes: vec![PeConfig::qemu_phb(0, &LiobnScheme::QEMU, None), no_ddw],
        vio_windows: vec![WindowConfig {
            liobn: Liobn(0x7100_0002),
            bus_offset: 0,
            size: 256 << 20,
            page_shift: PageShift::SZ_4K,
        }],
        host_page_size: Some(4096),
        hugepage_size: None,
    };
    TceAccelerator::new(mem, config).unwrap()
}

/// Path → (property name → value) of a flattened device tree (devicetree spec v0.4 §5).
type Tree = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

fn be32(blob: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes(blob[offset..offset + 4].try_into().unwrap())
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).expect("NUL-terminated");
    String::from_utf8(bytes[..end].to_vec()).unwrap()
}

fn parse(blob: &[u8]) -> Tree {
    assert_eq!(be32(blob, 0), 0xd00d_feed, "magic");
    assert_eq!(be32(blob, 4) as usize, blob.len(), "totalsize");
    let structs = be32(blob, 8) as usize;
    let strings = be32(blob, 12) as usize;
    let mut tree = Tree::new();
    let mut path: Vec<String> = Vec::new();
    let mut at = structs;
    loop {
        let token = be32(blob, at);
        at += 4;
        match token {
            1 => {
                let name = c_string(&blob[at..]);
                at += (name.len() + 1).div_ceil(4) * 4;
                path.push(name);
                tree.entry(path.join("/")).or_default();
            }
            2 => {
                path.pop().expect("balanced nodes");
            }
            3 => {
                let len = be32(blob, at) as usize;
                let name = c_string(&blob[strings + be32(blob, at + 4) as usize..]);
                let value = blob[at + 8..at + 8 + len].to_vec();
                at += 8 + len.div_ceil(4) * 4;
                let node = tree
                    .get_mut(&path.join("/"))
                    .expect("property inside a node");
                assert!(node.insert(name, value).is_none(), "duplicate property");
            }
            4 => {}
            9 => break,
            other => panic!("bad token {other} at {at:#x}"),
        }
    }
    tree
}

fn cells(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn build(acc: &Accelerator, lrdr: LrdrCapacity) -> Vec<u8> {
    let mut fdt = FdtWriter::new().unwrap();
    let root = fdt.begin_node("").unwrap();
    fdt.property_u32("#address-cells", 2).unwrap();
    for (name, buid) in [
        ("pci@800000020000000", BUID),
        ("pci@800000020000001", BUID + 1),
    ] {
        let node = fdt.begin_node(name).unwrap();
        fdt.property_string("device_type", "pci").unwrap();
        acc.pe_device_tree(buid)
            .unwrap()
            .unwrap()
            .write_to(&mut fdt)
            .unwrap();
        fdt.end_node(node).unwrap();
    }
    let vdevice = fdt.begin_node("vdevice").unwrap();
    let vscsi = fdt.begin_node("v-scsi@71000002").unwrap();
    acc.vio_device_tree(Liobn(0x7100_0002))
        .unwrap()
        .unwrap()
        .write_to(&mut fdt)
        .unwrap();
    fdt.end_node(vscsi).unwrap();
    fdt.end_node(vdevice).unwrap();
    let rtas = fdt.begin_node("rtas").unwrap();
    let mut props = acc.rtas_device_tree(lrdr);
    props.hypertas_functions.insert(0, "hcall-pft".into());
    props.write_to(&mut fdt).unwrap();
    fdt.end_node(rtas).unwrap();
    fdt.end_node(root).unwrap();
    fdt.finish().unwrap()
}

#[test]
fn tree_round_trips_with_qemu_layouts() {
    let acc = accelerator();
    let lrdr = LrdrCapacity::for_ram(acc.ram(), None, LrdrCapacity::QEMU_LMB_SIZE, 4).unwrap();
    let tree = parse(&build(&acc, lrdr));

    let phb = &tree["/pci@800000020000000"];
    assert_eq!(
        phb["device_type"], b"pci\0",
        "the VMM's own properties are kept"
    );
    assert_eq!(phb["ibm,#dma-address-cells"], cells(&[2]));
    assert_eq!(phb["ibm,#dma-size-cells"], cells(&[2]));
    // LIOBN, bus address 0 (2 cells), 1 GiB (2 cells).
    assert_eq!(
        phb["ibm,dma-window"],
        cells(&[0x8000_0000, 0, 0, 0, 0x4000_0000])
    );
    assert_eq!(phb["ibm,ddw-applicable"], cells(&[0x2026, 0x2027, 0x2028]));
    assert_eq!(phb["ibm,ddw-extensions"], cells(&[2, 0x2029, 1]));

    let no_ddw = &tree["/pci@800000020000001"];
    assert_eq!(
        no_ddw["ibm,dma-window"],
        cells(&[0x8000_0100, 0, 0, 0, 0x4000_0000])
    );
    assert!(!no_ddw.contains_key("ibm,ddw-applicable"));
    assert!(!no_ddw.contains_key("ibm,ddw-extensions"));

    let vio = &tree["/vdevice/v-scsi@71000002"];
    assert_eq!(
        vio["ibm,my-dma-window"],
        cells(&[0x7100_0002, 0, 0, 0, 0x1000_0000])
    );
    assert_eq!(vio["ibm,#dma-address-cells"], cells(&[2]));

    let rtas = &tree["/rtas"];
    assert_eq!(rtas["ibm,query-pe-dma-window"], cells(&[0x2026]));
    assert_eq!(rtas["ibm,create-pe-dma-window"], cells(&[0x2027]));
    assert_eq!(rtas["ibm,remove-pe-dma-window"], cells(&[0x2028]));
    assert_eq!(rtas["ibm,reset-pe-dma-window"], cells(&[0x2029]));
    assert_eq!(
        rtas["ibm,hypertas-functions"],
        b"hcall-pft\0hcall-tce\0hcall-multi-tce\0"
    );
    // No maxmem: the end of RAM (256 MiB), never 0; LMB 256 MiB; 4 CPUs.
    assert_eq!(
        rtas["ibm,lrdr-capacity"],
        cells(&[0, 0x1000_0000, 0, 0x1000_0000, 4])
    );
}

#[test]
fn lrdr_capacity_covers_hotplug_and_refuses_zero() {
    let acc = accelerator();
    // QEMU's -m 4G,maxmem=64G measurement: <0x10 0 0 0x10000000 1>.
    let hotplug =
        LrdrCapacity::for_ram(acc.ram(), Some(64 << 30), LrdrCapacity::QEMU_LMB_SIZE, 1).unwrap();
    assert_eq!(hotplug.cells(), [0x10, 0, 0, 0x1000_0000, 1]);
    // A hotplug end below the end of RAM cannot shrink it.
    let low =
        LrdrCapacity::for_ram(acc.ram(), Some(1 << 20), LrdrCapacity::QEMU_LMB_SIZE, 1).unwrap();
    assert_eq!(low.max_memory_address, RAM);
    assert!(matches!(
        LrdrCapacity::new(0, LrdrCapacity::QEMU_LMB_SIZE, 1),
        Err(FdtError::ZeroMaxMemory)
    ));
    assert!(matches!(
        LrdrCapacity::new(RAM, 3 << 20, 1),
        Err(FdtError::InvalidLmbSize(_))
    ));
    let tree = parse(&build(&acc, hotplug));
    assert_eq!(
        tree["/rtas"]["ibm,lrdr-capacity"],
        cells(&[0x10, 0, 0, 0x1000_0000, 1])
    );
}

#[test]
fn custom_tokens_reach_the_tree() {
    let tokens = DdwTokens {
        query: 0x4000,
        create: 0x4001,
        remove: 0x4002,
        reset: 0x4003,
    };
    let acc = accelerator()
        .with_ddw_tokens(tokens)
        .with_six_output_query(false);
    let lrdr = LrdrCapacity::new(RAM, LrdrCapacity::QEMU_LMB_SIZE, 1).unwrap();
    let tree = parse(&build(&acc, lrdr));
    let phb = &tree["/pci@800000020000000"];
    assert_eq!(phb["ibm,ddw-applicable"], cells(&[0x4000, 0x4001, 0x4002]));
    assert_eq!(phb["ibm,ddw-extensions"], cells(&[1, 0x4003]));
    assert_eq!(tree["/rtas"]["ibm,reset-pe-dma-window"], cells(&[0x4003]));
}

#[test]
fn lookups_and_limits() {
    let acc = accelerator();
    assert!(acc.pe_device_tree(BUID + 9).is_none());
    assert!(
        acc.vio_device_tree(Liobn(0x8000_0000)).is_none(),
        "a PHB window"
    );
    assert!(acc.vio_device_tree(Liobn(0x7100_0003)).is_none());
    assert_eq!(HYPERTAS_TCE_FUNCTIONS, ["hcall-tce", "hcall-multi-tce"]);
    // Writing outside a node is vm-fdt's error, reported with the property name.
    let mut fdt = FdtWriter::new().unwrap();
    let props = acc.pe_device_tree(BUID).unwrap().unwrap();
    assert!(matches!(
        props.write_to(&mut fdt),
        Err(FdtError::Writer {
            name: "ibm,#dma-address-cells",
            ..
        })
    ));
}
