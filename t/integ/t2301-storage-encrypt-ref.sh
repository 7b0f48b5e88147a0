#!/usr/bin/env bash
# Encryption at rest (issue 16 §1) against the real JuiceFS 1.4.2 client.
#
# Keys come from `openssl genrsa` here: a plain one (PKCS#8) and one sealed
# with -aes256 and JFS_RSA_PASSPHRASE. For each algo (aes256gcm-rsa,
# chacha20-rsa) and compression (none, lz4; zstd for one algo), both ways:
#  - a volume formatted by the real client: ours writes a file (jfs-fscp,
#    through fs.h and the volume's store), the real client reads it byte for
#    byte (`sync jfs://`); the real client writes, ours reads;
#  - a volume formatted by ours: the same, the other way round.
# The objects in the bucket carry JuiceFS's layout (u16 0x0100 wrapped-key
# length, nonce length 12) and no plain text. Then the doors, on a volume
# the real client made: our gateway and our mount write and read, and the
# real client reads what they wrote. A block flipped or truncated in the
# bucket is EIO at the mount, 500 at the gateway, 5xx at WebDAV, exit 1 in
# jfs-fscp; never other bytes. A wrong or missing passphrase, or a missing
# key file, is one line on stderr and a non-zero exit at start.
# shellcheck source=t/integ/lib.sh
. "$(dirname "$0")/lib.sh"

: "${JFS_FSCP:=$PWD/t/tools/jfs-fscp}"
need_bin "$JFS_BIN" "$JFS_FSCP"
need_ref
command -v openssl >/dev/null || t_skip_all "openssl is not installed"
START=$(date +%s)

export JFS_NO_USAGE_REPORT=1
PASS=enc-pass-$$
openssl genrsa -out "$T/plain.pem" 2048 2>/dev/null &&
	openssl genrsa -aes256 -passout "pass:$PASS" -out "$T/sealed.pem" 2048 2>/dev/null ||
	t_skip_all "openssl genrsa failed"

# 9 MiB over three blocks: random and compressible halves, and a 1-byte file.
head -c $((5 << 20)) /dev/urandom >"$T/src-big"
yes "sealed at rest 0123456789abcdef" | head -c $((4 << 20)) >>"$T/src-big"
printf x >"$T/src-one"
mkdir -p "$T/refsrc"
head -c $((3 << 20 | 12345)) /dev/urandom >"$T/refsrc/r1"
yes "written by the real client" | head -c 100000 >"$T/refsrc/r2"

# key_for N: alternate the plain and the sealed key over the volumes.
KEYS=(plain sealed)

# vol_check WHO ALGO COMP I: format with WHO (ours|ref), then both ways.
vol_check()
{
	local who=$1 algo=$2 comp=$3 i=$4 key=${KEYS[$(($4 % 2))]} tag meta bad=()
	tag="[$who-formatted $algo $comp $key key]"
	meta=sqlite3://$T/v$i.db
	if [ "$key" = sealed ]; then export JFS_RSA_PASSPHRASE=$PASS; else unset JFS_RSA_PASSPHRASE; fi
	if [ "$who" = ours ]; then
		jfs format "$meta" "vol$i" --bucket "$T/b$i" --compress "$comp" \
			--encrypt-rsa-key "$T/$key.pem" --encrypt-algo "$algo"
	else
		ref format "$meta" "vol$i" --bucket "$T/b$i" --compress "$comp" \
			--encrypt-rsa-key "$T/$key.pem" --encrypt-algo "$algo"
	fi
	if [ "$RC" -ne 0 ]; then
		t_fail "$tag format" "$(last_run)"
		return
	fi
	run "$JFS_FSCP" put "$meta" "$T/src-big" /ours/big
	[ "$RC" -eq 0 ] || bad+=("ours put big: $(last_run)")
	run "$JFS_FSCP" put "$meta" "$T/src-one" /ours/one
	[ "$RC" -eq 0 ] || bad+=("ours put one: $(last_run)")
	rm -rf "$T/refout"
	V=$meta run "$JFS_REF" sync "jfs://V/ours/" "$T/refout/"
	[ "$RC" -eq 0 ] || bad+=("real sync out: $(last_run)")
	cmp -s "$T/refout/big" "$T/src-big" || bad+=("real client read other bytes of big")
	cmp -s "$T/refout/one" "$T/src-one" || bad+=("real client read other bytes of one")
	V=$meta run "$JFS_REF" sync "$T/refsrc/" "jfs://V/ref/"
	[ "$RC" -eq 0 ] || bad+=("real sync in: $(last_run)")
	for f in r1 r2; do
		run "$JFS_FSCP" get "$meta" "/ref/$f" "$T/got"
		[ "$RC" -eq 0 ] && cmp -s "$T/got" "$T/refsrc/$f" || bad+=("ours read $f: $(last_run)")
	done
	# JuiceFS's layout, and no plain text left in the bucket
	local obj hdr
	obj=$(find "$T/b$i/vol$i/chunks" -type f -name '*_0_4194304' | head -n 1)
	hdr=$(head -c 3 "$obj" 2>/dev/null | od -An -tx1 | tr -d ' \n')
	[ "$hdr" = 01000c ] || bad+=("block $obj starts with '$hdr', not 01000c")
	grep -rqa "sealed at rest" "$T/b$i" && bad+=("plain text found in the bucket")
	grep -rqa "written by the real" "$T/b$i" && bad+=("plain text of the real client's file found")
	if [ ${#bad[@]} -eq 0 ]; then
		t_ok "$tag ours writes, the real client reads; it writes, ours reads"
	else
		t_fail "$tag both ways" "${bad[@]}"
	fi
}

i=0
for combo in aes256gcm-rsa:none aes256gcm-rsa:lz4 chacha20-rsa:none chacha20-rsa:lz4 \
	aes256gcm-rsa:zstd; do
	for who in ref ours; do
		vol_check "$who" "${combo%%:*}" "${combo##*:}" "$i"
		i=$((i + 1))
	done
done

# An existing volume keeps its key: the flags are ignored with a warning,
# as JuiceFS ignores them (even a key file that is not there).
unset JFS_RSA_PASSPHRASE
# (The sealed EncryptKey text changes: secrets get a fresh nonce per write.)
before=$(sqlite3 "$T/v0.db" "select value from jfs_setting where name='format'" | grep -E 'EncryptAlgo')
jfs format "sqlite3://$T/v0.db" vol0 --encrypt-rsa-key "$T/no-such.pem" --encrypt-algo chacha20-rsa
after=$(sqlite3 "$T/v0.db" "select value from jfs_setting where name='format'" | grep -E 'EncryptAlgo')
rc=$RC
grep -q 'encrypt-rsa-key\" is ignored' "$T/err" && warned=1 || warned=0
run "$JFS_FSCP" get "sqlite3://$T/v0.db" /ours/big "$T/got"
if [ "$rc" -eq 0 ] && [ "$warned" = 1 ] && [ -n "$before" ] && [ "$before" = "$after" ] &&
	[ "$RC" -eq 0 ] && cmp -s "$T/got" "$T/src-big"; then
	t_ok "format of an existing volume ignores --encrypt-rsa-key/--encrypt-algo with a warning"
else
	t_fail "format of an existing volume ignores the encryption flags" "$(last_run)" "$before" "$after"
fi

# ------------------------------------------------------------ the doors
# A volume the real client formatted, with the sealed key and lz4.
export JFS_RSA_PASSPHRASE=$PASS
META=sqlite3://$T/doors.db
ref format "$META" doors --bucket "$T/bd" --compress lz4 --encrypt-rsa-key "$T/sealed.pem" \
	--encrypt-algo chacha20-rsa --trash-days 0
[ "$RC" -eq 0 ] || { t_fail "real client formats the doors volume" "$(last_run)"; t_done; }
V=$META run "$JFS_REF" sync "$T/refsrc/" "jfs://V/"
[ "$RC" -eq 0 ] || t_fail "real client writes the doors volume" "$(last_run)"

AK=encak1 SK=encsecret1
export MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK
S3C=(curl -s --max-time 20 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK")
# srv_start VAR PIDVAR CMD...: a server of ours on a free port; VAR gets the port.
srv_start()
{
	local var=$1 pvar=$2 port i
	shift 2
	port=$(free_port)
	"$JFS_BIN" "$@" "127.0.0.1:$port" --cache-dir none >>"$T/srv-$port.log" 2>&1 </dev/null &
	printf -v "$pvar" '%s' "$!"
	T_PIDS+=("$!")
	wait_http "$port" 10
	printf -v "$var" '%s' "$port"
}
srv_stop() { kill "$1" 2>/dev/null && wait "$1" 2>/dev/null; }

srv_start P1 PID1 gateway "$META" --no-banner
EP=http://127.0.0.1:$P1/doors
c1=$("${S3C[@]}" -o /dev/null -w '%{http_code}' -T "$T/src-big" "$EP/gw-big")
c2=$("${S3C[@]}" -o "$T/got" -w '%{http_code}' "$EP/r1")
if [ "$c1" = 200 ] && [ "$c2" = 200 ] && cmp -s "$T/got" "$T/refsrc/r1"; then
	t_ok "our gateway writes into and reads from the real client's encrypted volume"
else
	t_fail "our gateway on the real client's encrypted volume" "PUT $c1, GET $c2"
fi
srv_stop "$PID1"

have_fuse=1
{ [ -c /dev/fuse ] && [ "$(id -u)" -eq 0 ]; } || have_fuse=0
if [ "$have_fuse" = 1 ]; then
	# shellcheck source=t/integ/fuse-lib.sh
	. "$(dirname "$0")/fuse-lib.sh"
	MP=$T/mnt
	fmount "$META" "$MP" --cache-dir none
	if [ "$RC" -ne 0 ]; then
		t_fail "our mount of the real client's encrypted volume" "$(last_run)"
	else
		cp "$T/src-big" "$MP/mnt-big" && cmp -s "$MP/r2" "$T/refsrc/r2" &&
			cmp -s "$MP/gw-big" "$T/src-big" && ok=1 || ok=0
		fumount "$MP"
		[ "$ok" = 1 ] && t_ok "our mount writes into and reads from the real client's encrypted volume" ||
			t_fail "our mount reads and writes the encrypted volume" "$(tail -n 3 "$T/mnt.log")"
	fi
else
	t_skip "our mount of the encrypted volume" "no /dev/fuse or not root"
fi
rm -rf "$T/refout"
V=$META run "$JFS_REF" sync "jfs://V/" "$T/refout/"
bad=()
[ "$RC" -eq 0 ] || bad+=("$(last_run)")
cmp -s "$T/refout/gw-big" "$T/src-big" || bad+=("gw-big differs")
[ "$have_fuse" = 0 ] || cmp -s "$T/refout/mnt-big" "$T/src-big" || bad+=("mnt-big differs")
[ ${#bad[@]} -eq 0 ] && t_ok "the real client reads what our gateway and mount wrote, byte for byte" ||
	t_fail "the real client reads what our doors wrote" "${bad[@]}"

# ------------------------------------------------------------ tampering
# r1's first block flipped in the middle, gw-big's first block one byte short.
blk_of() # FILE-NAME: the key of the first block of that file
{
	local ino sid
	ino=$(sqlite3 "$T/doors.db" "select inode from jfs_edge where cast(name as text)='$1'")
	sid=$(sqlite3 "$T/doors.db" "select hex(substr(slices,5,8)) from jfs_chunk where inode=$ino and indx=0")
	find "$T/bd/doors/chunks" -type f -name "$((16#$sid))_0_*" | head -n 1
}
b_flip=$(blk_of r1)
b_cut=$(blk_of gw-big)
if [ -n "$b_flip" ] && [ -n "$b_cut" ]; then
	python3 - "$b_flip" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x20
open(p, 'wb').write(b)
PY
	truncate -s -1 "$b_cut"
	t_ok "one block flipped ($(basename "$b_flip")), one truncated ($(basename "$b_cut"))"
else
	t_fail "find the blocks to tamper with" "r1: '$b_flip' gw-big: '$b_cut'"
fi
for f in r1 gw-big; do
	run "$JFS_FSCP" get "$META" "/$f" "$T/got"
	if [ "$RC" -ne 0 ] && grep -q 'Input/output error' "$T/err" && ! crashed; then
		t_ok "jfs-fscp read of tampered $f: EIO"
	else
		t_fail "jfs-fscp read of tampered $f: EIO" "$(last_run)"
	fi
done
srv_start P2 PID2 gateway "$META" --no-banner
srv_start P3 PID3 webdav "$META"
for f in r1 gw-big; do
	code=$("${S3C[@]}" -o "$T/got" -w '%{http_code}' "http://127.0.0.1:$P2/doors/$f")
	[ "$code" = 500 ] && grep -q InternalError "$T/got" && t_ok "gateway GET of tampered $f: 500" ||
		t_fail "gateway GET of tampered $f: 500" "status $code"
	code=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P3/$f")
	case $code in
	5??) t_ok "WebDAV GET of tampered $f: $code" ;;
	*) t_fail "WebDAV GET of tampered $f: 5xx" "status $code" ;;
	esac
done
grep -q 'does not verify' "$T/srv-$P2.log" && t_ok "the gateway logs the object that does not verify" ||
	t_fail "the gateway logs the object that does not verify" "$(tail -n 3 "$T/srv-$P2.log")"
srv_stop "$PID2"
srv_stop "$PID3"
if [ "$have_fuse" = 1 ]; then
	fmount "$META" "$MP" --cache-dir none
	for f in r1 gw-big; do
		err=$(dd if="$MP/$f" of="$T/got" bs=1M 2>&1 >/dev/null) && rc=0 || rc=$?
		if [ "$rc" -ne 0 ] && grep -q 'Input/output error' <<<"$err"; then
			t_ok "mount read of tampered $f: EIO"
		else
			t_fail "mount read of tampered $f: EIO" "dd exit $rc: $err"
		fi
	done
	fumount "$MP"
fi

# ------------------------------------------------------------ keys at start
unset JFS_RSA_PASSPHRASE
bad_input "gateway, sealed key, no passphrase" "$T/doors.db" -- gateway "$META" 127.0.0.1:1 --no-banner
JFS_RSA_PASSPHRASE=wrong bad_input "gateway, wrong passphrase" "$T/doors.db" -- gateway "$META" 127.0.0.1:1 --no-banner
JFS_RSA_PASSPHRASE=wrong bad_input "webdav, wrong passphrase" "$T/doors.db" -- webdav "$META" 127.0.0.1:1
mkdir -p "$T/nomnt"
JFS_RSA_PASSPHRASE=wrong bad_input "mount, wrong passphrase" "$T/doors.db" -- mount "$META" "$T/nomnt"
JFS_RSA_PASSPHRASE=wrong bad_input "gc, wrong passphrase" "$T/doors.db" -- gc "$META"
bad_input "format, missing key file" "$T/bx" -- format "sqlite3://$T/x.db" volx --bucket "$T/bx" \
	--encrypt-rsa-key "$T/no-such.pem"
bad_input "format, sealed key and no passphrase" "$T/bx" -- format "sqlite3://$T/x.db" volx \
	--bucket "$T/bx" --encrypt-rsa-key "$T/sealed.pem"
[ -e "$T/x.db" ] && t_fail "a refused format leaves no database" || t_ok "a refused format leaves no database"
bad_input "format, unknown algo" "$T/bx" -- format "sqlite3://$T/x.db" volx --bucket "$T/bx" \
	--encrypt-rsa-key "$T/plain.pem" --encrypt-algo sm4gcm
hits=$(grep -hE -A3 'Sanitizer|runtime error:' "$T"/*.log 2>/dev/null | head -n 12)
[ -z "$hits" ] && t_ok "no sanitizer report from the servers" || t_fail "no sanitizer report" "$hits"
echo "# $(basename "$0"): $(($(date +%s) - START)) s"
t_done
