package fakeray

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// nodesView is node_head.get_all_nodes: /nodes?view=summary and
// ?view=hostNameList; any other view is Ray's "Unknown view" error.
func (s *Server) nodesView(q url.Values) built {
	view, ok := q["view"]
	switch {
	case ok && len(view) > 0 && view[0] == "summary":
		return built{200, ctJSON, s.summary()}
	case ok && len(view) > 0 && strings.EqualFold(view[0], "hostNameList"):
		b := []byte(`{"result": true, "msg": "Node hostname list fetched.", "data": {"hostNameList": [`)
		first := true
		for _, n := range s.nodes {
			if n.dead {
				continue
			}
			if !first {
				b = append(b, ", "...)
			}
			first = false
			b = appendPyStr(b, n.hostname())
		}
		return built{200, ctJSON, append(b, "]}}"...)}
	}
	v := "None"
	if ok && len(view) > 0 {
		v = view[0]
	}
	b := []byte(`{"result": false, "msg": `)
	b = appendPyStr(b, "Unknown view "+v)
	return built{500, ctJSON, append(b, `, "data": {}}`...)}
}

func (n *node) hostname() string { return "fake-" + strings.ReplaceAll(n.ip, ".", "-") }

// summary writes data.summary[] and data.nodeLogicalResources with the keys
// (camelCase, in order) of the captured nodes_view_summary.txt. The
// physical stats are small constant stand-ins ("minimal but real-shaped"):
// the agent's 200-entry cmdline and real disk figures are not reproduced.
// A DEAD node's entry is only {"raylet": {...}} with deathInfo, because a
// dead node's agent reports no physical stats: NOT verified by a capture.
func (s *Server) summary() []byte {
	tempDir := "/tmp/ray"
	sessionDir := tempDir + "/" + s.session
	now := strconv.FormatFloat(float64(baseStartMs)/1000+60.5, 'f', -1, 64)
	b := make([]byte, 0, 1500*len(s.nodes)+256)
	b = append(b, `{"result": true, "msg": "Node summary fetched.", "data": {"summary": [`...)
	for i, n := range s.nodes {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '{')
		if !n.dead {
			b = append(b, `"now": `+now+`, "hostname": `...)
			b = appendPyStr(b, n.hostname())
			b = append(b, `, "ip": `...)
			b = appendPyStr(b, n.ip)
			b = append(b, `, "cpu": 0.0, "cpus": [8, 8], "mem": [25276502016, 24279838720, 3.9, 996663296], "hostMem": [1871728640, 25276502016], "cgroupMem": [996663296, 25276502016], "shm": 9109504, `...)
		}
		b = append(b, `"raylet": {"objectStoreUsedMemory": 0, "objectStoreAvailableMemory": 0, "nodeId": `...)
		b = appendPyStr(b, n.id)
		b = append(b, `, "nodeManagerAddress": `...)
		b = appendPyStr(b, n.ip)
		b = append(b, `, "rayletSocketName": `...)
		b = appendPyStr(b, sessionDir+"/sockets/raylet")
		b = append(b, `, "objectStoreSocketName": `...)
		b = appendPyStr(b, sessionDir+"/sockets/plasma_store")
		b = append(b, `, "nodeManagerPort": `...)
		b = strconv.AppendInt(b, int64(n.ports[0]), 10)
		b = append(b, `, "objectManagerPort": `...)
		b = strconv.AppendInt(b, int64(n.ports[1]), 10)
		b = append(b, `, "nodeManagerHostname": `...)
		b = appendPyStr(b, n.hostname())
		b = append(b, `, "metricsExportPort": `...)
		b = strconv.AppendInt(b, int64(n.ports[2]), 10)
		b = append(b, `, "resourcesTotal": `...)
		b = appendPyFloatMap(b, n.res, pyCamel)
		b = append(b, `, "nodeName": `...)
		b = appendPyStr(b, n.name)
		b = append(b, `, "startTimeMs": "`...)
		b = strconv.AppendInt(b, n.startMs, 10)
		b = append(b, `", "isHeadNode": `...)
		b = appendPyBool(b, n.head)
		b = append(b, `, "labels": {"ray.io/node-id": `...)
		b = appendPyStr(b, n.id)
		b = append(b, `}, "runtimeEnvAgentPort": `...)
		b = strconv.AppendInt(b, int64(n.ports[5]), 10)
		if n.dead {
			b = append(b, `, "deathInfo": {"reason": "UNEXPECTED_TERMINATION", "reasonMessage": "health check failed due to missing too many heartbeats"}`...)
		} else {
			b = append(b, `, "stateSnapshot": {"state": "ACTIVE", "idleDurationMs": "0", "nodeActivity": []}`...)
		}
		b = append(b, `, "metricsAgentPort": `...)
		b = strconv.AppendInt(b, int64(n.ports[3]), 10)
		b = append(b, `, "dashboardAgentListenPort": `...)
		b = strconv.AppendInt(b, int64(n.ports[4]), 10)
		b = append(b, `, "tempDir": `...)
		b = appendPyStr(b, tempDir)
		b = append(b, `, "sessionDir": `...)
		b = appendPyStr(b, sessionDir)
		b = append(b, `, "state": `...)
		b = appendPyStr(b, n.stateStr())
		b = append(b, `, "instanceId": "", "nodeTypeName": "", "instanceTypeName": "", "endTimeMs": "`...)
		b = strconv.AppendInt(b, n.endMs, 10)
		b = append(b, `", "stateMessage": `...)
		if n.dead {
			b = appendPyStr(b, n.stateMsg)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, '}')
		if !n.dead {
			b = append(b, `, "agent": {"pid": `...)
			b = strconv.AppendInt(b, int64(n.ports[6]), 10)
			b = append(b, `, "createTime": 1795638129.89, "cpuPercent": 0.0, "cpuTimes": {"user": 0.55, "system": 0.09, "childrenUser": 0.0, "childrenSystem": 0.0}, "cmdline": ["ray::DashboardAgent"], "memoryInfo": {"rss": 124805120.0, "vms": 1384071168.0, "pfaults": null, "pageins": null}, "memoryFullInfo": null, "numFds": 49, "gpuMemoryUsage": null, "gpuUtilization": null}`...)
			b = append(b, `, "bootTime": 1795636041.0, "loadAvg": [[0.5, 0.5, 0.5], [0.06, 0.06, 0.06]], "disk": {"/": {"total": 270553174016, "used": 16834985984, "free": 80958308352, "percent": 17.2}}, "diskIo": [0, 0, 0, 0], "diskIoSpeed": [0.0, 0.0, 0.0, 0.0], "gpus": [], "tpus": [], "network": [0, 0], "networkSpeed": [0.0, 0.0], "cmdline": [`...)
			b = appendPyStr(b, "/fake/ray/core/src/ray/raylet/raylet")
			b = append(b, ", "...)
			b = appendPyStr(b, "--node_id="+n.id)
			b = append(b, ", "...)
			b = appendPyStr(b, "--node_ip_address="+n.ip)
			b = append(b, ", "...)
			b = appendPyStr(b, "--session-name="+s.session)
			b = append(b, ", "...)
			b = appendPyStr(b, "--cluster-id="+s.clusterID)
			b = append(b, ']')
			if n.head {
				b = append(b, `, "gcs": {"pid": 14167, "createTime": 1795638126.57, "cpuPercent": 0.0, "cpuTimes": {"user": 0.03, "system": 0.03, "childrenUser": 0.0, "childrenSystem": 0.0}, "memoryInfo": {"rss": 47292416.0, "vms": 312565760.0, "pfaults": null, "pageins": null}, "memoryFullInfo": null, "numFds": 65, "gpuMemoryUsage": null, "gpuUtilization": null}`...)
			}
		}
		b = append(b, '}')
	}
	b = append(b, `], "nodeLogicalResources": {`...)
	first := true
	for _, n := range s.nodes {
		if n.dead {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = appendPyStr(b, n.id)
		b = append(b, ": "...)
		b = appendPyStr(b, logicalResources(n.res))
	}
	return append(b, "}}}"...)
}

// logicalResources mimics the captured usage text, e.g.
// "0.0/2.0 CPU\n0B/15.86GiB memory\n0B/6.80GiB object_store_memory"
// (nothing is ever in use on the fake).
func logicalResources(res []kv) string {
	get := func(k string) (float64, bool) {
		for _, e := range res {
			if e.K == k {
				return e.V, true
			}
		}
		return 0, false
	}
	var lines []string
	if v, ok := get("CPU"); ok {
		lines = append(lines, "0.0/"+string(appendPyFloat(nil, v))+" CPU")
	}
	for _, k := range []string{"memory", "object_store_memory"} {
		if v, ok := get(k); ok {
			lines = append(lines, fmt.Sprintf("0B/%.2fGiB %s", v/(1<<30), k))
		}
	}
	return strings.Join(lines, "\n")
}
