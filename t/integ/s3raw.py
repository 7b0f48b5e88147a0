"""Raw S3 requests signed by hand (SigV4), for tests that must send what an
SDK would never send: paths with '..', '.' and '//' kept as they are, keys
that are not valid paths, signatures that leave headers out. Imported by
s3-hostile.py, s3-sigv4.py, s3-mismatch.py and s3-cas-race.py (t/integ).

Nothing here normalizes the path: the canonical URI is the raw path exactly
as sent, which is what S3 (unlike other AWS services) signs.
"""
import datetime
import hashlib
import hmac
import http.client
import urllib.parse

AK = "s3admin"
SK = "s3secret123"
REGION = "us-east-1"


def enc(s, keep_slash=True):
    """RFC 3986 encoding as SigV4 wants it (the key's bytes, '/' kept)."""
    if isinstance(s, str):
        s = s.encode()
    return urllib.parse.quote(s, safe=b"/~" if keep_slash else b"~")


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(sk, date, region=REGION):
    k = _hmac(("AWS4" + sk).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, "s3")
    return _hmac(k, "aws4_request")


def canonical_query(pairs):
    """pairs: list of (name, value) already decoded; sorted and encoded."""
    return "&".join("%s=%s" % (enc(n, False), enc(v, False)) for n, v in sorted(pairs))


class Client:
    def __init__(self, port, host="127.0.0.1", ak=AK, sk=SK):
        self.port = port
        self.host = host
        self.ak = ak
        self.sk = sk

    def request(self, method, path, query=(), headers=None, body=b"", signed=None,
                drop_host=False, presign=False, raw_query=None, amz_date=None,
                payload_hash=None, tamper=None):
        """Send one request; path is the raw (already encoded) path.

        signed: names of headers to sign (lower case); default all sent ones.
        drop_host: leave host out of SignedHeaders (it is still sent).
        presign: sign in the query (X-Amz-*) instead of Authorization.
        tamper: function(headers, query_pairs) applied after signing.
        Returns (status, headers dict (lower-case names), body bytes).
        """
        headers = dict(headers or {})
        if isinstance(body, str):
            body = body.encode()
        now = amz_date or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        date = now[:8]
        scope = "%s/%s/s3/aws4_request" % (date, REGION)
        hostport = "%s:%d" % (self.host, self.port)
        h = {"host": hostport}
        for k, v in headers.items():
            h[k.lower()] = v
        q = list(query)
        if presign:
            ph = "UNSIGNED-PAYLOAD"
        else:
            ph = payload_hash or hashlib.sha256(body).hexdigest()
            h["x-amz-content-sha256"] = ph
            h["x-amz-date"] = now
        names = sorted(signed if signed is not None else h.keys())
        if drop_host:
            names = [n for n in names if n != "host"]
        if presign:
            q += [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                  ("X-Amz-Credential", "%s/%s" % (self.ak, scope)),
                  ("X-Amz-Date", now), ("X-Amz-Expires", "300"),
                  ("X-Amz-SignedHeaders", ";".join(names))]
        # The canonical URI is the decoded path encoded once more, as the
        # servers (AWS, MinIO, ours) rebuild it: %2e and . sign alike.
        cpath = enc(urllib.parse.unquote_to_bytes(path))
        creq = "\n".join([method, cpath, canonical_query(q),
                          "".join("%s:%s\n" % (n, " ".join(str(h.get(n, "")).split()))
                                  for n in names),
                          ";".join(names), ph])
        sts = "\n".join(["AWS4-HMAC-SHA256", now, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        sig = hmac.new(signing_key(self.sk, date), sts.encode(), hashlib.sha256).hexdigest()
        if presign:
            q.append(("X-Amz-Signature", sig))
        else:
            h["authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
                                  "Signature=%s" % (self.ak, scope, ";".join(names), sig))
        if tamper:
            tamper(h, q)
        qs = raw_query if raw_query is not None else canonical_query(q)
        url = path + ("?" + qs if qs else "")
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            c.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
            for k, v in h.items():
                c.putheader(k, v)
            if body or method in ("PUT", "POST"):
                c.putheader("content-length", str(len(body)))
            c.endheaders(body if body else None)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()
