#!/usr/bin/env bash
# The data teams' tier: installs what the example consumers (Python, Node,
# Java) and the warehouse readers (DuckDB, PySpark) need, by name from PyPI,
# npm and Maven Central, and runs them against `hookbridge dev`
# (go test -tags datakit ./examples/). Under CI=true a missing tool fails the
# tier instead of skipping it. Java 17+, Node 18+ and python3 come from the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

venv() {
	[ -x "$1/.venv/bin/python" ] || python3 -m venv "$1/.venv"
	"$1/.venv/bin/pip" install -q --disable-pip-version-check -r "$1/requirements.txt"
}
venv examples/python
venv examples/warehouse
(cd examples/node && npm ci --no-audit --no-fund --loglevel=error)
mvn -q -B -Dstyle.color=never -f examples/java/pom.xml package
go test -tags datakit -count=1 ./examples/
