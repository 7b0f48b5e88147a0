#!/usr/bin/env bash
# Install what building and testing juicefs-c needs on Debian 12, as root.
#
# Idempotent: when every package is already installed (checked with dpkg -s),
# apt is not touched at all, so re-runs cost a fraction of a second; so is
# moto in /opt/jfs-moto (about a minute of pip the first time).
# Set JFS_DEPS_SKIP=1 to skip the check entirely (e.g. on a non-Debian box
# where the libraries came from elsewhere).
set -euo pipefail

[ "${JFS_DEPS_SKIP:-0}" = 1 ] && exit 0

PKGS=(
	# toolchain and autotools
	build-essential autoconf automake libtool pkg-config
	# libraries configure checks for
	libsqlite3-dev libjansson-dev libssl-dev liblz4-dev libzstd-dev check libhiredis-dev
	libmicrohttpd-dev libxml2-dev zlib1g-dev libcurl4-openssl-dev libfuse3-dev libpq-dev
	# Argon2id of the admin API's sealed bodies (gateway/madmin.c)
	libargon2-dev
	libmariadb-dev
	# redis-server: the Redis engine's tests start their own server
	redis-server
	# postgresql: the PostgreSQL engine's tests start their own server (initdb, postgres)
	postgresql
	# mariadb-server: the MySQL engine's tests start their own server
	# (mariadb-install-db, mariadbd)
	mariadb-server
	# test tools: sqlite3 CLI (schema checks), python3-venv (reference client
	# install), attr/e2fsprogs (chattr for unwritable-dir cases), util-linux
	# (mount for the full-disk case), coreutils (timeout), jq, curl
	sqlite3 python3 python3-venv attr e2fsprogs util-linux coreutils jq curl
	# POSIX ACL tests (t/integ/t3201): setfacl, getfacl
	acl
	# FUSE mount tests: fusermount3 and /etc/fuse.conf, git (clone + fsck into
	# the mount), tar
	fuse3 git tar
	# benchmarks: GNU time (/usr/bin/time -v: peak RSS of bench/dump-bench.sh), wrk (the
	# S3 loads of bench/s3-bench.sh and bench/metrics-bench.sh), fio (bench/fuse-bench.sh,
	# bench/fuse-seqread-bench.sh)
	time wrk fio
	# S3 gateway clients (t/integ/t4*)
	awscli s3cmd rclone python3-boto3
	# metrics and stats tests (t/integ/t72*): a real Prometheus text parser, and a
	# terminal to run `juicefs stats` and `juicefs profile` in (t72*, t7301)
	python3-prometheus-client tmux
	# a real browser for browser uploads and CORS (t/integ/t4801): headless Chromium
	chromium
	# WebDAV clients (t/integ/t5*; rclone is listed above)
	litmus cadaver davfs2
	# t/fuzz/run.sh: clang and its libFuzzer runtime (libclang_rt.fuzzer on Debian 12)
	clang libclang-rt-14-dev
)

# moto[server] from PyPI into the venv /opt/jfs-moto: the second S3 service
# that t/integ/t2102 runs the s3 back end against (t/integ/lib.sh's need_moto
# installs the same when it is missing; keep the version in step with
# JFS_MOTO_VERSION there). Not fatal: without PyPI that test says SKIP.
MOTO_VERSION=5.2.5
install_moto()
{
	[ -x /opt/jfs-moto/bin/moto_server ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: moto is not installed in /opt/jfs-moto; run as root to install it" >&2
		return 0
	fi
	echo "deps.sh: installing moto[server]==$MOTO_VERSION into /opt/jfs-moto"
	if ! { [ -x /opt/jfs-moto/bin/pip ] || timeout 120 python3 -m venv /opt/jfs-moto; } ||
		! timeout 300 /opt/jfs-moto/bin/pip install -q --retries 2 --timeout 30 \
			"moto[server]==$MOTO_VERSION"; then
		echo "deps.sh: could not install moto; the moto S3 tests will be skipped" >&2
	fi
	return 0
}

# mc (the MinIO client) from the Go module proxy into /opt/jfs-mc/bin: t/integ/t4701
# drives both gateways' bucket policies with it (t/integ/lib.sh's want_mc builds the
# same when it is missing; keep the version in step with JFS_MC_VERSION there). Not
# fatal: without Go or the proxy those checks say SKIP.
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
install_mc()
{
	[ -x /opt/jfs-mc/bin/mc ] && return 0
	if [ "$(id -u)" -ne 0 ] || ! command -v go >/dev/null 2>&1; then
		echo "deps.sh: mc is not installed in /opt/jfs-mc (needs root and Go); its checks will be skipped" >&2
		return 0
	fi
	echo "deps.sh: installing mc@$MC_VERSION into /opt/jfs-mc/bin"
	if ! GOBIN=/opt/jfs-mc/bin GOFLAGS=-mod=mod timeout 1200 \
		go install "github.com/minio/mc@$MC_VERSION" >/dev/null 2>&1; then
		echo "deps.sh: could not install mc; the mc checks will be skipped" >&2
	fi
	return 0
}

# The mc that JuiceFS's gateway guide names for users, groups and policies
# (RELEASE.2021-04-22T17-40-00Z, whose tag is no semver: its pseudo-version)
# into /opt/jfs-mc2021/bin: t/integ/t4703 drives both gateways' admin API with
# it (lib.sh's want_mc2021 builds the same when missing). Not fatal.
MC2021_VERSION=v0.0.0-20210422171734-4eae7ec7ed25
install_mc2021()
{
	[ -x /opt/jfs-mc2021/bin/mc ] && return 0
	if [ "$(id -u)" -ne 0 ] || ! command -v go >/dev/null 2>&1; then
		echo "deps.sh: mc2021 is not installed in /opt/jfs-mc2021 (needs root and Go); t4703 will be skipped" >&2
		return 0
	fi
	echo "deps.sh: installing mc@$MC2021_VERSION into /opt/jfs-mc2021/bin"
	if ! GOBIN=/opt/jfs-mc2021/bin GOFLAGS=-mod=mod timeout 1200 \
		go install "github.com/minio/mc@$MC2021_VERSION" >/dev/null 2>&1; then
		echo "deps.sh: could not install mc2021; t4703 will be skipped" >&2
	fi
	return 0
}

missing=()
for p in "${PKGS[@]}"; do
	# "install ok installed" is the only status that means the package is usable.
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	install_moto
	install_mc
	install_mc2021
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages (${missing[*]}); run as root or install them" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: apt-get not found; install by hand: ${missing[*]}" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# python3-venv is one of the packages: the venv can only be made after apt.
install_moto
install_mc
install_mc2021
