#!/usr/bin/env bash
# Measures the receiver alone: an embedded Kafka and schema registry
# (`dev --receiver=false --consumers=false`) in one process, `serve` in
# another, and `bench` as the load generator, all on loopback.
# Usage: docs/bench-receiver.sh [connections...]   (default: 16 64 256)
# Env: DURATION (10s), SOURCE (pique), PPROF=1 to save a CPU profile per run.
set -euo pipefail
conns=("${@:-16 64 256}"); read -r -a conns <<<"${conns[*]}"
duration=${DURATION:-10s}; source=${SOURCE:-pique}
work=$(mktemp -d); bin=$work/hookbridge
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$bin" ./cmd/hookbridge
cd "$work"
"$bin" dev --receiver=false --consumers=false --data-dir data \
  --kafka-listen 127.0.0.1:0 --registry-listen 127.0.0.1:0 >dev.out 2>dev.err &
dev_pid=$!
for _ in $(seq 100); do grep -q "schema registry" dev.out 2>/dev/null && break; sleep 0.1; done
export HOOKBRIDGE_KAFKA_BROKERS=$(awk '/^  kafka /{print $2}' dev.out)
export HOOKBRIDGE_SCHEMA_REGISTRY_URL=$(awk '/schema registry/{print $3}' dev.out)
export HOOKBRIDGE_PIQUE_SECRETS=$(sed -n 's/.*"pique_secret": "\(.*\)".*/\1/p' data/dev-secrets.json)
export HOOKBRIDGE_PRODUCT_AGENTS_TOKEN=$(sed -n 's/.*"product_agents_token": "\(.*\)".*/\1/p' data/dev-secrets.json)
export HOOKBRIDGE_LISTEN=127.0.0.1:18480 HOOKBRIDGE_SPOOL_DIR=$work/spool HOOKBRIDGE_LOG_LEVEL=warn HOOKBRIDGE_PPROF_LISTEN=127.0.0.1:18490
"$bin" serve >serve.out 2>serve.err &
serve_pid=$!
for _ in $(seq 100); do curl -sf http://$HOOKBRIDGE_LISTEN/readyz >/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); go $(go env GOVERSION)"
for c in "${conns[@]}"; do
  echo "== $c connections, $duration, $source"
  "$bin" bench --url "http://$HOOKBRIDGE_LISTEN" --source "$source" --connections "$c" --duration "$duration" --data-dir data | tee bench.out &
  bench_pid=$!
  if [ "${PPROF:-}" = 1 ]; then
    for _ in $(seq 600); do grep -q "^sending" bench.out 2>/dev/null && break; sleep 0.1; done
    sleep 1; curl -s -o "$OLDPWD/cpu-$c.prof" "http://127.0.0.1:18490/debug/pprof/profile?seconds=5"
  fi
  wait $bench_pid
  echo "CPU ticks so far (1/100 s): receiver $(awk '{print $14+$15}' /proc/$serve_pid/stat), embedded kafka+registry $(awk '{print $14+$15}' /proc/$dev_pid/stat)"
  echo "receiver RSS after run: $(( $(awk '/VmRSS/{print $2}' /proc/$serve_pid/status) / 1024 )) MiB, peak $(( $(awk '/VmHWM/{print $2}' /proc/$serve_pid/status) / 1024 )) MiB"
done
