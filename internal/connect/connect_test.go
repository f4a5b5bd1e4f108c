package connect

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookbridge/hookbridge/internal/config"
)

// ping connects with the options KafkaOpts makes from k.
func ping(t *testing.T, k config.Kafka) error {
	t.Helper()
	opts, err := KafkaOpts(k)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.RetryTimeout(2*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func TestSASLMechanisms(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "hook", "s3cret"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			k := config.Kafka{Brokers: c.ListenAddrs(), ClientID: "t", SASL: config.SASL{Mechanism: mech, Username: "hook", Password: "s3cret"}}
			if err := ping(t, k); err != nil {
				t.Fatalf("right password: %v", err)
			}
			k.SASL.Password = "wrong"
			if err := ping(t, k); err == nil {
				t.Fatal("wrong password accepted")
			}
		})
	}
}

func TestTLSWithCAFile(t *testing.T) {
	dir := t.TempDir()
	cert, caFile := selfSigned(t, dir)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := config.Kafka{Brokers: c.ListenAddrs(), ClientID: "t", TLS: config.TLS{Enabled: true, CAFile: caFile, ServerName: "127.0.0.1"}}
	if err := ping(t, k); err != nil {
		t.Fatalf("TLS with the CA: %v", err)
	}
	k.TLS.CAFile = ""
	if err := ping(t, k); err == nil {
		t.Fatal("an unknown CA was trusted")
	}
	k.TLS.CAFile = filepath.Join(dir, "missing.pem")
	if _, err := KafkaOpts(k); err == nil {
		t.Fatal("a missing CA file must fail at start")
	}
}

// selfSigned makes a certificate for 127.0.0.1 and writes it as a CA file.
func selfSigned(t *testing.T, dir string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}
