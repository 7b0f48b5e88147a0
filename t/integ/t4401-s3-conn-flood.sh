#!/usr/bin/env bash
# A connection flood at the S3 gateway (issue 12 item 9). 1,300 connections
# (400 that never send a byte, 400 that send a request head one byte every
# 0.5 s, 400 that make one anonymous request and stay open, 100 that do the
# same and then send their next head slowly) from 127.0.0.2-4;
# then a normal client (curl with SigV4, and the aws CLI when installed) from
# 127.0.0.1 must get its object at once: an answer, not a reset or an empty
# reply, within 5 s (the latency is printed; the issue asks for 1 s). With
# select() the socket numbers passed FD_SETSIZE and every new client got a
# reset. Then:
#  - connections that have not sent a whole request head within the header
#    deadline (10 s from accept, or from the request line on a kept-alive
#    connection) are dropped by the server, while the ones that were answered
#    stay open;
#  - 600 connections from one more address: 512 are served and 88 get a 503
#    answer, none is reset;
#  - bursts of 256 requests sent at once are all answered.
# The same flood goes to the real gateway when it is installed (printed).
# (The body is t/integ/conn-flood.sh, shared with t5101 for WebDAV.)
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

export MINIO_ROOT_USER=floodak MINIO_ROOT_PASSWORD=floodsecret
export AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD
export AWS_DEFAULT_REGION=us-east-1
FLOOD_VOL=flood
FLOOD_CURL=(curl -s --max-time 5 --aws-sigv4 "aws:amz:us-east-1:s3"
	--user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD")
FLOOD_PATH=/flood/obj
FLOOD_THING=object
FLOOD_KINDS="idle and slow"
FLOOD_REF="real gateway"
flood_server() { exec "$1" gateway "$META" "$2" --no-banner; }
flood_put_ok() { [ "$1" = 200 ]; }
# The aws CLI too, under the flood: AWSOK is its time, "fail" or "-" (none).
flood_probe()
{
	local port=$1 tag=$2 t0 t1
	AWSOK=-
	command -v aws >/dev/null || return 0
	t0=$(date +%s.%N)
	if timeout 20 aws --endpoint-url "http://127.0.0.1:$port" s3 cp s3://flood/obj "$T/aws-$tag" \
		>"$T/aws-$tag.log" 2>&1 && cmp -s "$T/aws-$tag" "$T/obj"; then
		t1=$(date +%s.%N)
		AWSOK=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	else
		AWSOK=fail
	fi
}
flood_probe_report()
{
	case $AWSOK in
	-) t_skip "the aws CLI gets its object under the flood" "no aws CLI" ;;
	fail) t_fail "the aws CLI gets its object under the flood" "$(tail -n 3 "$T/aws-ours.log")" ;;
	*) t_ok "the aws CLI gets its object under the flood in ${AWSOK}s" ;;
	esac
}
flood_probe_note() { echo " (aws CLI: $AWSOK s)"; }
# shellcheck source=t/integ/conn-flood.sh
. "$(dirname "$0")/conn-flood.sh"
