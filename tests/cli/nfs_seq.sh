#!/usr/bin/env bash
# Drives a real gatehouse binary with a real NFSv3 client, Debian's libnfs-utils (nfs-ls,
# nfs-cp, nfs-cat), next to the aws CLI:
#
#   tests/cli/nfs_seq.sh PATH-TO-GATEHOUSE [AWS]      (AWS default /usr/bin/aws)
#
# Sequence: start the server on free ports; create share `team` with the CLI; the S3 side puts
# sub/hello.txt; nfs-ls and nfs-cat read it as the guest (guest read is on by default); a guest
# nfs-cp into the share is refused; the libnfs URL `share mount-info` prints (with the admin's
# mount token) writes a file S3 reads; 127.0.0.1 becomes the admin's peer (admin API); a 64 MiB
# random file goes in with nfs-cp and back out, cmp; the aws CLI reads the same bytes, cmp.
# Then a bucket policy denying secret/* refuses that read to nfs-cat and the aws CLI alike, and
# the product docs' ?quota is set, read and cleared with curl's SigV4; a share whose default
# encryption is a key of the key service takes nfs-cp writes sealed.
# libnfs mounts a URL's parent directory and, given both ports, needs no portmapper.
set -euo pipefail
bin=$(realpath "$1")
AWS=${2:-/usr/bin/aws}
work=$(mktemp -d /tmp/gatehouse-nfs.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL $*"; sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" | tail -30; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
s3=$(free_port) admin=$(free_port) nfs=$(free_port)
"$bin" serve --data-dir "$work/data" --s3-listen "127.0.0.1:$s3" --admin-listen "127.0.0.1:$admin" \
  --nfs-listen "127.0.0.1:$nfs" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  grep -q aws_secret_access_key "$work/data/admin.credentials" 2>/dev/null &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$admin/")" != 000 ] && break
  sleep 0.1
done
creds="$work/data/admin.credentials"
cred() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$creds" | head -1 | tr -d '\r'; }
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_CA_BUNDLE
export AWS_SHARED_CREDENTIALS_FILE="$creds" AWS_CONFIG_FILE=/dev/null AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
ep="http://127.0.0.1:$s3"
q="?nfsport=$nfs&mountport=$nfs&version=3"

"$bin" --server "http://127.0.0.1:$admin" --data-dir "$work/data" share create team >/dev/null ||
  fail "share create"
echo hello >"$work/hello.txt"
"$AWS" --endpoint-url "$ep" s3 cp --no-progress "$work/hello.txt" s3://fs--team/sub/hello.txt >/dev/null ||
  fail "aws put"
nfs-ls "nfs://127.0.0.1/team$q" | grep -q ' sub$' || fail "nfs-ls shows sub/"
[ "$(nfs-cat "nfs://127.0.0.1/team/sub/hello.txt$q")" = hello ] || fail "nfs-cat reads what S3 wrote"
echo "ok   nfs-ls / nfs-cat as the guest"

head -c $((64 << 20)) /dev/urandom >"$work/big.bin"
if nfs-cp "$work/big.bin" "nfs://127.0.0.1/team/sub/guest.bin$q" >/dev/null 2>&1; then
  fail "the guest (bucket-read) could write"
fi
echo "ok   guest write refused"

# The admin's own mount token (share mount-info) mounts the share as the admin from this
# address, which is nobody's peer yet: libnfs takes the /<share>@<token> path as it is.
url=$("$bin" --server "http://127.0.0.1:$admin" --data-dir "$work/data" share mount-info team --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["libnfs_url"])') || fail "mount-info"
case "$url" in nfs://127.0.0.1/team@*) ;; *) fail "mount-info URL without a token: $url" ;; esac
echo "by token" >"$work/tok.txt"
nfs-cp "$work/tok.txt" "${url%%\?*}/sub/tok.txt?${url#*\?}" >/dev/null || fail "nfs-cp through the token path"
[ "$("$AWS" --endpoint-url "$ep" s3 cp --no-progress s3://fs--team/sub/tok.txt -)" = "by token" ] ||
  fail "S3 reads what the token mount wrote"
echo "ok   token mount writes as its user (libnfs URL from share mount-info)"

curl -sf -u "$(cred aws_access_key_id):$(cred aws_secret_access_key)" -H 'content-type: application/json' \
  -d '{"address":"127.0.0.1","user":"admin"}' "http://127.0.0.1:$admin/api/peers" >/dev/null ||
  fail "peer add"
nfs-cp "$work/big.bin" "nfs://127.0.0.1/team/sub/big.bin$q" >/dev/null || fail "nfs-cp in"
nfs-cp "nfs://127.0.0.1/team/sub/big.bin$q" "$work/back.bin" >/dev/null || fail "nfs-cp out"
cmp "$work/big.bin" "$work/back.bin" || fail "NFS bytes differ"
echo "ok   64 MiB in and out with nfs-cp, same bytes"
"$AWS" --endpoint-url "$ep" s3 cp --no-progress s3://fs--team/sub/big.bin "$work/s3.bin" >/dev/null ||
  fail "aws get"
cmp "$work/big.bin" "$work/s3.bin" || fail "S3 bytes differ from what NFS wrote"
echo "ok   the aws CLI reads what nfs-cp wrote"

# A bucket policy decides NFS reads path by path, as it decides S3 reads (decision 0043): with
# a Deny of s3:GetObject on secret/*, neither the aws CLI nor nfs-cat (as the admin's peer)
# reads secret/s.txt, and both still read pub/p.txt.
echo secret >"$work/s.txt"
echo public >"$work/p.txt"
"$AWS" --endpoint-url "$ep" s3 cp --no-progress "$work/s.txt" s3://fs--team/secret/s.txt >/dev/null ||
  fail "aws put secret"
"$AWS" --endpoint-url "$ep" s3 cp --no-progress "$work/p.txt" s3://fs--team/pub/p.txt >/dev/null ||
  fail "aws put pub"
cat >"$work/policy.json" <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::fs--team/secret/*"}]}
JSON
"$AWS" --endpoint-url "$ep" s3api put-bucket-policy --bucket fs--team --policy "file://$work/policy.json" ||
  fail "put-bucket-policy"
if "$AWS" --endpoint-url "$ep" s3 cp --no-progress s3://fs--team/secret/s.txt - >/dev/null 2>&1; then
  fail "the aws CLI read a denied key"
fi
if nfs-cat "nfs://127.0.0.1/team/secret/s.txt$q" >/dev/null 2>&1; then
  fail "nfs-cat read a denied key"
fi
[ "$(nfs-cat "nfs://127.0.0.1/team/pub/p.txt$q")" = public ] || fail "nfs-cat reads an allowed key"
[ "$("$AWS" --endpoint-url "$ep" s3 cp --no-progress s3://fs--team/pub/p.txt -)" = public ] ||
  fail "the aws CLI reads an allowed key"
echo "ok   a policy's Deny on secret/* refuses that read to the aws CLI and nfs-cat alike"

# The product docs' ?quota, signed by curl's own SigV4. curl 7.88 neither sends
# x-amz-content-sha256 (S3 requires it: given here) nor writes `quota` as `quota=` in the
# canonical query (so the URL says `quota=`).
sig=(--aws-sigv4 "aws:amz:us-east-1:s3" -u "$(cred aws_access_key_id):$(cred aws_secret_access_key)")
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
body='{"max_objects": 100}'
curl -sf "${sig[@]}" -X PUT -H 'content-type: application/json' -H "x-amz-content-sha256: $(sha "$body")" \
  -d "$body" "$ep/fs--team?quota=" >/dev/null || fail "PUT ?quota"
empty=(-H "x-amz-content-sha256: $(sha '')")
curl -sf "${sig[@]}" "${empty[@]}" "$ep/fs--team?quota=" | python3 -c '
import json, sys
v = json.load(sys.stdin)
assert v["quota"] == {"max_size_bytes": None, "max_objects": 100}, v
assert v["usage"]["objects"] >= 5, v' || fail "GET ?quota"
curl -sf "${sig[@]}" "${empty[@]}" -X DELETE "$ep/fs--team?quota=" >/dev/null || fail "DELETE ?quota"
[ "$(curl -s -o /dev/null -w '%{http_code}' "${sig[@]}" "${empty[@]}" "$ep/fs--team?quota=")" = 404 ] ||
  fail "GET ?quota after DELETE"
echo "ok   ?quota set, shown with usage and cleared (curl --aws-sigv4)"

# SSE-KMS over NFS (decision 0046): a key made with the CLI is the share's default; nfs-cp
# writes a file (sealed under the key), nfs-cat and the aws CLI read it back, HEAD says aws:kms,
# the data directory holds no plaintext of it; with the key disabled nfs-cat is refused.
g=("$bin" --server "http://127.0.0.1:$admin" --data-dir "$work/data")
"${g[@]}" key create --alias nfs-seq >/dev/null || fail "key create"
"${g[@]}" bucket encryption fs+team aws-kms --key alias/nfs-seq >/dev/null || fail "bucket encryption aws-kms"
for _ in $(seq 4096); do echo "NFSKMSMARKER-0123456789abcdef0123456789abcdef0123456789abcdef"; done >"$work/kms.txt"
nfs-cp "$work/kms.txt" "nfs://127.0.0.1/team/kms.txt$q" >/dev/null || fail "nfs-cp under the key"
nfs-cat "nfs://127.0.0.1/team/kms.txt$q" | cmp - "$work/kms.txt" || fail "nfs-cat reads it back"
"$AWS" --endpoint-url "$ep" s3 cp --no-progress s3://fs--team/kms.txt - | cmp - "$work/kms.txt" ||
  fail "the aws CLI reads it"
[ "$("$AWS" --endpoint-url "$ep" s3api head-object --bucket fs--team --key kms.txt \
  --query ServerSideEncryption --output text)" = aws:kms ] || fail "HEAD says aws:kms"
if grep -rlq NFSKMSMARKER "$work/data"; then fail "plaintext of the sealed file on disk"; fi
"${g[@]}" key disable alias/nfs-seq >/dev/null || fail "key disable"
if nfs-cat "nfs://127.0.0.1/team/kms.txt$q" >/dev/null 2>&1; then
  fail "nfs-cat read under a disabled key"
fi
"${g[@]}" key enable alias/nfs-seq >/dev/null || fail "key enable"
nfs-cat "nfs://127.0.0.1/team/kms.txt$q" | cmp - "$work/kms.txt" || fail "nfs-cat after enable"
echo "ok   nfs-cp into a share whose default is a key: sealed, read back by nfs-cat and the aws CLI; refused while the key is disabled"
