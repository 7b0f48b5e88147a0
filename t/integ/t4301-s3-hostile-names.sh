#!/usr/bin/env bash
# No way out of a bucket (issue 12 item 6). s3-hostile.py sends every S3
# operation (listings by prefix, marker, start-after and delimiter; GET, HEAD,
# PUT, DELETE, tagging, attributes, multipart, CopyObject, UploadPartCopy,
# multi-object delete) with names that would leave the bucket or reach the
# volume's internal folders if they were resolved as paths: '..', '.', '//',
# a leading '/', %2e%2e, .trash/<hour>/<entry>, .sys/uploads/<id>/<n>. With
# --multi-buckets from bucket alice (also naming the bucket by Host,
# virtual-host style: .trash.localhost), and in single-bucket mode over the
# volume. Nothing of bob's, no deleted file and no part in flight may be
# listed, read or copied, and nothing outside may be written or deleted.
# The same driver runs against the real gateway and both summaries are
# printed; only ours is judged (the real one lists .trash and .sys in
# single-bucket mode).
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_bin "$JFS_BIN"
export MINIO_ROOT_USER=s3admin MINIO_ROOT_PASSWORD=s3secret123
DRV=$JFS_SRCDIR/t/integ/s3-hostile.py

# gw BIN META ARGS...: a gateway on a free port; sets PORT and GPID.
gw()
{
	local bin=$1 meta=$2 i
	shift 2
	PORT=$(free_port)
	"$bin" gateway "$meta" "127.0.0.1:$PORT" --no-banner "$@" >>"$T/gw-$PORT.log" 2>&1 &
	GPID=$!
	T_PIDS+=("$GPID")
	wait_http "$PORT" 15
}

stop()
{
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# hostile NAME BIN [extra gateway args...]: both modes on a fresh volume of
# BIN's; the summaries land in $T/NAME-{multi,single}.out.
hostile()
{
	local name=$1 bin=$2 db uid mode
	shift 2
	db=$T/$name.db
	run "$bin" format "sqlite3://$db" "vol$name" --bucket "$T/data-$name"
	[ "$RC" -eq 0 ] || { t_fail "$name: format" "$(last_run)"; return; }
	gw "$bin" "sqlite3://$db" --multi-buckets --domain localhost "$@"
	uid=$(timeout 60 python3 "$DRV" populate "$PORT" 2>"$T/$name-pop.err")
	[ -n "$uid" ] || { t_fail "$name: populate" "$(cat "$T/$name-pop.err")"; stop "$GPID"; return; }
	for mode in multi single; do
		if [ "$mode" = single ]; then
			stop "$GPID"
			gw "$bin" "sqlite3://$db" "$@"
		fi
		timeout 240 python3 "$DRV" attack "$PORT" "$mode" "$db" "$uid" localhost \
			>"$T/$name-$mode.out" 2>"$T/$name-$mode.err"
		echo "$?" >"$T/$name-$mode.rc"
	done
	stop "$GPID"
}

hostile ours "$JFS_BIN" --cache-dir none
for mode in multi single; do
	rc=$(cat "$T/ours-$mode.rc" 2>/dev/null || echo none)
	sum=$(grep '^SUMMARY' "$T/ours-$mode.out" 2>/dev/null)
	if [ "$rc" = 0 ] && [ -n "$sum" ]; then
		t_ok "$mode-bucket mode: nothing out of the bucket ($sum)"
	else
		t_fail "$mode-bucket mode: nothing out of the bucket (exit $rc)" \
			"$(grep -m 12 '^LEAK' "$T/ours-$mode.out")" "$sum" \
			"$(tail -n 3 "$T/ours-$mode.err" 2>/dev/null)"
	fi
done

# Under --enable-sanitizers, a report in our gateways' logs is a failure.
if grep -qE 'Sanitizer|runtime error:' "$T"/gw-*.log 2>/dev/null; then
	t_fail "no sanitizer report from our gateways" "$(grep -hE -m 3 'Sanitizer|runtime error:' "$T"/gw-*.log)"
else
	t_ok "no sanitizer report from our gateways"
fi

# The same against the real gateway, for the record.
if [ -x "${JFS_REF:-/opt/jfs-ref/bin/juicefs}" ]; then
	JFS_REF=${JFS_REF:-/opt/jfs-ref/bin/juicefs}
	hostile ref "$JFS_REF" --no-usage-report
	for mode in multi single; do
		echo "# real gateway, $mode: $(grep '^SUMMARY' "$T/ref-$mode.out" 2>/dev/null || tail -n 1 "$T/ref-$mode.err")"
		grep -m 5 '^LEAK' "$T/ref-$mode.out" 2>/dev/null | sed 's/^/#   /'
		echo "# ours, $mode: $(grep '^SUMMARY' "$T/ours-$mode.out")"
	done
	# Where the two answer differently, request by request.
	for mode in multi single; do
		python3 "$DRV" compare "$T/ours-$mode.out" "$T/ref-$mode.out" 2>&1 | sed "s/^/# $mode: /"
	done
else
	t_skip "the real gateway side by side" "no reference client at /opt/jfs-ref"
fi
t_done
