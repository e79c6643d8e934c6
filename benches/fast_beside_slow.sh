#!/usr/bin/env bash
# One fast upload beside a slow one (issue 19; session 27): per server, a 512 MiB single PUT
# with boto3 (SHA-256-signed body over HTTP), timed alone and while another upload trickles in
# through curl at RATE (a presigned PUT of 64 MiB), fresh server and data directory each time,
# servers alternating. A change that makes uploads wait for each other (e.g. for MD5 lanes)
# shows here as a fast upload slowed to the slow one's pace.
#
#   PYTHON=/path/to/python-with-boto3 RATE=5M ROUNDS=2 benches/fast_beside_slow.sh BIN...
set -euo pipefail
py=${PYTHON:-python3}
dir=${BENCH_DIR:-/var/tmp/gh-fast-slow}
port=${PORT:-19945}
rate=${RATE:-5M}
# shellcheck source=benches/serve_fresh.sh
. "$(dirname "$0")/serve_fresh.sh"
mkdir -p "$dir"
head -c 64M /dev/urandom >"$dir/slow.bin"
cat >"$dir/put.py" <<'PY'
import subprocess, sys, time, os
import boto3, botocore
ep, cred, slow, rate, slow_file = sys.argv[1:6]
c = dict(l.split('=', 1) for l in open(cred) if '=' in l)
c = {k.strip(): v.strip() for k, v in c.items()}
s3 = boto3.client('s3', endpoint_url=ep, aws_access_key_id=c['aws_access_key_id'],
                  aws_secret_access_key=c['aws_secret_access_key'], region_name='us-east-1',
                  config=botocore.config.Config(s3={'addressing_style': 'path'}))
s3.create_bucket(Bucket='fast-slow')
data = os.urandom(1 << 20) * 512
p = None
if slow == 'slow':
    url = s3.generate_presigned_url('put_object', Params={'Bucket': 'fast-slow', 'Key': 'slow'}, ExpiresIn=600)
    p = subprocess.Popen(['curl', '-s', '-o', '/dev/null', '-T', slow_file, '--limit-rate', rate, url])
    time.sleep(2)
t0 = time.time()
s3.put_object(Bucket='fast-slow', Key='fast', Body=data)
took = time.time() - t0
if p and p.poll() is not None:
    # The slow upload ended (failed, or finished) before the fast one: not the case measured.
    sys.exit(f"the slow upload was not running beside the fast one (curl exit {p.returncode})")
print(f"{'beside a slow upload (' + rate + '/s)' if p else 'alone'}: 512 MiB in {took:.2f} s")
if p:
    p.kill()
PY
for r in $(seq 1 "${ROUNDS:-2}"); do
  for bin in "$@"; do
    for mode in alone slow; do
      serve_fresh "$bin" "$dir" "$port"
      echo "$r $(basename "$bin") $("$py" "$dir/put.py" "http://127.0.0.1:$port" "$dir/d/admin.credentials" "$mode" "$rate" "$dir/slow.bin" 2>&1 | tail -1)"
      kill "$pid"
      wait "$pid" 2>/dev/null || true
    done
  done
done
rm -rf "$dir"
