#!/usr/bin/env bash
# CI: the monitoring files in deploy/monitoring against a real Prometheus
# (Debian's package: the server and promtool): the rules parse, their unit
# tests pass, and on a live `dev` two alerts fire (TestMonitoringOnDev, which
# also checks that every metric the rules and dashboard use is exported and
# every exported metric is in the README).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
prometheus --version 2>&1 | head -1
promtool check rules deploy/monitoring/alerts.yaml
promtool test rules deploy/monitoring/alerts_test.yaml
python3 -m json.tool deploy/monitoring/dashboard.json >/dev/null && echo "dashboard.json: valid JSON"
HOOKBRIDGE_TEST_PROMETHEUS="$(command -v prometheus)" go test -count=1 -run '^TestMonitoringOnDev$' ./cmd/hookbridge/
