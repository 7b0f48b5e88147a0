#!/usr/bin/env bash
# Install the benchmark peers that bench/s3-bench.sh and bench/dav-bench.sh run beside our
# servers when they are present: nginx (the static-GET ceiling), Apache with mod_dav_fs (the
# WebDAV peer) and the MinIO server (the S3 peer) in /opt/peers/minio. For the benches only:
# no test and no part of scripts/deps.sh needs them. Run as root on Debian 12; each step is
# skipped when its peer is already there, so a second run changes nothing.
#
#   bash bench/peers.sh          env: MINIO_VERSION (a pseudo-version the Go module proxy serves)
#
# The benches start their own nginx and Apache on free ports on 127.0.0.1 with their own
# config files (dav-bench.sh loads mod_dav and mod_dav_fs itself, so no a2enmod); the services
# Debian sets up and starts on install would only hold port 80 and burn CPU beside the loads,
# so they are stopped and kept from starting at boot.
set -u

# MinIO's server module has no semver tags (its releases are RELEASE.<date> tags), so the
# proxy serves it by pseudo-version only; this one is its newest commit there and builds with
# Go 1.26.
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
PEERS=/opt/peers

die() { echo "peers.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it installs Debian packages and writes $PEERS)"

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in nginx apache2; do have_pkg "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	echo "peers.sh: installing ${missing[*]}"
	apt-get update -q || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" || die "apt-get install ${missing[*]} failed"
fi
[ -x /usr/sbin/nginx ] || die "no /usr/sbin/nginx after installing nginx"
command -v apache2 >/dev/null || die "no apache2 after installing apache2"
# mod_dav_fs ships inside apache2-bin on Debian 12; dav-bench.sh checks the same path.
[ -f /usr/lib/apache2/modules/mod_dav_fs.so ] || die "apache2 has no mod_dav_fs.so"

# Stop what the packages started and keep it from starting again, whichever init runs here
# (a container often has no systemd: then the SysV scripts did the start).
for svc in nginx apache2; do
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "$svc" >/dev/null 2>&1
	else
		[ -x "/etc/init.d/$svc" ] && "/etc/init.d/$svc" stop >/dev/null 2>&1
		command -v update-rc.d >/dev/null && update-rc.d "$svc" disable >/dev/null 2>&1
	fi
done
# Only the daemons of the packages' own pid files: never a bench's instance, which keeps its
# pid file in its scratch dir.
for pidf in /run/nginx.pid /run/apache2/apache2.pid; do
	[ -s "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null
done

if [ -x "$PEERS/minio" ]; then
	echo "peers.sh: $PEERS/minio is there"
else
	command -v go >/dev/null || die "MinIO is built from the Go module proxy: no go command"
	echo "peers.sh: building minio@$MINIO_VERSION into $PEERS (several minutes on 2 cores)"
	mkdir -p "$PEERS"
	GOBIN=$PEERS GOFLAGS=-mod=mod timeout 2400 go install "github.com/minio/minio@$MINIO_VERSION" ||
		die "could not build minio@$MINIO_VERSION"
fi
echo "peers.sh: nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///'), apache2 $(apache2 -v | sed -n 's/.*Apache\///p' | cut -d' ' -f1), minio in $PEERS"
