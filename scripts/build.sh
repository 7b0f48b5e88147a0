#!/usr/bin/env bash
# Build juicefs-c out of tree.
#
#   bash scripts/build.sh [--dir DIR] [CONFIGURE-ARGS...]
#
# Regenerates the autotools files when configure is missing or older than its
# inputs, configures into ./build (or DIR, relative to the repo root) when the
# directory is not configured yet or was configured with other arguments, then
# runs make -j$(nproc). Extra arguments go to configure, e.g. --enable-sanitizers.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=build
if [ "${1:-}" = "--dir" ]; then
	BUILD_DIR=$2
	shift 2
fi
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac

cd "$ROOT"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	echo "build.sh: autoreconf -fi"
	autoreconf -fi >/dev/null
fi

mkdir -p "$BUILD_DIR"
cd "$BUILD_DIR"
want="$*"
have=$(cat .jfs-configure-args 2>/dev/null || echo "<none>")
if [ ! -f Makefile ] || [ "$want" != "$have" ]; then
	echo "build.sh: configure $want (in ${BUILD_DIR#"$ROOT"/})"
	"$ROOT/configure" -q "$@"
	printf '%s' "$want" >.jfs-configure-args
fi

echo "build.sh: make -j$(nproc)"
make -j"$(nproc)"
