# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are for the scripts that source this file
# Shared helpers for the CI scripts (.ci/run, .ci/msrv, .ci/ppc64le). Source it, don't run it.
#
# Debian 12's own Rust 1.85 (rustc-web/cargo-web, = our MSRV) is what we use for the MSRV build
# and for the powerpc64le cross build: its libstd-rust-web-dev:ppc64el is the only ppc64le std a
# build machine can install (see shared/reference/ppc64le-build.md). rustup's toolchains stay the
# default `cargo`/`rustc` for everything else.

# Root of the git work tree (this file lives in <root>/.ci).
CI_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

CI_PPC64LE_TRIPLE=powerpc64le-unknown-linux-gnu

# Everything the MSRV and ppc64le scripts need, in one apt transaction.
CI_DEBIAN_PACKAGES=(
    gcc-powerpc64le-linux-gnu
    libc6-dev-ppc64el-cross
    qemu-user
    rustc-web
    cargo-web
    libstd-rust-web-dev:ppc64el
)

ci_log() { printf '%s\n' "[ci] $*" >&2; }

# Runs a command as root (directly, or through sudo when we are not root).
ci_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        ci_log "need root (or sudo) for: $*"
        return 1
    fi
}

# True when every package in CI_DEBIAN_PACKAGES is installed.
ci_debian_packages_installed() {
    local pkg status
    for pkg in "${CI_DEBIAN_PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" || return 1
        [ "$status" = installed ] || return 1
    done
}

# Installs Debian's Rust 1.85 with its ppc64el std, the ppc64le cross linker and qemu-user.
# Idempotent: returns at once when everything is already installed (CI_FORCE_APT=1 goes through
# apt anyway, to test this path).
ci_install_debian_toolchain() {
    if [ "${CI_FORCE_APT:-0}" != 1 ] && ci_debian_packages_installed && [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ]; then
        ci_log "Debian toolchain packages already installed"
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Wait for a concurrent apt/dpkg (unattended upgrades, another helper) instead of failing.
    local apt=(apt-get -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)

    if ! dpkg --print-foreign-architectures | grep -qx ppc64el; then
        ci_as_root dpkg --add-architecture ppc64el || return 1
    fi

    # Known failure: after adding ppc64el, bookworm-security's ppc64el index can fail with
    # "File has unexpected size ... Mirror sync in progress?" and apt-get update exits 100.
    # Everything we need is in bookworm main, so carry on -- but only if apt can then actually
    # install the packages (checked by the simulation below); any other breakage fails here.
    local update_log
    update_log="$(mktemp)"
    if ! ci_as_root "${apt[@]}" update >"$update_log" 2>&1; then
        ci_log "WARN: apt-get update reported errors (tolerated if the packages are installable):"
        grep -E '^(E|W):' "$update_log" | sed 's/^/[ci]   /' >&2
    fi
    rm -f "$update_log"

    if ! "${apt[@]}" install -s -y --no-install-recommends "${CI_DEBIAN_PACKAGES[@]}" >/dev/null 2>&1; then
        ci_log "ERROR: the Debian toolchain packages are not installable:"
        "${apt[@]}" install -s -y --no-install-recommends "${CI_DEBIAN_PACKAGES[@]}" 2>&1 | tail -n 20 >&2
        return 1
    fi
    ci_as_root "${apt[@]}" install -y --no-install-recommends "${CI_DEBIAN_PACKAGES[@]}" || return 1
    ci_debian_packages_installed || { ci_log "ERROR: packages still missing after install"; return 1; }
}

# Runs Debian's cargo (1.85) with Debian's rustc/rustdoc. rustup's proxies are first in PATH
# (~/.cargo/bin), so put /usr/bin first and pin the compiler explicitly; drop any rustup
# override that a calling cargo/rustup may have exported. CI_DEBIAN_RUSTDOC may name a rustdoc
# wrapper (.ci/ppc64le uses .ci/rustdoc-unstable).
ci_debian_cargo() {
    env -u RUSTUP_TOOLCHAIN -u RUSTC_WRAPPER -u RUSTC_WORKSPACE_WRAPPER -u CARGO_BUILD_RUSTC \
        -u CARGO_BUILD_TARGET \
        PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTDOC="${CI_DEBIAN_RUSTDOC:-/usr/bin/rustdoc}" \
        /usr/bin/cargo "$@"
}

# Reads cargo test output on stdin; prints "<passed> <failed> <ignored>" summed over all
# `test result:` lines (unit, integration and doc tests).
ci_sum_test_results() {
    awk '
        /^test result: / {
            for (i = 1; i <= NF; i++) {
                if ($(i) ~ /^passed;?$/)  p += $(i - 1)
                if ($(i) ~ /^failed;?$/)  f += $(i - 1)
                if ($(i) ~ /^ignored;?$/) g += $(i - 1)
            }
        }
        END { printf "%d %d %d\n", p, f, g }
    '
}

# Reads cargo test output on stdin; prints the sorted names of the tests that ran
# ("test NAME ... ok|FAILED"), one a line, duplicates kept (different binaries may reuse a name).
ci_test_names() {
    sed -n -E 's/^test (.+) \.\.\. (ok|FAILED)$/\1/p' | LC_ALL=C sort
}
