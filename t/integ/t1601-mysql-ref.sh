#!/usr/bin/env bash
# The real JuiceFS 1.4.2 client as oracle for the MySQL metadata engine (the
# checks are in t/integ/sql-ref.sh), plus: the URL forms the real client
# takes (tcp(host:port), unix(/socket), ?charset=) open our volume, and an
# unknown session variable in the URL is refused at open. A private MariaDB
# (mariadb-install-db in $T, 127.0.0.1 on a free port, as nobody) is started
# here and stopped by PID.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

sql_engine mysql
engine_checks_a()
{
	local form
	for form in "mysql://root:@tcp(127.0.0.1:$MY_PORT)/ours" "mysql://root:@unix($MY_SOCK)/ours" \
		"mysql://root:@(127.0.0.1:$MY_PORT)/ours?charset=utf8mb4&parseTime=true&wait_timeout=600"; do
		jfs status "$form"
		if [ "$RC" -eq 0 ] && [ "$(st .Setting.Name)" = ours-vol ]; then
			t_ok "(a) ours opens $form"
		else
			t_fail "(a) ours opens $form" "$(last_run)"
		fi
	done
	jfs status "mysql://root:@(127.0.0.1:$MY_PORT)/ours?no_such_variable=1"
	if [ "$RC" -ne 0 ] && [ "$(nlines "$T/err")" -ge 1 ] && ! crashed; then
		t_ok "(a) an unknown session variable in the URL is refused at open (exit $RC)"
	else
		t_fail "(a) unknown URL variable refused" "$(last_run)"
	fi
}
# shellcheck source=t/integ/sql-ref.sh
. "$(dirname "$0")/sql-ref.sh"
