package raystatus

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Outcome is what one `ray status` run amounted to.
type Outcome int

const (
	// OutcomeStatus: the cluster's status was printed and parsed.
	OutcomeStatus Outcome = iota
	// OutcomeNoStatusYet: the GCS answered, but the autoscaler has not
	// published a status yet ("No cluster status. ..."). The cluster exists.
	OutcomeNoStatusYet
	// OutcomeNoCluster: "Could not find any running Ray instance" (plain
	// `ray status` only). Not an error.
	OutcomeNoCluster
	// OutcomeMultiple: "Found multiple active Ray instances: {...}"; Addresses
	// lists them.
	OutcomeMultiple
	// OutcomeAuth: token authentication failed. FromServer tells whether a
	// GCS answered (InvalidAuthToken) or the CLI gave up before connecting
	// (token mode without a token).
	OutcomeAuth
	// OutcomeVersionMismatch: the GCS answered, but the cluster runs another
	// Ray version than the CLI (ClusterVersion, CLIVersion), so `ray status`
	// refused to read it. The cluster exists.
	OutcomeVersionMismatch
	// OutcomeUnreachable: no GCS answered at the address.
	OutcomeUnreachable
	// OutcomeError: anything else; Message is an excerpt of the output.
	OutcomeError
)

func (o Outcome) String() string {
	switch o {
	case OutcomeStatus:
		return "status"
	case OutcomeNoStatusYet:
		return "no-status-yet"
	case OutcomeNoCluster:
		return "no-cluster"
	case OutcomeMultiple:
		return "multiple"
	case OutcomeAuth:
		return "auth"
	case OutcomeVersionMismatch:
		return "version-mismatch"
	case OutcomeUnreachable:
		return "unreachable"
	default:
		return "error"
	}
}

// Result is the classification of one run.
type Result struct {
	Outcome Outcome
	Status  *Status // OutcomeStatus and OutcomeNoStatusYet
	// Addresses are the GCS addresses of OutcomeMultiple, sorted as printed.
	Addresses []string
	// FromServer: see OutcomeAuth.
	FromServer bool
	// ClusterVersion and CLIVersion: see OutcomeVersionMismatch.
	ClusterVersion, CLIVersion string
	// Message is a short excerpt of the output explaining the outcome (the
	// exception line, trimmed), for notes and summary errors.
	Message string
}

var (
	multipleRE = regexp.MustCompile(`Found multiple active Ray instances: \{([^}]*)\}`)
	quotedRE   = regexp.MustCompile(`'([^']+)'`)
	mismatchRE = regexp.MustCompile(`Ray version mismatch: cluster has Ray version (\S+) but local Ray version is (\S+)`)
	// exceptionRE spots the last line of a Python traceback:
	// "ray.exceptions.RpcError: ...", "ConnectionError: ...".
	cppLogRE    = regexp.MustCompile(`^\[[^\]]*\] [A-Za-z0-9_.]+:\d+: (.*)$`)
	exceptionRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Interrupt|Exit)\b:?`)
)

// Markers of the outcomes, as Ray 2.9.3 to 2.60.0 print them (see testdata/).
var (
	noClusterMarkers = []string{"Could not find any running Ray instance"}
	authMarkers      = []string{
		"AuthenticationError", "InvalidAuthToken", "Authentication token is missing or incorrect",
		"UNAUTHENTICATED", "Unauthenticated",
	}
	authClientMarkers = []string{
		"couldn't find an authentication token", "could not find an authentication token",
	}
	unreachableMarkers = []string{
		"Ray cluster is not found at",                                       // 2.9.3
		"Timed out while waiting for GCS to become available",               // 2.60.0
		"Failed to connect to GCS",                                          // 2.60.0 warning line
		"failed to connect to all addresses",                                // gRPC
		"Failed to get cluster ID from GCS server",                          // 2.60.0
		"Could not connect to the GCS",                                      // older wording
		"Connection refused",                                                // any
		"Name or service not known", "Temporary failure in name resolution", // DNS
	}
)

// Classify interprets one run of `ray status` from its stdout, stderr and
// exit code. exitCode 0 with a parseable status is OutcomeStatus whatever
// stderr says (Ray prints warnings there).
func Classify(stdout, stderr string, exitCode int) Result {
	stdout, stderr = cleanText(stdout), cleanText(stderr)
	if exitCode == 0 {
		if st, err := Parse(stdout); err == nil {
			if st.NoStatus && len(st.Active)+len(st.Idle)+len(st.Resources) == 0 {
				return Result{Outcome: OutcomeNoStatusYet, Status: st, Message: firstLine(stdout)}
			}
			return Result{Outcome: OutcomeStatus, Status: st}
		}
	}
	all := stdout + "\n" + stderr
	msg := Excerpt(stderr)
	if msg == "" {
		msg = Excerpt(stdout)
	}
	switch {
	case containsAny(all, noClusterMarkers):
		return Result{Outcome: OutcomeNoCluster, Message: msg}
	case multipleRE.MatchString(all):
		m := multipleRE.FindStringSubmatch(all)
		var addrs []string
		for _, q := range quotedRE.FindAllStringSubmatch(m[1], -1) {
			addrs = append(addrs, q[1])
		}
		return Result{Outcome: OutcomeMultiple, Addresses: addrs, Message: msg}
	case containsAny(all, authClientMarkers):
		return Result{Outcome: OutcomeAuth, FromServer: false, Message: msg}
	case containsAny(all, authMarkers):
		return Result{Outcome: OutcomeAuth, FromServer: true, Message: msg}
	case mismatchRE.MatchString(all):
		m := mismatchRE.FindStringSubmatch(all)
		return Result{Outcome: OutcomeVersionMismatch, ClusterVersion: m[1], CLIVersion: m[2], Message: msg}
	case containsAny(all, unreachableMarkers):
		return Result{Outcome: OutcomeUnreachable, Message: msg}
	}
	if msg == "" {
		msg = "no output"
	}
	return Result{Outcome: OutcomeError, Message: msg}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// maxExcerpt bounds excerpts of the CLI's output, in bytes.
const maxExcerpt = 300

// Excerpt picks the line of a CLI output that explains it: the last Python
// exception line if any, else the last line that is not part of a C++ stack
// trace, trimmed to maxExcerpt bytes.
func Excerpt(out string) string {
	lines := strings.Split(cleanText(out), "\n")
	pick := ""
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if exceptionRE.MatchString(l) {
			pick = l
			break
		}
	}
	if pick == "" {
		for i := len(lines) - 1; i >= 0; i-- {
			l := strings.TrimSpace(lines[i])
			if l == "" || strings.HasPrefix(l, "/") || strings.HasPrefix(l, "***") ||
				strings.HasPrefix(l, "Command exited") {
				continue
			}
			pick = l
			break
		}
	}
	// A Ray C++ log line: "[2026-11-25 20:17:38,371 C 1132 1132] file.cc:115:  msg".
	if m := cppLogRE.FindStringSubmatch(pick); m != nil {
		pick = strings.TrimSpace(m[1])
		if _, after, ok := strings.Cut(pick, "Check failed: "); ok {
			pick = "Check failed: " + after
		}
	}
	return truncate(pick, maxExcerpt)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return truncate(s, maxExcerpt)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
