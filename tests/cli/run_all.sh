#!/usr/bin/env bash
# Drives a real gatehouse binary with real S3 clients through one scripted sequence each:
#
#   tests/cli/run_all.sh PATH-TO-GATEHOUSE
#
# Clients (each in its own bucket; .ci/run installs them):
#   awscli-v2  aws CLI v2, Debian's `awscli` package          $AWS2   (default /usr/bin/aws)
#   awscli-v1  aws CLI v1 from PyPI, in the venv /tmp/ghvenv  $AWS1   (default /tmp/ghvenv/bin/aws)
#   rclone     Debian's `rclone` package                       $RCLONE (default rclone)
#   boto3      tests/cli/boto3_seq.py, boto3 from PyPI         $BOTO3_PYTHON (default /tmp/ghvenv/bin/python)
# $CLIENTS picks a subset ("rclone boto3"); KEEP_WORK=1 keeps the temp dir (data, server log).
#
# Sequence: make bucket; 64 MiB random file up (multipart, checked by its ETag's -N suffix) and
# back down, cmp; sync of a tree (nested dirs, spaces, UTF-8, an empty file) up and back, diff -r;
# recursive listing in pages of 7, key count; presign + curl, cmp (not rclone: `rclone link` is
# not for S3); bucket replication set with the client's PutBucketReplication (to a copy bucket
# on the same server, through a connection made with the gatehouse CLI), a new object arriving
# there, Get/DeleteBucketReplication (not rclone: it has no such call); recursive remove; remove
# bucket. Each step prints `ok   CLIENT STEP` or
# `FAIL CLIENT STEP` and the step's output; the last line is `N passed, M failed`, and the exit
# status is nonzero if any step failed (the server log's tail is printed then).
set -uo pipefail

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH-TO-GATEHOUSE-BINARY" >&2
  exit 2
fi
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)

export AWS2=${AWS2:-/usr/bin/aws}
export AWS1=${AWS1:-/tmp/ghvenv/bin/aws}
export RCLONE=${RCLONE:-rclone}
export BOTO3_PYTHON=${BOTO3_PYTHON:-/tmp/ghvenv/bin/python}
export BOTO3_SEQ="$here/boto3_seq.py"
CLIENTS=${CLIENTS:-awscli-v2 awscli-v1 rclone boto3}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}

work=$(mktemp -d /tmp/gatehouse-cli.XXXXXX)
export work
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- server -------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
args=(serve --data-dir "$work/data" --s3-listen "127.0.0.1:$port")
# Builds with an admin API listen on 127.0.0.1:8080 by default: give it a free port of its own so
# that the run neither collides with nor talks to anything else on the machine.
export ADMIN=
if "$bin" serve --help 2>/dev/null | grep -q -- --admin-listen; then
  ADMIN="http://127.0.0.1:$(free_port)"
  args+=(--admin-listen "${ADMIN#http://}")
fi
# Likewise the NFS listener (default 127.0.0.1:12049).
if "$bin" serve --help 2>/dev/null | grep -q -- --nfs-listen; then
  args+=(--nfs-listen "127.0.0.1:$(free_port)")
fi
# SSE-C keys over this plain-http loopback endpoint (a test setup; AWS takes them over TLS only).
export SSE_C=0
if "$bin" show-config 2>/dev/null | grep -q sse_c_over_http; then
  printf 's3:\n  sse_c_over_http: true\n' >"$work/config.yaml"
  args+=(--config "$work/config.yaml")
  SSE_C=1
fi
"$bin" "${args[@]}" >"$work/server.log" 2>&1 &
pid=$!
export bin creds="$work/data/admin.credentials"
ready=0
for _ in $(seq 600); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "server exited before it was ready:"; sed 's/\x1b\[[0-9;]*m//g' "$work/server.log"; exit 1
  fi
  # Ready: the credentials are written and the S3 port answers HTTP (any status).
  if grep -q aws_secret_access_key "$creds" 2>/dev/null &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/")" != 000 ]; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "server not ready after 60 s:"; tail -50 "$work/server.log" | sed 's/\x1b\[[0-9;]*m//g'; exit 1
fi
cred() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$creds" | head -1 | tr -d '\r'; }
export EP="http://127.0.0.1:$port" AK SK
AK=$(cred aws_access_key_id)
SK=$(cred aws_secret_access_key)

# The aws tools read only the server's credentials file, nothing from the caller's environment.
# The endpoint is plain http on loopback, so no CA bundle is needed either; rclone 1.60 (aws-sdk-go
# v1) refuses to start at all when AWS_CA_BUNDLE is set ("LoadCustomCABundleError: unsupported
# transport, *fshttp.Transport"), and some machines set it globally.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
unset AWS_CA_BUNDLE
export AWS_SHARED_CREDENTIALS_FILE="$creds" AWS_CONFIG_FILE=/dev/null AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
# rclone: one remote `gh:` configured from the environment only. Upload cutoff / chunk size make
# the 64 MiB file go up as a multipart upload (rclone's default cutoff is 200 MiB); the
# multi-thread cutoff makes it come down with ranged GETs.
: >"$work/rclone.conf"
export RCLONE_CONFIG="$work/rclone.conf"
export RCLONE_CONFIG_GH_TYPE=s3 RCLONE_CONFIG_GH_PROVIDER=Other RCLONE_CONFIG_GH_ENDPOINT="$EP"
export RCLONE_CONFIG_GH_ACCESS_KEY_ID="$AK" RCLONE_CONFIG_GH_SECRET_ACCESS_KEY="$SK"
export RCLONE_CONFIG_GH_REGION=us-east-1 RCLONE_CONFIG_GH_FORCE_PATH_STYLE=true
export RCLONE_CONFIG_GH_UPLOAD_CUTOFF=16M RCLONE_CONFIG_GH_CHUNK_SIZE=8M RCLONE_CONFIG_GH_LIST_CHUNK=7
export RCLONE_MULTI_THREAD_CUTOFF=16M RCLONE_MULTI_THREAD_STREAMS=4

# ---- test data ----------------------------------------------------------------------------
head -c $((64 << 20)) /dev/urandom >"$work/big.bin"
t="$work/tree"
mkdir -p "$t/a/b/c/d" "$t/sub dir/nested dir" "$t/ünïcødé 日本語/ディレクトリ" "$t/many"
echo top >"$t/top.txt"
: >"$t/empty"
head -c $(((1 << 20) + 1)) /dev/urandom >"$t/a/one-mib-plus-one.bin"
echo deep >"$t/a/b/c/d/deep.txt"
echo "with space" >"$t/sub dir/file with space.txt"
echo nested >"$t/sub dir/nested dir/x.txt"
echo "utf-8" >"$t/ünïcødé 日本語/ファイル é.txt"
echo "utf-8 nested" >"$t/ünïcødé 日本語/ディレクトリ/naïve.txt"
for i in $(seq 12); do echo "file $i" >"$t/many/f$i.txt"; done
ntree=$(find "$t" -type f | wc -l)
export nkeys=$((ntree + 1)) # the tree under tree/ plus big.bin

# ---- client operations ----------------------------------------------------------------------
# op CLIENT OP ARGS...; buckets and keys are plain names, local paths are absolute.
# A read that stalls 20 s is a failure a user would notice (it hid a 60 s botocore stall on
# keep-alive after an empty upload), so the aws CLI gets a 20 s read timeout and no retries.
export AWS_MAX_ATTEMPTS=1
op() {
  local c=$1 o=$2
  shift 2
  case $c in
    awscli-v1 | awscli-v2)
      local -a aws=("$AWS2" --cli-read-timeout 20)
      [ "$c" = awscli-v1 ] && aws[0]=$AWS1
      case $o in
        mb) "${aws[@]}" --endpoint-url "$EP" s3 mb "s3://$1" ;;
        put) "${aws[@]}" --endpoint-url "$EP" s3 cp --no-progress "$1" "s3://$2/$3" ;;
        get) "${aws[@]}" --endpoint-url "$EP" s3 cp --no-progress "s3://$1/$2" "$3" ;;
        sync-up) "${aws[@]}" --endpoint-url "$EP" s3 sync --no-progress "$1" "s3://$2/$3" ;;
        sync-down) "${aws[@]}" --endpoint-url "$EP" s3 sync --no-progress "s3://$1/$2" "$3" ;;
        count) "${aws[@]}" --endpoint-url "$EP" s3 ls --recursive --page-size 7 "s3://$1" >"$work/ls.out" && wc -l <"$work/ls.out" ;;
        presign) "${aws[@]}" --endpoint-url "$EP" s3 presign "s3://$1/$2" --expires-in 600 ;;
        rm-recursive) "${aws[@]}" --endpoint-url "$EP" s3 rm --recursive "s3://$1" ;;
        rb) "${aws[@]}" --endpoint-url "$EP" s3 rb "s3://$1" ;;
        cp-remote) "${aws[@]}" --endpoint-url "$EP" s3 cp "s3://$1/$2" "s3://$3/$4" ;;
        buckets) "${aws[@]}" --endpoint-url "$EP" s3 ls | awk '{print $3}' ;;
        ls-bucket) "${aws[@]}" --endpoint-url "$EP" s3 ls "s3://$1" ;;
        put-replication) "${aws[@]}" --endpoint-url "$EP" s3api put-bucket-replication --bucket "$1" \
          --replication-configuration "{\"Role\":\"arn:aws:iam::1:role/r\",\"Rules\":[{\"ID\":\"r\",\"Priority\":1,\"Status\":\"Enabled\",\"Filter\":{\"Prefix\":\"\"},\"Destination\":{\"Bucket\":\"$2\"},\"DeleteMarkerReplication\":{\"Status\":\"Disabled\"}}]}" ;;
        get-replication) "${aws[@]}" --endpoint-url "$EP" s3api get-bucket-replication --bucket "$1" ;;
        delete-replication) "${aws[@]}" --endpoint-url "$EP" s3api delete-bucket-replication --bucket "$1" ;;
        put-versioning) "${aws[@]}" --endpoint-url "$EP" s3api put-bucket-versioning --bucket "$1" \
          --versioning-configuration Status=Enabled ;;
        versions) "${aws[@]}" --endpoint-url "$EP" s3api list-object-versions --bucket "$1" --output json |
          python3 -c 'import json,sys; d=json.load(sys.stdin)
for v in d.get("Versions",[]): print(v["Key"], v["VersionId"], "latest" if v["IsLatest"] else "old")
for m in d.get("DeleteMarkers",[]): print(m["Key"], m["VersionId"], "marker")' ;;
        get-version) "${aws[@]}" --endpoint-url "$EP" s3api get-object --bucket "$1" --key "$2" \
          --version-id "$3" "$4" >/dev/null ;;
        mb-lock) "${aws[@]}" --endpoint-url "$EP" s3api create-bucket --bucket "$1" --object-lock-enabled-for-bucket ;;
        put-policy) "${aws[@]}" --endpoint-url "$EP" s3api put-bucket-policy --bucket "$1" --policy "file://$2" ;;
        get-policy) "${aws[@]}" --endpoint-url "$EP" s3api get-bucket-policy --bucket "$1" --query Policy --output text ;;
        policy-public) "${aws[@]}" --endpoint-url "$EP" s3api get-bucket-policy-status --bucket "$1" \
          --query PolicyStatus.IsPublic --output text | tr 'A-Z' 'a-z' ;;
        delete-policy) "${aws[@]}" --endpoint-url "$EP" s3api delete-bucket-policy --bucket "$1" ;;
        put-public) "${aws[@]}" --endpoint-url "$EP" s3 cp --no-progress --acl public-read "$1" "s3://$2/$3" ;;
        put-sse) "${aws[@]}" --endpoint-url "$EP" s3 cp --no-progress --sse AES256 "$1" "s3://$2/$3" ;;
        head-sse) "${aws[@]}" --endpoint-url "$EP" s3api head-object --bucket "$1" --key "$2" \
          --query ServerSideEncryption --output text ;;
        put-default-enc) "${aws[@]}" --endpoint-url "$EP" s3api put-bucket-encryption --bucket "$1" \
          --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}' ;;
        get-default-enc) "${aws[@]}" --endpoint-url "$EP" s3api get-bucket-encryption --bucket "$1" \
          --query 'ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm' --output text ;;
        put-kms) "${aws[@]}" --endpoint-url "$EP" s3 cp --no-progress --sse aws:kms --sse-kms-key-id "$4" "$1" "s3://$2/$3" ;;
        head-kms) "${aws[@]}" --endpoint-url "$EP" s3api head-object --bucket "$1" --key "$2" \
          --query '[ServerSideEncryption,SSEKMSKeyId]' --output text | tr '\t' ' ' ;;
        put-default-kms) "${aws[@]}" --endpoint-url "$EP" s3api put-bucket-encryption --bucket "$1" \
          --server-side-encryption-configuration "{\"Rules\":[{\"ApplyServerSideEncryptionByDefault\":{\"SSEAlgorithm\":\"aws:kms\",\"KMSMasterKeyID\":\"$2\"}}]}" ;;
        put-sse-c) "${aws[@]}" --endpoint-url "$EP" s3 cp --no-progress --sse-c AES256 --sse-c-key "fileb://$4" "$1" "s3://$2/$3" ;;
        get-sse-c) "${aws[@]}" --endpoint-url "$EP" s3 cp --no-progress --sse-c AES256 --sse-c-key "fileb://$4" "s3://$1/$2" "$3" ;;
        put-cors) "${aws[@]}" --endpoint-url "$EP" s3api put-bucket-cors --bucket "$1" \
          --cors-configuration "{\"CORSRules\":[{\"AllowedOrigins\":[\"$2\"],\"AllowedMethods\":[\"GET\"]}]}" ;;
        get-cors) "${aws[@]}" --endpoint-url "$EP" s3api get-bucket-cors --bucket "$1" \
          --query 'CORSRules[0].AllowedOrigins' --output text ;;
        put-bucket-tags) "${aws[@]}" --endpoint-url "$EP" s3api put-bucket-tagging --bucket "$1" \
          --tagging "TagSet=[{Key=$2,Value=$3}]" ;;
        get-bucket-tags) "${aws[@]}" --endpoint-url "$EP" s3api get-bucket-tagging --bucket "$1" \
          --query 'TagSet[].[Key,Value]' --output text | tr '\t' '=' ;;
        attributes) "${aws[@]}" --endpoint-url "$EP" s3api get-object-attributes --bucket "$1" --key "$2" \
          --object-attributes ETag ObjectSize StorageClass --query '[ObjectSize,ETag,StorageClass]' --output text | tr '\t' ' ' ;;
        owner) "${aws[@]}" --endpoint-url "$EP" s3api get-bucket-acl --bucket "$1" --query Owner.ID --output text ;;
        head-as-owner) "${aws[@]}" --endpoint-url "$EP" s3api head-object --bucket "$1" --key "$2" \
          --expected-bucket-owner "$3" >/dev/null ;;
        put-lifecycle-tag) "${aws[@]}" --endpoint-url "$EP" s3api put-bucket-lifecycle-configuration --bucket "$1" \
          --lifecycle-configuration "{\"Rules\":[{\"ID\":\"tagged\",\"Status\":\"Enabled\",\"Filter\":{\"Tag\":{\"Key\":\"$2\",\"Value\":\"$3\"}},\"Expiration\":{\"Days\":30}}]}" ;;
        head-expiration) "${aws[@]}" --endpoint-url "$EP" s3api head-object --bucket "$1" --key "$2" \
          --query Expiration --output text ;;
        put-locked) "${aws[@]}" --endpoint-url "$EP" s3api put-object --body "$1" --bucket "$2" --key "$3" \
          --object-lock-mode GOVERNANCE --object-lock-retain-until-date "$4" >/dev/null ;;
        delete-version)
          if [ "$4" = bypass ]; then
            "${aws[@]}" --endpoint-url "$EP" s3api delete-object --bucket "$1" --key "$2" --version-id "$3" --bypass-governance-retention
          else
            "${aws[@]}" --endpoint-url "$EP" s3api delete-object --bucket "$1" --key "$2" --version-id "$3"
          fi ;;
      esac
      ;;
    rclone)
      case $o in
        mb) "$RCLONE" mkdir "gh:$1" ;;
        put) "$RCLONE" copyto "$1" "gh:$2/$3" ;;
        get) "$RCLONE" copyto "gh:$1/$2" "$3" ;;
        sync-up) "$RCLONE" sync "$1" "gh:$2/$3" ;;
        sync-down) "$RCLONE" sync "gh:$1/$2" "$3" ;;
        count) "$RCLONE" lsf -R --files-only "gh:$1" >"$work/ls.out" && wc -l <"$work/ls.out" ;;
        rm-recursive) "$RCLONE" delete "gh:$1" ;;
        rb) "$RCLONE" rmdir "gh:$1" ;;
        cp-remote) "$RCLONE" copyto "gh:$1/$2" "gh:$3/$4" ;;
        buckets) "$RCLONE" lsd gh: | awk '{print $NF}' ;;
        ls-bucket) "$RCLONE" lsf "gh:$1" ;;
      esac
      ;;
    boto3) "$BOTO3_PYTHON" "$BOTO3_SEQ" --endpoint "$EP" "$o" "$@" ;;
  esac
}

# Checks made with plain curl (HTTP Basic access:secret), independent of the client under test.
raw() { curl -sS --max-time 60 -u "$AK:$SK" "$@"; }
bucket_exists() { raw -o /dev/null -w '%{http_code}\n' -I "$EP/$1" | tee /dev/stderr | grep -qx 200; }
bucket_gone() { raw -o /dev/null -w '%{http_code}\n' -I "$EP/$1" | tee /dev/stderr | grep -qx 404; }
raw_key_count() { raw "$EP/$1?list-type=2" | grep -o '<Key>' | wc -l; }

s_mb() { op "$1" mb "$2" && bucket_exists "$2"; }
s_put() {
  op "$1" put "$work/big.bin" "$2" big.bin || return 1
  local etag
  etag=$(raw -I "$EP/$2/big.bin" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p')
  echo "ETag after upload: $etag (a multipart upload's ends in -N)"
  [[ $etag == *-[0-9]* ]]
}
s_get() { rm -f "$work/$1.big.back" && op "$1" get "$2" big.bin "$work/$1.big.back"; }
s_cmp() { cmp "$work/big.bin" "$work/$1.big.back"; }
s_sync_up() { op "$1" sync-up "$work/tree" "$2" tree; }
s_sync_down() { rm -rf "$work/$1.tree.back" && mkdir -p "$work/$1.tree.back" && op "$1" sync-down "$2" tree "$work/$1.tree.back"; }
s_diff() { diff -r "$work/tree" "$work/$1.tree.back"; }
s_count() {
  local n
  n=$(op "$1" count "$2") || { echo "$n"; return 1; }
  n=$(echo "$n" | tail -1 | tr -d ' ')
  echo "listed $n keys, expected $nkeys"
  [ "$n" = "$nkeys" ] || { cat "$work/ls.out" 2>/dev/null; return 1; }
}
s_presign() {
  local url
  url=$(op "$1" presign "$2" big.bin) || { echo "$url"; return 1; }
  url=$(echo "$url" | tail -1)
  echo "URL: $url"
  rm -f "$work/$1.big.pre"
  curl -sS --fail-with-body --max-time 120 -o "$work/$1.big.pre" "$url" || { cat "$work/$1.big.pre" 2>/dev/null; return 1; }
  cmp "$work/big.bin" "$work/$1.big.pre"
}
s_rm_recursive() {
  op "$1" rm-recursive "$2" || return 1
  local n
  n=$(raw_key_count "$2")
  echo "keys left: $n"
  [ "$n" = 0 ]
}
s_rb() { op "$1" rb "$2" && bucket_gone "$2"; }
# Bucket replication through the client's own PutBucketReplication (the AWS document; its
# destination names a connection, here one back to this same server), then a new object
# arrives in the copy, GetBucketReplication shows the rule, DeleteBucketReplication removes it.
s_replication() {
  local c=$1 b=$2 copy="$2-copy" conn="ci-$1-self" k
  printf '%s\n' "$SK" >"$work/self.secret"
  "$bin" --server "$ADMIN" --credentials "$creds" replication connection add "$conn" \
    --endpoint "$EP" --access-key "$AK" --secret-key-file "$work/self.secret" || return 1
  op "$c" mb "$copy" || return 1
  op "$c" put-replication "$b" "arn:gatehouse:replication::$conn:$copy" || return 1
  op "$c" get-replication "$b" | tee /dev/stderr | grep -q "arn:gatehouse:replication::$conn:$copy" || return 1
  op "$c" put "$work/tree/top.txt" "$b" replicated/top.txt || return 1
  for _ in $(seq 100); do
    k=$(raw -o /dev/null -w '%{http_code}' "$EP/$copy/replicated/top.txt")
    [ "$k" = 200 ] && break
    sleep 0.1
  done
  echo "copy: $k"
  [ "$k" = 200 ] || return 1
  raw "$EP/$copy/replicated/top.txt" | cmp - "$work/tree/top.txt" || return 1
  op "$c" delete-replication "$b" || return 1
  "$bin" --server "$ADMIN" --credentials "$creds" replication status "$b" && return 1
  "$bin" --server "$ADMIN" --credentials "$creds" replication connection remove "$conn"
}
# A file share made with the gatehouse CLI, used through its alias fs--<name> (botocore refuses
# the canonical fs+<name> before sending anything), checked under fs+<name> with curl.
s_share() {
  local c=$1 share="ci-$1-share"
  local alias="fs--$share"
  "$bin" --server "$ADMIN" --credentials "$creds" share create "$share" || return 1
  op "$c" put "$work/tree/top.txt" "$alias" docs/top.txt || return 1
  raw "$EP/fs%2B$share?list-type=2" | tee /dev/stderr | grep -q '<Key>docs/top.txt</Key>' || return 1
  rm -f "$work/$c.share.back"
  op "$c" get "$alias" docs/top.txt "$work/$c.share.back" && cmp "$work/tree/top.txt" "$work/$c.share.back"
}
# Then, by the same alias, a server-side copy inside the share (issue 17: it once failed with
# NoSuchBucket), and every bucket name the client lists is one it accepts in its next call (the
# listing once named shares fs+<name>, which botocore refuses).
s_share_names() {
  local c=$1 alias="fs--ci-$1-share" names
  op "$c" cp-remote "$alias" docs/top.txt "$alias" docs/copy.txt || return 1
  raw "$EP/fs%2Bci-$c-share?list-type=2" | grep -q '<Key>docs/copy.txt</Key>' || return 1
  names=$(op "$c" buckets) || { echo "$names"; return 1; }
  echo "listed: $(echo $names)"
  echo "$names" | grep -qx "$alias" || return 1
  for b in $names; do op "$c" ls-bucket "$b" >/dev/null || { echo "cannot list $b"; return 1; }; done
}
# Versioning (issue 21): two versions of one key, the old one read back by its id, a delete
# that leaves a marker; then object lock: a GOVERNANCE version its delete cannot remove, that
# the bypass header (as the admin, who may) does; then a share snapshot read back, through
# its fs--<share>.<name> alias, after the share changed.
s_versions() {
  local c=$1 b="ci-$1-ver" ids old
  op "$c" mb "$b" && op "$c" put-versioning "$b" || return 1
  op "$c" put "$work/tree/top.txt" "$b" k || return 1
  op "$c" put "$work/tree/a/b/c/d/deep.txt" "$b" k || return 1
  ids=$(op "$c" versions "$b") || return 1
  echo "$ids"
  [ "$(echo "$ids" | grep -c '^k ')" = 2 ] || return 1
  old=$(echo "$ids" | awk '$3 == "old" {print $2}')
  rm -f "$work/$c.v.old"
  op "$c" get-version "$b" k "$old" "$work/$c.v.old" && cmp "$work/tree/top.txt" "$work/$c.v.old" || return 1
  op "$c" rm-recursive "$b" >/dev/null 2>&1
  op "$c" versions "$b" | tee /dev/stderr | grep -q ' marker$'
}
s_lock() {
  local c=$1 b="ci-$1-lock" id
  op "$c" mb-lock "$b" || return 1
  op "$c" put-locked "$work/tree/top.txt" "$b" held "2099-01-01T00:00:00Z" || return 1
  id=$(op "$c" versions "$b" | awk '{print $2}')
  echo "version $id"
  if op "$c" delete-version "$b" held "$id" no; then echo "a locked version was deleted"; return 1; fi
  op "$c" delete-version "$b" held "$id" bypass || return 1
  [ -z "$(op "$c" versions "$b")" ]
}
s_snapshot() {
  local c=$1 share="ci-$1-snap"
  local alias="fs--$share"
  "$bin" --server "$ADMIN" --credentials "$creds" share create "$share" || return 1
  op "$c" sync-up "$work/tree" "$alias" tree || return 1
  "$bin" --server "$ADMIN" --credentials "$creds" share snapshot create "$share" s1 || return 1
  op "$c" put "$work/tree/top.txt" "$alias" tree/many/f1.txt || return 1
  rm -rf "$work/$c.snap.back" && mkdir -p "$work/$c.snap.back"
  op "$c" sync-down "$alias.s1" tree "$work/$c.snap.back" || return 1
  diff -r "$work/tree" "$work/$c.snap.back"
}
# Bucket policy and CORS (issue 22): a public-read policy on one prefix, checked with unsigned
# curl (the prefix readable, the rest not), read back, its status public, then removed (and
# the object closed again); CORS rules answering a browser's preflight.
s_policy() {
  local c=$1 b="ci-$1-pol" code
  op "$c" mb "$b" && op "$c" put "$work/tree/top.txt" "$b" pub/top.txt && op "$c" put "$work/tree/top.txt" "$b" priv/top.txt || return 1
  printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/pub/*"}]}' "$b" >"$work/$c.policy.json"
  op "$c" put-policy "$b" "$work/$c.policy.json" || return 1
  op "$c" get-policy "$b" | tee /dev/stderr | grep -q "arn:aws:s3:::$b/pub/" || return 1
  [ "$(op "$c" policy-public "$b")" = true ] || return 1
  curl -sS -o "$work/$c.anon" "$EP/$b/pub/top.txt" && cmp "$work/tree/top.txt" "$work/$c.anon" || return 1
  code=$(curl -sS -o /dev/null -w '%{http_code}' "$EP/$b/priv/top.txt"); echo "private: $code"; [ "$code" = 403 ] || return 1
  op "$c" delete-policy "$b" || return 1
  code=$(curl -sS -o /dev/null -w '%{http_code}' "$EP/$b/pub/top.txt"); echo "after delete: $code"; [ "$code" = 403 ] || return 1
  # A canned public-read ACL (decision 0042): that object alone opens to unsigned curl.
  op "$c" put-public "$work/tree/top.txt" "$b" acl/open.txt || return 1
  code=$(curl -sS -o /dev/null -w '%{http_code}' "$EP/$b/acl/open.txt"); echo "public-read: $code"; [ "$code" = 200 ] || return 1
  op "$c" put-cors "$b" "https://app.example.org" || return 1
  [ "$(op "$c" get-cors "$b")" = "https://app.example.org" ] || return 1
  curl -sS -D - -o /dev/null -X OPTIONS -H 'Origin: https://app.example.org' \
    -H 'Access-Control-Request-Method: GET' "$EP/$b/pub/top.txt" | tr -d '\r' | tee /dev/stderr |
    grep -qi '^access-control-allow-origin: https://app.example.org$' || return 1
  op "$c" rm-recursive "$b" >/dev/null && op "$c" rb "$b"
}
# Encryption at rest (issue 23): SSE-S3 asked per object and as the bucket's default (the
# client reads back AES256 and the bytes), SSE-C with a key file (read back with it; without it
# refused); curl sees the stored bytes only through the S3 API.
s_sse() {
  local c=$1 b="ci-$1-sse"
  op "$c" mb "$b" || return 1
  op "$c" put-sse "$work/tree/a/one-mib-plus-one.bin" "$b" sse.bin || return 1
  [ "$(op "$c" head-sse "$b" sse.bin)" = AES256 ] || return 1
  op "$c" get "$b" sse.bin "$work/$c.sse" && cmp "$work/tree/a/one-mib-plus-one.bin" "$work/$c.sse" || return 1
  op "$c" put-default-enc "$b" || return 1
  [ "$(op "$c" get-default-enc "$b")" = AES256 ] || return 1
  op "$c" put "$work/tree/top.txt" "$b" by-default.txt || return 1
  [ "$(op "$c" head-sse "$b" by-default.txt)" = AES256 ] || return 1
  if [ "$SSE_C" = 1 ]; then
    head -c 32 /dev/urandom >"$work/$c.key"
    op "$c" put-sse-c "$work/tree/a/one-mib-plus-one.bin" "$b" customer.bin "$work/$c.key" || return 1
    op "$c" get-sse-c "$b" customer.bin "$work/$c.ssec" "$work/$c.key" &&
      cmp "$work/tree/a/one-mib-plus-one.bin" "$work/$c.ssec" || return 1
    if op "$c" get "$b" customer.bin "$work/$c.nokey" 2>/dev/null; then
      echo "read without the key"; return 1
    fi
    # 64 MiB: multipart, each part (and the completion) with the key.
    op "$c" put-sse-c "$work/big.bin" "$b" customer-big.bin "$work/$c.key" || return 1
    op "$c" get-sse-c "$b" customer-big.bin "$work/$c.ssec-big" "$work/$c.key" &&
      cmp "$work/big.bin" "$work/$c.ssec-big" || return 1
  fi
  op "$c" rm-recursive "$b" >/dev/null && op "$c" rb "$b"
}
# SSE-KMS (decision 0046): a key made with the CLI, a 64 MiB multipart upload and a small one
# under it (by alias), the key's ARN on HEAD, a bucket default key; disabled, its objects do
# not read; enabled, they do; the audit log has the reads.
s_kms() {
  local c=$1 b="ci-$1-kms" alias="alias/ci-$1" arn
  "$bin" --server "$ADMIN" --credentials "$creds" key create --alias "$alias" || return 1
  op "$c" mb "$b" || return 1
  op "$c" put-kms "$work/big.bin" "$b" big.bin "$alias" || return 1
  op "$c" put-kms "$work/tree/top.txt" "$b" top.txt "$alias" || return 1
  arn=$(op "$c" head-kms "$b" big.bin) || return 1
  echo "head: $arn"
  case $arn in "aws:kms arn:aws:kms:"*":key/"*) ;; *) return 1 ;; esac
  op "$c" get "$b" big.bin "$work/$c.kms" && cmp "$work/big.bin" "$work/$c.kms" || return 1
  op "$c" put-default-kms "$b" "$alias" || return 1
  [ "$(op "$c" get-default-enc "$b")" = aws:kms ] || return 1
  op "$c" put "$work/tree/top.txt" "$b" by-default.txt || return 1
  [ "$(op "$c" head-kms "$b" by-default.txt)" = "$arn" ] || return 1
  "$bin" --server "$ADMIN" --credentials "$creds" key disable "$alias" || return 1
  if op "$c" get "$b" top.txt "$work/$c.kms-off" 2>/dev/null; then
    echo "read under a disabled key"; return 1
  fi
  "$bin" --server "$ADMIN" --credentials "$creds" key enable "$alias" || return 1
  op "$c" get "$b" top.txt "$work/$c.kms-on" && cmp "$work/tree/top.txt" "$work/$c.kms-on" || return 1
  "$bin" --server "$ADMIN" --credentials "$creds" key audit "$alias" | tee "$work/$c.audit" | grep -q "refused" || return 1
  grep -q decrypt "$work/$c.audit" || return 1
  op "$c" rm-recursive "$b" >/dev/null && op "$c" rb "$b"
}
# Browser-style upload (issue 22): boto3's generate_presigned_post, the form POSTed by urllib3,
# the object read back with curl and compared.
s_post() {
  local c=$1 b="ci-$1-post" key
  op "$c" mb "$b" || return 1
  key=$("$BOTO3_PYTHON" "$BOTO3_SEQ" --endpoint "$EP" post-upload "$work/tree/a/one-mib-plus-one.bin" "$b" in) || return 1
  echo "key $key"
  [ "$key" = in/one-mib-plus-one.bin ] || return 1
  raw -o "$work/$c.post" "$EP/$b/$key" && cmp "$work/tree/a/one-mib-plus-one.bin" "$work/$c.post" || return 1
  op "$c" rm-recursive "$b" >/dev/null && op "$c" rb "$b" || return 1
  # Into a share by its fs--<share> alias: the policy's bucket condition names the alias (it
  # was compared with fs+<share> and refused).
  "$bin" --server "$ADMIN" --credentials "$creds" share create "ci-$c-postshare" || return 1
  key=$("$BOTO3_PYTHON" "$BOTO3_SEQ" --endpoint "$EP" post-upload "$work/tree/top.txt" "fs--ci-$c-postshare" in) || return 1
  [ "$key" = in/top.txt ] || return 1
  raw "$EP/fs%2Bci-$c-postshare/in/top.txt" | cmp - "$work/tree/top.txt"
}
# Session 22's S3 additions (decision 0049) as each client sends them: bucket tags set and read
# back; GetObjectAttributes of a 1 MiB + 1 object (its size, unquoted ETag, STANDARD); a HEAD
# expecting the real owner passes and one expecting another is refused; a lifecycle rule with
# a tag filter shows on a tagged object as x-amz-expiration, not on an untagged one.
s_s3_extras() {
  local c=$1 b="ci-$1-extra" attrs owner exp
  op "$c" mb "$b" || return 1
  op "$c" put-bucket-tags "$b" team data || return 1
  [ "$(op "$c" get-bucket-tags "$b")" = team=data ] || return 1
  op "$c" put "$work/tree/a/one-mib-plus-one.bin" "$b" obj.bin || return 1
  attrs=$(op "$c" attributes "$b" obj.bin) || return 1
  echo "attributes: $attrs"
  case $attrs in "1048577 "*" STANDARD") ;; *) return 1 ;; esac
  case $attrs in *'"'*) echo "quoted ETag"; return 1 ;; esac
  owner=$(op "$c" owner "$b") || return 1
  op "$c" head-as-owner "$b" obj.bin "$owner" || return 1
  if op "$c" head-as-owner "$b" obj.bin 111122223333 2>/dev/null; then
    echo "another owner was not refused"; return 1
  fi
  op "$c" put-lifecycle-tag "$b" temp yes || return 1
  raw -X PUT -H 'x-amz-tagging: temp=yes' --data-binary @"$work/tree/top.txt" "$EP/$b/tagged.txt" || return 1
  exp=$(op "$c" head-expiration "$b" tagged.txt) || return 1
  echo "expiration: $exp"
  case $exp in *'rule-id="tagged"'*) ;; *) return 1 ;; esac
  exp=$(op "$c" head-expiration "$b" obj.bin) || return 1
  case $exp in *rule-id*) echo "untagged object expires: $exp"; return 1 ;; esac
  op "$c" rm-recursive "$b" >/dev/null && op "$c" rb "$b"
}
# SigV2 header signatures as botocore makes them: make, put, list, get, delete.
s_sigv2() {
  "$BOTO3_PYTHON" "$BOTO3_SEQ" --endpoint "$EP" sigv2 "ci-$1-sigv2"
}
# rclone's SigV2 (`v2_auth`) dates its requests `Date: Mon, 07 Dec 2026 23:05:47 UTC` (Go's
# RFC1123): make a bucket, put, read back, list and purge with it.
s_rclone_v2() {
  local b=ci-rclone-v2
  export RCLONE_CONFIG_GH_V2_AUTH=true
  "$RCLONE" mkdir "gh:$b" &&
    "$RCLONE" copyto "$work/tree/top.txt" "gh:$b/dir/top.txt" &&
    [ "$("$RCLONE" cat "gh:$b/dir/top.txt")" = top ] &&
    [ "$("$RCLONE" lsf -R --files-only "gh:$b")" = dir/top.txt ] &&
    "$RCLONE" purge "gh:$b" && bucket_gone "$b"
}
export -f op raw bucket_exists bucket_gone raw_key_count s_mb s_put s_get s_cmp s_sync_up \
  s_sync_down s_diff s_count s_presign s_rm_recursive s_rb s_share s_share_names s_replication \
  s_versions s_lock s_snapshot s_policy s_post s_sse s_kms s_sigv2 s_rclone_v2 s_s3_extras

pass=0
fail=0
slow=()
step() {
  local client=$1 name=$2 t0=$SECONDS
  shift 2
  if timeout "$STEP_TIMEOUT" bash -c '"$@"' _ "$@" >"$work/step.log" 2>&1; then
    pass=$((pass + 1))
    echo "ok   $client $name"
  else
    fail=$((fail + 1))
    echo "FAIL $client $name"
    tail -n 100 "$work/step.log" | sed 's/^/    /'
  fi
  # Nothing here should take long against a local server: a step that passes only after a
  # client-side timeout and retry (60 s read timeout for the aws tools) is noted.
  if [ $((SECONDS - t0)) -ge "${SLOW_STEP:-20}" ]; then
    slow+=("$client $name: $((SECONDS - t0)) s")
  fi
}

version() {
  case $1 in
    awscli-v2) "$AWS2" --version ;;
    awscli-v1) "$AWS1" --version ;;
    rclone) "$RCLONE" version | head -1 ;;
    boto3) "$BOTO3_PYTHON" -c 'import boto3, botocore; print("boto3", boto3.__version__, "botocore", botocore.__version__)' ;;
  esac 2>&1
}

echo "gatehouse at $EP (data $work/data); tree of $ntree files"
for c in $CLIENTS; do
  b="ci-$c"
  started=$SECONDS
  echo "== $c: $(version "$c")"
  step "$c" "make bucket" s_mb "$c" "$b"
  step "$c" "cp 64MiB up (multipart)" s_put "$c" "$b"
  step "$c" "cp 64MiB down" s_get "$c" "$b"
  step "$c" "cmp 64MiB" s_cmp "$c"
  step "$c" "sync tree up" s_sync_up "$c" "$b"
  step "$c" "sync tree down" s_sync_down "$c" "$b"
  step "$c" "diff -r tree" s_diff "$c"
  step "$c" "recursive list count" s_count "$c" "$b"
  if [ "$c" != rclone ]; then
    step "$c" "presign + curl + cmp" s_presign "$c" "$b"
  fi
  if [ -n "$ADMIN" ] && [ "$c" != rclone ] && "$bin" replication --help >/dev/null 2>&1; then
    step "$c" "bucket replication via Put/Get/DeleteBucketReplication" s_replication "$c" "$b"
  fi
  if [ -n "$ADMIN" ]; then
    step "$c" "share via its fs-- alias" s_share "$c"
    step "$c" "copy in the share, every listed bucket name usable" s_share_names "$c"
  fi
  if [ "$c" != rclone ]; then
    step "$c" "versions: list, old one by id, delete marker" s_versions "$c"
    step "$c" "object lock: GOVERNANCE holds, bypass removes" s_lock "$c"
    step "$c" "bucket policy opens a prefix to unsigned curl; CORS preflight" s_policy "$c"
    step "$c" "bucket tags, GetObjectAttributes, expected owner, tag-filtered lifecycle" s_s3_extras "$c"
  fi
  if [ "$c" = rclone ]; then
    step "$c" "SigV2 (v2_auth, a Date in UTC): bucket, put, get, list, purge" s_rclone_v2
  fi
  if [ "$c" = boto3 ]; then
    step "$c" "presigned POST form upload (urllib3) read back" s_post "$c"
    step "$c" "SigV2 (signature_version s3): bucket and object requests" s_sigv2 "$c"
  fi
  if [ "$c" != rclone ] && "$bin" show-config 2>/dev/null | grep -q sse_c_over_http; then
    step "$c" "SSE-S3 per object and by default, SSE-C with a key file" s_sse "$c"
  fi
  if [ -n "$ADMIN" ] && [ "$c" != rclone ] && "$bin" key --help >/dev/null 2>&1; then
    step "$c" "SSE-KMS under a key made with the CLI; disabled, enabled, audited" s_kms "$c"
  fi
  if [ -n "$ADMIN" ] && "$bin" share snapshot --help >/dev/null 2>&1; then
    step "$c" "share snapshot read back through its alias" s_snapshot "$c"
  fi
  step "$c" "recursive remove" s_rm_recursive "$c" "$b"
  step "$c" "remove bucket" s_rb "$c" "$b"
  echo "== $c: $((SECONDS - started)) s"
done

for n in "${slow[@]}"; do echo "note slow step (a client timed out and retried?): $n"; done
echo "$pass passed, $fail failed"
if [ "$fail" -ne 0 ]; then
  echo "== server log (tail)"
  tail -n 80 "$work/server.log" | sed 's/\x1b\[[0-9;]*m//g'
  exit 1
fi
