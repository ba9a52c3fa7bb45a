package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
)

func (a *app) newSendCmd() *cobra.Command {
	var (
		to            []string
		group, mode   string
		backend, rule string
		pick          int
		wait          bool
		sel           selectorFlags
	)
	cmd := &cobra.Command{
		Use:     "send FILE",
		Aliases: []string{"transfer"},
		Short:   "Send an uploaded file to nodes: --to ids, a --group, a selector, or every node (broadcast)",
		Long: `Send an uploaded file (see 'castray upload') to nodes.

Targets: --to id,... (one id is a unicast, more a multicast), --group NAME (its
active members), a selector (--selector '{json}' or --kind/--cluster/--state/
--label k=v/--resource GPU=1/--available CPU=2: its active nodes; with
--mode broadcast it narrows the broadcast), optionally --pick N of them
(least-loaded, or --pick-rule most-available). With none of these, the file is
broadcast to every active node. --mode overrides the mode inferred.

With --wait, the command follows the transfer until it ends (a progress bar per
target on a terminal) and exits 1 unless every target completed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := sel.selector()
			if err != nil {
				return err
			}
			req := client.TransferRequest{FileName: args[0], Targets: to, Group: group, Selector: s, Backend: backend}
			given := 0
			for _, set := range []bool{len(to) > 0, group != "", s != nil} {
				if set {
					given++
				}
			}
			if given > 1 {
				return usagef("give at most one of --to, --group and a selector")
			}
			if changed(cmd, "pick") || rule != "" {
				if pick < 1 {
					return usagef("--pick %d: must be 1 or more", pick)
				}
				if group == "" && s == nil {
					return usagef("--pick needs --group or a selector to pick from")
				}
				if err := oneOf("--pick-rule", rule, client.PickRules); err != nil {
					return err
				}
				req.Pick = &client.Pick{Count: pick, Rule: rule}
			}
			switch mode {
			case "":
				switch {
				case len(to) == 1, req.Pick != nil && pick == 1:
					req.Mode = client.Unicast
				case given == 0:
					req.Mode = client.Broadcast
				default:
					req.Mode = client.Multicast
				}
			case client.Unicast, client.Multicast, client.Broadcast:
				req.Mode = mode
			default:
				return oneOf("--mode", mode, client.TransferModes)
			}
			r, err := a.api.StartTransfer(cmd.Context(), req)
			if err != nil {
				return err
			}
			if !wait {
				return a.emit(r.Raw, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "transfer %s started: %s of %s to %d target(s)\n", r.Transfer.ID, r.Transfer.Mode, r.Transfer.File.Name, len(r.Transfer.Targets))
					for _, c := range r.Chosen {
						fmt.Fprintf(tw, "  chose %s: %s\n", c.NodeID, c.Reason)
					}
					if r.Skipped != nil {
						if len(r.Skipped.Missing) > 0 {
							fmt.Fprintf(tw, "  skipped (missing): %s\n", strings.Join(r.Skipped.Missing, ", "))
						}
						if len(r.Skipped.Inactive) > 0 {
							fmt.Fprintf(tw, "  skipped (inactive): %s\n", strings.Join(r.Skipped.Inactive, ", "))
						}
					}
				})
			}
			return a.followAndShow(cmd.Context(), r.Transfer.ID)
		},
	}
	a.apiFlags(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&to, "to", nil, "target node ids, comma-separated")
	f.StringVar(&group, "group", "", "send to this group's active members")
	sel.register(cmd)
	f.IntVar(&pick, "pick", 0, "choose N of the group's or selector's nodes")
	f.StringVar(&rule, "pick-rule", "", "how --pick chooses: least-loaded (default) or most-available")
	f.StringVar(&mode, "mode", "", "unicast, multicast or broadcast (default: inferred from the targets)")
	f.StringVar(&backend, "backend", "", "force this transfer plugin for every target")
	f.BoolVar(&wait, "wait", false, "follow the transfer until it ends; exit 1 unless every target completed")
	enumFlag(cmd, "mode", client.TransferModes)
	enumFlag(cmd, "pick-rule", client.PickRules)
	return cmd
}

// followAndShow follows a transfer to its end (bars on a terminal), prints
// the final record and fails unless every target completed.
func (a *app) followAndShow(ctx context.Context, id string) error {
	var bars *transferBars
	if p := a.newProgress(ctx); p != nil {
		bars = newTransferBars(p)
		// Live bytes from the event stream between polls; the polls alone
		// suffice when the stream cannot be opened.
		evCtx, stop := context.WithCancel(ctx)
		defer stop()
		if ev, err := a.api.Events(evCtx); err == nil {
			go func() {
				defer ev.Close()
				for {
					e, err := ev.Next()
					if err != nil {
						return
					}
					var pr client.TransferProgress
					if e.Type == "transfer_progress" && json.Unmarshal(e.Data, &pr) == nil && pr.TransferID == id {
						bars.progress(pr.NodeID, pr.BytesDone)
					}
				}
			}()
		}
	}
	r, err := a.api.WaitTransfer(ctx, id, a.poll, func(r *client.TransferResponse) { bars.update(&r.Transfer) })
	bars.finish()
	if err != nil {
		return fmt.Errorf("%w (the transfer goes on in the daemon: castray transfers show %s; castray transfers cancel %s)", err, id, id)
	}
	if err := a.emit(r.Raw, func(tw *tabwriter.Writer) { transferTable(tw, &r.Transfer) }); err != nil {
		return err
	}
	return transferOutcome(&r.Transfer)
}

// transferOutcome is nil when every target completed, else an error naming
// the targets that did not.
func transferOutcome(t *client.TransferRecord) error {
	if t.State == "completed" {
		return nil
	}
	var bad []string
	for _, tg := range t.Targets {
		if tg.State != "completed" {
			s := tg.NodeID + " " + tg.State
			if tg.Error != "" {
				s += " (" + tg.Error + ")"
			}
			bad = append(bad, s)
		}
	}
	msg := fmt.Sprintf("transfer %s %s: %d of %d target(s) did not complete", t.ID, t.State, len(bad), len(t.Targets))
	if len(bad) > 0 {
		msg += ": " + strings.Join(bad, "; ")
	}
	if t.Error != "" {
		msg += "; " + t.Error
	}
	return fmt.Errorf("%s", msg)
}

// transferTable prints one transfer and its targets.
func transferTable(tw *tabwriter.Writer, t *client.TransferRecord) {
	fmt.Fprintf(tw, "transfer %s: %s (%s via %s, attempt %d)\n", t.ID, t.State, t.Mode, t.Backend, max(t.Attempts, 1))
	fmt.Fprintf(tw, "file %s, %s, sha256 %s\n", t.File.Name, humanBytes(t.File.Size), dash(t.File.SHA256))
	if t.Error != "" {
		fmt.Fprintf(tw, "error: %s\n", t.Error)
	}
	fmt.Fprintln(tw, "NODE\tSTATE\tBACKEND\tDONE\tLOCATION / ERROR")
	for _, tg := range t.Targets {
		where := tg.Location
		if tg.Error != "" {
			where = tg.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", tg.NodeID, tg.State, dash(tg.Backend), percent(tg.BytesDone, t.File.Size), dash(where))
	}
}

func percent(done, total int64) string {
	if total <= 0 {
		return "100%"
	}
	return fmt.Sprintf("%d%%", done*100/total)
}

func (a *app) newTransfersCmd() *cobra.Command {
	var (
		state         string
		limit, offset int
	)
	list := func(cmd *cobra.Command, _ []string) error {
		if err := oneOf("--state", state, client.TransferStates); err != nil {
			return err
		}
		if limit < 0 || offset < 0 {
			return usagef("--limit %d --offset %d: neither may be negative", limit, offset)
		}
		l, err := a.api.Transfers(cmd.Context(), client.TransferFilter{State: state, Limit: limit, Offset: offset})
		if err != nil {
			return err
		}
		return a.emit(l.Raw, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "ID\tSTATE\tMODE\tFILE\tSIZE\tTARGETS\tBACKEND\tCREATED")
			for _, t := range l.Transfers {
				done := 0
				for _, tg := range t.Targets {
					if tg.State == "completed" {
						done++
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", t.ID, t.State, t.Mode, t.File.Name, humanBytes(t.File.Size), done, len(t.Targets), t.Backend, t.CreatedAt.Format("2006-01-02 15:04:05"))
			}
			if l.Total > l.Count {
				fmt.Fprintf(tw, "(%d of %d)\n", l.Count, l.Total)
			}
		})
	}
	listFlags := func(c *cobra.Command) {
		a.apiFlags(c)
		c.Flags().StringVar(&state, "state", "", "only transfers in this state (pending, running, completed, partial, failed, cancelled, interrupted)")
		c.Flags().IntVar(&limit, "limit", 0, "at most this many (0: all)")
		c.Flags().IntVar(&offset, "offset", 0, "skip this many of the newest")
		enumFlag(c, "state", client.TransferStates)
	}
	cmd := &cobra.Command{Use: "transfers", Short: "List (default), show, follow, cancel, delete or retry transfers; the original's manual transfer and stats", Args: cobra.NoArgs, RunE: list}
	listFlags(cmd)
	ls := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List transfers, newest first", Args: cobra.NoArgs, RunE: list}
	listFlags(ls)

	var follow bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a transfer and its targets; --follow until it ends (exit 1 unless it completed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if follow {
				return a.followAndShow(cmd.Context(), args[0])
			}
			r, err := a.api.Transfer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) { transferTable(tw, &r.Transfer) })
		},
	}
	a.apiFlags(show)
	show.Flags().BoolVarP(&follow, "follow", "f", false, "follow the transfer with a progress bar per target until it ends")

	cancel := &cobra.Command{
		Use:     "cancel ID",
		Aliases: []string{"delete", "rm"},
		Short:   "Cancel a running transfer, or delete an ended transfer's record",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.api.CancelTransfer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.emit(m.Raw, func(tw *tabwriter.Writer) { fmt.Fprintf(tw, "%s: %s\n", args[0], m.Message) })
		},
	}
	a.apiFlags(cancel)

	var wait bool
	retry := &cobra.Command{
		Use:   "retry ID",
		Short: "Retry or resume the targets of an ended transfer that did not complete",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.api.RetryTransfer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if wait {
				return a.followAndShow(cmd.Context(), r.Transfer.ID)
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "transfer %s: retry started (attempt %d)\n", r.Transfer.ID, r.Transfer.Attempts)
			})
		},
	}
	a.apiFlags(retry)
	retry.Flags().BoolVar(&wait, "wait", false, "follow the retry until it ends; exit 1 unless every target completed")

	var (
		sender string
		to     []string
		mwait  bool
	)
	manual := &cobra.Command{
		Use:   "manual FILE --sender NODE --to id,... [--wait]",
		Short: "The original's manual transfer of an uploaded file from a sender node (POST /api/file-transfers/manual)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sender == "" {
				return usagef("--sender: give the sending node's id")
			}
			if len(to) == 0 {
				return usagef("--to: give one or more recipient node ids")
			}
			r, err := a.api.ManualTransfer(cmd.Context(), client.ManualTransferRequest{SenderID: sender, FileName: args[0], Recipients: to})
			if err != nil {
				return err
			}
			if mwait {
				return a.followAndShow(cmd.Context(), r.TransferID)
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "%s (transfer %s)\n", r.Message, r.TransferID)
				for _, res := range r.Results {
					fmt.Fprintf(tw, "  %s: %s\n", res.Recipient, res.Message)
				}
			})
		},
	}
	a.apiFlags(manual)
	manual.Flags().StringVar(&sender, "sender", "", "the sending node (must exist)")
	manual.Flags().StringSliceVar(&to, "to", nil, "recipient node ids, comma-separated")
	manual.Flags().BoolVar(&mwait, "wait", false, "follow the transfer until it ends; exit 1 unless every target completed")

	stats := &cobra.Command{
		Use:   "stats",
		Short: "Per node, its transfer counts (the original's GET /api/file-transfers/status)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.api.FileTransferStatus(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NODE	TOTAL	SUCCESSFUL	FAILED	ACTIVE	BYTES")
				for _, id := range sortedKeys(r.Nodes) {
					n := r.Nodes[id]
					s := n.FileTransferStats
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", id, s.TotalTransfers, s.SuccessfulTransfers, s.FailedTransfers, n.ActiveTransfers, humanBytes(s.BytesTransferred))
				}
			})
		},
	}
	a.apiFlags(stats)
	cmd.AddCommand(ls, show, cancel, retry, manual, stats)
	return cmd
}
