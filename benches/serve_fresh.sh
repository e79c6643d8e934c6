# Sourced by the bench scripts: `serve_fresh BIN DIR PORT` starts BIN on a fresh data directory
# DIR/d (S3 on PORT, admin on PORT+1, no NFS, 1 TiB limit, warnings only), waits until it
# answers and has written its admin credentials, and sets `pid`. EXTRA_YAML, if set, is appended
# to the configuration (e.g. a `storage:` block with smaller budgets).
serve_fresh() {
  local bin=$1 dir=$2 port=$3
  rm -rf "$dir/d" && mkdir -p "$dir/d"
  printf 's3:\n  max_size: 1Ti\nlog:\n  level: warn\n%s' "${EXTRA_YAML:-}" >"$dir/c.yaml"
  "$bin" serve --config "$dir/c.yaml" --data-dir "$dir/d" --s3-listen "127.0.0.1:$port" \
    --admin-listen "127.0.0.1:$((port + 1))" --nfs-listen off >"$dir/log" 2>&1 &
  pid=$!
  until (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.1; done
  until [ -s "$dir/d/admin.credentials" ]; do sleep 0.1; done
}
