package sdk_test

import (
	"reflect"
	"testing"

	"github.com/castray/castray/sdk"
)

type decodeTarget struct {
	Name    string            `json:"name" castray:"required,desc=Who, in full"`
	Ports   []int             `json:"ports" castray:"desc=Ports to probe"`
	Timeout string            `json:"timeout"`
	Labels  map[string]string `json:"labels"`
	Skip    string            `json:"-"`
	hidden  int
}

func TestDecodeConfigReportsEveryProblemSorted(t *testing.T) {
	c := decodeTarget{Timeout: "5s"}
	problems := sdk.DecodeConfig([]byte(`{"zeta": 1, "ports": ["a"], "timeout": 5, "alpha": true, "labels": {"x": 1}, "Skip": "x"}`), &c)
	got := map[string]string{}
	var keys []string
	for _, p := range problems {
		keys = append(keys, p.GetKey())
		got[p.GetKey()] = p.GetMessage()
	}
	wantKeys := []string{"Skip", "alpha", "labels", "name", "ports", "timeout", "zeta"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Fatalf("keys = %q, want %q (problems %v)", keys, wantKeys, problems)
	}
	for key, msg := range map[string]string{
		"Skip":    "unknown key",
		"alpha":   "unknown key",
		"zeta":    "unknown key",
		"name":    "required key is missing",
		"ports":   "expected list(int), got string where int belongs",
		"timeout": "expected string, got number",
		"labels":  "expected map(string), got number where string belongs",
	} {
		if got[key] != msg {
			t.Errorf("%s: %q, want %q", key, got[key], msg)
		}
	}
	if c.Timeout != "5s" || c.Ports != nil {
		t.Errorf("dst changed despite problems: %+v", c)
	}
}

func TestDecodeConfigAppliesOnlyGivenKeys(t *testing.T) {
	c := decodeTarget{Timeout: "5s"}
	if problems := sdk.DecodeConfig([]byte(`{"Name": "n", "ports": [1, 2]}`), &c); problems != nil {
		t.Fatalf("problems = %v", problems)
	}
	if c.Name != "n" || !reflect.DeepEqual(c.Ports, []int{1, 2}) || c.Timeout != "5s" {
		t.Errorf("decoded %+v", c)
	}
	// Empty input: nothing to apply, but a required key is still missing.
	if problems := sdk.DecodeConfig(nil, &c); len(problems) != 1 || problems[0].GetKey() != "name" {
		t.Errorf("empty config: problems = %v", problems)
	}
}

func TestDecodeConfigEmbeddedAndNonStruct(t *testing.T) {
	type Common struct {
		Verbose bool `json:"verbose"`
	}
	var c struct {
		Common
		Port int `json:"port"`
	}
	if problems := sdk.DecodeConfig([]byte(`{"verbose": true, "port": 1}`), &c); problems != nil || !c.Verbose || c.Port != 1 {
		t.Fatalf("problems %v, decoded %+v", problems, c)
	}
	m := map[string]int{}
	if problems := sdk.DecodeConfig([]byte(`{"a": 1}`), &m); problems != nil || m["a"] != 1 {
		t.Fatalf("map: problems %v, decoded %v", problems, m)
	}
}

func TestSchemaFor(t *testing.T) {
	schema, err := sdk.SchemaFor(&decodeTarget{Ports: []int{8265}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range schema.GetFields() {
		got = append(got, f.GetName()+"|"+f.GetType()+"|"+f.GetDescription()+"|"+map[bool]string{true: "required"}[f.GetRequired()]+"|"+f.GetDefaultJson())
	}
	want := []string{
		"name|string|Who, in full|required|",
		"ports|list(int)|Ports to probe||[8265]",
		"timeout|string|||",
		"labels|map(string)|||",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("schema:\n got %q\nwant %q", got, want)
	}
	if _, err := sdk.SchemaFor(42); err == nil {
		t.Error("SchemaFor(42): no error")
	}
}
