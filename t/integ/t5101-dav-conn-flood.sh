#!/usr/bin/env bash
# A connection flood at the WebDAV server (issue 12 item 9). 1,300
# connections (400 that never send a byte, 400 that send a request head one
# byte every 0.5 s, 400 that make one request without credentials, get 401
# and stay open: clients that never log in, 100 that do the same and then
# send their next head slowly) from 127.0.0.2-4; then a normal
# client (curl with the password) from 127.0.0.1 must get its file at once:
# an answer, not a reset or an empty reply, within 5 s (the latency is
# printed; the issue asks for 1 s). With select() every request past 1,024
# such connections was reset, even after the 300 s idle timeout. Then:
#  - connections that have not sent a whole request head within the header
#    deadline (10 s from accept, or from the request line on a kept-alive
#    connection) are dropped by the server, while the ones that were answered
#    stay open;
#  - 600 connections from one more address: 512 are served and 88 get a 503
#    answer, none is reset;
#  - bursts of 256 requests sent at once are all answered.
# The same flood goes to the real WebDAV server when it is installed (printed).
# (The body is t/integ/conn-flood.sh, shared with t4401 for S3.)
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

export WEBDAV_USER=flooduser WEBDAV_PASSWORD=floodpass1
FLOOD_VOL=davflood
FLOOD_CURL=(curl -s --max-time 5 --user "$WEBDAV_USER:$WEBDAV_PASSWORD")
FLOOD_PATH=/obj
FLOOD_THING=file
FLOOD_KINDS="idle, slow and never-logged-in"
FLOOD_REF="real server"
flood_server() { exec "$1" webdav "$META" "$2"; }
flood_put_ok() { case $1 in 201 | 204) return 0 ;; esac; return 1; }
flood_probe() { :; }
flood_probe_report() { :; }
flood_probe_note() { :; }
# shellcheck source=t/integ/conn-flood.sh
. "$(dirname "$0")/conn-flood.sh"
