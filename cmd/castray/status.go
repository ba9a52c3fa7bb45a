package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running daemon's status: nodes, Ray resources, plugins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.api.Status(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(st.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "version\t%s\n", st.Version)
				fmt.Fprintf(tw, "uptime\t%.0fs\n", st.UptimeSeconds)
				fmt.Fprintf(tw, "nodes\t%d active of %d\n", st.ActiveNodes, st.TotalNodes)
				fmt.Fprintf(tw, "plugins\t%d healthy of %d\n", st.Plugins.Healthy, st.Plugins.Total)
				ray := "not connected"
				if st.RayCluster.Connected {
					ray = fmt.Sprintf("%d node(s), %s", st.RayCluster.Nodes, resources(st.RayCluster.ClusterResources))
				}
				fmt.Fprintf(tw, "ray\t%s\n", ray)
			})
		},
	}
	a.apiFlags(cmd)
	return cmd
}

func (a *app) newPluginsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the plugins of a running daemon and their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := a.api.Plugins(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(list.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tKIND\tVERSION\tAPI\tSTATE\tRESTARTS\tPID\tLAST ERROR")
				for _, p := range list.Plugins {
					pid := "-"
					if p.PID > 0 {
						pid = fmt.Sprint(p.PID)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\tv%d\t%s\t%d\t%s\t%s\n", p.Name, p.Kind, p.Version, p.APIVersion, p.State, p.Restarts, pid, dash(p.LastError))
				}
			})
		},
	}
	a.apiFlags(cmd)
	return cmd
}

// resources renders the usual resources briefly: "CPU=2 GPU=1".
func resources(r map[string]float64) string {
	var parts []string
	for k, v := range r {
		if k == "CPU" || k == "GPU" {
			parts = append(parts, fmt.Sprintf("%s=%g", k, v))
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func (a *app) newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show a running daemon's effective configuration, secrets redacted (GET /api/config)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.api.Config(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) { flatten(tw, "", r.Values) })
		},
	}
	a.apiFlags(cmd)
	return cmd
}

// flatten prints a JSON object as "a.b.c<TAB>value" lines, keys sorted.
func flatten(tw *tabwriter.Writer, prefix string, v any) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 && prefix != "" {
			fmt.Fprintf(tw, "%s\t{}\n", prefix)
		}
		for _, k := range sortedKeys(t) {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(tw, key, t[k])
		}
	default:
		b, err := json.Marshal(t)
		if err != nil {
			b = []byte(fmt.Sprint(t))
		}
		fmt.Fprintf(tw, "%s\t%s\n", prefix, b)
	}
}

func (a *app) newHealthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that a daemon answers (GET /healthz, no token needed); exit 1 when it does not",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := a.api.Health(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(h.Raw, func(tw *tabwriter.Writer) { fmt.Fprintf(tw, "%s (castray %s)\n", h.Status, h.Version) })
		},
	}
	a.apiFlags(cmd)
	return cmd
}
