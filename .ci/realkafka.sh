#!/usr/bin/env bash
# The real-engine tier: installs the Apache Kafka broker (jars from Maven
# Central through internal/kafkatest/pom.xml) and runs every TestReal* test
# (build tag realkafka) against three KRaft brokers on loopback. One package
# at a time (-p 1): each package starts its own cluster. Java 17+ and Maven
# come from the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-true}" # a missing install or a cluster that does not start fails here
start=$(date +%s)
mvn -B -q -f internal/kafkatest/pom.xml dependency:copy-dependencies
pkgs=$(grep -rl --include='*_test.go' '^//go:build realkafka' . | xargs -n1 dirname | sort -u)
go vet -tags realkafka $pkgs
go test -tags realkafka -p 1 -count=1 -timeout 15m -run '^TestReal' $pkgs
echo "realkafka tier: $(( $(date +%s) - start ))s"
