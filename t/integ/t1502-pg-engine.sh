#!/usr/bin/env bash
# The PostgreSQL engine on its own (the checks are in t/integ/sql-engine.sh),
# with a private postgres started here (initdb in $T, 127.0.0.1 on a free
# port, as nobody; stopped by PID).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

sql_engine postgres
# shellcheck source=t/integ/sql-engine.sh
. "$(dirname "$0")/sql-engine.sh"
