"""python-example: a CastRay discovery plugin written in Python.

It reports the Ray clusters it is told about: the addresses in its config
(`plugin "python-example" { config { clusters = [...] } }`) or, when the
config names none, in the environment variable CASTRAY_PYTHON_EXAMPLE_CLUSTERS
(comma-separated). An address "http://host:port" is a dashboard URL; any
other "host:port" is a GCS address.

Everything a plugin outside Go needs is here, in the order the daemon meets
it (README.md, "Plugins in other languages"):

  1. the magic cookie, checked before anything else;
  2. mutual TLS: a self-signed certificate of our own for "localhost", and
     the daemon's certificate (PLUGIN_CLIENT_CERT) required of every client;
  3. one gRPC server on a unix socket with the castray.v1 Plugin and
     Discovery services, grpc.health.v1 reporting "plugin" SERVING, and
     go-plugin's plugin.GRPCController (Shutdown) and plugin.GRPCStdio;
  4. the handshake line on stdout, our certificate as its 6th field;
  5. logs as JSON lines on stderr, which the daemon re-logs as its own.

The stubs imported below are generated from the protos by build.sh.
"""

import base64
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from concurrent import futures

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))
from castray.v1 import discovery_pb2, discovery_pb2_grpc  # noqa: E402
from castray.v1 import plugin_pb2, plugin_pb2_grpc  # noqa: E402
import grpc_controller_pb2  # noqa: E402
import grpc_controller_pb2_grpc  # noqa: E402
import grpc_stdio_pb2_grpc  # noqa: E402

NAME = "python-example"
VERSION = "0.1.0"
API_VERSION = 1  # the castray plugin API version, also go-plugin's protocol version
MAGIC_COOKIE = ("CASTRAY_PLUGIN_MAGIC_COOKIE", "6f1c0f3e-castray-plugin-v1")
ENV_CLUSTERS = "CASTRAY_PYTHON_EXAMPLE_CLUSTERS"

LEVELS = ["trace", "debug", "info", "warn", "error"]
LOG_LEVEL = os.environ.get("CASTRAY_PLUGIN_LOG_LEVEL", "info").lower()


def log(level, message, **fields):
    """Writes one log line in hclog's JSON form: the daemon re-logs it."""
    if LEVELS.index(level) < LEVELS.index(LOG_LEVEL if LOG_LEVEL in LEVELS else "info"):
        return
    now = datetime.datetime.now(datetime.timezone.utc)
    entry = {"@level": level, "@message": message,
             "@timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), **fields}
    print(json.dumps(entry), file=sys.stderr, flush=True)


def self_signed_certificate():
    """Our server certificate: ECDSA P-256, self-signed, for "localhost"."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert, key_pem


def parse_clusters(addresses):
    """Turns addresses into candidates' identifiers; returns (clusters, problems)."""
    clusters, problems = [], []
    for i, addr in enumerate(addresses):
        if not isinstance(addr, str) or not addr.strip():
            problems.append((f"clusters[{i}]", "must be a non-empty string"))
        elif addr.startswith(("http://", "https://")):
            clusters.append({"dashboard_url": addr.rstrip("/")})
        elif addr.rpartition(":")[2].isdigit() and addr.rpartition(":")[0]:
            clusters.append({"gcs_address": addr})
        else:
            problems.append((f"clusters[{i}]", f"{addr!r} is neither http://host:port nor host:port"))
    return clusters, problems


class Plugin(plugin_pb2_grpc.PluginServicer):
    """castray.v1.Plugin: who we are, and our configuration."""

    def __init__(self):
        self.clusters = []

    def GetInfo(self, request, context):
        return plugin_pb2.PluginInfo(
            name=NAME, kind=plugin_pb2.PLUGIN_KIND_DISCOVERY, plugin_version=VERSION,
            api_versions=[API_VERSION], description="reports the clusters listed in its config (Python example)")

    def GetConfigSchema(self, request, context):
        return plugin_pb2.ConfigSchema(fields=[plugin_pb2.ConfigField(
            name="clusters", type="list(string)", default_json="[]",
            description=f"addresses to report: http://host:port (dashboard) or host:port (GCS); "
                        f"default: ${ENV_CLUSTERS}, comma-separated")])

    def Configure(self, request, context):
        config = json.loads(request.config_json or b"{}")
        errors = [plugin_pb2.ConfigError(key=k, message="unknown key") for k in config if k != "clusters"]
        addresses = config.get("clusters")
        if addresses is None:
            addresses = [a.strip() for a in os.environ.get(ENV_CLUSTERS, "").split(",") if a.strip()]
        if not isinstance(addresses, list):
            errors.append(plugin_pb2.ConfigError(key="clusters", message="must be a list of strings"))
            addresses = []
        clusters, problems = parse_clusters(addresses)
        errors += [plugin_pb2.ConfigError(key=k, message=m) for k, m in problems]
        if not errors:
            self.clusters = clusters
            log("info", "configured", clusters=len(clusters))
        return plugin_pb2.ConfigureResponse(errors=errors)


class Discovery(discovery_pb2_grpc.DiscoveryServicer):
    """castray.v1.Discovery: one candidate per configured cluster, then a summary."""

    def __init__(self, plugin):
        self.plugin = plugin

    def Discover(self, request, context):
        reported = 0
        for cluster in self.plugin.clusters:
            if not context.is_active():  # the daemon cancelled the call or its deadline passed
                log("debug", "discovery cancelled", reported=reported)
                return
            yield discovery_pb2.DiscoverEvent(candidate=discovery_pb2.ClusterCandidate(
                source=NAME, node_count=-1, status=discovery_pb2.CLUSTER_STATUS_UNKNOWN,
                evidence=["listed in the python-example plugin's configuration"], **cluster))
            reported += 1
        yield discovery_pb2.DiscoverEvent(summary=discovery_pb2.DiscoverSummary(candidates=reported))


class Controller(grpc_controller_pb2_grpc.GRPCControllerServicer):
    """go-plugin's plugin.GRPCController: the daemon asks us to exit."""

    def __init__(self, stopping):
        self.stopping = stopping

    def Shutdown(self, request, context):
        log("info", "GRPCController.Shutdown: shutting down", pid=os.getpid())
        self.stopping.set()
        return grpc_controller_pb2.Empty()


class Stdio(grpc_stdio_pb2_grpc.GRPCStdioServicer):
    """go-plugin's plugin.GRPCStdio. Our stdout and stderr reach the daemon
    directly, so the stream carries nothing; it stays open until shutdown so
    that the daemon does not warn about a missing stdio service."""

    def __init__(self, stopping):
        self.stopping = stopping

    def StreamStdio(self, request, context):
        self.stopping.wait()
        return
        yield  # a generator that yields nothing


def main():
    if os.environ.get(MAGIC_COOKIE[0]) != MAGIC_COOKIE[1]:
        print("This is a CastRay plugin: the castray daemon runs it, not you.", file=sys.stderr)
        return 1
    versions = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", str(API_VERSION)).split(",")
    if str(API_VERSION) not in versions:
        log("warn", "the daemon does not offer our protocol version", offered=versions, ours=API_VERSION)
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "").encode()
    if not client_cert:
        log("error", "PLUGIN_CLIENT_CERT is not set: refusing to serve without mutual TLS")
        return 1

    cert, key_pem = self_signed_certificate()
    credentials = grpc.ssl_server_credentials(
        [(key_pem, cert.public_bytes(serialization.Encoding.PEM))],
        root_certificates=client_cert, require_client_auth=True)

    stopping = threading.Event()
    # One worker per possible concurrent call; GRPCStdio holds one until shutdown.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    plugin = Plugin()
    plugin_pb2_grpc.add_PluginServicer_to_server(plugin, server)
    discovery_pb2_grpc.add_DiscoveryServicer_to_server(Discovery(plugin), server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(Controller(stopping), server)
    grpc_stdio_pb2_grpc.add_GRPCStdioServicer_to_server(Stdio(stopping), server)
    health_servicer = health.HealthServicer()
    health_servicer.set("plugin", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    socket_dir = tempfile.mkdtemp(prefix="castray-py-", dir=os.environ.get("PLUGIN_UNIX_SOCKET_DIR"))
    socket_path = os.path.join(socket_dir, "plugin.sock")
    server.add_secure_port("unix:" + socket_path, credentials)
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    der = cert.public_bytes(serialization.Encoding.DER)
    cert_field = base64.b64encode(der).decode().rstrip("=")  # raw std base64: no padding
    print(f"1|{API_VERSION}|unix|{socket_path}|grpc|{cert_field}", flush=True)
    log("info", "serving", socket=socket_path, pid=os.getpid())

    stopping.wait()
    server.stop(grace=5).wait()  # lets the Shutdown call itself answer
    shutil.rmtree(socket_dir, ignore_errors=True)
    log("info", "stopped", pid=os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
