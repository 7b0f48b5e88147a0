"""Helpers of t4801 (browser uploads and CORS), each a subcommand:

  sign v4|v2 AK SK BUCKET EXPIRES_IN CONDITIONS_JSON
      The form fields of a POST object policy, one "name=value" a line:
      policy (base64 JSON with the conditions and an expiration EXPIRES_IN
      seconds from now, negative for an expired one) and its signature
      (V4: x-amz-algorithm/-credential/-date/-signature, the HMAC-SHA256
      under the SigV4 signing key; V2: AWSAccessKeyId and signature, the
      base64 HMAC-SHA1). For V4 the x-amz-* fields are added to the
      conditions, as SDKs do. CONDITIONS_JSON may use "$BUCKET".
  forge FIELDS_FILE
      The same fields with the policy changed after signing (a wider key
      prefix), the signature kept.
  raw PORT BUCKET FIELDS_FILE MODE
      POST a form by hand: MODE truncated (the closing delimiter never
      comes), nofile (fields only) or noboundary (a Content-Type without
      one). Prints the status and the S3 code.
  presign PORT AK SK METHOD BUCKET KEY
      A presigned URL (SigV4 query), valid for an hour.
  get PORT AK SK BUCKET KEY
      "size sha256" of an object, or "missing".
  tags PORT AK SK BUCKET KEY
      An object's tags, "k=v&k2=v2" in key order.
  cors PORT AK SK BUCKET put|get|delete|raw-put [XML]
      Bucket CORS through boto3 (raw-put sends XML as given, signed by
      hand); prints the status and the S3 code.
  page PORT AK SK BUCKET NOCORS_BUCKET OUT.html
      The browser test's page: a signed form upload, a presigned PUT and a
      CORS GET by fetch(), and a GET from a bucket without CORS (must be
      blocked); results into <pre id=out> as "name=value" lines.
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import sys
import urllib.parse

REGION = "us-east-1"


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(sk, date):
    k = _hmac(("AWS4" + sk).encode(), date)
    k = _hmac(k, REGION)
    k = _hmac(k, "s3")
    return _hmac(k, "aws4_request")


def sign(ver, ak, sk, bucket, expires_in, conds):
    now = datetime.datetime.now(datetime.timezone.utc)
    exp = (now + datetime.timedelta(seconds=int(expires_in))).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    conds = json.loads(conds.replace("$BUCKET", bucket))
    fields = []
    if ver == "v4":
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        cred = "%s/%s/%s/s3/aws4_request" % (ak, amz_date[:8], REGION)
        extra = [("x-amz-algorithm", "AWS4-HMAC-SHA256"), ("x-amz-credential", cred),
                 ("x-amz-date", amz_date)]
        conds += [{k: v} for k, v in extra]
        policy = base64.b64encode(json.dumps({"expiration": exp, "conditions": conds}).encode()).decode()
        sig = hmac.new(signing_key(sk, amz_date[:8]), policy.encode(), hashlib.sha256).hexdigest()
        fields = extra + [("policy", policy), ("x-amz-signature", sig)]
    else:
        policy = base64.b64encode(json.dumps({"expiration": exp, "conditions": conds}).encode()).decode()
        sig = base64.b64encode(hmac.new(sk.encode(), policy.encode(), hashlib.sha1).digest()).decode()
        fields = [("AWSAccessKeyId", ak), ("policy", policy), ("signature", sig)]
    return fields


def read_fields(path):
    out = []
    for line in open(path):
        line = line.rstrip("\n")
        if line:
            k, v = line.split("=", 1)
            out.append((k, v))
    return out


def status_code(r):
    body = r.read().decode(errors="replace")
    code = "-"
    if "<Code>" in body:
        code = body.split("<Code>", 1)[1].split("</Code>", 1)[0]
    return "%d %s" % (r.status, code)


def raw(port, bucket, fields, mode):
    b = "----t4801boundary"
    parts = []
    for k, v in fields + [("key", "up/raw"), ("Content-Type", "text/plain")]:
        parts.append('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (b, k, v))
    body = "".join(parts)
    if mode == "truncated":
        body += '--%s\r\nContent-Disposition: form-data; name="file"\r\n\r\nhalf a file' % b
    else:
        body += "--%s--\r\n" % b
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    ct = "multipart/form-data" + ("" if mode == "noboundary" else "; boundary=" + b)
    c.request("POST", "/" + bucket, body=body.encode(), headers={"Content-Type": ct})
    print(status_code(c.getresponse()))


def client(port, ak, sk):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url="http://127.0.0.1:%s" % port, aws_access_key_id=ak,
                        aws_secret_access_key=sk, region_name=REGION,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      signature_version="s3v4"))


def presign(port, ak, sk, method, bucket, key):
    s3 = client(port, ak, sk)
    op = {"GET": "get_object", "PUT": "put_object"}[method]
    return s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600,
                                     HttpMethod=method)


def raw_put_cors(port, ak, sk, bucket, xml):
    body = xml.encode()
    now = datetime.datetime.now(datetime.timezone.utc)
    amz = now.strftime("%Y%m%dT%H%M%SZ")
    host = "127.0.0.1:%s" % port
    ph = hashlib.sha256(body).hexdigest()
    canon = "PUT\n/%s\ncors=\nhost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n\n" \
        "host;x-amz-content-sha256;x-amz-date\n%s" % (bucket, host, ph, amz, ph)
    scope = "%s/%s/s3/aws4_request" % (amz[:8], REGION)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(canon.encode()).hexdigest())
    sig = hmac.new(signing_key(sk, amz[:8]), sts.encode(), hashlib.sha256).hexdigest()
    auth = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=host;x-amz-content-sha256;x-amz-date, " \
        "Signature=%s" % (ak, scope, sig)
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    c.request("PUT", "/%s?cors" % bucket, body=body,
              headers={"Authorization": auth, "x-amz-date": amz, "x-amz-content-sha256": ph})
    print(status_code(c.getresponse()))


def cors(port, ak, sk, bucket, op, xml=None):
    from botocore.exceptions import ClientError
    if op == "raw-put":
        return raw_put_cors(port, ak, sk, bucket, xml)
    s3 = client(port, ak, sk)
    try:
        if op == "put":
            r = s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=json.loads(xml))
        elif op == "get":
            r = s3.get_bucket_cors(Bucket=bucket)
            print(json.dumps(r["CORSRules"], sort_keys=True))
        else:
            r = s3.delete_bucket_cors(Bucket=bucket)
        print("%d -" % r["ResponseMetadata"]["HTTPStatusCode"])
    except ClientError as e:
        print("%d %s" % (e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]))


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>t4801 browser upload</title></head>
<body><h1>browser upload and CORS</h1><pre id="out"></pre>
<script>
const C = %(conf)s;
const out = document.getElementById('out');
function log(k, v) { out.textContent += k + '=' + v + '\\n'; }
async function sha(buf) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
  return Array.from(d).map(b => b.toString(16).padStart(2, '0')).join('');
}
async function step(name, f) {
  try { await f(); } catch (e) { log(name + '-error', String(e)); }
}
async function run() {
  await step('form', async () => {
    const fd = new FormData();
    for (const [k, v] of C.fields) fd.append(k, v);
    fd.append('file', new Blob([C.form_data], {type: 'text/plain'}), 'hello.txt');
    const r = await fetch(C.gw + '/' + C.bucket, {method: 'POST', body: fd});
    log('form-status', r.status);
    const x = new DOMParser().parseFromString(await r.text(), 'application/xml');
    const k = x.querySelector('Key');
    log('form-key', k ? k.textContent : '');
  });
  await step('put', async () => {
    const r = await fetch(C.put_url, {method: 'PUT', body: C.put_data,
                                      headers: {'Content-Type': 'text/plain', 'x-amz-meta-from': 'browser'}});
    log('put-status', r.status);
    log('put-etag', r.headers.get('ETag'));
  });
  await step('get', async () => {
    const r = await fetch(C.get_url);
    log('get-status', r.status);
    log('get-sha256', await sha(await r.arrayBuffer()));
  });
  await step('nocors', async () => {
    const r = await fetch(C.nocors_url);
    log('nocors-status', r.status);
  });
  log('done', 1);
  document.title = 'done';
}
run();
</script></body></html>
"""


def page(port, ak, sk, bucket, nocors_bucket, out):
    form_data = "uploaded by a browser form\n" * 100
    put_data = "uploaded by a presigned PUT from a browser\n" * 100
    conds = json.dumps([{"bucket": bucket}, ["starts-with", "$key", "browser/"],
                        {"success_action_status": "201"}, ["content-length-range", 1, 1 << 20],
                        ["starts-with", "$Content-Type", "text/"]])
    fields = sign("v4", ak, sk, bucket, 600, conds)
    fields = [("key", "browser/${filename}"), ("success_action_status", "201"),
              ("Content-Type", "text/plain")] + fields
    conf = {
        "gw": "http://127.0.0.1:%s" % port, "bucket": bucket, "fields": fields,
        "form_data": form_data, "put_data": put_data,
        "put_url": presign(port, ak, sk, "PUT", bucket, "browser/put.txt"),
        "get_url": presign(port, ak, sk, "GET", bucket, "browser/hello.txt"),
        "nocors_url": presign(port, ak, sk, "GET", nocors_bucket, "x"),
    }
    with open(out, "w") as f:
        f.write(PAGE % {"conf": json.dumps(conf)})
    # what the test checks the stored objects against
    print("form %d %s" % (len(form_data), hashlib.sha256(form_data.encode()).hexdigest()))
    print("put %d %s" % (len(put_data), hashlib.sha256(put_data.encode()).hexdigest()))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "sign":
        for k, v in sign(*args):
            print("%s=%s" % (k, v))
    elif cmd == "forge":
        fields = read_fields(args[0])
        for k, v in fields:
            if k == "policy":
                doc = json.loads(base64.b64decode(v))
                doc["conditions"] = [c for c in doc["conditions"] if not (
                    isinstance(c, list) and c[:2] == ["starts-with", "$key"])] + [
                    ["starts-with", "$key", ""]]
                v = base64.b64encode(json.dumps(doc).encode()).decode()
            print("%s=%s" % (k, v))
    elif cmd == "raw":
        raw(args[0], args[1], read_fields(args[2]), args[3])
    elif cmd == "presign":
        print(presign(*args))
    elif cmd == "get":
        from botocore.exceptions import ClientError
        try:
            body = client(*args[:3]).get_object(Bucket=args[3], Key=args[4])["Body"]
            h, n = hashlib.sha256(), 0
            for piece in body.iter_chunks(1 << 20):
                h.update(piece)
                n += len(piece)
            print(n, h.hexdigest())
        except ClientError:
            print("missing")
    elif cmd == "tags":
        ts = client(*args[:3]).get_object_tagging(Bucket=args[3], Key=args[4])["TagSet"]
        print("&".join("%s=%s" % (t["Key"], t["Value"]) for t in sorted(ts, key=lambda t: t["Key"])))
    elif cmd == "cors":
        cors(*args)
    elif cmd == "page":
        page(*args)


if __name__ == "__main__":
    main()
