package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/castray/castray/host/connector"
	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/host/registry"
)

var (
	clustersDesc = prometheus.NewDesc(Namespace+"_clusters", "Cluster connections by state.", []string{"state"}, nil)
	nodesDesc    = prometheus.NewDesc(Namespace+"_nodes", "Virtual nodes in the registry by kind and state.", []string{"kind", "state"}, nil)
	activeDesc   = prometheus.NewDesc(Namespace+"_transfers_active", "Transfers running now.", nil, nil)
	pluginState  = prometheus.NewDesc(Namespace+"_plugin_state", "1 for each plugin's current state (healthy, restarting, failed, disabled), 0 for the others.", []string{"plugin", "kind", "state"}, nil)
	pluginUp     = prometheus.NewDesc(Namespace+"_plugin_healthy", "1 when the plugin is healthy, else 0.", []string{"plugin", "kind"}, nil)
	pluginRelaun = prometheus.NewDesc(Namespace+"_plugin_restarts_total", "Relaunches of each plugin since the daemon started.", []string{"plugin", "kind"}, nil)
)

var (
	clusterStates = []string{connector.StateConnected, connector.StateDisconnected}
	nodeKinds     = []registry.Kind{registry.KindLocal, registry.KindRayNode, registry.KindRayActor}
	nodeStates    = []registry.State{registry.StateActive, registry.StateInactive, registry.StateDead}
	pluginStates  = []pluginmgr.State{pluginmgr.StateHealthy, pluginmgr.StateRestarting, pluginmgr.StateFailed, pluginmgr.StateDisabled}
)

// stateCollector reads the daemon's state at scrape time.
type stateCollector struct{ s Sources }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clustersDesc, nodesDesc, activeDesc, pluginState, pluginUp, pluginRelaun} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.Clusters != nil {
		counts := map[string]int{}
		for _, s := range clusterStates {
			counts[s] = 0
		}
		for _, cl := range c.s.Clusters() {
			counts[cl.State]++
		}
		for state, n := range counts {
			ch <- prometheus.MustNewConstMetric(clustersDesc, prometheus.GaugeValue, float64(n), state)
		}
	}
	if c.s.VisitNodes != nil {
		type key struct{ kind, state string }
		counts := map[key]int{}
		for _, k := range nodeKinds {
			for _, s := range nodeStates {
				counts[key{string(k), string(s)}] = 0
			}
		}
		c.s.VisitNodes(func(n *registry.Node, _, _ []registry.Quantity) { counts[key{string(n.Kind), string(n.State)}]++ })
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(n), k.kind, k.state)
		}
	}
	if c.s.ActiveTransfers != nil {
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(c.s.ActiveTransfers()))
	}
	if c.s.Plugins != nil {
		seen := map[[2]string]bool{}
		for _, p := range c.s.Plugins() {
			// One series per plugin: a second binary listed under a name
			// already seen (a failed load) would make the scrape fail.
			if k := [2]string{p.Name, p.Kind}; seen[k] {
				continue
			} else {
				seen[k] = true
			}
			for _, s := range pluginStates {
				ch <- prometheus.MustNewConstMetric(pluginState, prometheus.GaugeValue, b2f(p.State == s), p.Name, p.Kind, string(s))
			}
			ch <- prometheus.MustNewConstMetric(pluginUp, prometheus.GaugeValue, b2f(p.State == pluginmgr.StateHealthy), p.Name, p.Kind)
			ch <- prometheus.MustNewConstMetric(pluginRelaun, prometheus.CounterValue, float64(p.Restarts), p.Name, p.Kind)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
