package sdk

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestCheckOffered(t *testing.T) {
	for _, tc := range []struct {
		offered string
		served  []int
		want    string // part of the error; "" for none
	}{
		{"", []int{1}, ""},
		{"1", []int{1}, ""},
		{"1,2", []int{2}, ""},
		{"2,1", []int{3, 1}, ""},
		{"1", []int{3, 2}, "this plugin speaks [2 3], the daemon offers [1]"},
		{"3,1", []int{2}, "this plugin speaks [2], the daemon offers [1 3]"},
		{"x", []int{1}, "malformed"},
	} {
		err := checkOffered(tc.offered, tc.served)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checkOffered(%q, %v) = %v, want %q", tc.offered, tc.served, err, tc.want)
		}
	}
}

func TestServedVersionsMustBeKnown(t *testing.T) {
	if err := checkServedVersions(APIVersions()); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]int{nil, {APIVersion + 1}, {1, 99}} {
		if err := checkServedVersions(bad); err == nil || !strings.Contains(err.Error(), "this SDK") {
			t.Errorf("checkServedVersions(%v) = %v", bad, err)
		}
	}
}

func TestClientOffersEveryKnownVersion(t *testing.T) {
	got := slices.Sorted(maps.Keys(ClientPluginSet()))
	if !slices.Equal(got, APIVersions()) || !slices.Contains(got, APIVersion) {
		t.Errorf("ClientPluginSet versions %v, APIVersions %v", got, APIVersions())
	}
	if Handshake.MagicCookieValue != "6f1c0f3e-castray-plugin-v1" {
		t.Errorf("the magic cookie changed to %q: it is version-independent and must never change", Handshake.MagicCookieValue)
	}
}

func TestDefaultName(t *testing.T) {
	saved := osArgs0()
	defer setOSArgs0(saved)
	for bin, want := range map[string]string{
		"/x/castray-discovery-my-scan": "my-scan",
		"castray-transfer-local":       "local",
		"/x/something":                 "something",
	} {
		setOSArgs0(bin)
		kind := KindDiscovery
		if strings.Contains(bin, "transfer") {
			kind = KindTransfer
		}
		if got := defaultName(kind); got != want {
			t.Errorf("defaultName for %s = %q, want %q", bin, got, want)
		}
	}
}

func osArgs0() string       { return os.Args[0] }
func setOSArgs0(arg string) { os.Args[0] = arg }
