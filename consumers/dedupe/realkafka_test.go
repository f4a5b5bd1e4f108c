//go:build realkafka

package dedupe

// Dedupe's exactly-once promise on a real three-broker cluster, with the
// real transaction and group coordinators: members are separate processes
// (this test binary run again) that the tests SIGKILL and SIGSTOP.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/consumers"
	"github.com/hookbridge/hookbridge/internal/config"
	"github.com/hookbridge/hookbridge/internal/connect"
	"github.com/hookbridge/hookbridge/internal/kafkatest"
	"github.com/hookbridge/hookbridge/internal/testkit"
	"github.com/hookbridge/hookbridge/internal/topics"
	"github.com/hookbridge/hookbridge/schemas"
)

var real = kafkatest.NewShared(kafkatest.Options{Nodes: 3})

func TestMain(m *testing.M) { os.Exit(real.Main(m)) }

const (
	memberEnv = "HOOKBRIDGE_TEST_DEDUPE_MEMBER" // the member's transactional id
	groupEnv  = "HOOKBRIDGE_TEST_DEDUPE_GROUP"
	// holdEnv makes the member stop in its first transaction, after its
	// records are flushed and before it ends: it prints "IN_TXN" and
	// waits for a line on stdin.
	holdEnv = "HOOKBRIDGE_TEST_DEDUPE_HOLD"
	// txnTimeoutEnv sets the member's transaction timeout: how long the
	// broker keeps the transaction of a dead member open.
	txnTimeoutEnv = "HOOKBRIDGE_TEST_DEDUPE_TXN_TIMEOUT"
	maxBatchEnv   = "HOOKBRIDGE_TEST_DEDUPE_MAX_BATCH" // default 500 in tests
)

// TestHelperDedupeMember is not a test: the tests below run the test
// binary again with it selected to get a dedupe member process, which runs
// dedupe.Run as `hookbridge consume dedupe` does, configured from the
// environment, until SIGTERM.
func TestHelperDedupeMember(t *testing.T) {
	if os.Getenv(memberEnv) == "" {
		t.Skip("a dedupe member process that the real-Kafka tests start")
	}
	if err := runMember(); err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		os.Exit(1)
	}
}

func runMember() error {
	cfg, err := config.Default(os.LookupEnv)
	if err != nil {
		return err
	}
	kopts, err := connect.KafkaOpts(cfg.Kafka)
	if err != nil {
		return err
	}
	tc := cfg.Topics
	c := Config{
		Group: os.Getenv(groupEnv), Topics: tc.Raw(), Output: tc.Deduped, Changelog: topics.DedupeChangelog,
		Window: 7 * 24 * time.Hour, MaxIDsPerPartition: 1_000_000, TransactionalID: os.Getenv(memberEnv),
		TransactionTimeout: 10 * time.Second, MaxBatch: 500,
	}
	if n, err := strconv.Atoi(os.Getenv(maxBatchEnv)); err == nil {
		c.MaxBatch = n
	}
	if d, err := time.ParseDuration(os.Getenv(txnTimeoutEnv)); err == nil {
		c.TransactionTimeout = d
	}
	if os.Getenv(holdEnv) != "" {
		var once sync.Once
		c.beforeEnd = func() error {
			once.Do(func() {
				fmt.Println("IN_TXN")
				_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
			})
			return nil
		}
	}
	if os.Getenv("HOOKBRIDGE_TEST_KGO_LOG") != "" {
		kopts = append(kopts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	return Run(ctx, consumers.Options{
		// A hung member's session ends after 6s, so a test sees its
		// partitions reassigned quickly.
		Kafka:     append(kopts, kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond)),
		StartFrom: "committed", DeadLetterTopic: tc.DeadLetter(), GroupProtocol: cfg.Consumers.GroupProtocol,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}, c)
}

// member is one dedupe process.
type member struct {
	id    string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	logs  *testkit.LogBuffer
	inTxn chan struct{} // closed when a holding member printed IN_TXN
	done  chan error
}

func startMember(t *testing.T, env *testkit.Env, proto, group, txnID string, hold bool, extraEnv ...string) *member {
	t.Helper()
	m := &member{id: txnID, logs: testkit.NewLogBuffer(t), inTxn: make(chan struct{}), done: make(chan error, 1)}
	m.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperDedupeMember$", "-test.count=1")
	m.cmd.Env = append(os.Environ(), memberEnv+"="+txnID, groupEnv+"="+group,
		"HOOKBRIDGE_KAFKA_BROKERS="+strings.Join(env.Config.Kafka.Brokers, ","),
		"HOOKBRIDGE_TOPIC_PREFIX="+env.Config.Topics.Prefix)
	m.cmd.Env = append(m.cmd.Env, extraEnv...)
	if hold {
		m.cmd.Env = append(m.cmd.Env, holdEnv+"=1")
	}
	m.cmd.Env = append(m.cmd.Env, "HOOKBRIDGE_CONSUMER_GROUP_PROTOCOL="+proto)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if m.stdin, err = m.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	m.cmd.Stderr = m.logs
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "IN_TXN" {
				close(m.inTxn)
			}
			fmt.Fprintln(m.logs, sc.Text())
		}
		m.done <- m.cmd.Wait()
	}()
	t.Cleanup(func() { m.kill() })
	return m
}

func (m *member) kill() { _ = m.cmd.Process.Signal(syscall.SIGKILL) }

// waitInTxn waits until a holding member sits inside a transaction.
func (m *member) waitInTxn(t *testing.T) {
	t.Helper()
	select {
	case <-m.inTxn:
	case err := <-m.done:
		t.Fatalf("member %s exited before a transaction: %v", m.id, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("member %s never reached the end of a transaction", m.id)
	}
}

// release lets a holding member end its transaction.
func (m *member) release() { _, _ = io.WriteString(m.stdin, "go\n") }

// exited reports whether the member's process ended by itself, and how.
func (m *member) exited() (error, bool) {
	select {
	case err := <-m.done:
		m.done <- err
		return err, true
	default:
		return nil, false
	}
}

// stop ends the member with SIGTERM (a graceful shutdown) and returns how
// it exited.
func (m *member) stop(t *testing.T) error {
	t.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		return err
	case <-time.After(45 * time.Second):
		t.Fatalf("member %s did not stop within 45s of SIGTERM", m.id)
		return nil
	}
}

// firstInTxn waits until one of the holding members sits inside a
// transaction and returns it (which member gets partitions is the group's
// choice, and under KIP-848 the broker's).
func firstInTxn(t *testing.T, ms ...*member) *member {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		for _, m := range ms {
			select {
			case <-m.inTxn:
				return m
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatal("no member reached the end of a transaction within 60s")
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
}

// restartExited restarts, on the same transactional id, members whose
// transaction could not end and which exited asking to be restarted, as
// their pods' restarts would.
func restartExited(t *testing.T, env *testkit.Env, proto, group string, ms []*member) []*member {
	t.Helper()
	out := slices.Clone(ms)
	for i, m := range ms {
		if err, exited := m.exited(); exited {
			t.Logf("member %s exited (%v); restarting it", m.id, err)
			out[i] = startMember(t, env, proto, group, m.id, false)
		}
	}
	return out
}

func waitProtocol(t *testing.T, c *kafkatest.Cluster, group, proto string) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, "the group runs under the "+proto+" protocol", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, _ := c.GroupProtocol(ctx, group)
		return got == proto
	})
}

// TestRealDedupeExactlyOnceThroughCrashes runs three dedupe members on a
// stream with duplicates; the first to be inside a transaction (its
// outputs flushed, not committed) is SIGKILLed, and another member joins.
// Every event id is in the deduped topics exactly once (read_committed),
// in input order, and a member started after all others stopped restores
// the seen ids from the changelog: duplicates posted then are dropped.
func TestRealDedupeExactlyOnceThroughCrashes(t *testing.T) {
	kafkatest.EachProtocol(t, testRealDedupeExactlyOnceThroughCrashes)
}

func testRealDedupeExactlyOnceThroughCrashes(t *testing.T, proto string) {
	c := real.Get(t)
	env := c.Env(t)
	group := env.Config.Topics.Prefix + "dedupe"
	g := realStream(11)
	// The member killed inside a transaction leaves it open for 20 s, and
	// with it the last stable offset of the changelog partitions it wrote:
	// the partitions it owned change hands twice in that time (to a
	// survivor, then to the member that joins), so a restore must not stop
	// at that offset.
	slow := txnTimeoutEnv + "=20s"
	ms := []*member{
		startMember(t, env, proto, group, group+"-a", true, slow),
		startMember(t, env, proto, group, group+"-b", true, slow),
		startMember(t, env, proto, group, group+"-c", true, slow),
	}
	env.Produce(t, g.batch(t, env, 300, 0.3)...)
	waitProtocol(t, c, group, proto)

	dead := firstInTxn(t, ms...)
	dead.kill()
	var live []*member
	for _, m := range ms {
		if m != dead {
			m.release()
			live = append(live, m)
		}
	}
	env.Produce(t, g.batch(t, env, 300, 0.3)...)
	live = append(live, startMember(t, env, proto, group, group+"-d", false))
	env.Produce(t, g.batch(t, env, 300, 0.3)...)
	waitCaughtUp(t, env, group)
	for _, m := range live {
		m.release()
		if err := m.stop(t); err != nil {
			t.Errorf("member %s: %v", m.id, err)
		}
	}

	// A fresh member owns every partition and knows the seen ids only from
	// the changelog: a stream of nothing but duplicates adds nothing.
	e := startMember(t, env, proto, group, group+"-e", false)
	env.Produce(t, g.batch(t, env, 300, 1.0)...)
	waitCaughtUp(t, env, group)
	if err := e.stop(t); err != nil {
		t.Errorf("member e: %v", err)
	}
	checkOutputs(t, env, g)
}

// TestRealDedupeTxnCoordinatorLoss SIGKILLs the broker coordinating a
// member's transactional id while the member is inside a transaction.
// Members whose transaction then cannot end exit and are restarted on
// their transactional id; every id must still be emitted exactly once.
func TestRealDedupeTxnCoordinatorLoss(t *testing.T) {
	kafkatest.EachProtocol(t, testRealDedupeTxnCoordinatorLoss)
}

func testRealDedupeTxnCoordinatorLoss(t *testing.T, proto string) {
	c := real.Get(t)
	env := c.Env(t)
	group := env.Config.Topics.Prefix + "dedupe"
	g := realStream(13)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ms := []*member{
		startMember(t, env, proto, group, group+"-a", true),
		startMember(t, env, proto, group, group+"-b", true),
	}
	env.Produce(t, g.batch(t, env, 300, 0.3)...)
	waitProtocol(t, c, group, proto)
	in := firstInTxn(t, ms...)
	coord, err := c.CoordinatorOf(ctx, kafkatest.Transaction, in.id)
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(coord)
	for _, m := range ms {
		m.release()
	}
	// Restart members that exit, as Kubernetes would, until the end.
	var mu sync.Mutex
	done := make(chan struct{})
	supervised := make(chan struct{})
	go func() {
		defer close(supervised)
		for {
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond): // polling interval
			}
			mu.Lock()
			ms = restartExited(t, env, proto, group, ms)
			mu.Unlock()
		}
	}()
	env.Produce(t, g.batch(t, env, 300, 0.3)...)
	waitCaughtUp(t, env, group)
	if err := c.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	env.Produce(t, g.batch(t, env, 200, 0.3)...)
	waitCaughtUp(t, env, group)
	close(done)
	<-supervised
	for _, m := range ms {
		if err := m.stop(t); err != nil {
			t.Errorf("member %s: %v", m.id, err)
		}
	}
	checkOutputs(t, env, g)
}

// TestRealDedupeZombieIsFenced hangs a member (SIGSTOP) inside a
// transaction until the group gave its partitions to another member and
// that member processed them, then wakes it (SIGCONT): the zombie must be
// fenced, and the deduped topics hold every id once, in input order.
func TestRealDedupeZombieIsFenced(t *testing.T) {
	kafkatest.EachProtocol(t, testRealDedupeZombieIsFenced)
}

func testRealDedupeZombieIsFenced(t *testing.T, proto string) {
	c := real.Get(t)
	env := c.Env(t)
	group := env.Config.Topics.Prefix + "dedupe"
	g := realStream(12)

	z := startMember(t, env, proto, group, group+"-zombie", true)
	env.Produce(t, g.batch(t, env, 400, 0.3)...)
	waitProtocol(t, c, group, proto)
	z.waitInTxn(t)
	if err := z.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	other := startMember(t, env, proto, group, group+"-other", false)
	env.Produce(t, g.batch(t, env, 200, 0.3)...)
	// The group can only commit every partition once the zombie's session
	// ended and other took its partitions over.
	waitCaughtUp(t, env, group)
	if err := z.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	z.release()
	env.Produce(t, g.batch(t, env, 200, 0.3)...)
	waitCaughtUp(t, env, group)
	// The zombie either rejoined as a new member or stopped on being
	// fenced; what it wrote as a zombie must never be visible.
	for _, m := range []*member{other, z} {
		_ = m.stop(t)
	}
	checkOutputs(t, env, g)
	if !strings.Contains(z.logs.String(), "aborted") && !strings.Contains(z.logs.String(), "fenc") &&
		!strings.Contains(strings.ToLower(z.logs.String()), "revoked") {
		t.Logf("zombie logs:\n%s", z.logs.String())
	}
}

// checkOutputs waits until no transaction is open, then checks that the
// deduped topics hold every id of g once, in input order; on a failure it
// prints what they hold.
func checkOutputs(t *testing.T, env *testkit.Env, g *streamGen) {
	t.Helper()
	waitNoOpenTransactions(t, env)
	checkExactlyOnce(t, g.want(), outputIDs(t, env))
	checkOutputOrder(t, env)
	if t.Failed() {
		dumpOutputs(t, env)
	}
}

// waitNoOpenTransactions waits until no transaction is open on the
// deduped topics (each partition's last stable offset is its end): a
// member that died inside a transaction holds the LSO back until the
// broker aborts it after the transaction timeout, and read_committed
// readers see nothing past it until then.
func waitNoOpenTransactions(t *testing.T, env *testkit.Env) {
	t.Helper()
	adm := kadm.NewClient(env.Client(t))
	var outs []string
	for _, raw := range env.Config.Topics.Raw() {
		outs = append(outs, env.Config.Topics.Deduped(raw))
	}
	testkit.Eventually(t, 60*time.Second, "every transaction on the deduped topics ended", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stable, err1 := adm.ListCommittedOffsets(ctx, outs...)
		ends, err2 := adm.ListEndOffsets(ctx, outs...)
		if err1 != nil || err2 != nil || stable.Error() != nil || ends.Error() != nil {
			return false
		}
		open := false
		ends.Each(func(e kadm.ListedOffset) {
			if s, ok := stable.Lookup(e.Topic, e.Partition); !ok || s.Offset != e.Offset {
				open = true
			}
		})
		return !open
	})
}

// realStream is newStreamGen with record times from an hour ago, one
// second apart: a real broker deletes records older than the topic's
// retention (7 days) by their timestamps within a minute of starting, and
// refuses ones more than an hour ahead; kfake does neither.
func realStream(seed uint64) *streamGen {
	g := newStreamGen(seed)
	g.at = time.Now().Add(-time.Hour)
	return g
}

// checkOutputOrder checks each deduped partition holds its ids in the
// order of their first appearance in the input partition.
func checkOutputOrder(t *testing.T, env *testkit.Env) {
	t.Helper()
	for _, raw := range env.Config.Topics.Raw() {
		firstAt := map[string]int{}
		for i, r := range env.ReadAll(t, raw) {
			id := schemas.Header(r, HeaderEventID)
			if _, ok := firstAt[id]; !ok {
				firstAt[id] = i
			}
		}
		last := map[int32]*kgo.Record{}
		for _, r := range env.ReadAll(t, env.Config.Topics.Deduped(raw)) {
			id := schemas.Header(r, HeaderEventID)
			if prev := last[r.Partition]; prev != nil && firstAt[id] < firstAt[schemas.Header(prev, HeaderEventID)] {
				t.Errorf("%s/%d: %s (input #%d, offset %d) after %s (input #%d, offset %d): out of input order",
					r.Topic, r.Partition, id, firstAt[id], r.Offset, schemas.Header(prev, HeaderEventID), firstAt[schemas.Header(prev, HeaderEventID)], prev.Offset)
			}
			last[r.Partition] = r
		}
	}
}

// dumpOutputs logs, per output partition, the records read uncommitted by
// producer id, to tell a lost write from a filtered one.
func dumpOutputs(t *testing.T, env *testkit.Env) {
	for _, raw := range env.Config.Topics.Raw() {
		out := env.Config.Topics.Deduped(raw)
		cl := env.Client(t, kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		counts := map[string]int{}
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				k := fmt.Sprintf("p%d pid=%d ctl=%v", r.Partition, r.ProducerID, r.Attrs.IsControl())
				counts[k]++
				if r.Attrs.IsControl() {
					t.Logf("%s/%d offset %d control pid=%d value=%x", out, r.Partition, r.Offset, r.ProducerID, r.Key)
				}
			})
		}
		cancel()
		committed := map[int32]int{}
		for _, r := range env.ReadAll(t, out) {
			committed[r.Partition]++
		}
		t.Logf("%s uncommitted view: %v; committed per partition: %v", out, counts, committed)
	}
}

// TestRealDedupeFigures measures one dedupe member on the real cluster
// (transactions, RF 3, min ISR 2) for docs/benchmarks.md: events/s from a
// backlog. It runs only with HOOKBRIDGE_REAL_BENCH=1.
func TestRealDedupeFigures(t *testing.T) {
	if os.Getenv("HOOKBRIDGE_REAL_BENCH") == "" {
		t.Skip("figures for docs/benchmarks.md: set HOOKBRIDGE_REAL_BENCH=1")
	}
	c := real.Get(t)
	env := c.Env(t)
	group := env.Config.Topics.Prefix + "dedupe"
	const n = 60_000
	g := realStream(21)
	// One second apart, ending in the past: a real broker refuses
	// timestamps over an hour ahead (log.message.timestamp.after.max.ms).
	g.at = time.Now().Add(-(n + 3600) * time.Second)
	env.Produce(t, g.batch(t, env, n, 0.1)...)
	cpu0, start := c.CPU(), time.Now()
	m := startMember(t, env, kafkatest.ClassicProtocol, group, group+"-bench", false, maxBatchEnv+"=10000") // the production default
	waitCaughtUp(t, env, group)
	took := time.Since(start)
	brokerCPU := c.CPU() - cpu0
	_ = m.stop(t)
	fmt.Printf("FIGURE dedupe: %d input records (10%% duplicates) in %v = %.0f events/s (incl. group join and restore), broker CPU %.0f%% of one core\n",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), 100*brokerCPU.Seconds()/took.Seconds())
}
