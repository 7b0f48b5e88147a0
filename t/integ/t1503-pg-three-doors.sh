#!/usr/bin/env bash
# Three doors on a PostgreSQL volume (see t/integ/three-doors.sh): a FUSE
# mount, a gateway and a WebDAV server write and read each other's files;
# the mount is killed -9 holding an open-unlinked file and mid-write, and the
# survivors clean its session, keep every completed file and fsck clean.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=t/integ/fuse-lib.sh
. "$(dirname "$0")/fuse-lib.sh"

need_fuse
sql_engine postgres
db_start
db_createdb doors
META=$(db_url doors)
# shellcheck source=t/integ/three-doors.sh
. "$(dirname "$0")/three-doors.sh"
