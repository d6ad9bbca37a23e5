/work/main/tests/lab/agent/target/debug/deps/vfio_bindings-8eca48fca5e5437e.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/vfio_bindings/mod.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/vfio_bindings/vfio.rs

/work/main/tests/lab/agent/target/debug/deps/libvfio_bindings-8eca48fca5e5437e.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/vfio_bindings/mod.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/vfio_bindings/vfio.rs

/work/main/tests/lab/agent/target/debug/deps/libvfio_bindings-8eca48fca5e5437e.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/vfio_bindings/mod.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/vfio_bindings/vfio.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/vfio_bindings/mod.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/vfio-bindings-0.7.0/src/vfio_bindings/vfio.rs:
