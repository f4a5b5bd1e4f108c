// Package kafkatest runs a real Apache Kafka cluster for hookbridge's
// real-engine test tier (build tag realkafka): N combined KRaft nodes
// (broker and controller in one JVM) on loopback, with the faults a real
// cluster has: a node killed, a node hung, a node restarted on its data.
//
// The broker's jars come from Maven Central through the pom.xml beside this
// file (see Install). Only tests import this package.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Install is the one command that installs the broker for this tier.
const Install = "mvn -q -f internal/kafkatest/pom.xml dependency:copy-dependencies"

// Options says how to start a cluster; zero values take defaults.
type Options struct {
	Nodes int    // default 3
	Dir   string // where node directories go; "" = a new temp dir, removed by Stop
	// Props are extra server properties for every node (override ours).
	Props map[string]string
}

// Cluster is a running set of KRaft nodes.
type Cluster struct {
	dir     string
	ownDir  bool
	lib     string
	java    string
	nodes   []*Node
	voters  string
	stopped bool
	mu      sync.Mutex
}

// Node is one combined broker+controller.
type Node struct {
	ID         int32
	Addr       string // the broker listener, host:port
	controller string
	dir        string
	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{}
}

// Installed reports whether the broker's jars are where Install puts them,
// and the folder they are in.
func Installed() (string, bool) {
	lib := os.Getenv("HOOKBRIDGE_KAFKA_LIB")
	if lib == "" {
		_, file, _, _ := runtime.Caller(0)
		lib = filepath.Join(filepath.Dir(file), "lib")
	}
	jars, _ := filepath.Glob(filepath.Join(lib, "kafka_2.13-*.jar"))
	return lib, len(jars) > 0
}

// Start formats and starts a cluster and waits until every broker is
// registered with an elected controller. On error nothing is left running.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	lib, ok := Installed()
	if !ok {
		return nil, fmt.Errorf("kafkatest: the Kafka broker is not installed in %s; install it with: %s", lib, Install)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("kafkatest: no java on PATH (Kafka 4 needs Java 17 or later): %w", err)
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	c := &Cluster{dir: o.Dir, lib: lib, java: java}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "kafkatest-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.Logs(nil, 60))
			c.Stop()
		}
	}()
	var voters []string
	// All ports in one call: its listeners are held until every port is
	// picked, so no two nodes get the same one (a port closed by an earlier
	// call may be handed out again).
	ports, err := freePorts(2 * o.Nodes)
	if err != nil {
		return nil, err
	}
	for i := range o.Nodes {
		n := &Node{ID: int32(i + 1), Addr: ports[2*i], controller: ports[2*i+1], dir: filepath.Join(c.dir, fmt.Sprintf("node%d", i+1))}
		c.nodes = append(c.nodes, n)
		voters = append(voters, fmt.Sprintf("%d@%s", n.ID, n.controller))
	}
	c.voters = strings.Join(voters, ",")
	id, err := clusterID()
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() { errs[i] = c.format(ctx, n, id, o) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, n := range c.nodes {
		if err := c.launch(n); err != nil {
			return nil, err
		}
	}
	return c, c.WaitHealthy(ctx)
}

// clusterID is a random Kafka Uuid in its text form (URL-safe base64);
// like Kafka's own, never one starting with '-', which tools would take
// for a flag.
func clusterID() (string, error) {
	for {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		if id := base64.RawURLEncoding.EncodeToString(b); id[0] != '-' {
			return id, nil
		}
	}
}

// freePorts returns n distinct free loopback addresses.
func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("kafkatest: finding a free port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// Bootstrap lists every node's broker address.
func (c *Cluster) Bootstrap() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.Addr)
	}
	return out
}

// Nodes returns the cluster's nodes.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the node with broker id id.
func (c *Cluster) Node(id int32) *Node {
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	panic(fmt.Sprintf("kafkatest: no node %d", id))
}

// Stop kills every node and removes the cluster's directory if Start made
// it. It is safe to call more than once.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.stopped = true
	for _, n := range c.nodes {
		n.kill()
	}
	if c.ownDir {
		os.RemoveAll(c.dir)
	}
}

// Kill ends node id with SIGKILL, as a crash or a power cut does, and
// waits until it is gone.
func (c *Cluster) Kill(id int32) { c.Node(id).kill() }

// Pause stops node id with SIGSTOP: a hung broker that keeps its sockets
// open but answers nothing.
func (c *Cluster) Pause(id int32) error { return c.Node(id).signal(syscall.SIGSTOP) }

// Resume continues a paused node with SIGCONT.
func (c *Cluster) Resume(id int32) error { return c.Node(id).signal(syscall.SIGCONT) }

// Restart kills node id if it runs, starts it again on the same data
// directory and waits until the cluster is whole again.
func (c *Cluster) Restart(ctx context.Context, id int32) error {
	n := c.Node(id)
	n.kill()
	if err := c.launch(n); err != nil {
		return err
	}
	return c.WaitHealthy(ctx)
}

// Heal resumes paused nodes, restarts dead ones and waits until the
// cluster is whole.
func (c *Cluster) Heal(ctx context.Context) error {
	for _, n := range c.nodes {
		if n.Running() {
			_ = n.signal(syscall.SIGCONT)
			continue
		}
		if err := c.launch(n); err != nil {
			return err
		}
	}
	return c.WaitHealthy(ctx)
}

// Running reports whether node id's process is alive (paused counts).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("kafkatest: node %d is not running", n.ID)
	}
	return syscall.Kill(-n.cmd.Process.Pid, sig)
}

func (n *Node) kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	// The whole process group, so nothing the JVM started survives.
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	<-n.exited
	n.cmd = nil
}

// WaitHealthy waits until every running node answers metadata listing
// every running broker. Brokers appear in metadata only once the active
// controller has registered and unfenced them, so this also means a
// controller is elected.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var running []*Node
	for _, n := range c.nodes {
		if n.Running() {
			running = append(running, n)
		}
	}
	var last error
	relaunches := 0
	for {
		last = nil
		for _, n := range running {
			if err := seesAll(ctx, n, running); err != nil {
				last = err
				break
			}
		}
		if last == nil {
			return nil
		}
		for _, n := range running {
			if n.Running() {
				continue
			}
			// Its port may have been taken while it was down (an outgoing
			// connection's ephemeral port): try again, a few times.
			if relaunches >= 3 || !strings.Contains(c.Logs(nil, 40), "Address already in use") {
				return fmt.Errorf("kafkatest: node %d exited while starting: %v", n.ID, last)
			}
			relaunches++
			time.Sleep(time.Second) // give the port's borrower time to let go
			if err := c.launch(n); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkatest: cluster not healthy: %v", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func seesAll(ctx context.Context, n *Node, want []*Node) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(rctx)
	if err != nil {
		return fmt.Errorf("node %d: %w", n.ID, err)
	}
	if md.Controller < 0 {
		return fmt.Errorf("node %d: no controller", n.ID)
	}
	seen := map[int32]bool{}
	for _, b := range md.Brokers {
		seen[b.NodeID] = true
	}
	for _, w := range want {
		if !seen[w.ID] {
			return fmt.Errorf("node %d does not list broker %d yet", n.ID, w.ID)
		}
	}
	return nil
}

// Client returns a franz-go client for the cluster; the caller closes it.
func (c *Cluster) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Bootstrap()...)}, opts...)...)
}

// LeaderOf returns the broker leading topic's partition.
func (c *Cluster) LeaderOf(ctx context.Context, topic string, partition int32) (int32, error) {
	cl, err := c.Client()
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	tds, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return -1, err
	}
	p, ok := tds[topic].Partitions[partition]
	if !ok || tds[topic].Err != nil {
		return -1, fmt.Errorf("kafkatest: no partition %s/%d: %v", topic, partition, tds[topic].Err)
	}
	if p.Err != nil || p.Leader < 0 {
		return -1, fmt.Errorf("kafkatest: %s/%d has no leader: %v", topic, partition, p.Err)
	}
	return p.Leader, nil
}

// CoordinatorKind says what CoordinatorOf looks up.
type CoordinatorKind int

const (
	Group       CoordinatorKind = iota // a consumer group id
	Transaction                        // a transactional id
)

// CoordinatorOf returns the broker coordinating a group or transactional
// id. The first look-up creates the coordinators' internal topic, so it
// retries until ctx ends.
func (c *Cluster) CoordinatorOf(ctx context.Context, kind CoordinatorKind, id string) (int32, error) {
	cl, err := c.Client()
	if err != nil {
		return -1, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		var resp kadm.FindCoordinatorResponses
		if kind == Group {
			resp = adm.FindGroupCoordinators(ctx, id)
		} else {
			resp = adm.FindTxnCoordinators(ctx, id)
		}
		r, ok := resp[id]
		switch {
		case ok && r.Err == nil:
			return r.NodeID, nil
		case ok && !kerr.IsRetriable(r.Err):
			return -1, fmt.Errorf("kafkatest: finding the coordinator of %q: %w", id, r.Err)
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("kafkatest: finding the coordinator of %q: %w (last: %v)", id, ctx.Err(), r.Err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// GroupProtocol returns the protocol a group with members runs under
// (ConsumerProtocol or ClassicProtocol), as its coordinator reports it, or
// "" while it has no members.
func (c *Cluster) GroupProtocol(ctx context.Context, group string) (string, error) {
	cl, err := c.Client()
	if err != nil {
		return "", err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if dcg, err := adm.DescribeConsumerGroups(ctx, group); err == nil {
		if g, ok := dcg[group]; ok && g.Err == nil && len(g.Members) > 0 {
			return ConsumerProtocol, nil
		}
	}
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return "", err
	}
	if g, ok := dg[group]; ok && g.Err == nil && len(g.Members) > 0 {
		return ClassicProtocol, nil
	}
	return "", nil
}

// CPU returns the user+system CPU time every running node used so far.
func (c *Cluster) CPU() time.Duration {
	var total time.Duration
	for _, n := range c.nodes {
		n.mu.Lock()
		if n.cmd != nil && n.cmd.Process != nil {
			if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid)); err == nil {
				// Fields after the command's closing parenthesis: utime is
				// the 12th, stime the 13th, in clock ticks (1/100 s).
				f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
				if len(f) > 12 {
					var u, s int64
					fmt.Sscan(f[11], &u)
					fmt.Sscan(f[12], &s)
					total += time.Duration(u+s) * 10 * time.Millisecond
				}
			}
		}
		n.mu.Unlock()
	}
	return total
}
