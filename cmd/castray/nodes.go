package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
)

func (a *app) newNodesCmd() *cobra.Command {
	var kind, cluster, state string
	list := func(cmd *cobra.Command, _ []string) error {
		if err := oneOf("--kind", kind, client.NodeKinds); err != nil {
			return err
		}
		if err := oneOf("--state", state, client.NodeStates); err != nil {
			return err
		}
		l, err := a.api.Nodes(cmd.Context(), client.NodeFilter{Kind: kind, Cluster: cluster, State: state})
		if err != nil {
			return err
		}
		return a.emit(l.Raw, func(tw *tabwriter.Writer) { nodeTable(tw, l.Nodes) })
	}
	listFlags := func(c *cobra.Command) {
		a.apiFlags(c)
		c.Flags().StringVar(&kind, "kind", "", "only this kind: local, ray-node or ray-actor")
		c.Flags().StringVar(&cluster, "cluster", "", "only nodes of this cluster connection")
		c.Flags().StringVar(&state, "state", "", "only this state: active, inactive or dead")
		enumFlag(c, "kind", client.NodeKinds)
		enumFlag(c, "state", client.NodeStates)
	}
	cmd := &cobra.Command{Use: "nodes", Short: "List (default), show, create, delete or select the virtual nodes (local nodes, Ray nodes, Ray actors)", Args: cobra.NoArgs, RunE: list}
	listFlags(cmd)
	ls := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List the virtual nodes", Args: cobra.NoArgs, RunE: list}
	listFlags(ls)

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := a.api.Node(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.emit(n.Raw, func(tw *tabwriter.Writer) { nodeTable(tw, []client.Node{n.Node}) })
		},
	}
	a.apiFlags(show)

	var port int
	create := &cobra.Command{
		Use:   "create ID [--port P]",
		Short: "Create an active local node with an inbox folder (kept across restarts)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if port < 0 || port > 65535 {
				return usagef("--port %d: between 0 and 65535", port)
			}
			r, err := a.api.CreateNode(cmd.Context(), client.CreateNodeRequest{NodeID: args[0], Port: port})
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, r.Message)
				nodeTable(tw, []client.Node{r.Node})
			})
		},
	}
	a.apiFlags(create)
	create.Flags().IntVar(&port, "port", 0, "the original's per-node port, kept as information")

	var purge bool
	del := &cobra.Command{
		Use:     "delete ID... [--purge]",
		Aliases: []string{"rm"},
		Short:   "Remove local nodes (their running deliveries are cancelled; --purge also deletes their inbox)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, id := range args {
				r, err := a.api.DeleteNode(cmd.Context(), id, purge)
				if err != nil {
					return err
				}
				if err := a.emit(r.Raw, func(tw *tabwriter.Writer) {
					fmt.Fprintln(tw, r.Message)
					if len(r.CancelledTransfers) > 0 {
						fmt.Fprintf(tw, "cancelled deliveries of: %s\n", strings.Join(r.CancelledTransfers, ", "))
					}
				}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	a.apiFlags(del)
	del.Flags().BoolVar(&purge, "purge", false, "also delete each node's inbox folder and its files")

	files := &cobra.Command{
		Use:   "files ID",
		Short: "The files a node received",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := a.api.NodeFiles(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.emit(l.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tSIZE\tSHA256\tTRANSFER\tLOCATION")
				for _, f := range l.Files {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Name, humanBytes(f.Size), dash(f.SHA256), dash(f.TransferID), dash(f.Location))
				}
			})
		},
	}
	a.apiFlags(files)

	var dl downloadFlags
	download := &cobra.Command{
		Use:   "download ID NAME [--out PATH]",
		Short: "Download a file of a local node's inbox (a progress bar on a terminal)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.download(cmd, args[1], dl, func(o client.DownloadOptions, w io.Writer) (*client.Download, error) {
				return a.api.DownloadNodeFile(cmd.Context(), args[0], args[1], w, o)
			})
		},
	}
	a.apiFlags(download)
	dl.register(download)

	var count int
	messages := &cobra.Command{
		Use:   "messages ID [--count N]",
		Short: "A node's latest text and JSON messages (castray message send), newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.showMessages(cmd, args[0], count)
		},
	}
	a.apiFlags(messages)
	messages.Flags().IntVar(&count, "count", 0, "at most this many (default: the daemon's, 50)")

	var extCluster string
	external := &cobra.Command{
		Use:   "external [--cluster ID]",
		Short: "The nodes of the connected clusters in the original's shape (GET /api/nodes/external)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := a.api.ExternalNodes(cmd.Context(), extCluster)
			if err != nil {
				return err
			}
			return a.emit(l.Raw, func(tw *tabwriter.Writer) { externalNodeTable(tw, l.ExternalNodes) })
		},
	}
	a.apiFlags(external)
	external.Flags().StringVar(&extCluster, "cluster", "", "only the nodes of this connection")

	cmd.AddCommand(ls, show, create, del, files, download, messages, external, a.newSelectCmd("select"))
	return cmd
}

// newSelectCmd is `nodes select`, also the top-level `select`.
func (a *app) newSelectCmd(use string) *cobra.Command {
	var (
		sel  selectorFlags
		pick int
		rule string
	)
	cmd := &cobra.Command{
		Use:   use + " selector-flags [--pick N]",
		Short: "Dry run: the nodes a selector matches and, with --pick, the ones a transfer would choose",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := sel.selector()
			if err != nil {
				return err
			}
			if err := oneOf("--pick-rule", rule, client.PickRules); err != nil {
				return err
			}
			req := client.SelectRequest{}
			if s != nil {
				req.Selector = *s
			}
			if changed(cmd, "pick") || rule != "" {
				if pick < 1 {
					return usagef("--pick %d: must be 1 or more", pick)
				}
				req.Pick = &client.Pick{Count: pick, Rule: rule}
			}
			r, err := a.api.SelectNodes(cmd.Context(), req)
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				nodeTable(tw, r.Matches)
				for _, c := range r.Chosen {
					fmt.Fprintf(tw, "chosen #%d %s: %s\n", c.Rank, c.NodeID, c.Reason)
				}
			})
		},
	}
	a.apiFlags(cmd)
	sel.register(cmd)
	cmd.Flags().IntVar(&pick, "pick", 0, "choose N of the matching active nodes")
	cmd.Flags().StringVar(&rule, "pick-rule", "", "least-loaded (default) or most-available")
	enumFlag(cmd, "pick-rule", client.PickRules)
	return cmd
}

func nodeTable(tw *tabwriter.Writer, nodes []client.Node) {
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tNAME\tADDRESS\tCLUSTER\tRESOURCES")
	for _, n := range nodes {
		name := n.Name
		if n.IsHead {
			name += " (head)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.Kind, n.State, dash(name), dash(n.Address), dash(n.ClusterID), resources(n.Resources))
	}
}

func externalNodeTable(tw *tabwriter.Writer, nodes []client.ExternalNode) {
	fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tNAME\tADDRESS\tCLUSTER\tRESOURCES")
	for _, n := range nodes {
		name := n.Name
		if n.IsHead {
			name += " (head)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, n.Kind, n.Status, dash(name), dash(n.Address), dash(n.ClusterID), resources(n.Resources))
	}
}

// showMessages prints a node's messages (nodes messages, message list).
func (a *app) showMessages(cmd *cobra.Command, node string, count int) error {
	if count < 0 {
		return usagef("--count %d: must be 1 or more", count)
	}
	l, err := a.api.NodeMessages(cmd.Context(), node, count)
	if err != nil {
		return err
	}
	return a.emit(l.Raw, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "TIME\tDIRECTION\tFROM\tTYPE\tCAST\tID\tCONTENT")
		for _, m := range l.Messages {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", unixTime(m.Timestamp), m.Direction, dash(m.From), m.Message.MessageType, m.Message.CastType, m.Message.ID, contentString(m.Message.Content))
		}
	})
}

// unixTime renders Unix seconds in UTC.
func unixTime(sec float64) string {
	return time.Unix(0, int64(sec*1e9)).UTC().Format("2006-01-02 15:04:05")
}

// contentString renders a message's content on one line: a text as it is,
// a JSON value compact.
func contentString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.Join(strings.Fields(s), " ")
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		if b, err := json.Marshal(v); err == nil {
			return string(b)
		}
	}
	return string(raw)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
