package pluginmgr

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/castray/castray/sdk"
)

// The test binary doubles as a plugin that is not built with go-plugin's
// server, the way a plugin in another language is written: with
// CASTRAY_TEST_FOREIGN_PLUGIN set it follows only the documented contract
// (magic cookie, unix socket, health service, GRPCController, handshake
// line) and exits. The modes:
//
//	p256only  mutual TLS like grpcio: its own P-256 certificate in the
//	          handshake line, the client certificate of PLUGIN_CLIENT_CERT
//	          required, and any client key but P-256 refused
//	plaintext no TLS and no certificate in the handshake line
func init() {
	if mode := os.Getenv("CASTRAY_TEST_FOREIGN_PLUGIN"); mode != "" {
		os.Exit(serveForeign(mode))
	}
}

func serveForeign(mode string) int {
	if os.Getenv(sdk.Handshake.MagicCookieKey) != sdk.Handshake.MagicCookieValue {
		fmt.Fprintln(os.Stderr, "not launched by CastRay")
		return 1
	}
	dir, err := os.MkdirTemp(os.Getenv("PLUGIN_UNIX_SOCKET_DIR"), "foreign")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "plugin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var opts []grpc.ServerOption
	line := fmt.Sprintf("1|%d|unix|%s|grpc", sdk.APIVersion, sock)
	if mode == "p256only" {
		certPEM, keyPEM, err := newClientCert(time.Now())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		clients := x509.NewCertPool()
		if !clients.AppendCertsFromPEM([]byte(os.Getenv("PLUGIN_CLIENT_CERT"))) {
			fmt.Fprintln(os.Stderr, "no client certificate in PLUGIN_CLIENT_CERT")
			return 1
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    clients,
			MinVersion:   tls.VersionTLS12,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				c, err := x509.ParseCertificate(raw[0])
				if err != nil {
					return err
				}
				if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
					return errors.New("client key is not on P-256")
				}
				return nil
			},
		})))
		line += "|" + base64.RawStdEncoding.EncodeToString(cert.Certificate[0])
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	hs.SetServingStatus(plugin.GRPCServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	srv.RegisterService(&controllerDesc, func() { go srv.Stop() })
	fmt.Println(line)
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// controllerDesc is go-plugin's plugin.GRPCController service (its
// internal/plugin/grpc_controller.proto): Shutdown(Empty) returns (Empty),
// whose Empty is wire-compatible with google.protobuf.Empty.
var controllerDesc = grpc.ServiceDesc{
	ServiceName: "plugin.GRPCController",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Shutdown",
		Handler: func(srv any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(emptypb.Empty)); err != nil {
				return nil, err
			}
			srv.(func())()
			return new(emptypb.Empty), nil
		},
	}},
}

// launchSelf starts the test binary as a plugin with cfg's TLS set up by
// setup, and returns its client after the handshake.
func launchSelf(t *testing.T, env []string, setup func(*plugin.ClientConfig) error) (*plugin.Client, *plugin.ClientConfig, plugin.ClientProtocol) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), env...)
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.ClientPluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}),
	}
	if err := setup(cfg); err != nil {
		t.Fatal(err)
	}
	client := plugin.NewClient(cfg)
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return client, cfg, rpc
}

func TestClientCertIsP256ForLocalhost(t *testing.T) {
	now := time.Now()
	certPEM, keyPEM, err := newClientCert(now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("key pair: %v", err)
	}
	block, rest := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("not one PEM certificate: %q", certPEM)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("public key %T %v, want ECDSA P-256", c.PublicKey, c.PublicKey)
	}
	if c.Subject.CommonName != "localhost" || len(c.DNSNames) != 1 || c.DNSNames[0] != "localhost" {
		t.Fatalf("CN %q SANs %v", c.Subject.CommonName, c.DNSNames)
	}
	if !c.NotAfter.Equal(now.Add(clientCertLifetime).Truncate(time.Second)) || !c.NotBefore.Before(now) {
		t.Fatalf("valid %v to %v", c.NotBefore, c.NotAfter)
	}
	// Self-signed: it is its own trust anchor, for both uses.
	roots := x509.NewCertPool()
	roots.AddCert(c)
	for _, use := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{use}}); err != nil {
			t.Errorf("verify for %v: %v", use, err)
		}
	}
	// Fresh per launch.
	again, _, err := newClientCert(now)
	if err != nil || string(again) == string(certPEM) {
		t.Fatalf("second certificate equals the first (%v)", err)
	}
}

func TestUseMTLSReplacesAutoMTLS(t *testing.T) {
	cfg := &plugin.ClientConfig{Cmd: exec.Command("true"), AutoMTLS: true}
	cfg.Cmd.Env = []string{"KEEP=1"}
	if err := useMTLS(cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.AutoMTLS {
		t.Error("AutoMTLS still on: go-plugin would replace the certificate with a P-521 one")
	}
	tc := cfg.TLSConfig
	if tc == nil || len(tc.Certificates) != 1 || tc.ClientAuth != tls.RequireAndVerifyClientCert ||
		tc.MinVersion != tls.VersionTLS12 || tc.ServerName != "localhost" || tc.RootCAs != nil || tc.InsecureSkipVerify {
		t.Fatalf("TLS config %+v", tc)
	}
	var pemEnv string
	for _, kv := range cfg.Cmd.Env {
		if v, ok := strings.CutPrefix(kv, "PLUGIN_CLIENT_CERT="); ok {
			pemEnv = v
		}
	}
	if cfg.Cmd.Env[0] != "KEEP=1" {
		t.Errorf("environment not kept: %q", cfg.Cmd.Env)
	}
	block, _ := pem.Decode([]byte(pemEnv))
	if block == nil || string(block.Bytes) != string(tc.Certificates[0].Certificate[0]) {
		t.Fatal("PLUGIN_CLIENT_CERT is not the certificate the daemon presents")
	}
	if len(cfg.GRPCDialOptions) != 1 {
		t.Fatalf("%d dial options, want the transport credentials", len(cfg.GRPCDialOptions))
	}
}

// A plugin that, like grpcio, takes only a P-256 client certificate: the
// daemon's certificate passes, its TLS verifies the plugin's certificate from
// the handshake line, and Kill shuts the plugin down through GRPCController.
func TestForeignPluginWithP256OnlyServer(t *testing.T) {
	client, cfg, rpc := launchSelf(t, []string{"CASTRAY_TEST_FOREIGN_PLUGIN=p256only"}, useMTLS)
	if cfg.TLSConfig.RootCAs == nil {
		t.Fatal("the plugin's certificate was not loaded from the handshake line")
	}
	if err := rpc.Ping(); err != nil {
		t.Fatalf("health check over mTLS: %v", err)
	}
	client.Kill()
	if !client.Exited() {
		t.Fatal("plugin still running after Kill")
	}
}

// The premise of useMTLS: go-plugin's own AutoMTLS client certificate is on
// P-521, which such a plugin refuses.
func TestAutoMTLSCertificateIsRefusedByP256OnlyServer(t *testing.T) {
	_, _, rpc := launchSelf(t, []string{"CASTRAY_TEST_FOREIGN_PLUGIN=p256only"}, func(cfg *plugin.ClientConfig) error {
		cfg.AutoMTLS = true
		return nil
	})
	if err := rpc.Ping(); err == nil {
		t.Fatal("a P-256-only server accepted AutoMTLS's certificate; useMTLS may no longer be needed")
	}
}

// A plugin whose handshake line has no certificate is refused, naming why,
// and never spoken to in plain text.
func TestPluginWithoutServerCertIsRefused(t *testing.T) {
	_, cfg, rpc := launchSelf(t, []string{"CASTRAY_TEST_FOREIGN_PLUGIN=plaintext"}, useMTLS)
	if cfg.TLSConfig.RootCAs != nil {
		t.Fatal("a root was loaded from a handshake line without certificate")
	}
	err := rpc.Ping()
	if err == nil {
		t.Fatal("health check succeeded with a plugin that sent no certificate")
	}
	if !strings.Contains(err.Error(), "handshake line carries no server certificate") {
		t.Fatalf("error does not say why: %v", err)
	}
}

// A Go plugin (go-plugin's server, through sdk.Serve*) reacts to
// PLUGIN_CLIENT_CERT alone: it answers with its own certificate and mTLS
// works without AutoMTLS on the daemon's side. The test binary serves the
// SDK's transfer helper when CASTRAY_TEST_PLUGIN is set (manager_test.go).
func TestGoPluginStillNegotiatesMTLS(t *testing.T) {
	_, cfg, rpc := launchSelf(t, []string{"CASTRAY_TEST_PLUGIN=ok"}, useMTLS)
	if cfg.TLSConfig.RootCAs == nil {
		t.Fatal("the Go plugin sent no certificate")
	}
	if err := rpc.Ping(); err != nil {
		t.Fatalf("health check: %v", err)
	}
	raw, err := rpc.Dispense(sdk.PluginSetBase)
	if err != nil {
		t.Fatal(err)
	}
	info, err := raw.(sdk.Plugin).Info(context.Background())
	if err != nil || info.GetName() != "helper" {
		t.Fatalf("Info over mTLS: %v %v", info, err)
	}
}
