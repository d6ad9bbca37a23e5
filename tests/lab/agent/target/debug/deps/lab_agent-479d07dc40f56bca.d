/work/main/tests/lab/agent/target/debug/deps/lab_agent-479d07dc40f56bca.d: src/main.rs src/raw.rs src/report.rs src/smoke.rs

/work/main/tests/lab/agent/target/debug/deps/lab_agent-479d07dc40f56bca: src/main.rs src/raw.rs src/report.rs src/smoke.rs

src/main.rs:
src/raw.rs:
src/report.rs:
src/smoke.rs:
