package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/castray/castray/config"
	"github.com/castray/castray/host/daemon"
	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/sdk"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "castray",
		Short:         "CastRay finds Ray clusters and moves files to their nodes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newVersionCmd(), newPluginsCmd(), newDiscoverCmd(), newConnectCmd(), newDisconnectCmd(), newNodesCmd(), newPluginCmd())
	return root
}

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the CastRay daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(config.LoadOptions{Env: os.Environ(), Flags: cmd.Flags()})
			if err != nil {
				return err
			}
			log := newLogger(cfg)
			if ignored := config.IgnoredEnv(os.Environ()); len(ignored) > 0 {
				log.Warn("ignoring unknown CASTRAY_ environment variables", "names", strings.Join(ignored, ","))
			}
			if len(cfg.Unused) > 0 {
				log.Warn("configuration keys kept from the original CastRay have no effect here", "keys", strings.Join(cfg.Unused, ","))
			}
			d, err := daemon.New(cfg, log, os.Stdout)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return d.Run(ctx)
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

func newLogger(cfg *config.Config) hclog.Logger {
	var out io.Writer = os.Stderr
	if cfg.Logging.File != "" {
		if f, err := os.OpenFile(cfg.Logging.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640); err == nil {
			out = f
		} else {
			fmt.Fprintf(os.Stderr, "castray: logging.file %s: %v; logging to stderr\n", cfg.Logging.File, err)
		}
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "castray",
		Level:      hclog.LevelFromString(cfg.EffectiveLogLevel()),
		Output:     out,
		JSONFormat: cfg.Logging.Format == "json",
	})
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "castray %s (plugin API v%d)\n", daemon.Version, sdk.APIVersion)
		},
	}
}

// client flags shared by the commands that talk to a running daemon.
type client struct {
	addr, token, output string
	wait                time.Duration
}

func (c *client) timeout() time.Duration {
	if c.wait > 0 {
		return c.wait
	}
	return 10 * time.Second
}

// query asks the daemon. With -o json it prints the answer as it is and
// reports done; with -o table it decodes the answer into v for the caller's
// table.
func (c *client) query(out io.Writer, method, path string, body, v any) (done bool, err error) {
	if c.output != "json" && c.output != "table" {
		return true, fmt.Errorf("--output %q: use table or json", c.output)
	}
	var raw json.RawMessage
	if err := c.call(method, path, body, &raw); err != nil {
		return true, err
	}
	if c.output == "json" {
		return true, printJSON(out, raw)
	}
	return false, json.Unmarshal(raw, v)
}

// printJSON writes v indented.
func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *client) flags(cmd *cobra.Command) {
	def := os.Getenv("CASTRAY_ADDR")
	if def == "" {
		def = "http://127.0.0.1:8000"
	}
	cmd.Flags().StringVar(&c.addr, "addr", def, "daemon URL (env CASTRAY_ADDR)")
	cmd.Flags().StringVar(&c.token, "token", "", "API token (env CASTRAY_TOKEN)")
	cmd.Flags().StringVarP(&c.output, "output", "o", "table", "output format: table or json")
}

// get fetches a JSON document from the daemon into v.
func (c *client) get(path string, v any) error { return c.call(http.MethodGet, path, nil, v) }

// call sends a request with an optional JSON body and decodes the answer.
func (c *client) call(method, path string, body any, v any) error {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, strings.TrimRight(c.addr, "/")+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	token := c.token
	if token == "" {
		token = os.Getenv("CASTRAY_TOKEN")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: c.timeout()}).Do(req)
	if err != nil {
		return fmt.Errorf("is the daemon running? %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(answer, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s", resp.Status)
	}
	return json.Unmarshal(answer, v)
}

func newPluginsCmd() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the plugins of a running daemon and their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var resp struct {
				Plugins []pluginmgr.Status `json:"plugins"`
			}
			if err := c.get("/api/plugins", &resp); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if c.output == "json" {
				return printJSON(out, resp.Plugins)
			}
			if c.output != "table" {
				return fmt.Errorf("--output %q: use table or json", c.output)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tVERSION\tSTATE\tRESTARTS\tPID\tLAST ERROR")
			for _, p := range resp.Plugins {
				pid := "-"
				if p.PID > 0 {
					pid = fmt.Sprint(p.PID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", p.Name, p.Kind, p.Version, p.State, p.Restarts, pid, p.LastError)
			}
			return tw.Flush()
		},
	}
	c.flags(cmd)
	return cmd
}
