package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
)

// castTargets are the flags naming the recipients of the original's casts
// (message send, generate send): --to, --group and --cast-type.
type castTargets struct {
	to       []string
	group    string
	castType string
}

func (c *castTargets) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceVar(&c.to, "to", nil, "recipient node ids, comma-separated (one: unicast; more: multicast)")
	f.StringVar(&c.group, "group", "", "a named group's active members (multicast)")
	f.StringVar(&c.castType, "cast-type", "", "unicast, multicast or broadcast (default: inferred: none of --to/--group is a broadcast)")
	enumFlag(cmd, "cast-type", client.CastTypes)
}

// resolve checks the recipients against the cast type, inferring the cast
// type when none was given. Mistakes are usage errors.
func (c *castTargets) resolve() (string, error) {
	if err := oneOf("--cast-type", c.castType, client.CastTypes); err != nil {
		return "", err
	}
	if len(c.to) > 0 && c.group != "" {
		return "", usagef("give --to or --group, not both")
	}
	ct := c.castType
	if ct == "" {
		switch {
		case len(c.to) == 1:
			ct = client.Unicast
		case len(c.to) > 1, c.group != "":
			ct = client.Multicast
		default:
			ct = client.Broadcast
		}
	}
	switch {
	case ct == client.Unicast && (len(c.to) != 1 || c.group != ""):
		return "", usagef("--cast-type unicast takes exactly one --to id")
	case ct == client.Multicast && len(c.to) == 0 && c.group == "":
		return "", usagef("--cast-type multicast takes --to ids or a --group")
	case ct == client.Broadcast && (len(c.to) > 0 || c.group != ""):
		return "", usagef("--cast-type broadcast reaches every active node: leave out --to and --group")
	}
	return ct, nil
}

func (a *app) newMessageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "message",
		Aliases: []string{"msg"},
		Short:   "Send the original's text and JSON messages (POST /api/send) and list a node's messages",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var (
		targets       castTargets
		msgType       string
		sender, msgID string
		wait          bool
	)
	send := &cobra.Command{
		Use:   "send CONTENT [--to id,... | --group G] [--cast-type T] [--type text|json|file] [--sender NODE]",
		Short: "Send a text (default) or JSON message to nodes, or an uploaded file (--type file: CONTENT is its name)",
		Long: `Send the original CastRay's message (POST /api/send).

--type text (the default) sends CONTENT as a string; --type json sends it as a
JSON value (it must parse); --type file sends the uploaded file named CONTENT
through the transfer service (--wait follows that transfer to its end).
Recipients: --to id (unicast), --to id,id... or --group G (multicast), or
neither (broadcast to every active node); --cast-type overrides the inference.
Text and JSON messages are recorded on each recipient: see
'castray message list NODE'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if msgType == "" {
				msgType = "text"
			}
			if err := oneOf("--type", msgType, client.MessageTypes); err != nil {
				return err
			}
			ct, err := targets.resolve()
			if err != nil {
				return err
			}
			if wait && msgType != "file" {
				return usagef("--wait follows a file's transfer: it needs --type file")
			}
			req := client.SendRequest{ID: msgID, CastType: ct, MessageType: msgType, Sender: sender, Recipients: targets.to, GroupID: targets.group}
			switch msgType {
			case "text":
				req.Content, _ = json.Marshal(args[0])
			case "json":
				if !json.Valid([]byte(args[0])) {
					return usagef("--type json: %q is not a JSON value", args[0])
				}
				req.Content = json.RawMessage(args[0])
			case "file":
				req.FilePath = args[0]
			}
			r, err := a.api.Send(cmd.Context(), req)
			if err != nil {
				return err
			}
			if wait && r.TransferID != "" {
				return a.followAndShow(cmd.Context(), r.TransferID)
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, r.Message)
				fmt.Fprintf(tw, "message %s to %d recipient(s): %s\n", r.MessageID, r.RecipientsCount, strings.Join(r.Recipients, ", "))
				if r.TransferID != "" {
					fmt.Fprintf(tw, "transfer %s (castray transfers show %s)\n", r.TransferID, r.TransferID)
				}
				if r.Skipped != nil && len(r.Skipped.Missing)+len(r.Skipped.Inactive) > 0 {
					fmt.Fprintf(tw, "skipped: missing %s; inactive %s\n", dash(strings.Join(r.Skipped.Missing, ",")), dash(strings.Join(r.Skipped.Inactive, ",")))
				}
			})
		},
	}
	a.apiFlags(send)
	targets.register(send)
	send.Flags().StringVar(&msgType, "type", "text", "text, json or file")
	send.Flags().StringVar(&sender, "sender", "", "who sends it (default: api); a node id lists it as sent on that node")
	send.Flags().StringVar(&msgID, "id", "", "the message id (default: generated)")
	send.Flags().BoolVar(&wait, "wait", false, "with --type file: follow the transfer until it ends; exit 1 unless every target completed")
	enumFlag(send, "type", client.MessageTypes)

	var count int
	list := &cobra.Command{
		Use:     "list NODE [--count N]",
		Aliases: []string{"ls"},
		Short:   "A node's latest messages, newest first (same as 'castray nodes messages')",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.showMessages(cmd, args[0], count)
		},
	}
	a.apiFlags(list)
	list.Flags().IntVar(&count, "count", 0, "at most this many (default: the daemon's, 50)")
	cmd.AddCommand(send, list)
	return cmd
}
