#!/usr/bin/env bash
# Measures the receiver against the HTTP ceiling, in one run: an embedded
# Kafka and schema registry (`dev --receiver=false --consumers=false`) in
# one process; then, one after the other under the same load from `bench`,
#   1. ceiling: a Fiber server that reads the body and answers
#      {"status":"accepted"} (internal/loadtest/ceiling; no verify, no Kafka),
#   2. hookbridge `serve` (Svix-signed Pique, or SOURCE),
#   3. Bento, when BENTO names a Bento binary: http_server → Svix HMAC and
#      timestamp check → dedupe → kafka_franz (idempotent, so acks=all),
# and prints each as a fraction of the ceiling and hookbridge against Bento.
# Usage: docs/bench-receiver.sh [connections...]   (default: 16 64 256)
# Env: DURATION (10s), SOURCE (pique | product-agents | both: Pique and
# Product Agents in each round, at the same body size), BODY_SIZE (600
# bytes; bodies smaller than that are padded), RUNS (1) rounds of
# the three, BENTO (path to a bento binary; skipped when unset),
# PPROF=1 to save a CPU profile of the receiver per step, PIN=1 to run the
# server being measured on the last core alone and the load generator and
# the embedded Kafka on the others (taskset), so neither takes the measured
# server's CPU. Each round also prints each server's CPU time per answered
# request (from /proc).
set -euo pipefail
conns=("${@:-16 64 256}"); read -r -a conns <<<"${conns[*]}"
duration=${DURATION:-10s}; source=${SOURCE:-pique}; runs=${RUNS:-1}; body_size=${BODY_SIZE:-600}
sources=$source; [ "$source" = both ] && source=pique sources="pique product-agents"
bento=${BENTO:+$(realpath "$BENTO")}
on_server=() on_load=()
if [ "${PIN:-}" = 1 ]; then
  last=$(( $(nproc) - 1 )); [ "$last" -ge 1 ] || { echo "PIN=1 needs two cores at least" >&2; exit 1; }
  on_server=(taskset -c "$last") on_load=(taskset -c "0-$(( last - 1 ))")
fi
work=$(mktemp -d); bin=$work/hookbridge
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$bin" ./cmd/hookbridge
go build -o "$work/ceiling" ./internal/loadtest/ceiling
cd "$work"
"${on_load[@]}" "$bin" dev --receiver=false --consumers=false --data-dir data \
  --kafka-listen 127.0.0.1:0 --registry-listen 127.0.0.1:0 >dev.out 2>dev.err &
dev_pid=$!
for _ in $(seq 100); do grep -q "schema registry" dev.out 2>/dev/null && break; sleep 0.1; done
export HOOKBRIDGE_KAFKA_BROKERS=$(awk '/^  kafka /{print $2}' dev.out)
export HOOKBRIDGE_SCHEMA_REGISTRY_URL=$(awk '/schema registry/{print $3}' dev.out)
export HOOKBRIDGE_PIQUE_SECRETS=$(sed -n 's/.*"pique_secret": "\(.*\)".*/\1/p' data/dev-secrets.json)
export HOOKBRIDGE_PRODUCT_AGENTS_TOKEN=$(sed -n 's/.*"product_agents_token": "\(.*\)".*/\1/p' data/dev-secrets.json)
export HOOKBRIDGE_SPOOL_DIR=$work/spool HOOKBRIDGE_LOG_LEVEL=warn HOOKBRIDGE_PPROF_LISTEN=127.0.0.1:18490
ceiling_addr=127.0.0.1:18479 serve_addr=127.0.0.1:18480 bento_addr=127.0.0.1:18481

wait_up() { for _ in $(seq 200); do curl -s -o /dev/null "$1" && return; sleep 0.1; done; echo "$1 did not come up" >&2; exit 1; }

# ticks is a process's CPU time so far (user + system, 1/100 s).
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# bench_one NAME ADDR VERIFY [PID]: one load step; prints the bench line and
# leaves req/s and p99 (µs) in $rps and $p99, and, given the server's PID,
# its CPU µs per answered request in $cpu.
bench_one() {
  local t0; t0=$(ticks "${4:-self}")
  "${on_load[@]}" "$bin" bench --url "http://$2" --source "$source" --connections "$c" --duration "$duration" --body-size "$body_size" \
    --data-dir data --verify="$3" >bench.out 2>bench.err &
  local bench_pid=$!
  if [ "${PPROF:-}" = 1 ] && [ "$1" = hookbridge ]; then
    for _ in $(seq 600); do grep -q "^sending" bench.out 2>/dev/null && break; sleep 0.1; done
    sleep 1; curl -s -o "$OLDPWD/cpu-$c.prof" "http://127.0.0.1:18490/debug/pprof/profile?seconds=5"
  fi
  wait $bench_pid || { cat bench.out bench.err >&2; exit 1; }
  cpu=$(awk -v t="$(( $(ticks "${4:-self}") - t0 ))" -v n="$(sed -n 's/^sent [0-9]*, acknowledged \([0-9]*\).*/\1/p' bench.out)" 'BEGIN{printf "%.0f", t*1e4/n}')
  rps=$(sed -n 's/.*: \([0-9]*\) req\/s.*/\1/p' bench.out)
  p99=$(sed -n 's/.* p99 \([^ ]*\) max.*/\1/p' bench.out)
  printf '  %-10s %s\n' "$1" "$(grep -E '^(sent|verified|note)' bench.out | tr '\n' ' ')"
}

# ms turns Go's duration text (1.5ms, 900µs, 1.2s) into milliseconds.
ms() { awk -v d="$1" 'BEGIN{ if (d ~ /µs$/) print d/1000; else if (d ~ /ms$/) print d+0; else print d*1000 }'; }

echo "machine: $(nproc) cores${on_server:+, servers on core $last alone}, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); go $(go env GOVERSION); load $(cut -d' ' -f1-3 /proc/loadavg)"
"${on_server[@]}" "$work/ceiling" -listen $ceiling_addr >ceiling.out 2>&1 &
ceiling_pid=$!
wait_up "http://$ceiling_addr/"
HOOKBRIDGE_LISTEN=$serve_addr "${on_server[@]}" "$bin" serve >serve.out 2>serve.err &
serve_pid=$!
wait_up "http://$serve_addr/readyz"
if [ -n "$bento" ]; then
  HOOKBRIDGE_TOPIC_PREFIX=bento. "$bin" topics apply >/dev/null
  key=${HOOKBRIDGE_PIQUE_SECRETS%%,*}
  cat >bento.yaml <<EOF
http: { enabled: false }
logger: { level: WARN }
input:
  http_server: { address: $bento_addr, path: /webhooks/pique, allowed_verbs: [POST] }
pipeline:
  threads: -1
  processors:
    - mapping: |
        let ts = metadata("Svix-Timestamp").int64()
        let want = "v1," + "%s.%d.%s".format(metadata("Svix-Id"), \$ts, content().string()).hash("hmac_sha256", "${key#whsec_}".decode("base64")).encode("base64")
        root = if (now().ts_unix() - \$ts).abs() > 300 || !metadata("Svix-Signature").split(" ").contains(\$want) { throw("unauthorized") } else { content() }
    - dedupe: { cache: seen, key: '\${! metadata("Svix-Id") }' }
output:
  reject_errored:
    kafka_franz:
      seed_brokers: [ $HOOKBRIDGE_KAFKA_BROKERS ]
      topic: bento.pique.decisions.v1
      key: '\${! metadata("Svix-Id") }'
      idempotent_write: true
      compression: snappy
      max_in_flight: 256
cache_resources:
  - label: seen
    memory: { default_ttl: 5m }
EOF
  "${on_server[@]}" "$bento" -c bento.yaml >bento.out 2>&1 &
  bento_pid=$!
  wait_up "http://$bento_addr/webhooks/pique"
fi
for c in "${conns[@]}"; do
  for run in $(seq "$runs"); do
    echo "== $c connections, $duration, $sources, $body_size-byte bodies at least, round $run of $runs"
    bench_one ceiling $ceiling_addr false $ceiling_pid; c_rps=$rps c_p99=$p99 c_cpu=$cpu
    bench_one hookbridge $serve_addr true $serve_pid; h_rps=$rps h_p99=$p99 h_cpu=$cpu
    line="hookbridge $h_rps req/s = $(awk -v a="$h_rps" -v b="$c_rps" 'BEGIN{printf "%.2f", a/b}')× ceiling ($c_rps req/s); p99 $h_p99 vs $c_p99; server CPU per request ${h_cpu} µs vs ${c_cpu} µs"
    if [ -n "$bento" ] && [ "$source" = pique ]; then
      bench_one bento $bento_addr false $bento_pid
      line="$line; bento $rps req/s = $(awk -v a="$rps" -v b="$c_rps" 'BEGIN{printf "%.2f", a/b}')× ceiling, hookbridge/bento $(awk -v a="$h_rps" -v b="$rps" 'BEGIN{printf "%.2f", a/b}')×, p99 $h_p99 vs bento $p99 ($(awk -v a="$(ms "$h_p99")" -v b="$(ms "$p99")" 'BEGIN{printf "%.2f", a/b}')×), bento CPU per request ${cpu} µs"
    fi
    if [ "$sources" != "$source" ]; then
      source=product-agents; bench_one hookbridge-pa $serve_addr true $serve_pid; source=pique
      line="$line; product-agents $rps req/s = $(awk -v a="$rps" -v b="$h_rps" 'BEGIN{printf "%.2f", a/b}')× pique, p99 $p99, server CPU per request ${cpu} µs"
    fi
    echo "  => $line"
  done
  echo "  receiver RSS after step: $(( $(awk '/VmRSS/{print $2}' /proc/$serve_pid/status) / 1024 )) MiB, peak $(( $(awk '/VmHWM/{print $2}' /proc/$serve_pid/status) / 1024 )) MiB${bento:+; bento peak $(( $(awk '/VmHWM/{print $2}' /proc/${bento_pid:-self}/status) / 1024 )) MiB}"
  echo "  CPU ticks so far (1/100 s): receiver $(awk '{print $14+$15}' /proc/$serve_pid/stat), embedded kafka+registry $(awk '{print $14+$15}' /proc/$dev_pid/stat)"
done
