package kafkatest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
)

// jvmFlags fit a 2-core machine running three brokers and the tests: a
// small heap, one GC thread, C1 only (a broker is up in seconds and the
// tests are short).
var jvmFlags = []string{
	"-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
	"-XX:-UsePerfData", "-Xss512k", "-XX:MaxDirectMemorySize=256m", "-Djava.awt.headless=true",
}

// props are every node's server properties; quorum and listeners are added
// per node. Internal topics are replicated to every node with min ISR 2,
// as in production, but with few partitions so they are created fast.
func (c *Cluster) props(n *Node, extra map[string]string) map[string]string {
	rf := fmt.Sprint(min(len(c.nodes), 3))
	isr := fmt.Sprint(min(len(c.nodes), 2))
	p := map[string]string{
		"process.roles":                                    "broker,controller",
		"node.id":                                          fmt.Sprint(n.ID),
		"controller.quorum.voters":                         c.voters,
		"controller.listener.names":                        "CONTROLLER",
		"listeners":                                        "PLAINTEXT://" + n.Addr + ",CONTROLLER://" + n.controller,
		"advertised.listeners":                             "PLAINTEXT://" + n.Addr,
		"inter.broker.listener.name":                       "PLAINTEXT",
		"listener.security.protocol.map":                   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs":                                         filepath.Join(n.dir, "data"),
		"offsets.topic.replication.factor":                 rf,
		"offsets.topic.num.partitions":                     "3",
		"transaction.state.log.replication.factor":         rf,
		"transaction.state.log.min.isr":                    isr,
		"transaction.state.log.num.partitions":             "3",
		"share.coordinator.state.topic.replication.factor": rf,
		"share.coordinator.state.topic.min.isr":            isr,
		"default.replication.factor":                       rf,
		"group.initial.rebalance.delay.ms":                 "0",
		"auto.create.topics.enable":                        "false",
		"num.network.threads":                              "2",
		"num.io.threads":                                   "2",
		"num.replica.fetchers":                             "1",
		"background.threads":                               "2",
		"log.cleaner.threads":                              "1",
		"log.cleaner.dedupe.buffer.size":                   "8388608",
		// A dead broker is fenced, and its partitions led elsewhere, within
		// a few seconds rather than the default nine.
		"broker.session.timeout.ms":    "4000",
		"broker.heartbeat.interval.ms": "500",
		// Short enough that a test sees a hung member's group session end.
		"group.consumer.session.timeout.ms":                           "10000",
		"group.consumer.min.session.timeout.ms":                       "3000",
		"group.min.session.timeout.ms":                                "3000",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "5000",
	}
	maps.Copy(p, extra)
	return p
}

func (c *Cluster) writeProps(n *Node, extra map[string]string) (string, error) {
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return "", err
	}
	p := c.props(n, extra)
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(p)) {
		fmt.Fprintf(&b, "%s=%s\n", k, p[k])
	}
	path := filepath.Join(n.dir, "server.properties")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// format writes the node's properties and formats its log dir with the
// cluster id (kafka-storage format).
func (c *Cluster) format(ctx context.Context, n *Node, clusterID string, o Options) error {
	path, err := c.writeProps(n, o.Props)
	if err != nil {
		return err
	}
	cmd := c.javaCmd(n, "kafka.tools.StorageTool", "format", "--cluster-id="+clusterID, "--config="+path)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kafkatest: formatting node %d: %v\n%s", n.ID, err, out)
	}
	return nil
}

func (c *Cluster) javaCmd(n *Node, main string, args ...string) *exec.Cmd {
	_, file, _, _ := runtime.Caller(0)
	log4j := filepath.Join(filepath.Dir(file), "log4j2.xml")
	all := append(append([]string{}, jvmFlags...),
		"-Dkafka.logs.dir="+n.dir, "-Dlog4j2.configurationFile="+log4j,
		"-cp", filepath.Join(c.lib, "*"), main)
	return exec.Command(c.java, append(all, args...)...)
}

// launch starts kafka.Kafka for n in its own process group; the kernel
// kills it if the test process dies, so no JVM outlives a test run.
func (c *Cluster) launch(n *Node) error {
	cmd := c.javaCmd(n, "kafka.Kafka", filepath.Join(n.dir, "server.properties"))
	out, err := os.OpenFile(filepath.Join(n.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Pdeathsig fires when the thread that forked the child ends, so fork
	// from a locked thread that waits for the child.
	errc, exited := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		errc <- err
		if err == nil {
			_ = cmd.Wait()
		}
		out.Close()
		close(exited)
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("kafkatest: starting node %d: %w", n.ID, err)
	}
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	return nil
}
