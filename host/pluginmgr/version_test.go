package pluginmgr_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/sdk"
)

// API version 2 does not exist yet; these tests simulate it the way a real
// one would arrive: a plugin set registered under version 2 on both sides,
// whose messages have a field version 1 lacks. The simulated v2 PluginInfo
// carries field 15, a string, which v1 code keeps as an unknown field: the
// v2 plugin set of the plugin writes it, the daemon's v2 set reads it and
// appends it to the description, so the description shows which set go-plugin
// picked on both ends.
const v2Field protowire.Number = 15

// serveHelper serves h for the API versions its mode names: the SDK's own
// ServeTransfer for version 1 alone, go-plugin directly once the simulated
// version 2 is in the set (the SDK refuses versions it does not know).
func serveHelper(h *helper) {
	modes := strings.Split(h.mode, ",")
	sets := map[int]plugin.PluginSet{}
	switch {
	case slices.Contains(modes, "v2only"):
		sets[2] = sdk.ServerPluginSet(v2Plugin{h})
	case slices.Contains(modes, "v1v2"):
		sets[1] = sdk.ServerPluginSet(h)
		sets[2] = sdk.ServerPluginSet(v2Plugin{h})
	default:
		sdk.ServeTransfer(h)
		return
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sets,
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           sdk.Logger(),
	})
}

// v2Plugin is the helper as its v2 set serves it: Info carries the v2 field.
type v2Plugin struct{ *helper }

func (p v2Plugin) Info(ctx context.Context) (*sdk.PluginInfo, error) {
	info, err := p.helper.Info(ctx)
	if err != nil {
		return nil, err
	}
	b := protowire.AppendTag(nil, v2Field, protowire.BytesType)
	info.ProtoReflect().SetUnknown(protowire.AppendString(b, "hello from v2"))
	return info, nil
}

// daemonSets is what a daemon offers: the SDK's version 1 and, with v2, the
// simulated version 2, whose base entry reads the v2 field.
func daemonSets(v1, v2 bool) map[int]plugin.PluginSet {
	sdkSet := sdk.ClientPluginSet()[1]
	sets := map[int]plugin.PluginSet{}
	if v1 {
		sets[1] = sdkSet
	}
	if v2 {
		sets[2] = plugin.PluginSet{
			sdk.PluginSetBase:      v2ClientEntry{inner: sdkSet[sdk.PluginSetBase].(plugin.GRPCPlugin)},
			sdk.PluginSetDiscovery: sdkSet[sdk.PluginSetDiscovery],
			sdk.PluginSetTransfer:  sdkSet[sdk.PluginSetTransfer],
		}
	}
	return sets
}

type v2ClientEntry struct {
	plugin.NetRPCUnsupportedPlugin
	inner plugin.GRPCPlugin
}

func (e v2ClientEntry) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	return e.inner.GRPCServer(b, s)
}

func (e v2ClientEntry) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	raw, err := e.inner.GRPCClient(ctx, b, c)
	if err != nil {
		return nil, err
	}
	return v2Client{raw.(sdk.Plugin)}, nil
}

type v2Client struct{ sdk.Plugin }

func (c v2Client) Info(ctx context.Context) (*sdk.PluginInfo, error) {
	info, err := c.Plugin.Info(ctx)
	if err != nil {
		return nil, err
	}
	for b := info.ProtoReflect().GetUnknown(); len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, errors.New("v2: bad unknown field")
		}
		b = b[n:]
		if num == v2Field && typ == protowire.BytesType {
			v, m := protowire.ConsumeString(b)
			if m < 0 {
				return nil, errors.New("v2: bad v2 field")
			}
			info.Description += " [v2 field: " + v + "]"
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, errors.New("v2: bad unknown field")
		}
		b = b[m:]
	}
	return info, nil
}

func byName(m *pluginmgr.Manager) map[string]pluginmgr.Status {
	out := map[string]pluginmgr.Status{}
	for _, st := range m.List() {
		out[st.Name] = st
	}
	return out
}

// One daemon offering versions 1 and 2 loads a v1 plugin, a v2 plugin and a
// plugin serving both; each gets its own negotiated version, in Configure
// (the api=<n> plugins reject any other), in the status, and again after a
// relaunch.
func TestEachPluginGetsItsNegotiatedVersion(t *testing.T) {
	dir := pluginDir(t, map[string]string{
		"castray-transfer-old":  "name=old,api=1",
		"castray-transfer-new":  "name=new,v2only,api=2",
		"castray-transfer-both": "name=both,v1v2,api=2",
	})
	m := load(t, pluginmgr.Options{Dir: dir, PluginSets: daemonSets(true, true), Settings: map[string]pluginmgr.Settings{
		"old": {Enabled: true}, "new": {Enabled: true}, "both": {Enabled: true},
	}})
	check := func(when string) {
		t.Helper()
		got := byName(m)
		for name, want := range map[string]struct {
			version  int
			versions []uint32
		}{"old": {1, []uint32{1}}, "new": {2, []uint32{2}}, "both": {2, []uint32{1, 2}}} {
			st := got[name]
			v2 := strings.Contains(st.Description, "[v2 field: hello from v2]")
			if st.State != pluginmgr.StateHealthy || st.APIVersion != want.version || !slices.Equal(st.APIVersions, want.versions) || v2 != (want.version == 2) {
				t.Errorf("%s: %s: %+v, want API version %d of %v", when, name, st, want.version, want.versions)
			}
		}
	}
	check("after load")

	before := byName(m)["new"]
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the v2 plugin to be relaunched", func() bool {
		st := byName(m)["new"]
		return st.State == pluginmgr.StateHealthy && st.Restarts == 1 && st.PID != before.PID
	})
	check("after the v2 plugin's relaunch")

	// A daemon that knows only version 1 gets version 1 from the plugin
	// that serves both.
	old := load(t, pluginmgr.Options{Dir: pluginDir(t, map[string]string{"castray-transfer-both": "name=both,v1v2,api=1"}),
		Settings: map[string]pluginmgr.Settings{"both": {Enabled: true}}})
	if st := byName(old)["both"]; st.APIVersion != 1 || strings.Contains(st.Description, "v2 field") {
		t.Errorf("v1 daemon: %+v, want API version 1", st)
	}
}

// A plugin with no API version in common with the daemon fails to load,
// and the error names what each side speaks: go-plugin's own refusal for
// a plugin that serves only v2 to a v1 daemon, the SDK's message (quoted
// from the plugin's stderr) for an SDK plugin of v1 in a v2-only daemon.
func TestNoCommonVersionNamesBothLists(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		sets       map[int]plugin.PluginSet
		want       []string
	}{
		{"v2 plugin, v1 daemon", "name=p,v2only", nil,
			[]string{`plugin "p"`, "no API version in common: this daemon speaks [1]", "Plugin version: 2"}},
		{"v1 SDK plugin, v2 daemon", "name=p", daemonSets(false, true),
			[]string{`plugin "p"`, "no API version in common with the daemon: this plugin speaks [1], the daemon offers [2]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pluginmgr.Load(pluginmgr.Options{
				Dir:        pluginDir(t, map[string]string{"castray-transfer-p": tc.mode}),
				PluginSets: tc.sets,
				Settings:   map[string]pluginmgr.Settings{"p": {Enabled: true}},
			})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			t.Logf("Load: %v", err)
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}
