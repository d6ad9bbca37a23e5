// Copyright 2026 The spapr-tce Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

//! Tests of the converter on small synthetic traces.

use super::*;

const CMDLINE: &str = "qemu-system-ppc64 -m 1G -nodefaults -serial stdio -device spapr-vlan \
                       -device spapr-pci-host-bridge,index=1,dma_win_size=0x10000000";

const STARTUP: &str = "\
1@1.0:spapr_iommu_new_table liobn=0x71000002 table=0x1 fd=-1
1@1.0:spapr_iommu_new_table liobn=0x80000100 table=0x2 fd=-1
spapr_iommu_new_table liobn=0x80000000 table=0x3 fd=-1
";

const QUERY1: &str = "2@1.5:spapr_iommu_ddw_query buid=0x800000020000001 addr=0x0, 1 windows \
                      available, max window size=0x80000000, mask=0x107\n";

fn convert(body: &str, messages: Option<&str>) -> Result<Conversion, ConvertError> {
    let log = format!("{STARTUP}{body}");
    Converter::new(CMDLINE, messages)?.convert(log.as_bytes())
}

fn events(conversion: &Conversion) -> Vec<TraceEvent> {
    conversion.trace.events().collect()
}

#[test]
fn every_event_is_rebuilt_with_the_readme_rules() {
    let body = format!(
        "qemu-system-ppc64: a warning\n\
         2@1.1:spapr_iommu_pci_stuff liobn=0x80000100 ioba=0x200000 tcevalue=0x0 npages=512 ret=0\n\
         2@1.2:spapr_iommu_put liobn=0x71000002 ioba=0x3000 tce=0x5003 ret=0\n\
         spapr_iommu_indirect liobn=0x71000002 ioba=0x4000 tcelist=0x9000 iobaN=0x2 tceN=0x8003 ret=0\n\
         1@1.4:spapr_iommu_xlate liobn=0x71000002 0x5010 -> 0x7000 perm=3 mask=0xfff\n\
         {QUERY1}\
         2@1.6:spapr_iommu_new_table liobn=0x80000101 table=0x4 fd=-1\n\
         2@1.7:spapr_iommu_ddw_create buid=0x800000020000001 addr=0x0, page size=0x1000000, requested=0x80000000, start addr=0x800000000000000, liobn=0x80000101\n\
         2@1.8:spapr_iommu_pci_indirect liobn=0x80000101 ioba=0x800000000000000 tcelist=0x9000 iobaN=0x7f tceN=0x7f000003 ret=0\n\
         1@1.9:spapr_iommu_xlate liobn=0x80000101 0x1000010 -> 0x1000000 perm=3 mask=0xffffff\n\
         2@2.0:spapr_iommu_pci_stuff liobn=0x80000101 ioba=0x800000002000000 tcevalue=0x0 npages=2 ret=0\n\
         2@2.1:spapr_iommu_pci_get liobn=0x80000101 ioba=0x800000000000000 ret=0 tce=0x0\n\
         2@2.2:spapr_iommu_ddw_remove liobn=0x80000101\n\
         2@2.3:spapr_iommu_new_table liobn=0x80000100 table=0x2 fd=-1\n\
         2@2.4:spapr_iommu_ddw_reset buid=0x800000020000001 addr=0x0\n"
    );
    let conversion = convert(&body, None).unwrap();
    let stats = &conversion.stats;
    assert_eq!((stats.skipped, stats.new_tables, stats.events), (1, 5, 12));
    assert_eq!(
        stats.startup_tables,
        [0x7100_0002, 0x8000_0100, 0x8000_0000]
    );
    let expected = vec![
        TraceEvent::StuffTce(StuffTce {
            liobn: 0x8000_0100,
            ioba: 0,
            value: 0,
            npages: 512,
            ret: 0,
        }),
        TraceEvent::PutTce(PutTce {
            liobn: 0x7100_0002,
            ioba: 0x3000,
            tce: 0x5003,
            ret: 0,
        }),
        TraceEvent::PutTceIndirect(PutTceIndirect {
            liobn: 0x7100_0002,
            ioba: 0x4000,
            list_gpa: 0x9000,
            npages: 3,
            list: TceList::Linear {
                first: 0x6003,
                step: 0x1000,
            },
            ret: 0,
        }),
        TraceEvent::Xlate(Xlate {
            liobn: 0x7100_0002,
            bus_addr: 0x5010,
            translated: 0x7000,
            perm: 3,
        }),
        TraceEvent::DdwQuery(DdwQuery {
            config_addr: 0,
            buid: 0x800000020000001,
            status: 0,
            windows_available: Some(1),
            largest_block: None,
            page_mask: Some(0x107),
        }),
        TraceEvent::DdwCreate(DdwCreate {
            config_addr: 0,
            buid: 0x800000020000001,
            page_shift: 24,
            window_shift: 31,
            status: 0,
            liobn: 0x8000_0101,
            start: 0x800000000000000,
        }),
        TraceEvent::PutTceIndirect(PutTceIndirect {
            liobn: 0x8000_0101,
            ioba: 0x800000000000000,
            list_gpa: 0x9000,
            npages: 128,
            list: TceList::Linear {
                first: 3,
                step: 0x100_0000,
            },
            ret: 0,
        }),
        TraceEvent::Xlate(Xlate {
            liobn: 0x8000_0101,
            bus_addr: 0x800000001000010,
            translated: 0x100_0000,
            perm: 3,
        }),
        TraceEvent::StuffTce(StuffTce {
            liobn: 0x8000_0101,
            ioba: 0x800000000000000,
            value: 0,
            npages: 2,
            ret: 0,
        }),
        TraceEvent::GetTce(GetTce {
            liobn: 0x8000_0101,
            ioba: 0x800000000000000,
            ret: 0,
            tce: 0,
        }),
        TraceEvent::DdwRemove(DdwRemove {
            liobn: 0x8000_0101,
            status: 0,
        }),
        TraceEvent::DdwReset(DdwReset {
            config_addr: 0,
            buid: 0x800000020000001,
            status: 0,
        }),
    ];
    assert_eq!(events(&conversion)[..], expected[..]);
    let report = conversion.trace.check_self_consistency();
    assert!(report.is_consistent(), "{:?}", report.problems);
    assert_eq!((report.gets_checked, report.xlates_checked), (1, 2));
}

#[test]
fn xz_input_converts_like_plain_input() {
    let body = "2@1.2:spapr_iommu_put liobn=0x71000002 ioba=0x3000 tce=0x5003 ret=0\n";
    let plain = convert(body, None).unwrap();
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut format!("{STARTUP}{body}").as_bytes(), &mut xz).unwrap();
    let compressed = Converter::new(CMDLINE, None)
        .unwrap()
        .convert(&xz[..])
        .unwrap();
    assert_eq!(compressed.trace, plain.trace);
}

#[test]
fn failed_creates_come_from_the_guest_messages() {
    let messages = "\
[ 2.9] [ 1.1] virtio-pci 0001:00:00.0: ibm,query-pe-dma-windows(2026) 0 8000000 20000001 returned 0, lb=2000000000 ps=107 wn=1
[ 2.9] [ 1.2] virtio-pci 0001:00:00.0: ibm,create-pe-dma-window(2027) 0 8000000 20000001 18 0 returned -3 (liobn = 0x0 starting addr = 0 0)
";
    let body = format!("{QUERY1}2@1.6:spapr_iommu_put liobn=0x80000100 ioba=0x0 tce=0x3 ret=0\n");
    let conversion = convert(&body, Some(messages)).unwrap();
    let events = events(&conversion);
    assert!(matches!(
        events[0],
        TraceEvent::DdwQuery(DdwQuery {
            largest_block: Some(0x20_0000_0000),
            ..
        })
    ));
    assert!(matches!(
        events[1],
        TraceEvent::DdwCreate(DdwCreate {
            status: -3,
            window_shift: 0,
            page_shift: 24,
            ..
        })
    ));
    assert!(matches!(events[2], TraceEvent::PutTce(_)));
    assert_eq!(conversion.stats.inserted_from_messages, 1);

    // A logged call the trace never reaches is an error, not silently dropped.
    let error = convert("", Some(messages)).unwrap_err();
    assert!(
        matches!(error, ConvertError::Inconsistent { line: 0, .. }),
        "{error}"
    );
}

#[test]
fn failed_hcalls_are_counted_as_approximations() {
    let body = "2@1:spapr_iommu_pci_stuff liobn=0x80000100 ioba=0xfff0000 tcevalue=0x0 npages=512 ret=-4\n";
    let conversion = convert(body, None).unwrap();
    assert_eq!(conversion.stats.approximated, 1);
}

#[test]
fn inconsistent_lines_fail_with_their_line_number() {
    let cases = [
        // unknown LIOBN: no page size for the stuff
        "2@1:spapr_iommu_pci_stuff liobn=0x80000900 ioba=0x200000 tcevalue=0x0 npages=512 ret=0",
        // stuff end below npages x page size
        "2@1:spapr_iommu_pci_stuff liobn=0x80000100 ioba=0x1000 tcevalue=0x0 npages=512 ret=0",
        // mask disagrees with the window's 4K pages
        "1@1:spapr_iommu_xlate liobn=0x80000100 0x10 -> 0x0 perm=3 mask=0xffffff",
        "2@1:spapr_iommu_ddw_remove liobn=0x80000101",
        "2@1:spapr_iommu_ddw_reset buid=0x800000020000009 addr=0x0",
        "2@1:spapr_iommu_ddw_create buid=0x800000020000001 addr=0x0, page size=0x3000, requested=0x80000000, start addr=0x0, liobn=0x80000101",
    ];
    for case in cases {
        let error = convert(&format!("{case}\n"), None).unwrap_err();
        assert!(
            matches!(error, ConvertError::Inconsistent { line: 4, .. }),
            "{case}: {error}"
        );
    }
    let error = convert("x\nspapr_iommu_pci_put liobn=0x80000100 ret=0\n", None).unwrap_err();
    assert!(
        matches!(error, ConvertError::Log { line: 5, .. }),
        "{error}"
    );
}

#[test]
fn start_up_tables_must_confirm_the_layout() {
    let log = "spapr_iommu_new_table liobn=0x80000000 table=0x3 fd=-1\n\
               spapr_iommu_put liobn=0x80000000 ioba=0x0 tce=0x0 ret=0\n";
    let error = Converter::new(CMDLINE, None)
        .unwrap()
        .convert(log.as_bytes())
        .unwrap_err();
    assert!(
        matches!(error, ConvertError::Inconsistent { line: 2, .. }),
        "{error}"
    );
}
