//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/castray/castray/plugins/transfer/local/delivery"
	"github.com/castray/castray/sdk"
)

// realPlugin is the local transfer plugin as its own process, launched the
// way host/pluginmgr launches it.
type realPlugin struct {
	client *plugin.Client
	tr     sdk.Transferer
}

func launchPlugin(o options) (*realPlugin, error) {
	cmd := exec.Command(filepath.Join(o.binDir, "plugins", pluginBinary))
	cmd.Env = append(cleanEnv(), "CASTRAY_PLUGIN_LOG_LEVEL=warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.ClientPluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     30 * time.Second,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "bench-plugin", Level: hclog.Warn, Output: os.Stderr}),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("launch %s: %w", pluginBinary, err)
	}
	raw, err := rpc.Dispense(sdk.PluginSetTransfer)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("dispense: %w", err)
	}
	tr, ok := raw.(sdk.Transferer)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("dispensed %T, not a sdk.Transferer", raw)
	}
	return &realPlugin{client: client, tr: tr}, nil
}

// kill stops the plugin process and checks it is gone.
func (p *realPlugin) kill() error {
	pid := 0
	if rc := p.client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	p.client.Kill()
	if processAlive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return fmt.Errorf("plugin pid %d survived Kill; sent SIGKILL", pid)
	}
	return nil
}

var sinkCaps *sdk.TransferCapabilities

// benchCalls measures tr.Capabilities with the testing package's adaptive
// loop (about one second).
func benchCalls(ctx context.Context, tr sdk.Transferer) (float64, error) {
	var callErr error
	res := testing.Benchmark(func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			caps, err := tr.Capabilities(ctx)
			if err != nil {
				callErr = err
				b.SkipNow()
			}
			sinkCaps = caps
		}
	})
	if callErr != nil {
		return 0, callErr
	}
	if res.N == 0 {
		return 0, errors.New("benchmark did not run")
	}
	return float64(res.T.Nanoseconds()) / float64(res.N), nil
}

// benchPluginRPC is item 3 against a real plugin process: Capabilities over
// go-plugin gRPC (AutoMTLS, as the host) versus a direct call on the same
// implementation in this process. The in-process gRPC figure comes from
// sdk's BenchmarkCapabilities (-gobench).
func benchPluginRPC(ctx context.Context, rep *report, o options) (err error) {
	const launches = 5
	var startups []time.Duration
	for i := 0; i < launches; i++ {
		start := time.Now()
		p, err := launchPlugin(o)
		if err != nil {
			return err
		}
		_, cerr := p.tr.Capabilities(ctx)
		took := time.Since(start)
		if kerr := p.kill(); kerr != nil || cerr != nil {
			return errors.Join(cerr, kerr)
		}
		startups = append(startups, took)
	}

	p, err := launchPlugin(o)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.kill()) }()
	real, err := benchCalls(ctx, p.tr)
	if err != nil {
		return fmt.Errorf("Capabilities over the real plugin process: %w", err)
	}
	direct, err := benchCalls(ctx, delivery.New(hclog.NewNullLogger()))
	if err != nil {
		return err
	}
	logf("rpc: real process %s, direct %s", fmtNs(real), fmtNs(direct))
	rep.add(row{item: "3", what: "Capabilities() via real plugin process (gRPC+mTLS)", figure: fmtNs(real),
		baseName: "direct call (same binary)", baseline: fmtNs(direct), ratio: ratio(real, direct)})
	rep.realRPC = real
	m := median(startups)
	rep.add(row{item: "3", what: fmt.Sprintf("plugin launch+handshake+1st RPC (median of %d)", launches), figure: fmtDur(m)})
	return nil
}
