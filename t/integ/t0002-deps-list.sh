#!/usr/bin/env bash
# scripts/deps.sh must install every Debian package that configure.ac names
# in its install hints: a fresh machine once stopped at configure because
# libfuse3-dev was missing from the list while every development machine had
# it from earlier work, so the suite stayed green. This test makes that drift
# fail here instead of on a new user's machine.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

conf=${JFS_DEPS_CONFIGURE:-$JFS_SRCDIR/configure.ac}
deps=${JFS_DEPS_SCRIPT:-$JFS_SRCDIR/scripts/deps.sh}

# The third argument of each JFS_NEED_PKG([VAR], [module], [package]) and any
# literal "apt-get install -y pkg..." hint elsewhere in configure.ac.
want=$(
	{
		sed -nE 's/^[[:space:]]*JFS_NEED_PKG\(\[[^]]*\],[[:space:]]*\[[^]]*\],[[:space:]]*\[([^]]+)\]\).*/\1/p' "$conf"
		grep -v 'JFS_NEED_PKG\|m4_define' "$conf" |
			sed -nE 's/.*apt-get install -y ([a-z0-9.+ -]+).*/\1/p'
	} | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u
)
# The PKGS=( ... ) array of deps.sh, comments stripped.
have=$(sed -n '/^PKGS=(/,/^)/p' "$deps" | sed -e 's/#.*//' -e 's/PKGS=(//' -e 's/)//' |
	tr -s ' \t' '\n\n' | grep -E '^[a-z0-9]' | sort -u)

n=$(echo "$want" | grep -c . || true)
if [ "$n" -ge 10 ]; then
	t_ok "configure.ac names $n packages in its install hints"
else
	t_fail "configure.ac's install hints were parsed" "found only $n: $want"
fi
missing=$(comm -23 <(echo "$want") <(echo "$have") | tr '\n' ' ')
if [ -z "$missing" ]; then
	t_ok "scripts/deps.sh installs every package configure.ac asks for"
else
	t_fail "scripts/deps.sh installs every package configure.ac asks for" "missing: $missing"
fi
t_done
