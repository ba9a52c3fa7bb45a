package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"

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
		Short: "List (default), download or delete the uploaded files",
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
	cmd.AddCommand(ls, del, a.newDownloadCmd())
	return cmd
}

// downloadFlags are the flags of files download and nodes download.
type downloadFlags struct {
	out   string
	force bool
}

func (d *downloadFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&d.out, "out", "O", "", "where to write it: a file, a folder, or - for stdout (default: NAME in the current folder)")
	cmd.Flags().BoolVar(&d.force, "force", false, "replace an existing file")
}

// downloaded is what download prints with -o json: the file as the API
// describes an uploaded one ({"success", "file"} of PUT /api/files/{name})
// and the local path it was written to. A download's answer is the file
// itself, so this is the one -o json document not copied from the API.
type downloaded struct {
	Success bool `json:"success"`
	File    struct {
		Name     string     `json:"name"`
		Size     int64      `json:"size"`
		SHA256   string     `json:"sha256"`
		Modified *time.Time `json:"modified,omitempty"`
	} `json:"file"`
	Path string `json:"path"`
}

// download writes what get streams to the path the flags name. The file
// is written under a hidden temporary name beside its final one and
// renamed only when complete and verified: a failed download leaves
// nothing. With a terminal on stderr a progress bar is drawn.
func (a *app) download(cmd *cobra.Command, name string, d downloadFlags, get func(client.DownloadOptions, io.Writer) (*client.Download, error)) error {
	toStdout := d.out == "-"
	if toStdout && a.json() {
		return usagef("--out - writes the file to stdout: it cannot be combined with -o json")
	}
	path := d.out
	if path == "" {
		path = filepath.Base(name)
	}
	if st, err := os.Stat(path); !toStdout && err == nil && st.IsDir() {
		path = filepath.Join(path, filepath.Base(name))
	}
	var w io.Writer = a.stdout
	var tmp *os.File
	if !toStdout {
		if _, err := os.Lstat(path); err == nil && !d.force {
			return fmt.Errorf("download %s: %s exists (--force replaces it)", name, path)
		}
		var err error
		tmp, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
		if err != nil {
			return fmt.Errorf("download %s: %w", name, err)
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}

	var opts client.DownloadOptions
	ok := false
	if p := a.newProgress(cmd.Context()); p != nil {
		var bar *mpb.Bar
		opts.Progress = func(done, total int64) {
			if bar == nil {
				bar = byteBar(p, name, max(total, 0), nil)
			}
			bar.SetCurrent(done)
		}
		defer func() {
			switch {
			case bar == nil:
			case ok:
				bar.SetTotal(-1, true)
			default:
				bar.Abort(false)
			}
			p.Wait()
		}()
	}
	got, err := get(opts, w)
	if err != nil {
		return err
	}
	if tmp != nil {
		// CreateTemp makes the file private; a download is an ordinary file.
		if err := tmp.Chmod(0o644); err != nil {
			return fmt.Errorf("download %s: %w", name, err)
		}
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("download %s: %w", name, err)
		}
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("download %s: %w", name, err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("download %s: %w", name, err)
		}
		tmp = nil
	}
	ok = true
	if toStdout {
		return nil
	}
	var out downloaded
	out.Success = true
	out.File.Name, out.File.Size, out.File.SHA256, out.Path = got.Name, got.Size, got.SHA256, path
	if !got.Modified.IsZero() {
		m := got.Modified.UTC()
		out.File.Modified = &m
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return a.emit(raw, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "downloaded %s to %s: %s, sha256 %s\n", name, path, humanBytes(got.Size), got.SHA256)
	})
}

func (a *app) newDownloadCmd() *cobra.Command {
	var d downloadFlags
	cmd := &cobra.Command{
		Use:   "download NAME [--out PATH] [--force]",
		Short: "Download an uploaded file (a progress bar on a terminal; its SHA-256 is checked)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.download(cmd, args[0], d, func(o client.DownloadOptions, w io.Writer) (*client.Download, error) {
				return a.api.Download(cmd.Context(), args[0], w, o)
			})
		},
	}
	a.apiFlags(cmd)
	d.register(cmd)
	return cmd
}
