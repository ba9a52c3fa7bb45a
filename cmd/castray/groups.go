package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
)

func (a *app) newGroupsCmd() *cobra.Command {
	list := func(cmd *cobra.Command, _ []string) error {
		l, err := a.api.Groups(cmd.Context())
		if err != nil {
			return err
		}
		return a.emit(l.Raw, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "NAME\tTYPE\tMEMBERS / SELECTOR\tUPDATED")
			for _, g := range l.Groups {
				what := strings.Join(g.Members, ",")
				if g.Type == "selector" {
					what = selectorString(g.Selector)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Name, g.Type, dash(what), g.UpdatedAt.Format("2006-01-02 15:04:05"))
			}
		})
	}
	cmd := &cobra.Command{Use: "groups", Short: "List (default), show, create, change or delete multicast groups", Args: cobra.NoArgs, RunE: list}
	a.apiFlags(cmd)
	ls := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List the groups", Args: cobra.NoArgs, RunE: list}
	a.apiFlags(ls)

	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a group and the nodes it stands for now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := a.api.Group(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.emit(g.Raw, func(tw *tabwriter.Writer) { groupTable(tw, g) })
		},
	}
	a.apiFlags(show)

	var (
		members []string
		sel     selectorFlags
	)
	create := &cobra.Command{
		Use:   "create NAME [--members id,... | selector flags]",
		Short: "Create a list group (--members, possibly empty) or a selector group",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := sel.selector()
			if err != nil {
				return err
			}
			if s != nil && len(members) > 0 {
				return usagef("give --members or a selector, not both")
			}
			g, err := a.api.CreateGroup(cmd.Context(), client.CreateGroupRequest{Name: args[0], Members: members, Selector: s})
			if err != nil {
				return err
			}
			return a.emit(g.Raw, func(tw *tabwriter.Writer) { groupTable(tw, g) })
		},
	}
	a.apiFlags(create)
	create.Flags().StringSliceVar(&members, "members", nil, "member node ids, comma-separated")
	sel.register(create)

	member := func(use, short string, call func(cmd *cobra.Command, group, node string) (*client.GroupMemberResponse, error)) *cobra.Command {
		c := &cobra.Command{
			Use:   use + " GROUP NODE_ID...",
			Short: short,
			Args:  cobra.MinimumNArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				for _, node := range args[1:] {
					r, err := call(cmd, args[0], node)
					if err != nil {
						return err
					}
					if err := a.emit(r.Raw, func(tw *tabwriter.Writer) { fmt.Fprintln(tw, r.Message) }); err != nil {
						return err
					}
				}
				return nil
			},
		}
		a.apiFlags(c)
		return c
	}
	add := member("add", "Add nodes to a list group", func(cmd *cobra.Command, g, n string) (*client.GroupMemberResponse, error) {
		return a.api.AddGroupMember(cmd.Context(), g, n)
	})
	remove := member("remove", "Remove nodes from a list group", func(cmd *cobra.Command, g, n string) (*client.GroupMemberResponse, error) {
		return a.api.RemoveGroupMember(cmd.Context(), g, n)
	})
	del := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a group (its nodes are not touched)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.api.DeleteGroup(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.emit(m.Raw, func(tw *tabwriter.Writer) { fmt.Fprintln(tw, m.Message) })
		},
	}
	a.apiFlags(del)
	cmd.AddCommand(ls, show, create, add, remove, del)
	return cmd
}

func groupTable(tw *tabwriter.Writer, g *client.GroupResponse) {
	fmt.Fprintf(tw, "group\t%s (%s)\n", g.Group.Name, g.Group.Type)
	if g.Group.Type == "selector" {
		fmt.Fprintf(tw, "selector\t%s\n", selectorString(g.Group.Selector))
	} else {
		fmt.Fprintf(tw, "members\t%s\n", dash(strings.Join(g.Group.Members, ",")))
	}
	fmt.Fprintf(tw, "nodes now\t%s\n", dash(strings.Join(g.Resolved.NodeIDs, ",")))
	if len(g.Resolved.Missing) > 0 {
		fmt.Fprintf(tw, "missing\t%s\n", strings.Join(g.Resolved.Missing, ","))
	}
	if len(g.Resolved.Inactive) > 0 {
		fmt.Fprintf(tw, "inactive\t%s\n", strings.Join(g.Resolved.Inactive, ","))
	}
}
