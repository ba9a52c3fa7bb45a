package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the daemon's own API token",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the daemon's generated API token and print the new one (the old one stops working at once)",
		Long: `Replace the daemon's own API token (POST /api/token/rotate): the one a
daemon listening beyond loopback generates and keeps in <data_dir>/api_token.
The new token is printed once; the old one stops working at once (WebSocket
clients already connected stay connected). A token set in
web_server.api_token is changed in the configuration instead (409).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.api.RotateToken(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "new token\t%s\n", r.Token)
				fmt.Fprintf(tw, "\t%s\n", r.Message)
			})
		},
	}
	a.apiFlags(rotate)
	cmd.AddCommand(rotate)
	return cmd
}
