package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newConnectCmd() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "connect ADDRESS",
		Short: "Connect a running daemon to a Ray cluster (dashboard URL, host:port or GCS address)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c.wait = time.Minute
			var resp struct {
				Message string          `json:"message"`
				Cluster json.RawMessage `json:"cluster"`
			}
			if err := c.call(http.MethodPost, "/api/cluster/connect-external", map[string]string{"cluster_address": args[0]}, &resp); err != nil {
				return err
			}
			if c.output == "json" {
				return printJSON(cmd.OutOrStdout(), resp.Cluster)
			}
			fmt.Fprintln(cmd.OutOrStdout(), resp.Message)
			return nil
		},
	}
	c.flags(cmd)
	return cmd
}

func newDisconnectCmd() *cobra.Command {
	var c client
	cmd := &cobra.Command{
		Use:   "disconnect [CLUSTER_ID]",
		Short: "Disconnect one external cluster, or all of them",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/api/cluster/disconnect-external"
			if len(args) == 1 {
				path += "?cluster_id=" + url.QueryEscape(args[0])
			}
			var resp struct {
				Message string `json:"message"`
			}
			if err := c.call(http.MethodDelete, path, nil, &resp); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), resp.Message)
			return nil
		},
	}
	c.flags(cmd)
	return cmd
}

func newNodesCmd() *cobra.Command {
	var (
		c                    client
		kind, cluster, state string
	)
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the virtual nodes of a running daemon (local nodes, Ray nodes, Ray actors)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"kind": kind, "cluster": cluster, "state": state} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var resp struct {
				Nodes []struct {
					ID        string             `json:"id"`
					Kind      string             `json:"kind"`
					Name      string             `json:"name"`
					State     string             `json:"state"`
					Address   string             `json:"address"`
					ClusterID string             `json:"cluster_id"`
					IsHead    bool               `json:"is_head"`
					Resources map[string]float64 `json:"resources"`
				} `json:"nodes"`
			}
			out := cmd.OutOrStdout()
			if done, err := c.query(out, http.MethodGet, "/api/nodes?"+q.Encode(), nil, &resp); done || err != nil {
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tSTATE\tNAME\tADDRESS\tCLUSTER\tRESOURCES")
			for _, n := range resp.Nodes {
				name := n.Name
				if n.IsHead {
					name += " (head)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.Kind, n.State, dash(name), dash(n.Address), dash(n.ClusterID), resources(n.Resources))
			}
			return tw.Flush()
		},
	}
	c.flags(cmd)
	cmd.Flags().StringVar(&kind, "kind", "", "only this kind: local, ray-node or ray-actor")
	cmd.Flags().StringVar(&cluster, "cluster", "", "only nodes of this cluster connection")
	cmd.Flags().StringVar(&state, "state", "", "only this state: active, inactive or dead")
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
