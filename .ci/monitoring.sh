#!/usr/bin/env bash
# CI: the deployment and monitoring files, offline.
# deploy/check (a module of its own, so its Kubernetes and Compose libraries
# stay out of hookbridge's go.mod) renders deploy/kubernetes with kustomize,
# decodes every object strictly into its API type, checks names that point
# at nothing, loads docker-compose.yml with the Compose spec's loader and the
# shipped hookbridge config files with hookbridge's own loader.
#
# Then the monitoring files in deploy/monitoring against a real Prometheus
# (Debian's package: the server and promtool): the rules parse, their unit
# tests pass, and on a live `dev` two alerts fire (TestMonitoringOnDev, which
# also checks that every metric the rules and dashboard use is exported and
# every exported metric is in the README).
set -euo pipefail
cd "$(dirname "$0")/.."
# -mod=mod: deploy/check requires hookbridge through a replace, so a change to
# hookbridge's own requirements must not need a second go.mod edit here.
(cd deploy/check && go run -mod=mod . ../..)
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
prometheus --version 2>&1 | head -1
promtool check rules deploy/monitoring/alerts.yaml
promtool test rules deploy/monitoring/alerts_test.yaml
python3 -m json.tool deploy/monitoring/dashboard.json >/dev/null && echo "dashboard.json: valid JSON"
HOOKBRIDGE_TEST_PROMETHEUS="$(command -v prometheus)" go test -count=1 -run '^TestMonitoringOnDev$' ./cmd/hookbridge/
