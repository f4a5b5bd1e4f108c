//go:build datakit

package examples

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// javaClasspath is the example's classpath once Maven built it
// (.ci/datakit.sh runs mvn package).
func javaClasspath(t *testing.T) string {
	t.Helper()
	cp := need(t, filepath.Join("java", "target", "classpath.txt"), "mvn -q -f examples/java/pom.xml package")
	deps, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	return "target/classes" + string(os.PathListSeparator) + strings.TrimSpace(string(deps))
}

func TestJavaConsumerPrintsWhatWasPosted(t *testing.T) {
	cp := javaClasspath(t)
	java, err := exec.LookPath("java")
	if err != nil {
		need(t, "java", "install Java 17 or later")
	}
	d := startDev(t)
	postWebhooks(t, d)
	want := expected(t, d)
	printed := inTwoRuns(t, "java", 2, func(max int) []byte {
		return run(t, 90*time.Second, "java", cleanEnv(), java, "-cp", cp, "io.hookbridge.example.Consumer", "--bootstrap", d.Kafka,
			"--registry", d.Registry, "--topic", decisionsDeduped+","+messagesDeduped, "--group", "datakit-java", "--max", fmt.Sprint(max))
	})
	checkPrinted(t, "java", printed, want)
}
