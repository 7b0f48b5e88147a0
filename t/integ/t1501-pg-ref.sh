#!/usr/bin/env bash
# The real JuiceFS 1.4.2 client as oracle for the PostgreSQL metadata engine
# (the checks are in t/integ/sql-ref.sh). A private postgres (initdb in $T,
# 127.0.0.1 on a free port, as nobody) is started here and stopped by PID.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

sql_engine postgres
# shellcheck source=t/integ/sql-ref.sh
. "$(dirname "$0")/sql-ref.sh"
