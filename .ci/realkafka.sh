#!/usr/bin/env bash
# The real-engine tier: installs the Apache Kafka broker (jars from Maven
# Central through internal/kafkatest/pom.xml) and SeaweedFS (its weed binary
# built from the Go module into .tools/), then runs every TestReal* test
# (build tag realkafka) against three KRaft brokers and an S3 server on
# loopback. One package at a time (-p 1): each starts its own cluster.
# Java 17+ and Maven come from the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-true}" # a missing install or a cluster that does not start fails here
start=$(date +%s)
mvn -B -q -Dstyle.color=never -f internal/kafkatest/pom.xml dependency:copy-dependencies

# SeaweedFS cannot be `go install`ed (its go.mod has replace directives):
# build it as the main module in its module cache directory.
seaweedfs=github.com/seaweedfs/seaweedfs@v0.0.0-20261109003541-7506e5f91cd6
if [ ! -x .tools/weed ]; then
	mkdir -p .tools
	dir=$(cd /tmp && go mod download -json "$seaweedfs" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	out="$PWD/.tools/weed"
	(cd "$dir" && go build -o "$out" ./weed)
	echo "built SeaweedFS in $(( $(date +%s) - start ))s"
fi

pkgs=$(grep -rl --include='*_test.go' '^//go:build realkafka' . | xargs -n1 dirname | sort -u)
go vet -tags realkafka $pkgs
go test -tags realkafka -p 1 -count=1 -timeout 15m -run '^TestReal' $pkgs
echo "realkafka tier: $(( $(date +%s) - start ))s"
