package metrics

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/castray/castray/host/connector"
	"github.com/castray/castray/host/discovery"
	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/transfer"
)

// Namespace prefixes every metric name.
const Namespace = "castray"

// ContentType is the text exposition format /metrics answers with when the
// scraper does not negotiate another one.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Metrics holds the registry and the event collectors. The zero value is
// not usable; call New. A nil *Metrics is a valid no-op for every hook.
type Metrics struct {
	reg *prometheus.Registry

	discoveryRounds      prometheus.Counter
	discoveryRoundErrors prometheus.Counter
	discoveryDuration    prometheus.Histogram
	discoveryPluginDur   *prometheus.HistogramVec
	discoveryPluginErrs  *prometheus.CounterVec

	syncDuration *prometheus.HistogramVec
	syncErrors   *prometheus.CounterVec

	transferBytes   *prometheus.CounterVec
	transfers       *prometheus.CounterVec
	transferTargets *prometheus.CounterVec

	httpDuration *prometheus.HistogramVec

	wsClients prometheus.Gauge
	wsDrops   prometheus.Counter
}

// slowBuckets suit operations that take from milliseconds to a minute
// (discovery rounds and plugins, cluster syncs).
var slowBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// New returns Metrics with the event collectors, the Go runtime and the
// process collectors registered. Call Watch to add the scrape-time ones.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.discoveryRounds = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "discovery", Name: "rounds_total",
		Help: "Discovery rounds run (a round that could not start counts in discovery_round_errors_total instead).",
	})
	m.discoveryRoundErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "discovery", Name: "round_errors_total",
		Help: "Discovery rounds that could not run at all (no plugin enabled, unknown plugin, cancelled while waiting).",
	})
	m.discoveryDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "discovery", Name: "round_duration_seconds",
		Help: "Duration of discovery rounds.", Buckets: slowBuckets,
	})
	m.discoveryPluginDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "discovery", Name: "plugin_duration_seconds",
		Help: "Duration of each discovery plugin's (strategy's) part of a round.", Buckets: slowBuckets,
	}, []string{"plugin"})
	m.discoveryPluginErrs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "discovery", Name: "plugin_errors_total",
		Help: "Discovery plugin runs that failed (timeout, crash, error).",
	}, []string{"plugin"})
	m.syncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "cluster", Name: "sync_duration_seconds",
		Help: "Duration of cluster syncs (node and actor tables into the registry), failed ones included.", Buckets: slowBuckets,
	}, []string{"cluster"})
	m.syncErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "cluster", Name: "sync_errors_total",
		Help: "Cluster syncs that failed.",
	}, []string{"cluster"})
	m.transferBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "transfer", Name: "bytes_total",
		Help: "Bytes written to targets by transfer runs, counted when each target ends (rate() gives the throughput).",
	}, []string{"backend"})
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "transfer", Name: "runs_total",
		Help: "Transfer runs (first attempts, retries and resumes) by outcome; backend is \"mixed\" for a run spanning several backends.",
	}, []string{"backend", "state"})
	m.transferTargets = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "transfer", Name: "targets_total",
		Help: "Targets of transfer runs by backend and final state.",
	}, []string{"backend", "state"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help: "HTTP request latency by method, route pattern and status code.", Buckets: prometheus.DefBuckets,
	}, []string{"method", "route", "code"})
	m.wsClients = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "websocket", Name: "clients",
		Help: "WebSocket clients connected to /ws.",
	})
	m.wsDrops = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "websocket", Name: "dropped_total",
		Help: "WebSocket clients disconnected for falling behind the event stream.",
	})
	m.reg.MustRegister(
		m.discoveryRounds, m.discoveryRoundErrors, m.discoveryDuration, m.discoveryPluginDur, m.discoveryPluginErrs,
		m.syncDuration, m.syncErrors,
		m.transferBytes, m.transfers, m.transferTargets,
		m.httpDuration, m.wsClients, m.wsDrops,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: Namespace}),
	)
	return m
}

// Sources is the state read at every scrape. Any of them may be nil.
type Sources struct {
	Clusters func() []connector.Cluster
	// VisitNodes calls f with every node (registry.Registry.Visit: no
	// copies, f neither keeps nor changes them).
	VisitNodes func(f func(n *registry.Node, res, avail []registry.Quantity))
	// ActiveTransfers counts the transfers running now.
	ActiveTransfers func() int
	Plugins         func() []pluginmgr.Status
}

// Watch registers the scrape-time collectors over s. Call it once.
func (m *Metrics) Watch(s Sources) error {
	if err := m.reg.Register(&stateCollector{s: s}); err != nil {
		return fmt.Errorf("register the state collector: %w", err)
	}
	return nil
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Gather returns the current metric families (tests, debugging).
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) { return m.reg.Gather() }

// Round records a discovery round: its result, or err when it could not
// run. It has the signature of discovery.Options.OnRound.
func (m *Metrics) Round(res *discovery.Result, err error) {
	if m == nil {
		return
	}
	if err != nil || res == nil {
		m.discoveryRoundErrors.Inc()
		return
	}
	m.discoveryRounds.Inc()
	m.discoveryDuration.Observe(res.FinishedAt.Sub(res.StartedAt).Seconds())
	for name, run := range res.Plugins {
		m.discoveryPluginDur.WithLabelValues(name).Observe(float64(run.DurationMS) / 1000)
		if run.Error != "" {
			m.discoveryPluginErrs.WithLabelValues(name).Inc()
		} else {
			m.discoveryPluginErrs.WithLabelValues(name) // present at 0
		}
	}
}

// Sync records one sync of a cluster connection. It has the signature of
// connector.Options.OnSync.
func (m *Metrics) Sync(cluster string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.syncDuration.WithLabelValues(cluster).Observe(took.Seconds())
	c := m.syncErrors.WithLabelValues(cluster)
	if err != nil {
		c.Inc()
	}
}

// TransferEnded records the end of one run of a transfer: rec is the
// record in its final state and ran the targets this run sent to. It has
// the signature of transfer.Options.OnEnd.
func (m *Metrics) TransferEnded(rec transfer.Record, ran []transfer.TargetRecord) {
	if m == nil {
		return
	}
	m.transfers.WithLabelValues(rec.Backend, rec.State).Inc()
	for _, t := range ran {
		backend := t.Backend
		if backend == "" {
			backend = rec.Backend
		}
		m.transferTargets.WithLabelValues(backend, t.State).Inc()
		m.transferBytes.WithLabelValues(backend).Add(float64(t.BytesSent))
	}
}

// HTTPRequest records one HTTP request; route is the matched route
// pattern (e.g. /api/nodes/:id), never the raw path.
func (m *Metrics) HTTPRequest(method, route string, code int, took time.Duration) {
	if m == nil {
		return
	}
	m.httpDuration.WithLabelValues(method, route, strconv.Itoa(code)).Observe(took.Seconds())
}

// WSClient counts a WebSocket client in (delta 1) or out (delta -1).
func (m *Metrics) WSClient(delta int) {
	if m == nil {
		return
	}
	m.wsClients.Add(float64(delta))
}

// WSDropped counts a WebSocket client dropped for being too slow.
func (m *Metrics) WSDropped() {
	if m == nil {
		return
	}
	m.wsDrops.Inc()
}
