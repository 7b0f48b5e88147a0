#!/usr/bin/env bash
# t2101 (the s3 back end end to end, and check_s3store) with moto as the S3
# service: PyPI moto[server] in /opt/jfs-moto (scripts/deps.sh installs it;
# the script itself does when it is missing). A second S3 implementation
# besides our own gateway, cheap enough for CI; MinIO is t2103.
JFS_S3_SERVICE=moto exec bash "$(dirname "$0")/t2101-s3-storage.sh"
