#!/usr/bin/env bash
# Builds target/release/cambrian with burn's CUDA backend, offline, from a fresh clone.
#
# burn/cuda links LLVM through cubecl-llvm, whose build script (tracel-llvm-bundler 23.1.0-4)
# downloads an LLVM bundle from GitHub unless the bundler's folder holds its marker file. This
# script puts an LLVM 23 SDK with the NVPTX target there from PyPI (mlc-llvm-static and its
# extra targets, 23.1.1.post0), then builds with the crates fetched from crates.io.
#
# Needs: python3 with pip (PyPI reachable, for the SDK; llvm-config is a Python script), a C++17
# compiler (cubecl-llvm compiles two small shims), cargo, about 3 GB of disk. No sudo, no driver.
#
# Usage: tools/build-cuda.sh [--pack DIR]
#   --pack DIR   also write DIR/cambrian (stripped) and DIR/cambrian.xz, to carry to a GPU machine
# Environment:
#   CUDARC_CUDA_VERSION  the CUDA driver API cudarc binds to (default 13000: driver 580, CUDA 13.0)
#   XDG_DATA_HOME        where the bundler looks (default ~/.local/share)
set -euo pipefail

readonly sdk_version="23.1.1.post0"
readonly bundle="tracel-llvm-23.1.0-4"
readonly platform="manylinux_2_28_x86_64"

say() { printf 'build-cuda: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

pack_dir=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --pack) [[ $# -ge 2 ]] || die "--pack needs a folder"; pack_dir="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
llvm_dir="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/$bundle"
marker="$llvm_dir/.tracel-llvm-installed"

[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] \
    || die "the PyPI SDK is for Linux x86_64; this is $(uname -s)-$(uname -m)"
command -v cargo >/dev/null || die "cargo not found (install Rust, see the README's set-up)"
command -v python3 >/dev/null || die "python3 not found (needed for pip and for llvm-config)"
command -v "${CXX:-c++}" >/dev/null || die "no C++ compiler (${CXX:-c++}); install g++ or clang++"

install_sdk() {
    python3 -m pip --version >/dev/null 2>&1 || die "python3 has no pip (python3 -m pip)"
    local work
    work="$(mktemp -d "${TMPDIR:-/tmp}/cambrian-llvm.XXXXXX")"
    trap 'rm -rf "$work"' RETURN
    say "downloading the LLVM $sdk_version SDK from PyPI (about 90 MB)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "$platform" \
        --dest "$work/wheels" \
        "mlc-llvm-static==$sdk_version" "mlc-llvm-static-extra-targets==$sdk_version" \
        || die "pip could not download mlc-llvm-static==$sdk_version (is PyPI reachable?)"
    say "unpacking"
    local wheel
    for wheel in "$work"/wheels/*.whl; do
        python3 -m zipfile -e "$wheel" "$work/tree"
    done
    local sdk="$work/tree/mlc_llvm_static/static"
    [[ -f "$sdk/bin/llvm-config" ]] || die "the wheels hold no mlc_llvm_static/static/bin/llvm-config"
    chmod +x "$sdk/bin/llvm-config"
    "$sdk/bin/llvm-config" --targets-built | grep -qw NVPTX \
        || die "the SDK's llvm-config lists no NVPTX target (was the extra-targets wheel unpacked?)"
    if [[ -e "$llvm_dir" ]]; then
        say "replacing $llvm_dir: it has no marker, so it is an unfinished install"
        rm -rf "$llvm_dir"
    fi
    mkdir -p "$(dirname "$llvm_dir")"
    mv "$sdk" "$llvm_dir"
    touch "$marker"
    say "LLVM $("$llvm_dir/bin/llvm-config" --version) installed in $llvm_dir"
}

if [[ -f "$marker" ]]; then
    say "LLVM SDK present: $llvm_dir"
else
    install_sdk
fi

export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
cd "$repo"
say "fetching crates (crates.io) for --features cuda"
cargo fetch --locked
say "building target/release/cambrian --features cuda offline (CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION)"
start=$SECONDS
cargo build --release --locked --offline --features cuda --bin cambrian
binary="$repo/target/release/cambrian"
say "built $binary ($(du -h "$binary" | cut -f1)) in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"

if [[ -n "$pack_dir" ]]; then
    mkdir -p "$pack_dir"
    strip -o "$pack_dir/cambrian.tmp" "$binary"
    mv "$pack_dir/cambrian.tmp" "$pack_dir/cambrian"
    xz -T0 -6 -c "$pack_dir/cambrian" > "$pack_dir/cambrian.xz.tmp"
    mv "$pack_dir/cambrian.xz.tmp" "$pack_dir/cambrian.xz"
    say "packed $pack_dir/cambrian ($(du -h "$pack_dir/cambrian" | cut -f1)) and cambrian.xz ($(du -h "$pack_dir/cambrian.xz" | cut -f1))"
fi
