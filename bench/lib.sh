# Helpers the benches share (sourced, not run): free_port, wait_http and the
# wrk script of the S3 loads.

# free_port: a TCP port free on 127.0.0.1 now.
free_port()
{
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http PORT: until http://127.0.0.1:PORT/ answers anything (at most 30 s).
wait_http()
{
	local i
	for i in $(seq 1 300); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	return 1
}

# write_wrk_lua FILE: the wrk script of the S3 loads. It replays a list of
# request targets (path?query) round robin (wrk ... -- LIST METHOD [BODY]),
# PUTs a fixed body when one is given, and prints one line at the end:
#   RESULT reqs= dur_us= bytes= bad= sockerr= p50_us=
# bad counts non-2xx answers and sockerr socket errors, so a server that
# refuses the requests cannot look fast.
write_wrk_lua()
{
	cat >"$1" <<'LUA'
local targets, n, body = {}, 0, nil
function init(args)
	for line in io.lines(args[1]) do targets[#targets + 1] = line end
	wrk.method = args[2]
	if args[3] then
		local f = io.open(args[3], "rb")
		body = f:read("*a")
		f:close()
	end
	n = math.random(#targets)
end
-- Each request is formatted once: wrk.format copies the body into a new Lua
-- string, and for a 64 MiB PUT that copy, its page faults and the garbage
-- it leaves cost wrk ~80 ms of CPU a request, on the same two cores as the
-- servers it measures (doc/s3-bodies.md). Kept, a request costs wrk one copy.
local built = {}
function request()
	n = n % #targets + 1
	local r = built[n]
	if not r then
		r = wrk.format(nil, targets[n], nil, body)
		built[n] = r
	end
	return r
end
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT reqs=%d dur_us=%d bytes=%d bad=%d sockerr=%d p50_us=%d\n",
		summary.requests, summary.duration, summary.bytes, e.status,
		e.connect + e.read + e.write + e.timeout, latency:percentile(50)))
end
LUA
}
