// Package devstack is the embedded infrastructure of `hookbridge dev`: a
// franz-go kfake Kafka broker persisted to a data directory, and an srfake
// schema registry whose schemas (and so their ids, which stored records
// carry) survive restarts. It is for development only: one process, one
// broker, no replication.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// Options says where the stack keeps its data and listens.
type Options struct {
	DataDir      string // kafka/ and registry.json live here
	KafkaAddr    string // host:port of the broker
	RegistryAddr string // host:port of the schema registry
	Logger       *slog.Logger
}

// Stack is a running embedded Kafka and schema registry.
type Stack struct {
	cluster  *kfake.Cluster
	registry *persistentRegistry
	srv      *http.Server
	regURL   string
}

// Start starts the broker and the registry.
func Start(opts Options) (*Stack, error) {
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("devstack: creating %s: %w", opts.DataDir, err)
	}
	kln, err := net.Listen("tcp", opts.KafkaAddr)
	if err != nil {
		return nil, fmt.Errorf("devstack: kafka listen %s: %w (is another dev running? use --kafka-listen)", opts.KafkaAddr, err)
	}
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DataDir(filepath.Join(opts.DataDir, "kafka")),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return kln, nil }),
		kfake.GroupMinSessionTimeout(time.Second),
	)
	if err != nil {
		kln.Close()
		return nil, fmt.Errorf("devstack: starting the embedded kafka: %w", err)
	}
	reg, err := openRegistry(filepath.Join(opts.DataDir, "registry.json"), opts.Logger)
	if err != nil {
		cluster.Close()
		return nil, err
	}
	rln, err := net.Listen("tcp", opts.RegistryAddr)
	if err != nil {
		cluster.Close()
		return nil, fmt.Errorf("devstack: schema registry listen %s: %w (use --registry-listen)", opts.RegistryAddr, err)
	}
	s := &Stack{cluster: cluster, registry: reg, regURL: "http://" + rln.Addr().String(),
		srv: &http.Server{Handler: reg, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := s.srv.Serve(rln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("embedded schema registry stopped", "err", err)
		}
	}()
	return s, nil
}

// Brokers returns the broker's address.
func (s *Stack) Brokers() []string { return s.cluster.ListenAddrs() }

// RegistryURL returns the schema registry's URL.
func (s *Stack) RegistryURL() string { return s.regURL }

// Close stops the registry and the broker, which writes its state to disk.
func (s *Stack) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.cluster.Close()
}

// persistentRegistry is an srfake registry that saves every registered
// schema with its subject, version and id after each change, and seeds
// them back at start, so ids stay the same across restarts.
type persistentRegistry struct {
	*srfake.Registry
	path   string
	log    *slog.Logger
	saveMu sync.Mutex
}
