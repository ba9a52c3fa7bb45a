package main

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newDiscoverCmd() *cobra.Command {
	var (
		c       client
		hosts   []string
		ports   []uint
		plugins []string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "Run a discovery round on a running daemon and list the Ray clusters found",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := map[string]any{}
			if len(hosts) > 0 {
				body["hosts"] = hosts
			}
			if len(ports) > 0 {
				body["ports"] = ports
			}
			if len(plugins) > 0 {
				body["plugins"] = plugins
			}
			if timeout > 0 {
				body["timeout_ms"] = timeout.Milliseconds()
			}
			c.wait = 3 * time.Minute
			var resp struct {
				Clusters []struct {
					ID           string             `json:"id"`
					Status       string             `json:"status"`
					Nodes        int                `json:"nodes"`
					GCSAddress   string             `json:"gcs_address"`
					DashboardURL string             `json:"dashboard_url"`
					RayVersion   string             `json:"ray_version"`
					Sources      []string           `json:"sources"`
					AuthRequired bool               `json:"auth_required"`
					Resources    map[string]float64 `json:"resources"`
				} `json:"discovered_clusters"`
				Discovery struct {
					DurationMS int64 `json:"duration_ms"`
					Plugins    map[string]struct {
						DurationMS int64  `json:"duration_ms"`
						Error      string `json:"error"`
					} `json:"plugins"`
				} `json:"discovery"`
			}
			out := cmd.OutOrStdout()
			if done, err := c.query(out, http.MethodPost, "/api/cluster/discover-external", body, &resp); done || err != nil {
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tNODES\tCPU\tGCS\tDASHBOARD\tRAY\tAUTH\tSOURCES")
			for _, cl := range resp.Clusters {
				nodes, cpu := "?", "-"
				if cl.Nodes >= 0 {
					nodes = fmt.Sprint(cl.Nodes)
				}
				if v, ok := cl.Resources["CPU"]; ok {
					cpu = fmt.Sprint(v)
				}
				auth := "-"
				if cl.AuthRequired {
					auth = "token"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cl.ID, cl.Status, nodes, cpu,
					dash(cl.GCSAddress), dash(cl.DashboardURL), dash(cl.RayVersion), auth, strings.Join(cl.Sources, ","))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			names := make([]string, 0, len(resp.Discovery.Plugins))
			for name := range resp.Discovery.Plugins {
				names = append(names, name)
			}
			sort.Strings(names)
			var parts []string
			for _, name := range names {
				p := resp.Discovery.Plugins[name]
				part := fmt.Sprintf("%s %dms", name, p.DurationMS)
				if p.Error != "" {
					part += " (error: " + p.Error + ")"
				}
				parts = append(parts, part)
			}
			fmt.Fprintf(out, "\n%d cluster(s) in %d ms: %s\n", len(resp.Clusters), resp.Discovery.DurationMS, strings.Join(parts, "; "))
			return nil
		},
	}
	c.flags(cmd)
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "hosts or CIDRs to look at (default: each plugin's configuration)")
	cmd.Flags().UintSliceVar(&ports, "port", nil, "ports to look at (default: each plugin's configuration)")
	cmd.Flags().StringSliceVar(&plugins, "plugin", nil, "only these discovery plugins")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "per-plugin time budget (default: external_cluster.connection_timeout)")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
