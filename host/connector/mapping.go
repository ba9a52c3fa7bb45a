package connector

import (
	"strconv"
	"time"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/sdk/ray"
)

// nodeIDLabel is the label Ray gives every node, its id in hex.
const nodeIDLabel = "ray.io/node-id"

// NodeID is the virtual node id of a Ray node.
func NodeID(cluster, nodeHex string) string { return "ray:" + cluster + ":" + nodeHex }

// ActorID is the virtual node id of a Ray actor.
func ActorID(cluster, actorHex string) string { return "ray:" + cluster + ":actor:" + actorHex }

// toVirtual maps Ray's tables to virtual nodes; it returns them, the alive
// nodes and the actors kept.
//
// Resource mapping: a ray-node's Resources are Ray's resources_total as Ray
// names them (CPU, GPU, memory and object_store_memory in bytes, custom
// resources, node:<ip>); Available is filled when the source reports it. A
// ray-actor's Resources are its required_resources. Labels carry Ray's node
// labels, and for actors the class, namespace, job, pid and hosting node.
func toVirtual(cluster, via string, nodes []ray.Node, actors []ray.Actor, f ActorFilter, now time.Time) ([]registry.Node, int, int) {
	out := make([]registry.Node, 0, len(nodes)+len(actors))
	out, alive, nodeIP := nodesToVirtual(out, cluster, via, nodes, now)
	out, nActors := actorsToVirtual(out, cluster, via, actors, func(n string) string { return nodeIP[n] }, f, now)
	return out, alive, nActors
}

// nodesToVirtual appends the nodes' virtual nodes to out; it returns out,
// the alive nodes and each node's address by node id (for actorsToVirtual).
func nodesToVirtual(out []registry.Node, cluster, via string, nodes []ray.Node, now time.Time) ([]registry.Node, int, map[string]string) {
	source := "ray-" + via
	nodeIP := make(map[string]string, len(nodes))
	alive := 0
	for _, n := range nodes {
		state := registry.StateActive
		if n.State != "ALIVE" {
			state = registry.StateDead
		} else {
			alive++
		}
		nodeIP[n.NodeID] = n.Address
		name := n.NodeName
		if name == "" || name == n.Address {
			name = n.Address // one string for both
		}
		id := NodeID(cluster, n.NodeID)
		if v, ok := n.Labels[nodeIDLabel]; ok && v == n.NodeID {
			// Ray labels every node with its id: the label's value shares
			// the virtual id's bytes (100,000 nodes keep 6 MB less).
			n.Labels[nodeIDLabel] = id[len(id)-len(v):]
		}
		out = append(out, registry.Node{
			ID: id, Kind: registry.KindRayNode, Name: name, State: state,
			Address: n.Address, Port: n.NodeManagerPort, ClusterID: cluster, Hostname: n.Hostname, IsHead: n.IsHead,
			Resources: n.ResourcesTotal, Available: n.ResourcesAvailable, Labels: n.Labels, Source: source, LastSeen: now,
		})
	}
	return out, alive, nodeIP
}

// actorsToVirtual appends the virtual nodes of the alive actors f keeps to
// out; an actor without an address gets its node's from nodeIP (by Ray node
// id). It returns out and the number of actors kept.
func actorsToVirtual(out []registry.Node, cluster, via string, actors []ray.Actor, nodeIP func(string) string, f ActorFilter, now time.Time) ([]registry.Node, int) {
	source := "ray-" + via
	nActors := 0
	// Actors are many, their classes few: each class is matched once.
	classKept := map[string]bool{}
	for _, a := range actors {
		if a.State != "ALIVE" {
			continue
		}
		if !(f.Named && a.Name != "") {
			kept, seen := classKept[a.ClassName]
			if !seen {
				kept = f.match(ray.Actor{ClassName: a.ClassName})
				classKept[a.ClassName] = kept
			}
			if !kept {
				continue
			}
		}
		nActors++
		name := a.Name
		if name == "" {
			name = a.ClassName
		}
		addr := a.Address
		if addr == "" {
			addr = nodeIP(a.NodeID)
		}
		labels := map[string]string{"class_name": a.ClassName, "ray_node_id": a.NodeID}
		if a.Namespace != "" {
			labels["namespace"] = a.Namespace
		}
		if a.JobID != "" {
			labels["job_id"] = a.JobID
		}
		if a.PID != 0 {
			labels["pid"] = strconv.FormatUint(uint64(a.PID), 10)
		}
		out = append(out, registry.Node{
			ID: ActorID(cluster, a.ActorID), Kind: registry.KindRayActor, Name: name, State: registry.StateActive,
			Address: addr, ClusterID: cluster, Resources: a.RequiredResources, Labels: labels, Source: source, LastSeen: now,
		})
	}
	return out, nActors
}
