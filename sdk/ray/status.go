package ray

import (
	"encoding/json"
	"fmt"
)

// ClusterStatus is what GET /api/cluster_status says (the autoscaler's
// view, what `ray status` prints).
type ClusterStatus struct {
	// Usage maps the dashboard's (camelCased: "objectStoreMemory")
	// resource names to {used, total} over the cluster; Resources maps
	// them back to Ray's names.
	Usage map[string][2]float64
	// NodeTypeResources are the node types' resources times their counts,
	// with Ray's own names (loadMetricsReport.nodeTypes is a list, which
	// the dashboard's camelCase conversion leaves alone).
	NodeTypeResources map[string]float64
	// ActiveNodes and IdleNodes count autoscalerReport's nodes (per node
	// type in v1, listed in v2).
	ActiveNodes int
	IdleNodes   int
	// PendingNodes counts pending nodes and pending launches.
	PendingNodes int
	FailedNodes  int
	// PendingDemands counts the resource, placement group and
	// request_resources demands the cluster cannot place yet.
	PendingDemands   int
	AutoscalingError string
}

// DecodeClusterStatus decodes GET /api/cluster_status (without ?format=1):
// data.{autoscalingStatus, autoscalingError,
// clusterStatus{loadMetricsReport, autoscalerReport}}. ok is false while
// clusterStatus is null (until the autoscaler publishes its first status;
// AutoscalingError may be set even then). With ?format=1 clusterStatus is
// the `ray status` text, which is an error here. Malformed usage entries
// and counts are dropped; counts are never negative.
func DecodeClusterStatus(body []byte) (cs ClusterStatus, ok bool, err error) {
	data, err := parseEnvelope("cluster_status", body)
	if err != nil {
		return ClusterStatus{}, false, err
	}
	var d struct {
		Error         *string         `json:"autoscalingError"`
		ClusterStatus json.RawMessage `json:"clusterStatus"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return ClusterStatus{}, false, fmt.Errorf("cluster_status: %w", err)
	}
	if d.Error != nil {
		cs.AutoscalingError = clip(*d.Error)
	}
	if len(d.ClusterStatus) == 0 || string(d.ClusterStatus) == "null" {
		return cs, false, nil
	}
	var s struct {
		Load *struct {
			Usage         map[string]json.RawMessage `json:"usage"`
			NodeTypes     []json.RawMessage          `json:"nodeTypes"`
			ResourceDmd   []json.RawMessage          `json:"resourceDemand"`
			PGDemand      []json.RawMessage          `json:"pgDemand"`
			RequestDemand []json.RawMessage          `json:"requestDemand"`
		} `json:"loadMetricsReport"`
		Report *struct {
			ActiveNodes  json.RawMessage            `json:"activeNodes"`
			IdleNodes    json.RawMessage            `json:"idleNodes"`
			PendingNodes []json.RawMessage          `json:"pendingNodes"`
			FailedNodes  []json.RawMessage          `json:"failedNodes"`
			Launches     map[string]json.RawMessage `json:"pendingLaunches"`
		} `json:"autoscalerReport"`
	}
	if err := json.Unmarshal(d.ClusterStatus, &s); err != nil {
		return ClusterStatus{}, false, fmt.Errorf("cluster_status: clusterStatus: %w", err)
	}
	if s.Load == nil && s.Report == nil {
		return cs, false, nil
	}
	if s.Load != nil {
		cs.Usage = map[string][2]float64{}
		for k, raw := range s.Load.Usage {
			var pair []float64
			if json.Unmarshal(raw, &pair) != nil || len(pair) != 2 || !finite(pair[0]) || !finite(pair[1]) {
				continue
			}
			cs.Usage[k] = [2]float64{pair[0], pair[1]}
		}
		// nodeTypes: [[{resource: amount}, count], ...]
		for _, raw := range s.Load.NodeTypes {
			var pair []json.RawMessage
			if json.Unmarshal(raw, &pair) != nil || len(pair) != 2 {
				continue
			}
			var count float64
			if json.Unmarshal(pair[1], &count) != nil || !finite(count) || count < 0 {
				continue
			}
			if cs.NodeTypeResources == nil {
				cs.NodeTypeResources = map[string]float64{}
			}
			for k, v := range numberMap(pair[0]) {
				cs.NodeTypeResources[k] += v * count
			}
		}
		cs.PendingDemands = demandCount(s.Load.ResourceDmd) + demandCount(s.Load.PGDemand) + demandCount(s.Load.RequestDemand)
	}
	if s.Report != nil {
		cs.ActiveNodes = countNodes(s.Report.ActiveNodes)
		cs.IdleNodes = countNodes(s.Report.IdleNodes)
		cs.PendingNodes = len(s.Report.PendingNodes)
		for _, raw := range s.Report.Launches {
			var n float64
			if json.Unmarshal(raw, &n) == nil && finite(n) && n > 0 && n < 1e9 {
				cs.PendingNodes += int(n)
			}
		}
		cs.FailedNodes = len(s.Report.FailedNodes)
	}
	return cs, true, nil
}

// demandCount sums the counts of [[{bundle}, count], ...] demands; an entry
// without a count counts once.
func demandCount(list []json.RawMessage) int {
	n := 0
	for _, raw := range list {
		var pair []json.RawMessage
		if json.Unmarshal(raw, &pair) == nil && len(pair) == 2 {
			var c float64
			if json.Unmarshal(pair[1], &c) == nil && finite(c) && c > 0 && c < 1e9 {
				n += int(c)
				continue
			}
		}
		n++
	}
	return n
}

// countNodes reads activeNodes/idleNodes: a map node type → count (v1), or
// a list of nodes (v2).
func countNodes(raw json.RawMessage) int {
	var m map[string]float64
	if json.Unmarshal(raw, &m) == nil {
		n := 0
		for _, c := range m {
			if finite(c) && c > 0 && c < 1e9 {
				n += int(c)
			}
		}
		return n
	}
	var l []json.RawMessage
	if json.Unmarshal(raw, &l) == nil {
		return len(l)
	}
	return 0
}

// Resources maps Usage onto Ray's resource names: used and total per
// resource (nil, nil without usage). known holds Ray's names from
// elsewhere (the State API's resources_total, a raylet's
// --static_resource_list) so that e.g. "acceleratorType:A100" becomes
// "accelerator_type:A100"; the node types' names and Ray's well-known ones
// are used as well.
func (cs ClusterStatus) Resources(known []string) (used, total map[string]float64) {
	if len(cs.Usage) == 0 {
		return nil, nil
	}
	names := append([]string(nil), known...)
	for k := range cs.NodeTypeResources {
		names = append(names, k)
	}
	idx := camelIndex(names)
	used, total = map[string]float64{}, map[string]float64{}
	for k, pair := range cs.Usage {
		name := k
		if orig, ok := idx[k]; ok && orig != k {
			if _, literal := cs.Usage[orig]; !literal {
				name = orig
			}
		}
		used[name] = pair[0]
		total[name] = pair[1]
	}
	return used, total
}
