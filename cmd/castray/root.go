package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/castray/castray/config"
	"github.com/castray/castray/host/daemon"
	"github.com/castray/castray/sdk"
)

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "castray",
		Short:         "CastRay finds Ray clusters and moves files to their nodes",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.prepare(cmd); err != nil {
				return err
			}
			a.started = true
			return nil
		},
	}
	root.AddCommand(newServeCmd(), newVersionCmd(), newPluginCmd(),
		a.newStatusCmd(), a.newPluginsCmd(),
		a.newUploadCmd(), a.newFilesCmd(),
		a.newSendCmd(), a.newTransfersCmd(),
		a.newGroupsCmd(), a.newDistributionsCmd(),
		a.newNodesCmd(), a.newSelectCmd("select"), a.newMessageCmd(), a.newGenerateCmd(),
		a.newDiscoverCmd(), a.newConnectCmd(), a.newDisconnectCmd(), a.newClustersCmd(),
		a.newConfigCmd(), a.newTokenCmd(), a.newHealthCmd(), a.newEventsCmd())
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.SetFlagErrorFunc(flagErr)
		if c.Args != nil {
			c.Args = args(c.Args)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// daemonGCPercent is the daemon's GOGC unless the environment sets one.
const daemonGCPercent = 50

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
			if os.Getenv("GOGC") == "" {
				// The daemon's heap is mostly its registry, long-lived: a
				// collection at +50 % instead of +100 % keeps 100,000 nodes
				// in about 100 MiB less memory for little CPU (docs/reliability.md).
				// GOGC in the environment overrides it.
				debug.SetGCPercent(daemonGCPercent)
			}
			d, err := daemon.New(cfg, log, os.Stdout)
			if err != nil {
				return err
			}
			return d.Run(cmd.Context())
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
