package pluginmgr

// Mutual TLS with plugins in any language.
//
// go-plugin's AutoMTLS generates the daemon's client certificate on the
// P-521 curve (go-plugin v1.8.0 mtls.go, generateCert). Go's TLS stack
// accepts that, but gRPC's C core (grpcio for Python, and the other
// languages built on it) does not offer P-521 in its signature algorithms,
// so a plugin written with it never sees a client certificate and refuses
// the connection. The daemon therefore does the client half of AutoMTLS
// itself, with a P-256 certificate, and leaves AutoMTLS off:
//
//   - per launch it generates a self-signed ECDSA P-256 certificate for
//     "localhost" and passes it, PEM-encoded, in the plugin's environment as
//     PLUGIN_CLIENT_CERT, exactly the variable AutoMTLS uses. A Go plugin
//     (go-plugin's server) reacts to that variable alone: it generates its
//     own server certificate, requires ours, and prints its certificate in
//     the handshake line as AutoMTLS does;
//   - it sets ClientConfig.TLSConfig to what AutoMTLS would have set. The
//     client reads the server certificate of the handshake line (6th field,
//     base64 DER) whether or not AutoMTLS is on (client.go: loadServerCert
//     runs for any handshake line carrying one) and makes it the only root
//     of that TLS config;
//   - a plugin whose handshake line carries no certificate is refused with
//     errNoServerCert instead of being dialled over plain text or verified
//     against the system's roots.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// tlsServerName is the name both certificates carry, as with AutoMTLS.
const tlsServerName = "localhost"

// clientCertLifetime bounds the daemon's per-launch certificate. A plugin
// only checks it when a connection is (re)established; a process that
// outlives it loses its next reconnection and is relaunched with a new one.
const clientCertLifetime = 365 * 24 * time.Hour

// errNoServerCert is the launch error for a plugin that does not do mTLS.
var errNoServerCert = errors.New("the plugin's handshake line carries no server certificate " +
	"(6th field: its self-signed certificate for \"localhost\", base64 DER without padding); " +
	"CastRay talks to plugins only over mutual TLS, see \"Plugins in other languages\" in the README")

// useMTLS sets cfg up for mutual TLS with a P-256 client certificate
// instead of go-plugin's AutoMTLS. cfg.Cmd must be set; the certificate is
// added to its environment.
func useMTLS(cfg *plugin.ClientConfig) error {
	certPEM, keyPEM, err := newClientCert(time.Now())
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
		ServerName:   tlsServerName,
	}
	cfg.AutoMTLS = false
	cfg.TLSConfig = tlsCfg
	cfg.Cmd.Env = append(cfg.Cmd.Env, "PLUGIN_CLIENT_CERT="+string(certPEM))
	// Appended after go-plugin's own transport credentials, so it wins.
	cfg.GRPCDialOptions = append(cfg.GRPCDialOptions, grpc.WithTransportCredentials(serverCertRequired{tlsCfg}))
	return nil
}

// newClientCert returns a self-signed ECDSA P-256 certificate for
// "localhost", usable as client and server certificate, and its key, both
// PEM-encoded.
func newClientCert(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: tlsServerName, Organization: []string{"CastRay"}},
		DNSNames:              []string{tlsServerName},
		NotBefore:             now.Add(-time.Minute), // a little clock skew
		NotAfter:              now.Add(clientCertLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: it is its own trust anchor
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	var c, k bytes.Buffer
	if err := pem.Encode(&c, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
		return nil, nil, err
	}
	if err := pem.Encode(&k, &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}); err != nil {
		return nil, nil, err
	}
	return c.Bytes(), k.Bytes(), nil
}

// serverCertRequired is gRPC's TLS transport over cfg, refusing to
// handshake before go-plugin has made the plugin's certificate cfg's root
// (cfg is read at each handshake, which happens after the handshake line
// was read).
type serverCertRequired struct{ cfg *tls.Config }

func (s serverCertRequired) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if s.cfg.RootCAs == nil {
		return nil, nil, errNoServerCert
	}
	return credentials.NewTLS(s.cfg).ClientHandshake(ctx, authority, conn)
}

func (s serverCertRequired) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(s.cfg).ServerHandshake(conn)
}

func (s serverCertRequired) Info() credentials.ProtocolInfo {
	return credentials.NewTLS(s.cfg).Info()
}

func (s serverCertRequired) Clone() credentials.TransportCredentials { return s }

// OverrideServerName is deprecated in gRPC and never called by it.
func (s serverCertRequired) OverrideServerName(string) error {
	return errors.New("serverCertRequired: OverrideServerName is not supported")
}
