/work/main/tests/lab/agent/target/debug/deps/vfio_ioctls-78ccd35fb3d04b44.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/fam.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/vfio_device.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/vfio_ioctls.rs

/work/main/tests/lab/agent/target/debug/deps/libvfio_ioctls-78ccd35fb3d04b44.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/fam.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/vfio_device.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/vfio_ioctls.rs

/work/main/tests/lab/agent/target/debug/deps/libvfio_ioctls-78ccd35fb3d04b44.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/fam.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/vfio_device.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/vfio_ioctls.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/fam.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/vfio_device.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-ioctls-0.10.0/src/vfio_ioctls.rs:
