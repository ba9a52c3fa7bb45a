package groups

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/selector"
	"github.com/castray/castray/host/store"
)

type env struct {
	dir string
	st  *store.Store
	reg *registry.Registry
	s   *Service
}

// newEnv opens a store in a temporary dir, with local nodes n1..n3 and the
// external cluster c1 of two ray nodes (one with a GPU, one inactive).
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.open(t)
	for _, id := range []string{"n1", "n2", "n3"} {
		if _, err := e.reg.AddLocal(id, 0, filepath.Join(e.dir, "inbox")); err != nil {
			t.Fatal(err)
		}
	}
	e.reg.SyncCluster("c1", []registry.Node{
		{ID: "ray:c1:aa", Resources: map[string]float64{"GPU": 1}, Labels: map[string]string{"zone": "a"}},
		{ID: "ray:c1:bb", State: registry.StateInactive, Resources: map[string]float64{"GPU": 2}},
	})
	return e
}

func (e *env) open(t *testing.T) {
	t.Helper()
	st, err := store.Open(filepath.Join(e.dir, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	e.reg = registry.New(st, nil)
	if err := e.reg.Load(); err != nil {
		t.Fatal(err)
	}
	e.s = New(st, e.reg)
	if err := e.s.Load(); err != nil {
		t.Fatal(err)
	}
}

func fieldOf(err error) string {
	var fe *selector.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

func TestCreateAndValidate(t *testing.T) {
	e := newEnv(t)
	g, err := e.s.Create("team-a", []string{"n2", "ray:c1:aa"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Type != TypeList || !reflect.DeepEqual(g.Members, []string{"n2", "ray:c1:aa"}) || g.CreatedAt.IsZero() {
		t.Fatalf("created %+v", g)
	}
	sg, err := e.s.Create("gpus", nil, &selector.Selector{Resources: map[string]float64{"GPU": 1}})
	if err != nil || sg.Type != TypeSelector || sg.Members != nil {
		t.Fatalf("selector group %+v, %v", sg, err)
	}

	for _, tc := range []struct {
		name    string
		members []string
		sel     *selector.Selector
		field   string
		msg     string
	}{
		{"", nil, nil, "name", "invalid group name: empty"},
		{"a b", nil, nil, "name", `invalid group name "a b": character ' ' not allowed`},
		{".hidden", nil, nil, "name", "must not start with '.'"},
		{"x", []string{"n1", "n1"}, nil, "members[1]", `node "n1" is listed twice`},
		{"x", []string{"n1", "nope"}, nil, "members[1]", `node "nope" not found`},
		{"x", []string{""}, nil, "members[0]", "empty node id"},
		{"x", []string{"n1"}, &selector.Selector{}, "members", "either members or a selector"},
		{"x", nil, &selector.Selector{Kind: "gpu"}, "selector.kind", `"gpu" is not a node kind`},
	} {
		_, err := e.s.Create(tc.name, tc.members, tc.sel)
		if fieldOf(err) != tc.field || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Create(%q, %q, %v) = %v; want an error on %s saying %q", tc.name, tc.members, tc.sel, err, tc.field, tc.msg)
		}
	}
	if _, err := e.s.Create("team-a", nil, nil); !errors.Is(err, ErrExists) {
		t.Errorf("second team-a: %v", err)
	}
	if got := e.s.List(); len(got) != 2 || got[0].Name != "gpus" || got[1].Name != "team-a" {
		t.Errorf("List = %+v; want gpus, team-a and nothing of the failed creations", got)
	}
	if _, err := e.s.Get("x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(x): %v", err)
	}
}

func TestMembers(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.Create("g", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Create("sel", nil, &selector.Selector{Kind: registry.KindLocal}); err != nil {
		t.Fatal(err)
	}
	g, added, err := e.s.AddMember("g", "n1")
	if err != nil || !added || !reflect.DeepEqual(g.Members, []string{"n1"}) {
		t.Fatalf("add n1: %+v %v %v", g, added, err)
	}
	if g, added, err = e.s.AddMember("g", "n1"); err != nil || added || len(g.Members) != 1 {
		t.Fatalf("add n1 again: %+v %v %v; want no change", g, added, err)
	}
	if _, _, err := e.s.AddMember("g", "ghost"); !errors.Is(err, ErrNodeNotFound) {
		t.Errorf("add ghost: %v", err)
	}
	if _, _, err := e.s.AddMember("nope", "n1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("add to missing group: %v", err)
	}
	if _, _, err := e.s.AddMember("sel", "n1"); !errors.Is(err, ErrNotList) {
		t.Errorf("add to selector group: %v", err)
	}
	if _, err := e.s.RemoveMember("sel", "n1"); !errors.Is(err, ErrNotList) {
		t.Errorf("remove from selector group: %v", err)
	}
	if _, err := e.s.RemoveMember("g", "n2"); !errors.Is(err, ErrNotMember) {
		t.Errorf("remove non-member: %v", err)
	}
	if _, _, err := e.s.AddMember("g", "n2"); err != nil {
		t.Fatal(err)
	}
	// A member whose node was deleted can still be removed.
	if _, err := e.reg.Remove("n1"); err != nil {
		t.Fatal(err)
	}
	if g, err = e.s.RemoveMember("g", "n1"); err != nil || !reflect.DeepEqual(g.Members, []string{"n2"}) {
		t.Fatalf("remove deleted n1: %+v %v", g, err)
	}
	if _, err := e.s.Delete("g"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Delete("g"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestResolve(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.Create("list", []string{"n3", "ray:c1:bb", "n1", "n2"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Create("gpu", nil, &selector.Selector{Resources: map[string]float64{"GPU": 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Create("local", nil, &selector.Selector{Kind: registry.KindLocal}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Remove("n1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.SetState("n3", registry.StateInactive); err != nil {
		t.Fatal(err)
	}

	r, err := e.s.Resolve("list")
	if err != nil {
		t.Fatal(err)
	}
	want := Resolution{Group: "list", Type: TypeList, NodeIDs: []string{"n3", "ray:c1:bb", "n2"},
		Missing: []string{"n1"}, Inactive: []string{"n3", "ray:c1:bb"}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("list: %+v\nwant %+v", r, want)
	}
	// Selector groups: online nodes only (ray:c1:bb has a GPU but is inactive).
	if r, _ := e.s.Resolve("gpu"); !reflect.DeepEqual(r.NodeIDs, []string{"ray:c1:aa"}) || r.Missing != nil {
		t.Errorf("gpu: %+v", r)
	}
	if r, _ := e.s.Resolve("local"); !reflect.DeepEqual(r.NodeIDs, []string{"n2"}) {
		t.Errorf("local: %+v", r)
	}
	// The registry changes, the selector group follows.
	if _, err := e.reg.AddLocal("n0", 0, filepath.Join(e.dir, "inbox")); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.s.Resolve("local"); !reflect.DeepEqual(r.NodeIDs, []string{"n0", "n2"}) {
		t.Errorf("local after adding n0: %+v", r)
	}
	if _, err := e.s.Resolve("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(nope): %v", err)
	}
}

func TestPersisted(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.Create("empty", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Create("list", []string{"n1"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.s.AddMember("list", "n2"); err != nil {
		t.Fatal(err)
	}
	sel := &selector.Selector{Labels: map[string]string{"zone": "a"}, Available: map[string]float64{"CPU": 2}}
	if _, err := e.s.Create("sel", nil, sel); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Create("gone", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Delete("gone"); err != nil {
		t.Fatal(err)
	}
	before := e.s.List()
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}

	e.open(t) // a restart
	after := e.s.List()
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after a restart:\n %+v\nwant\n %+v", after, before)
	}
	raw, _ := json.Marshal(after[0])
	if !strings.Contains(string(raw), `"name":"empty","type":"list"`) || !strings.Contains(string(raw), `"members":[]`) {
		t.Errorf("empty list group JSON: %s", raw)
	}
	raw, _ = json.Marshal(after[2])
	if strings.Contains(string(raw), "members") || !strings.Contains(string(raw), `"selector":{"labels":{"zone":"a"},"available":{"CPU":2}}`) {
		t.Errorf("selector group JSON: %s", raw)
	}
}

func TestLoadSkipsBadRecords(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.Create("ok", []string{"n1"}, nil); err != nil {
		t.Fatal(err)
	}
	for key, v := range map[string]any{
		"junk":    "not a group",
		"renamed": map[string]any{"name": "other", "type": "list"},
		"badsel":  map[string]any{"name": "badsel", "type": "selector", "selector": map[string]any{"kind": "gpu"}},
		"notype":  map[string]any{"name": "notype"},
	} {
		if err := e.st.Put(Bucket, key, v); err != nil {
			t.Fatal(err)
		}
	}
	s := New(e.st, e.reg)
	err := s.Load()
	if err == nil || !strings.Contains(err.Error(), "4 of 5 records skipped") {
		t.Fatalf("Load: %v", err)
	}
	for _, want := range []string{`"junk"`, `holds name "other"`, `selector.kind`, `unknown type ""`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load error lacks %q: %v", want, err)
		}
	}
	if got := s.List(); len(got) != 1 || got[0].Name != "ok" {
		t.Errorf("loaded %+v, want only ok", got)
	}
}

// failingStore fails every write after fail is set.
type failingStore struct {
	Store
	fail bool
}

func (f *failingStore) Put(b, k string, v any) error {
	if f.fail {
		return errors.New("disk full")
	}
	return f.Store.Put(b, k, v)
}

func (f *failingStore) Delete(b, k string) error {
	if f.fail {
		return errors.New("disk full")
	}
	return f.Store.Delete(b, k)
}

func TestFailedWritesChangeNothing(t *testing.T) {
	e := newEnv(t)
	fs := &failingStore{Store: e.st}
	s := New(fs, e.reg)
	if _, err := s.Create("g", []string{"n1"}, nil); err != nil {
		t.Fatal(err)
	}
	fs.fail = true
	if _, err := s.Create("h", nil, nil); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("create: %v", err)
	}
	if _, _, err := s.AddMember("g", "n2"); err == nil {
		t.Error("add member succeeded on a failing store")
	}
	if _, err := s.RemoveMember("g", "n1"); err == nil {
		t.Error("remove member succeeded on a failing store")
	}
	if _, err := s.Delete("g"); err == nil {
		t.Error("delete succeeded on a failing store")
	}
	got := s.List()
	if len(got) != 1 || got[0].Name != "g" || !reflect.DeepEqual(got[0].Members, []string{"n1"}) {
		t.Errorf("after failed writes: %+v; want g with n1 only", got)
	}
	// And the store agrees.
	s2 := New(e.st, e.reg)
	if err := s2.Load(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s2.List(), got) {
		t.Errorf("store holds %+v, memory %+v", s2.List(), got)
	}
}

func TestCopies(t *testing.T) {
	e := newEnv(t)
	sel := &selector.Selector{Labels: map[string]string{"zone": "a"}}
	g, err := e.s.Create("sel", nil, sel)
	if err != nil {
		t.Fatal(err)
	}
	sel.Labels["zone"] = "b"
	g.Selector.Labels["zone"] = "c"
	l, _ := e.s.Create("l", []string{"n1"}, nil)
	l.Members[0] = "zzz"
	if got, _ := e.s.Get("sel"); got.Selector.Labels["zone"] != "a" {
		t.Errorf("the service's selector changed with a caller's copy: %v", got.Selector)
	}
	if got, _ := e.s.Get("l"); got.Members[0] != "n1" {
		t.Errorf("the service's members changed with a caller's copy: %v", got.Members)
	}
}
