package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
)

func (a *app) newDistributionsCmd() *cobra.Command {
	list := func(cmd *cobra.Command, _ []string) error {
		l, err := a.api.Distributions(cmd.Context())
		if err != nil {
			return err
		}
		return a.emit(l.Raw, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "ID\tNAME\tFILE\tSELECTOR\tPRESENT\tDELIVERING\tPENDING\tFAILED\tSATISFIED")
			for _, d := range l.Distributions {
				c := d.Counts
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%t\n", d.ID, dash(d.Name), d.FileName, selectorString(&d.Selector), c.Present, c.Total, c.Delivering, c.Pending, c.Failed, d.Satisfied)
			}
		})
	}
	cmd := &cobra.Command{Use: "distributions", Aliases: []string{"dist"}, Short: "List (default), create, show or delete standing distributions", Args: cobra.NoArgs, RunE: list}
	a.apiFlags(cmd)
	ls := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List the distributions", Args: cobra.NoArgs, RunE: list}
	a.apiFlags(ls)

	one := func(use, short string, call func(cmd *cobra.Command, id string) (*client.DistributionResponse, error)) *cobra.Command {
		c := &cobra.Command{
			Use:   use + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				d, err := call(cmd, args[0])
				if err != nil {
					return err
				}
				return a.emit(d.Raw, func(tw *tabwriter.Writer) { distributionTable(tw, &d.Distribution) })
			},
		}
		a.apiFlags(c)
		return c
	}
	show := one("show", "Show a distribution and each node's status", func(cmd *cobra.Command, id string) (*client.DistributionResponse, error) {
		return a.api.Distribution(cmd.Context(), id)
	})
	del := one("delete", "Stop a distribution (delivered files stay on the nodes)", func(cmd *cobra.Command, id string) (*client.DistributionResponse, error) {
		return a.api.DeleteDistribution(cmd.Context(), id)
	})
	del.Aliases = []string{"rm"}

	var (
		name string
		sel  selectorFlags
	)
	create := &cobra.Command{
		Use:   "create FILE selector-flags [--name LABEL]",
		Short: "Keep an uploaded file on every node a selector matches, now and later",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := sel.selector()
			if err != nil {
				return err
			}
			if s == nil {
				return usagef("a selector is required: --selector '{json}' or --kind/--cluster/--state/--label/--resource/--available ('--selector {}' matches every node)")
			}
			d, err := a.api.CreateDistribution(cmd.Context(), client.CreateDistributionRequest{FileName: args[0], Selector: *s, Name: name})
			if err != nil {
				return err
			}
			return a.emit(d.Raw, func(tw *tabwriter.Writer) { distributionTable(tw, &d.Distribution) })
		},
	}
	a.apiFlags(create)
	create.Flags().StringVar(&name, "name", "", "a label for the distribution")
	sel.register(create)
	cmd.AddCommand(ls, create, show, del)
	return cmd
}

func distributionTable(tw *tabwriter.Writer, d *client.Distribution) {
	fmt.Fprintf(tw, "distribution %s %s: %s, file %s, selector %s, satisfied %t\n", d.ID, dash(d.Name), d.State, d.FileName, selectorString(&d.Selector), d.Satisfied)
	if d.Error != "" {
		fmt.Fprintf(tw, "error: %s\n", d.Error)
	}
	fmt.Fprintln(tw, "NODE\tSTATUS\tNODE STATE\tTRANSFER\tATTEMPTS\tLOCATION / ERROR")
	for _, n := range d.Nodes {
		where := n.Location
		if n.Error != "" {
			where = n.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", n.NodeID, n.Status, n.NodeState, dash(n.TransferID), n.Attempts, dash(where))
	}
}
