package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
)

func (a *app) newEventsCmd() *cobra.Command {
	var types []string
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Tail the daemon's event stream (/ws), one JSON event per line",
		Long: `Tail the daemon's event stream (/ws): every event as one line of JSON,
{"type", "ts", "data"}, starting with a snapshot. --type keeps only the
events of these types. Runs until interrupted or the daemon closes the stream.
-o is accepted for symmetry; the output is always one JSON object per line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keep := map[string]bool{}
			for _, t := range types {
				t = strings.TrimSpace(t)
				if t == "" {
					return usagef("--type: an empty event type")
				}
				if err := oneOf("--type", t, client.EventTypes); err != nil {
					return err
				}
				keep[t] = true
			}
			ctx := cmd.Context()
			ev, err := a.api.Events(ctx)
			if err != nil {
				return err
			}
			defer ev.Close()
			for {
				e, err := ev.Next()
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, io.EOF) {
						return nil // interrupted, or the daemon closed the stream
					}
					return fmt.Errorf("event stream: %w", err)
				}
				if len(keep) > 0 && !keep[e.Type] {
					continue
				}
				var line bytes.Buffer
				if err := json.Compact(&line, e.Raw); err != nil {
					return fmt.Errorf("event %s: %w", e.Type, err)
				}
				line.WriteByte('\n')
				if _, err := a.stdout.Write(line.Bytes()); err != nil {
					return err
				}
			}
		},
	}
	a.apiFlags(cmd)
	cmd.Flags().StringSliceVar(&types, "type", nil, "only these event types, comma-separated (e.g. transfer_progress,transfer_completed)")
	enumFlag(cmd, "type", client.EventTypes)
	return cmd
}
