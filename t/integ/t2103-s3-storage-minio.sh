#!/usr/bin/env bash
# t2101 (the s3 back end end to end, and check_s3store) with MinIO as the S3
# service: a development-time peer, /opt/peers/minio or $JFS_MINIO (built as
# shared/conformance.md says). Skipped with the reason where it is not built.
JFS_S3_SERVICE=minio exec bash "$(dirname "$0")/t2101-s3-storage.sh"
