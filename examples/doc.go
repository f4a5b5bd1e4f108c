// Package examples holds the consumers data teams copy (python/, node/,
// java/) and, behind the datakit build tag, the tests that run each of them
// against `hookbridge dev` and compare what they print with what was posted:
//
//	go test -tags datakit ./examples/
//
// .ci/datakit.sh installs what they need and runs them.
package examples
