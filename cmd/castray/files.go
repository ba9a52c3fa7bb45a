package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
)

func (a *app) newUploadCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "upload FILE",
		Short: "Upload a file to a running daemon (a progress bar on a terminal)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("upload: %w", err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return fmt.Errorf("upload: %w", err)
			}
			if !st.Mode().IsRegular() {
				return fmt.Errorf("upload %s: not a regular file", args[0])
			}
			if name == "" {
				name = filepath.Base(args[0])
			}
			var opts client.UploadOptions
			p := a.newProgress(cmd.Context())
			if p != nil {
				bar := byteBar(p, name, st.Size(), nil)
				opts.Progress = func(sent, _ int64) { bar.SetCurrent(sent) }
				defer func() {
					if !bar.Completed() {
						bar.Abort(false)
					}
					p.Wait()
				}()
				defer func() {
					if st.Size() == 0 {
						bar.SetTotal(-1, true)
					}
				}()
			}
			up, err := a.api.Upload(cmd.Context(), name, f, st.Size(), opts)
			if err != nil {
				return err
			}
			return a.emit(up.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "uploaded %s: %s, sha256 %s\n", up.File.Name, humanBytes(up.File.Size), up.File.SHA256)
			})
		},
	}
	a.apiFlags(cmd)
	cmd.Flags().StringVar(&name, "name", "", "name to store the file under (default: the file's base name)")
	return cmd
}

func (a *app) newFilesCmd() *cobra.Command {
	list := func(cmd *cobra.Command, _ []string) error {
		fl, err := a.api.Files(cmd.Context())
		if err != nil {
			return err
		}
		return a.emit(fl.Raw, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "NAME\tSIZE\tSHA256\tMODIFIED")
			for _, f := range fl.Files {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, humanBytes(f.Size), f.SHA256, f.Modified.Format("2006-01-02 15:04:05"))
			}
		})
	}
	cmd := &cobra.Command{
		Use:   "files",
		Short: "List (default) or delete the uploaded files",
		Args:  cobra.NoArgs,
		RunE:  list,
	}
	a.apiFlags(cmd)
	ls := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List the uploaded files", Args: cobra.NoArgs, RunE: list}
	a.apiFlags(ls)
	del := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete uploaded files (refused while a transfer sends one or a distribution names it)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, name := range args {
				m, err := a.api.DeleteFile(cmd.Context(), name)
				if err != nil {
					return err
				}
				if err := a.emit(m.Raw, func(tw *tabwriter.Writer) { fmt.Fprintln(tw, m.Message) }); err != nil {
					return err
				}
			}
			return nil
		},
	}
	a.apiFlags(del)
	cmd.AddCommand(ls, del)
	return cmd
}
