package scan

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// The few Ray protobuf messages this strategy needs, encoded and decoded by
// hand. Field numbers are those of Ray's package ray.rpc as checked against
// the descriptors shipped with Ray 2.60.0 (README, "Verified against Ray
// 2.60.0"):
//
//	GcsStatus            code=1 int32, message=2 string
//	CheckAliveRequest    node_ids=1 (sent empty)
//	CheckAliveReply      status=1, ray_version=2, raylet_alive=3, is_leader=4
//	GetClusterIdRequest  (empty)
//	GetClusterIdReply    status=1, cluster_id=2 bytes (28)
//	GetAllNodeInfoRequest limit=1, node_selectors=2, state_filter=3 (enum, ALIVE=0)
//	GetAllNodeInfoReply  status=1, node_info_list=2, total=3, num_filtered=4
//	GcsNodeInfo          node_id=1, node_manager_address=2, state=7 (ALIVE=0,
//	                     DEAD=1), node_manager_hostname=8, resources_total=11
//	                     (map<string,double>), node_name=12, is_head_node=25,
//	                     dashboard_agent_listen_port=31, temp_dir=32,
//	                     session_dir=33
//	ClusterInfoRequest   type=1 (ClusterInfoType, PING=6)
//	ClusterInfoResponse  type=1, json=2 string
//
// Unknown fields are skipped; a known field with the wrong wire type makes
// the whole message invalid, because a reply of the wrong shape is not Ray.

const (
	nodeStateAlive      = 0
	clusterInfoTypePing = 6
)

// gcsStatus is ray.rpc.GcsStatus; Code 0 is OK.
type gcsStatus struct {
	Code    int32
	Message string
}

type checkAliveReply struct {
	Status     gcsStatus
	RayVersion string
	IsLeader   bool
}

type clusterIDReply struct {
	Status    gcsStatus
	ClusterID []byte
}

// nodeInfo is the part of ray.rpc.GcsNodeInfo this strategy reads.
type nodeInfo struct {
	NodeID             []byte
	Address            string
	State              int32
	Hostname           string
	NodeName           string
	Resources          map[string]float64
	IsHead             bool
	DashboardAgentPort int32
	TempDir            string
	SessionDir         string
}

type nodeInfoReply struct {
	Status      gcsStatus
	Nodes       []nodeInfo
	Total       int64
	NumFiltered int64
}

type clusterInfoResponse struct {
	Type int32
	JSON string
}

// Requests. Empty messages encode to no bytes.
var (
	checkAliveRequest   = []byte{}
	getClusterIDRequest = []byte{}
	// GetAllNodeInfoRequest{state_filter: ALIVE}: proto3 optional enum, so
	// the zero value is written explicitly.
	getAllNodeInfoRequest = protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), nodeStateAlive)
	// ClusterInfoRequest{type: PING}.
	clusterInfoPingRequest = protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), clusterInfoTypePing)
)

// field is one decoded protobuf field: V for varint/fixed types, B for
// length-delimited ones.
type field struct {
	Num  protowire.Number
	Type protowire.Type
	V    uint64
	B    []byte
}

var errWireType = errors.New("wrong wire type")

// walk calls fn for every field of a message, in order. Groups are skipped.
func walk(b []byte, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		f := field{Num: num, Type: typ}
		switch typ {
		case protowire.VarintType:
			f.V, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			f.V, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.V = uint64(v)
		case protowire.BytesType:
			f.B, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return fmt.Errorf("field %d: %w", num, err)
		}
	}
	return nil
}

func (f field) varint() (uint64, error) {
	if f.Type != protowire.VarintType {
		return 0, errWireType
	}
	return f.V, nil
}

func (f field) bytes() ([]byte, error) {
	if f.Type != protowire.BytesType {
		return nil, errWireType
	}
	return f.B, nil
}

func (f field) str() (string, error) {
	b, err := f.bytes()
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", errors.New("invalid UTF-8 in string")
	}
	return string(b), nil
}

func (f field) double() (float64, error) {
	if f.Type != protowire.Fixed64Type {
		return 0, errWireType
	}
	return math.Float64frombits(f.V), nil
}

func decodeGcsStatus(b []byte) (gcsStatus, error) {
	var s gcsStatus
	err := walk(b, func(f field) (err error) {
		switch f.Num {
		case 1:
			var v uint64
			v, err = f.varint()
			s.Code = int32(v)
		case 2:
			s.Message, err = f.str()
		}
		return err
	})
	return s, err
}

// statusField decodes field 1 (GcsStatus) of a reply into dst.
func statusField(f field, dst *gcsStatus) error {
	b, err := f.bytes()
	if err != nil {
		return err
	}
	*dst, err = decodeGcsStatus(b)
	return err
}

func decodeCheckAliveReply(b []byte) (checkAliveReply, error) {
	var r checkAliveReply
	err := walk(b, func(f field) (err error) {
		switch f.Num {
		case 1:
			err = statusField(f, &r.Status)
		case 2:
			r.RayVersion, err = f.str()
		case 4:
			var v uint64
			v, err = f.varint()
			r.IsLeader = v != 0
		}
		return err
	})
	return r, err
}

func decodeClusterIDReply(b []byte) (clusterIDReply, error) {
	var r clusterIDReply
	err := walk(b, func(f field) (err error) {
		switch f.Num {
		case 1:
			err = statusField(f, &r.Status)
		case 2:
			r.ClusterID, err = f.bytes()
		}
		return err
	})
	return r, err
}

func decodeNodeInfoReply(b []byte) (nodeInfoReply, error) {
	var r nodeInfoReply
	err := walk(b, func(f field) (err error) {
		switch f.Num {
		case 1:
			err = statusField(f, &r.Status)
		case 2:
			var raw []byte
			if raw, err = f.bytes(); err != nil {
				return err
			}
			var n nodeInfo
			if n, err = decodeNodeInfo(raw); err != nil {
				return err
			}
			r.Nodes = append(r.Nodes, n)
		case 3:
			var v uint64
			v, err = f.varint()
			r.Total = int64(v)
		case 4:
			var v uint64
			v, err = f.varint()
			r.NumFiltered = int64(v)
		}
		return err
	})
	return r, err
}

func decodeNodeInfo(b []byte) (nodeInfo, error) {
	var n nodeInfo
	err := walk(b, func(f field) (err error) {
		var v uint64
		switch f.Num {
		case 1:
			n.NodeID, err = f.bytes()
		case 2:
			n.Address, err = f.str()
		case 7:
			v, err = f.varint()
			n.State = int32(v)
		case 8:
			n.Hostname, err = f.str()
		case 11:
			var raw []byte
			if raw, err = f.bytes(); err != nil {
				return err
			}
			var k string
			var val float64
			if k, val, err = decodeResourceEntry(raw); err != nil {
				return err
			}
			if n.Resources == nil {
				n.Resources = map[string]float64{}
			}
			n.Resources[k] = val
		case 12:
			n.NodeName, err = f.str()
		case 25:
			v, err = f.varint()
			n.IsHead = v != 0
		case 31:
			v, err = f.varint()
			n.DashboardAgentPort = int32(v)
		case 32:
			n.TempDir, err = f.str()
		case 33:
			n.SessionDir, err = f.str()
		}
		return err
	})
	return n, err
}

// decodeResourceEntry decodes one map<string,double> entry.
func decodeResourceEntry(b []byte) (string, float64, error) {
	var k string
	var v float64
	err := walk(b, func(f field) (err error) {
		switch f.Num {
		case 1:
			k, err = f.str()
		case 2:
			v, err = f.double()
		}
		return err
	})
	return k, v, err
}

func decodeClusterInfoResponse(b []byte) (clusterInfoResponse, error) {
	var r clusterInfoResponse
	err := walk(b, func(f field) (err error) {
		switch f.Num {
		case 1:
			var v uint64
			v, err = f.varint()
			r.Type = int32(v)
		case 2:
			r.JSON, err = f.str()
		}
		return err
	})
	return r, err
}
