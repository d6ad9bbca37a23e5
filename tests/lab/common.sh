# shellcheck shell=bash
# Shared settings of the lab scripts (setup, build-initramfs, run). Source it, don't run it.

LAB_DIR="${LAB_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
LAB_REPO_ROOT="$(cd "$LAB_DIR/../.." && pwd)"
# Everything downloaded or built (gitignored): debs, the unpacked kernel, the agent's cargo
# target directory, initramfs images, run logs.
LAB_WORK="${LAB_WORK:-$LAB_DIR/work}"
mkdir -p "$LAB_WORK"
LAB_WORK="$(cd "$LAB_WORK" && pwd)"

# shellcheck disable=SC2034 # used by the scripts that source this file
LAB_TRIPLE=powerpc64le-unknown-linux-gnu
# shellcheck disable=SC2034
LAB_INITRAMFS="$LAB_WORK/initramfs.cpio.gz"

lab_log() { printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2; }
lab_die() {
	lab_log "ERROR: $*"
	exit 1
}

# Loads $LAB_WORK/setup.env (written by setup); true when it names files that exist.
lab_setup_complete() {
	[ -f "$LAB_WORK/setup.env" ] || return 1
	# shellcheck source=/dev/null
	source "$LAB_WORK/setup.env"
	[ -n "${KVER:-}" ] && [ -f "${VMLINUX:-}" ] && [ -f "${MODROOT:-}/modules.dep" ] &&
		[ -x "${BUSYBOX:-}" ]
}

# Like lab_setup_complete, but tells the user what to run when it is not.
lab_require_setup() {
	lab_setup_complete || lab_die "the lab is not set up: run tests/lab/setup (as root) first"
}

# The agent is outside the workspace but must build with exactly the workspace's dependency
# versions (MSRV 1.85): seed its Cargo.lock from the root one; cargo drops what it does not
# need and resolves nothing new (the root lock covers vfio-spapr's dependencies).
lab_seed_agent_lock() {
	cp "$LAB_REPO_ROOT/Cargo.lock" "$LAB_DIR/agent/Cargo.lock"
}
