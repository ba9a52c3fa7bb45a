package main

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
)

func (a *app) newDiscoverCmd() *cobra.Command {
	var (
		hosts, plugins []string
		ports          []uint
		timeout        time.Duration
		connect, stale bool
	)
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "Run a discovery round and list the Ray clusters found (--connect also connects to them)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := client.DiscoverRequest{Hosts: hosts, Plugins: plugins, Connect: &connect, IncludeStale: stale}
			for _, p := range ports {
				if p < 1 || p > 65535 {
					return usagef("--port %d: a port is 1 to 65535", p)
				}
				req.Ports = append(req.Ports, uint32(p))
			}
			for _, h := range hosts {
				if err := checkHost(h); err != nil {
					return err
				}
			}
			if timeout < 0 || timeout > 2*time.Minute {
				return usagef("--timeout %s: between 0 and 2m", timeout)
			}
			req.TimeoutMS = timeout.Milliseconds()
			r, err := a.api.Discover(cmd.Context(), req)
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) { discoveryTable(tw, r) })
		},
	}
	a.apiFlags(cmd)
	last := &cobra.Command{
		Use:   "last",
		Short: "The last discovery round's result (GET /api/cluster/discovery)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.api.LastDiscovery(cmd.Context(), stale)
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) { discoveryTable(tw, r) })
		},
	}
	a.apiFlags(last)
	last.Flags().BoolVar(&stale, "include-stale", false, "list the stale sessions of stopped Ray instances too")
	cmd.AddCommand(last)
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "hosts or CIDRs to look at (default: each plugin's configuration)")
	cmd.Flags().UintSliceVar(&ports, "port", nil, "ports to look at (default: each plugin's configuration)")
	cmd.Flags().StringSliceVar(&plugins, "plugin", nil, "only these discovery plugins")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "per-plugin time budget (default: external_cluster.connection_timeout)")
	cmd.Flags().BoolVar(&connect, "connect", false, "also connect to every active cluster found")
	cmd.Flags().BoolVar(&stale, "include-stale", false, "list the stale sessions of stopped Ray instances too (default: counted only)")
	return cmd
}

// checkHost refuses a --host that cannot be one: a malformed CIDR, or
// what looks like an IPv4 address but is none (999.1.1.1), which would
// otherwise be looked up as a host name. Host names pass; the daemon
// decides what it may scan.
func checkHost(h string) error {
	switch {
	case h == "" || strings.ContainsAny(h, " \t"):
		return usagef("--host %q: not a host, address or CIDR", h)
	case strings.Contains(h, "/"):
		if _, _, err := net.ParseCIDR(h); err != nil {
			return usagef("--host %q: not a CIDR (%v)", h, err)
		}
	case strings.Trim(h, "0123456789.") == "" || strings.Contains(h, ":"):
		if net.ParseIP(h) == nil {
			return usagef("--host %q: not an IP address", h)
		}
	}
	return nil
}

func discoveryTable(tw *tabwriter.Writer, r *client.DiscoverResponse) {
	fmt.Fprintln(tw, "ID\tSTATUS\tNODES\tCPU\tGCS\tDASHBOARD\tRAY\tAUTH\tSOURCES")
	for _, cl := range r.DiscoveredClusters {
		nodes, cpu := "?", "-"
		if cl.Nodes >= 0 {
			nodes = fmt.Sprint(cl.Nodes)
		}
		if v, ok := cl.Resources["CPU"]; ok {
			cpu = fmt.Sprint(v)
		}
		auth := dash(cl.AuthMode)
		if cl.AuthRequired {
			auth = "token (missing)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cl.ID, cl.Status, nodes, cpu,
			dash(cl.GCSAddress), dash(cl.DashboardURL), dash(cl.RayVersion), auth, strings.Join(cl.Sources, ","))
	}
	names := make([]string, 0, len(r.Discovery.Plugins))
	for name := range r.Discovery.Plugins {
		names = append(names, name)
	}
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		p := r.Discovery.Plugins[name]
		part := fmt.Sprintf("%s %dms", name, p.DurationMS)
		if p.Error != "" {
			part += " (error: " + p.Error + ")"
		}
		parts = append(parts, part)
	}
	fmt.Fprintf(tw, "\n%d cluster(s) in %d ms: %s\n", len(r.DiscoveredClusters), r.Discovery.DurationMS, strings.Join(parts, "; "))
	if r.StaleHidden > 0 {
		fmt.Fprintf(tw, "%d stale session(s) of stopped Ray instances not listed (--include-stale lists them)\n", r.StaleHidden)
	}
	for _, c := range r.Connections {
		if c.Success {
			fmt.Fprintf(tw, "connected %s as %s\n", c.Address, c.ClusterID)
		} else {
			fmt.Fprintf(tw, "could not connect %s: %s\n", c.Address, c.Error)
		}
	}
}

func (a *app) newConnectCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connect ADDRESS",
		Short: "Connect to a Ray cluster (dashboard URL, host:port, ray://host:port or GCS address)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.api.Connect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) { fmt.Fprintln(tw, r.Message) })
		},
	}
	a.apiFlags(cmd)
	return cmd
}

func (a *app) newDisconnectCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "disconnect [CLUSTER_ID]",
		Short: "Disconnect one external cluster, or all of them",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			r, err := a.api.Disconnect(cmd.Context(), id)
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) { fmt.Fprintln(tw, r.Message) })
		},
	}
	a.apiFlags(cmd)
	return cmd
}

func (a *app) newClustersCmd() *cobra.Command {
	list := func(cmd *cobra.Command, _ []string) error {
		l, err := a.api.Clusters(cmd.Context())
		if err != nil {
			return err
		}
		return a.emit(l.Raw, func(tw *tabwriter.Writer) { clusterTable(tw, l.Clusters) })
	}
	cmd := &cobra.Command{Use: "clusters", Short: "List (default) the external cluster connections; info in the original's shape", Args: cobra.NoArgs, RunE: list}
	a.apiFlags(cmd)
	ls := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List the external cluster connections", Args: cobra.NoArgs, RunE: list}
	a.apiFlags(ls)
	info := &cobra.Command{
		Use:   "info",
		Short: "The original's external-cluster summary: connected or not, every external node (GET /api/cluster/external-info)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.api.ExternalInfo(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				conn := "not connected"
				if r.ConnectedCluster != nil {
					conn = "connected to " + *r.ConnectedCluster
				}
				fmt.Fprintln(tw, conn)
				clusterTable(tw, r.Clusters)
				nodes := make([]client.ExternalNode, 0, len(r.ExternalNodes))
				for _, id := range sortedKeys(r.ExternalNodes) {
					nodes = append(nodes, r.ExternalNodes[id])
				}
				fmt.Fprintln(tw)
				externalNodeTable(tw, nodes)
			})
		},
	}
	a.apiFlags(info)
	cmd.AddCommand(ls, info)
	return cmd
}

func clusterTable(tw *tabwriter.Writer, clusters []client.Cluster) {
	fmt.Fprintln(tw, "ID\tSTATE\tADDRESS\tVIA\tNODES\tACTORS\tRAY\tLAST SYNC\tLAST ERROR")
	for _, c := range clusters {
		sync := "-"
		if c.LastSync != nil {
			sync = c.LastSync.Format("15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\t%s\t%s\n", c.ID, c.State, c.Address, c.Via, c.AliveNodes, c.Nodes, c.Actors, dash(c.RayVersion), sync, dash(c.LastError))
	}
}
