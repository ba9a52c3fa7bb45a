package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/castray/castray/host/api/client"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the daemon refused or failed, or a transfer target failed
	exitUsage   = 2 // bad flags or arguments; no request was made
)

// app is one invocation of the command tree: its streams, environment and
// the flags shared by the commands that talk to a daemon.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// isTTY says whether progress bars may be drawn on w.
	isTTY func(w io.Writer) bool
	// poll is how often a transfer is polled while waiting or following.
	poll time.Duration

	addr, token, output string
	api                 *client.Client
	started             bool // flags and arguments were accepted
}

func newApp() *app {
	return &app{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, isTTY: fileIsTTY, poll: 500 * time.Millisecond}
}

// fileIsTTY reports whether w is a terminal.
func fileIsTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// run executes the command line and returns the exit code.
func (a *app) run(ctx context.Context, args []string) int {
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(a.stderr, "castray:", err)
	var ue *usageError
	if errors.As(err, &ue) || !a.started {
		fmt.Fprintln(a.stderr, "Run 'castray --help' for usage.")
		return exitUsage
	}
	return exitFailure
}

// apiFlags adds --addr, --token and -o to a command that talks to a daemon.
func (a *app) apiFlags(cmd *cobra.Command) {
	def := a.getenv("CASTRAY_ADDR")
	if def == "" {
		def = "http://127.0.0.1:8000"
	}
	cmd.Flags().StringVar(&a.addr, "addr", def, "daemon address: URL or host:port (env CASTRAY_ADDR)")
	cmd.Flags().StringVar(&a.token, "token", a.getenv("CASTRAY_TOKEN"), "API token (env CASTRAY_TOKEN)")
	cmd.Flags().StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.Annotations = map[string]string{"api": "true"}
}

// prepare checks the shared flags before the command runs and builds the
// client: a bad -o or --addr is a usage error and no request is made.
func (a *app) prepare(cmd *cobra.Command) error {
	if cmd.Annotations["api"] != "true" {
		return nil
	}
	if a.output != "table" && a.output != "json" {
		return usagef("--output %q: use table or json", a.output)
	}
	c, err := client.New(a.addr, client.WithToken(a.token))
	if err != nil {
		return usagef("--addr: %v", err)
	}
	a.api = c
	return nil
}

func (a *app) json() bool { return a.output == "json" }

// emit prints a reply: its exact JSON (indented) with -o json, else the table.
func (a *app) emit(raw json.RawMessage, table func(w *tabwriter.Writer)) error {
	if a.json() {
		return printRaw(a.stdout, raw)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// printRaw writes a JSON document indented, keys in the order they came.
func printRaw(w io.Writer, raw json.RawMessage) error {
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("print answer: %w", err)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// flagErr turns pflag's parse errors into usage errors.
func flagErr(_ *cobra.Command, err error) error { return &usageError{err} }

// args wraps a cobra argument check so its failure is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, as []string) error {
		if err := check(cmd, as); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// oneOf is a usage error unless v is empty or one of allowed: an unknown
// enum value is refused before any request.
func oneOf(flag, v string, allowed []string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return usagef("%s %q: use %s", flag, v, orList(allowed))
}

// orList renders "a, b or c".
func orList(vs []string) string {
	if len(vs) < 2 {
		return strings.Join(vs, "")
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " or " + vs[len(vs)-1]
}

// enumFlag completes a flag's values from allowed.
func enumFlag(cmd *cobra.Command, flag string, allowed []string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(allowed, cobra.ShellCompDirectiveNoFileComp))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// changed reports whether a flag was given on the command line.
func changed(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	return f != nil && f.Changed
}
