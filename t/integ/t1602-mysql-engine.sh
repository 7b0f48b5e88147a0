#!/usr/bin/env bash
# The MySQL engine on its own (the checks are in t/integ/sql-engine.sh), with
# a private MariaDB started here (mariadb-install-db in $T, 127.0.0.1 on a
# free port, as nobody; stopped by PID), plus (d): bad meta URLs and
# databases get one line on stderr and a non-zero exit: a wrong password, a
# database that does not exist, no database, a bad port, an unknown network,
# nothing listening, a database with other tables that is not a volume (left
# as it was).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

sql_engine mysql
engine_checks_d()
{
	local H
	my_createdb other
	my_sql other "CREATE TABLE app (id INT PRIMARY KEY)"
	H="127.0.0.1:$MY_PORT"
	bad_input "(d) a wrong password" "" -- status "mysql://root:wrong@($H)/vol"
	bad_input "(d) a database that does not exist" "" -- status "mysql://root:@($H)/nosuchdb"
	bad_input "(d) no database in the URL" "" -- status "mysql://root:@($H)/"
	bad_input "(d) a bad port" "" -- status "mysql://root:@(127.0.0.1:99999)/vol"
	bad_input "(d) an unknown network" "" -- status "mysql://root:@udp($H)/vol"
	bad_input "(d) nothing listening" "" -- status "mysql://root:@(127.0.0.1:$(free_port))/vol"
	bad_input "(d) format into a database with other tables" "" -- \
		format "mysql://root:@($H)/other" xvol --bucket "$T/bk-other"
	my_sql other "SHOW TABLES"
	if [ "$(cat "$T/out")" = app ]; then
		t_ok "(d) the foreign database is left as it was"
	else
		t_fail "(d) foreign database untouched" "$(cat "$T/out")"
	fi
}
# shellcheck source=t/integ/sql-engine.sh
. "$(dirname "$0")/sql-engine.sh"
