package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
	"github.com/castray/castray/host/filegen"
)

// genFlags describe the file to generate.
type genFlags struct {
	size, content, pattern, name string
}

func (g *genFlags) register(cmd *cobra.Command, withSize bool) {
	f := cmd.Flags()
	if withSize {
		f.StringVar(&g.size, "size", "", `size: a number and an optional unit B, KB, MB, GB (1024 multiples), e.g. 100B, 1.5MB (default: 1KB)`)
	}
	f.StringVar(&g.content, "content", "", "text (default), random or pattern")
	f.StringVar(&g.pattern, "pattern", "", "the bytes --content pattern repeats (default: 0123456789ABCDEF)")
	f.StringVar(&g.name, "name", "", "the file's name (the daemon prefixes sample_, preset_ or transfer_; default: generated)")
	enumFlag(cmd, "content", client.GenContentTypes)
}

// check refuses what the daemon would refuse, before any request: an
// unknown content type, a size the daemon's parser (host/filegen) rejects,
// a pattern without --content pattern.
func (g *genFlags) check() error {
	if err := oneOf("--content", g.content, client.GenContentTypes); err != nil {
		return err
	}
	if g.size != "" {
		if _, err := filegen.ParseSize(g.size); err != nil {
			return usagef("--size: %v", err)
		}
	}
	if g.pattern != "" && g.content != "pattern" {
		return usagef("--pattern needs --content pattern")
	}
	if len(g.pattern) > filegen.MaxPattern {
		return usagef("--pattern: %d bytes, at most %d", len(g.pattern), filegen.MaxPattern)
	}
	return nil
}

func (a *app) newGenerateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "generate",
		Aliases: []string{"gen"},
		Short:   "The file generator: make test files of a size or preset in the upload store, and send them",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}

	presets := &cobra.Command{
		Use:   "presets",
		Short: "The named sizes and the content types",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.api.GenPresets(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "PRESET\tSIZE\tAVAILABLE")
				names := sortedKeys(r.Presets)
				// In size order, as the original lists them.
				sort.SliceStable(names, func(i, j int) bool { return r.Presets[names[i]].SizeBytes < r.Presets[names[j]].SizeBytes })
				for _, n := range names {
					p := r.Presets[n]
					fmt.Fprintf(tw, "%s\t%s\t%t\n", n, p.SizeFormatted, p.Available)
				}
				fmt.Fprintf(tw, "\ncontent types: text: %s; random: %s; pattern: %s\n", r.ContentTypes.Text, r.ContentTypes.Random, r.ContentTypes.Pattern)
			})
		},
	}
	a.apiFlags(presets)

	info := &cobra.Command{
		Use:   "info",
		Short: "The generator's size limit, units and name prefixes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.api.GenInfo(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "max size\t%s (%d bytes)\n", r.MaxFileSizeFormatted, r.MaxFileSize)
				fmt.Fprintf(tw, "units\t%s\n", strings.Join(r.SupportedUnits, ", "))
				fmt.Fprintf(tw, "examples\t%s\n", strings.Join(r.Examples, "; "))
				fmt.Fprintf(tw, "default pattern\t%s (at most %d bytes)\n", r.DefaultPattern, r.MaxPatternBytes)
				fmt.Fprintf(tw, "name prefixes\t%s\n", strings.Join(r.NamePrefixes, ", "))
			})
		},
	}
	a.apiFlags(info)

	var cg genFlags
	create := &cobra.Command{
		Use:   "create [--size S] [--content text|random|pattern] [--pattern P] [--name N]",
		Short: "Generate a file of a size into the upload store (an ordinary upload, usable by every transfer)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cg.check(); err != nil {
				return err
			}
			r, err := a.api.GenCreate(cmd.Context(), client.GenCreateRequest{Size: cg.size, ContentType: cg.content, Pattern: cg.pattern, FileName: cg.name})
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) { genFileTable(tw, r.Message, &r.FileInfo) })
		},
	}
	a.apiFlags(create)
	cg.register(create, true)

	var pg genFlags
	preset := &cobra.Command{
		Use:       "preset NAME [--content ...] [--name N]",
		Short:     "Generate a file of a preset size: " + orList(client.GenPresetNames),
		Args:      cobra.ExactArgs(1),
		ValidArgs: client.GenPresetNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := oneOf("preset", args[0], client.GenPresetNames); err != nil {
				return err
			}
			if err := pg.check(); err != nil {
				return err
			}
			r, err := a.api.GenCreatePreset(cmd.Context(), client.GenPresetRequest{Preset: args[0], ContentType: pg.content, Pattern: pg.pattern, FileName: pg.name})
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) { genFileTable(tw, r.Message, &r.FileInfo) })
		},
	}
	a.apiFlags(preset)
	pg.register(preset, false)

	var (
		sg      genFlags
		targets castTargets
		sender  string
		wait    bool
	)
	send := &cobra.Command{
		Use:   "send [--size S] [--content C] [--to id,... | --group G] [--cast-type T] [--sender NODE] [--wait]",
		Short: "Generate a file and send it to nodes (create-and-transfer); --wait follows the transfer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sg.check(); err != nil {
				return err
			}
			ct, err := targets.resolve()
			if err != nil {
				return err
			}
			r, err := a.api.GenCreateAndTransfer(cmd.Context(), client.GenTransferRequest{Size: sg.size, ContentType: sg.content, Pattern: sg.pattern, FileName: sg.name,
				SenderID: sender, CastType: ct, Recipients: targets.to, GroupID: targets.group})
			if err != nil {
				return err
			}
			if wait {
				return a.followAndShow(cmd.Context(), r.TransferID)
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				genFileTable(tw, r.Message, &r.FileInfo)
				fmt.Fprintln(tw, "RECIPIENT\tSTATE\tRESULT")
				for _, res := range r.TransferSummary.TransferResults {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", res.RecipientID, res.State, res.Result)
				}
			})
		},
	}
	a.apiFlags(send)
	sg.register(send, true)
	targets.register(send)
	send.Flags().StringVar(&sender, "sender", "", "the sending node (optional; must exist when given)")
	send.Flags().BoolVar(&wait, "wait", false, "follow the transfer until it ends; exit 1 unless every target completed")

	files := &cobra.Command{
		Use:     "files",
		Aliases: []string{"ls", "list"},
		Short:   "The generated files, newest first",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.api.GenFiles(cmd.Context())
			if err != nil {
				return err
			}
			return a.emit(r.Raw, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tSIZE\tSHA256\tMODIFIED")
				for _, f := range r.Files {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.FileName, f.SizeFormatted, f.SHA256, f.ModifiedTime)
				}
				fmt.Fprintf(tw, "%d file(s), %s\n", r.TotalCount, r.TotalSizeFormatted)
			})
		},
	}
	a.apiFlags(files)

	del := &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete generated files (other uploads: castray files delete)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, name := range args {
				if !filegen.IsGenerated(name) {
					return usagef("%q is not a generated file (their names start with %s); delete uploads with 'castray files delete'", name, orList(filegen.Prefixes))
				}
			}
			for _, name := range args {
				r, err := a.api.GenDeleteFile(cmd.Context(), name)
				if err != nil {
					return err
				}
				if err := a.emit(r.Raw, func(tw *tabwriter.Writer) { fmt.Fprintf(tw, "%s (%s)\n", r.Message, r.DeletedSizeFormatted) }); err != nil {
					return err
				}
			}
			return nil
		},
	}
	a.apiFlags(del)
	cmd.AddCommand(presets, info, create, preset, send, files, del)
	return cmd
}

func genFileTable(tw *tabwriter.Writer, msg string, f *client.GenFileInfo) {
	fmt.Fprintln(tw, msg)
	fmt.Fprintf(tw, "file\t%s\n", f.FileName)
	fmt.Fprintf(tw, "size\t%s (%d bytes)\n", f.SizeFormatted, f.ActualSize)
	fmt.Fprintf(tw, "content\t%s\n", f.ContentType)
	fmt.Fprintf(tw, "sha256\t%s\n", f.SHA256)
}
