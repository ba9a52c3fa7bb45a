package groups

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/selector"
)

// Bucket is the store bucket groups are kept in.
const Bucket = "groups"

// Group types.
const (
	TypeList     = "list"
	TypeSelector = "selector"
)

// MaxNodeIDLen bounds a member id (external node ids are longer than local
// ones: "ray:<connection>:actor:<hex>").
const MaxNodeIDLen = 256

// Sentinel errors; test with errors.Is. Invalid input is a
// *selector.FieldError naming the field ("name", "members[2]",
// "selector.kind"...).
var (
	ErrNotFound     = errors.New("group not found")
	ErrExists       = errors.New("group already exists")
	ErrNotList      = errors.New("group is a selector group: its members follow its selector and cannot be added or removed")
	ErrNodeNotFound = errors.New("node not found")
	ErrNotMember    = errors.New("node is not a member of the group")
)

// Group is a named set of nodes. Values handed out are copies.
type Group struct {
	Name string `json:"name"`
	// Type is TypeList or TypeSelector.
	Type string `json:"type"`
	// Members are the node ids of a list group (nil for a selector group).
	Members []string `json:"members,omitempty"`
	// Selector chooses the nodes of a selector group.
	Selector  *selector.Selector `json:"selector,omitempty"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
}

// MarshalJSON writes members as [] for an empty list group.
func (g Group) MarshalJSON() ([]byte, error) {
	type plain Group
	out := struct {
		plain
		Members *[]string `json:"members,omitempty"` // shadows plain's
	}{plain: plain(g)}
	if g.Type == TypeList {
		m := g.Members
		if m == nil {
			m = []string{}
		}
		out.Members = &m
	}
	return json.Marshal(out)
}

func (g *Group) clone() Group {
	c := *g
	c.Members = slices.Clone(g.Members)
	if g.Type == TypeList && c.Members == nil {
		c.Members = []string{}
	}
	if g.Selector != nil {
		s := *g.Selector
		s.Labels, s.Resources, s.Available = maps.Clone(s.Labels), maps.Clone(s.Resources), maps.Clone(s.Available)
		c.Selector = &s
	}
	return c
}

// Resolution is what a group stands for now.
type Resolution struct {
	Group string `json:"group"`
	Type  string `json:"type"`
	// NodeIDs are the nodes the group resolves to: a selector group's
	// matching active nodes sorted by id; a list group's members that
	// exist, in member order (whatever their state).
	NodeIDs []string `json:"node_ids"`
	// Missing are list members that are no longer in the registry.
	Missing []string `json:"missing,omitempty"`
	// Inactive are the NodeIDs of a list group that are not active (a
	// transfer cannot reach them now).
	Inactive []string `json:"inactive,omitempty"`
}

// Store is what the service needs of the daemon's store; *store.Store
// implements it.
type Store interface {
	Put(bucket, key string, v any) error
	Delete(bucket, key string) error
	List(bucket string, fn func(key string, raw []byte) error) error
}

// Nodes is what the service reads of the registry; *registry.Registry
// implements it.
type Nodes interface {
	Get(id string) (registry.Node, bool)
	List(f registry.Filter) []registry.Node
}

// Service keeps the groups. It is safe for concurrent use.
type Service struct {
	st    Store
	nodes Nodes
	now   func() time.Time

	// wmu serialises changes and is held across their store writes; mu
	// guards groups only, never across a store write, so that reading the
	// groups does not wait for the disk. A *Group in the map is not
	// changed: a change puts a new one in its place.
	wmu    sync.Mutex
	mu     sync.Mutex
	groups map[string]*Group
}

// New returns a service without groups; call Load to read the saved ones.
// st may be nil (nothing is saved).
func New(st Store, nodes Nodes) *Service {
	return &Service{st: st, nodes: nodes, now: func() time.Time { return time.Now().UTC() }, groups: map[string]*Group{}}
}

func inputErr(field, format string, args ...any) error {
	return &selector.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ValidateName checks a group name with the rules of local node ids
// (registry.ValidateID).
func ValidateName(name string) error {
	if err := registry.ValidateID(name); err != nil {
		rest := strings.TrimPrefix(err.Error(), registry.ErrInvalidID.Error())
		return inputErr("name", "invalid group name%s", rest)
	}
	return nil
}

func validMember(field, id string) error {
	switch {
	case id == "":
		return inputErr(field, "empty node id")
	case len(id) > MaxNodeIDLen:
		return inputErr(field, "node id of %d characters, at most %d allowed", len(id), MaxNodeIDLen)
	}
	return nil
}

// check validates a group read from the store.
func (g *Group) check() error {
	if err := ValidateName(g.Name); err != nil {
		return err
	}
	switch g.Type {
	case TypeList:
		if g.Selector != nil {
			return errors.New("list group with a selector")
		}
		seen := map[string]bool{}
		for i, m := range g.Members {
			if err := validMember(fmt.Sprintf("members[%d]", i), m); err != nil {
				return err
			}
			if seen[m] {
				return fmt.Errorf("member %q repeated", m)
			}
			seen[m] = true
		}
	case TypeSelector:
		if g.Selector == nil || g.Members != nil {
			return errors.New("selector group without a selector, or with members")
		}
		if err := g.Selector.Validate(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown type %q", g.Type)
	}
	return nil
}

// Load reads the saved groups. Records that cannot be decoded or are not
// valid are skipped and reported together in the error; the valid ones are
// loaded regardless. Groups already in the service are kept.
func (s *Service) Load() error {
	if s.st == nil {
		return nil
	}
	var loaded []*Group
	var bad []error
	err := s.st.List(Bucket, func(key string, raw []byte) error {
		var g Group
		if err := json.Unmarshal(raw, &g); err != nil {
			bad = append(bad, fmt.Errorf("group record %q: %w", key, err))
			return nil
		}
		if g.Name != key {
			bad = append(bad, fmt.Errorf("group record %q: holds name %q", key, g.Name))
			return nil
		}
		if err := g.check(); err != nil {
			bad = append(bad, fmt.Errorf("group record %q: %w", key, err))
			return nil
		}
		loaded = append(loaded, &g)
		return nil
	})
	if err != nil {
		return fmt.Errorf("load groups: %w", err)
	}
	s.wmu.Lock()
	s.mu.Lock()
	for _, g := range loaded {
		if _, ok := s.groups[g.Name]; !ok {
			s.groups[g.Name] = g
		}
	}
	s.mu.Unlock()
	s.wmu.Unlock()
	if len(bad) > 0 {
		return fmt.Errorf("load groups: %d of %d records skipped: %w", len(bad), len(bad)+len(loaded), errors.Join(bad...))
	}
	return nil
}

// save writes g; the caller holds s.wmu.
func (s *Service) save(g *Group) error {
	if s.st == nil {
		return nil
	}
	if err := s.st.Put(Bucket, g.Name, g); err != nil {
		return fmt.Errorf("save group %s: %w", g.Name, err)
	}
	return nil
}

// Create adds a group: a selector group when sel is not nil (members must
// then be empty), otherwise a list group of members (possibly none). Every
// member must exist in the registry and appear once.
//
// Errors: *selector.FieldError for invalid input, ErrExists, or a failure
// to save (nothing is then created).
func (s *Service) Create(name string, members []string, sel *selector.Selector) (Group, error) {
	if err := ValidateName(name); err != nil {
		return Group{}, err
	}
	now := s.now()
	g := &Group{Name: name, CreatedAt: now, UpdatedAt: now}
	if sel != nil {
		if len(members) > 0 {
			return Group{}, inputErr("members", "give either members or a selector, not both")
		}
		if err := sel.Validate(); err != nil {
			return Group{}, err
		}
		g.Type = TypeSelector
		c := (&Group{Type: TypeSelector, Selector: sel}).clone()
		g.Selector = c.Selector
	} else {
		g.Type = TypeList
		g.Members = []string{}
		seen := map[string]bool{}
		for i, m := range members {
			field := fmt.Sprintf("members[%d]", i)
			if err := validMember(field, m); err != nil {
				return Group{}, err
			}
			if seen[m] {
				return Group{}, inputErr(field, "node %q is listed twice", m)
			}
			seen[m] = true
			if _, ok := s.nodes.Get(m); !ok {
				return Group{}, inputErr(field, "node %q not found", m)
			}
			g.Members = append(g.Members, m)
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, ok := s.lookup(name); ok {
		return Group{}, fmt.Errorf("create group %s: %w", name, ErrExists)
	}
	if err := s.save(g); err != nil {
		return Group{}, fmt.Errorf("create group %s: %w", name, err)
	}
	s.set(name, g)
	return g.clone(), nil
}

// List returns every group, sorted by name.
func (s *Service) List() []Group {
	s.mu.Lock()
	out := make([]Group, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g.clone())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns the group called name, or ErrNotFound.
func (s *Service) Get(name string) (Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	if !ok {
		return Group{}, fmt.Errorf("group %q: %w", name, ErrNotFound)
	}
	return g.clone(), nil
}

// lookup returns the group called name as it is in the map (not to be
// changed).
func (s *Service) lookup(name string) (*Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[name]
	return g, ok
}

// set puts g in the map under name (nil: removes it); the caller holds
// s.wmu.
func (s *Service) set(name string, g *Group) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g == nil {
		delete(s.groups, name)
		return
	}
	s.groups[name] = g
}

// listGroup returns the list group called name; the caller holds s.wmu.
func (s *Service) listGroup(op, name string) (*Group, error) {
	g, ok := s.lookup(name)
	if !ok {
		return nil, fmt.Errorf("%s: group %q: %w", op, name, ErrNotFound)
	}
	if g.Type != TypeList {
		return nil, fmt.Errorf("%s: group %q: %w", op, name, ErrNotList)
	}
	return g, nil
}

// AddMember adds node nodeID to list group name. It reports whether the
// node was added (false: it already was a member, nothing changed).
// Errors: ErrNotFound, ErrNotList, ErrNodeNotFound (the node must exist),
// *selector.FieldError for a malformed id, or a failure to save.
func (s *Service) AddMember(name, nodeID string) (Group, bool, error) {
	op := fmt.Sprintf("add %s to group %s", nodeID, name)
	if err := validMember("node_id", nodeID); err != nil {
		return Group{}, false, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	g, err := s.listGroup(op, name)
	if err != nil {
		return Group{}, false, err
	}
	if slices.Contains(g.Members, nodeID) {
		return g.clone(), false, nil
	}
	if _, ok := s.nodes.Get(nodeID); !ok {
		return Group{}, false, fmt.Errorf("%s: node %q: %w", op, nodeID, ErrNodeNotFound)
	}
	next := g.clone()
	next.Members = append(next.Members, nodeID)
	next.UpdatedAt = s.now()
	if err := s.save(&next); err != nil {
		return Group{}, false, fmt.Errorf("%s: %w", op, err)
	}
	s.set(name, &next)
	return next.clone(), true, nil
}

// RemoveMember removes node nodeID from list group name; the node need not
// exist any more. Errors: ErrNotFound, ErrNotList, ErrNotMember, or a
// failure to save.
func (s *Service) RemoveMember(name, nodeID string) (Group, error) {
	op := fmt.Sprintf("remove %s from group %s", nodeID, name)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	g, err := s.listGroup(op, name)
	if err != nil {
		return Group{}, err
	}
	i := slices.Index(g.Members, nodeID)
	if i < 0 {
		return Group{}, fmt.Errorf("%s: %q: %w", op, nodeID, ErrNotMember)
	}
	next := g.clone()
	next.Members = slices.Delete(next.Members, i, i+1)
	next.UpdatedAt = s.now()
	if err := s.save(&next); err != nil {
		return Group{}, fmt.Errorf("%s: %w", op, err)
	}
	s.set(name, &next)
	return next.clone(), nil
}

// Delete removes the group called name and its record. Errors: ErrNotFound
// or a failure to delete the record (the group is then kept).
func (s *Service) Delete(name string) (Group, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	g, ok := s.lookup(name)
	if !ok {
		return Group{}, fmt.Errorf("delete group %q: %w", name, ErrNotFound)
	}
	if s.st != nil {
		if err := s.st.Delete(Bucket, name); err != nil {
			return Group{}, fmt.Errorf("delete group %s: %w", name, err)
		}
	}
	s.set(name, nil)
	return g.clone(), nil
}

// Resolve returns the nodes group name stands for now (see Resolution).
// Errors: ErrNotFound.
func (s *Service) Resolve(name string) (Resolution, error) {
	g, err := s.Get(name)
	if err != nil {
		return Resolution{}, err
	}
	return s.resolve(g), nil
}

// ResolveGroup resolves a group value (as returned by Get or List).
func (s *Service) ResolveGroup(g Group) Resolution { return s.resolve(g) }

func (s *Service) resolve(g Group) Resolution {
	r := Resolution{Group: g.Name, Type: g.Type, NodeIDs: []string{}}
	if g.Type == TypeSelector {
		sel := *g.Selector
		for _, n := range sel.Select(s.nodes.List(registry.Filter{State: registry.StateActive})) {
			r.NodeIDs = append(r.NodeIDs, n.ID)
		}
		return r
	}
	for _, id := range g.Members {
		n, ok := s.nodes.Get(id)
		switch {
		case !ok:
			r.Missing = append(r.Missing, id)
		default:
			r.NodeIDs = append(r.NodeIDs, id)
			if n.State != registry.StateActive {
				r.Inactive = append(r.Inactive, id)
			}
		}
	}
	return r
}
