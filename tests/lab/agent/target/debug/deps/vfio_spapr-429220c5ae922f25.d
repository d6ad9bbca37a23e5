/work/main/tests/lab/agent/target/debug/deps/vfio_spapr-429220c5ae922f25.d: /work/main/vfio/src/lib.rs /work/main/vfio/src/container/mod.rs /work/main/vfio/src/container/args.rs /work/main/vfio/src/container/error.rs /work/main/vfio/src/container/group.rs /work/main/vfio/src/container/sys.rs /work/main/vfio/src/ioctl.rs /work/main/vfio/src/iommu.rs /work/main/vfio/src/vfio_ops.rs

/work/main/tests/lab/agent/target/debug/deps/libvfio_spapr-429220c5ae922f25.rlib: /work/main/vfio/src/lib.rs /work/main/vfio/src/container/mod.rs /work/main/vfio/src/container/args.rs /work/main/vfio/src/container/error.rs /work/main/vfio/src/container/group.rs /work/main/vfio/src/container/sys.rs /work/main/vfio/src/ioctl.rs /work/main/vfio/src/iommu.rs /work/main/vfio/src/vfio_ops.rs

/work/main/tests/lab/agent/target/debug/deps/libvfio_spapr-429220c5ae922f25.rmeta: /work/main/vfio/src/lib.rs /work/main/vfio/src/container/mod.rs /work/main/vfio/src/container/args.rs /work/main/vfio/src/container/error.rs /work/main/vfio/src/container/group.rs /work/main/vfio/src/container/sys.rs /work/main/vfio/src/ioctl.rs /work/main/vfio/src/iommu.rs /work/main/vfio/src/vfio_ops.rs

/work/main/vfio/src/lib.rs:
/work/main/vfio/src/container/mod.rs:
/work/main/vfio/src/container/args.rs:
/work/main/vfio/src/container/error.rs:
/work/main/vfio/src/container/group.rs:
/work/main/vfio/src/container/sys.rs:
/work/main/vfio/src/ioctl.rs:
/work/main/vfio/src/iommu.rs:
/work/main/vfio/src/vfio_ops.rs:
