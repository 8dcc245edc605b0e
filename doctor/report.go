package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is the verdict of one check: whether what was observed meets RFC
// 6120 (and RFC 6125, XEP-0368, XEP-0178, XEP-0220, XEP-0199) as a peer
// needs it to.
type Status int

// The verdicts, in increasing order of gravity.
const (
	// OK: as RFC 6120 and the deployment practice it cites expect.
	OK Status = iota
	// Warn: works, but something is missing or weak (a SHOULD of RFC
	// 6120, a certificate about to expire); the exit status stays 0.
	Warn
	// Fail: clients or servers cannot use this (a MUST of RFC 6120 §5
	// or §13.7 broken, an unreachable port); the exit status is 1.
	Fail
)

// String returns "OK", "WARN" or "FAIL", as the report prints them.
func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Warn:
		return "WARN"
	case Fail:
		return "FAIL"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// MarshalText writes the status as "OK", "WARN" or "FAIL" (the form of the
// --json report).
func (s Status) MarshalText() ([]byte, error) {
	switch s {
	case OK, Warn, Fail:
		return []byte(s.String()), nil
	}
	return nil, fmt.Errorf("doctor: invalid status %d", int(s))
}

// UnmarshalText reads "OK", "WARN" or "FAIL".
func (s *Status) UnmarshalText(b []byte) error {
	switch string(b) {
	case "OK":
		*s = OK
	case "WARN":
		*s = Warn
	case "FAIL":
		*s = Fail
	default:
		return fmt.Errorf("doctor: invalid status %q", b)
	}
	return nil
}

// Check is the result of one observation: a DNS record set (RFC 6120
// §3.2, XEP-0368), a connection, a stream header (§4.7), STARTTLS (§5), the
// certificate (§13.7.2, RFC 6125), SASL (§6), a login or a ping (XEP-0199).
type Check struct {
	// Group names what was observed: "DNS", "c2s HOST:PORT (STARTTLS)",
	// "s2s HOST:PORT (direct TLS)", "login USER".
	Group string `json:"group"`
	// Name is the check within the group ("connect", "certificate"...).
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Detail says what was seen.
	Detail string `json:"detail"`
	// Hint says how to fix a WARN or FAIL; empty for OK.
	Hint string `json:"hint,omitempty"`
	// Duration is the time the step took, when it was timed.
	Duration time.Duration `json:"-"`
}

// MarshalJSON adds the duration as "ms" (milliseconds, fractional) when
// the step was timed.
func (c Check) MarshalJSON() ([]byte, error) {
	type plain Check
	v := struct {
		plain
		MS float64 `json:"ms,omitempty"`
	}{plain: plain(c)}
	if c.Duration > 0 {
		v.MS = float64(c.Duration.Microseconds()) / 1000
	}
	return json.Marshal(v)
}

// Report is everything Run observed of a domain's RFC 6120 deployment, in
// the order of the report: DNS (§3.2), then each address probed (§4 to §6),
// then the login.
type Report struct {
	Domain string    `json:"domain"`
	Start  time.Time `json:"start"`
	Checks []Check   `json:"checks"`
}

// Status returns the gravest status of the checks (OK for none): the
// verdict on the whole deployment.
func (r *Report) Status() Status {
	worst := OK
	for _, c := range r.Checks {
		worst = max(worst, c.Status)
	}
	return worst
}

// Count returns how many checks have status s (the summary line of the
// report).
func (r *Report) Count(s Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// Find returns the checks of group (all groups if empty) named name, such
// as "certificate" (RFC 6120 §13.7.2) or "STARTTLS" (§5).
func (r *Report) Find(group, name string) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Name == name && (group == "" || c.Group == group) {
			out = append(out, c)
		}
	}
	return out
}

// WriteJSON writes the report as one JSON object: domain, start, status
// (the gravest), and checks (group, name, status, detail, hint, ms).
func (r *Report) WriteJSON(w io.Writer) error {
	v := struct {
		Domain string  `json:"domain"`
		Start  string  `json:"start"`
		Status Status  `json:"status"`
		Checks []Check `json:"checks"`
	}{r.Domain, r.Start.UTC().Format(time.RFC3339), r.Status(), r.Checks}
	if v.Checks == nil {
		v.Checks = []Check{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ANSI colours of the statuses (SGR codes): green, yellow, red.
const (
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

func (s Status) colour() string {
	switch s {
	case OK:
		return ansiGreen
	case Warn:
		return ansiYellow
	}
	return ansiRed
}

// WriteText writes the report for people: one line per check under its
// group, with the hint of every WARN and FAIL on the next line, then a
// summary. colour adds ANSI colours to the statuses (for a terminal).
func (r *Report) WriteText(w io.Writer, colour bool) error {
	var b bytes.Buffer
	paint := func(code, s string) string {
		if !colour {
			return s
		}
		return code + s + ansiReset
	}
	fmt.Fprintf(&b, "%s %s (%s)\n", paint(ansiBold, "XMPP doctor for"), r.Domain, r.Start.UTC().Format("2006-01-02 15:04:05 UTC"))
	width := 0
	for _, c := range r.Checks {
		width = max(width, utf8.RuneCountInString(c.Name))
	}
	group := "\x00"
	for _, c := range r.Checks {
		if c.Group != group {
			group = c.Group
			fmt.Fprintf(&b, "\n%s\n", paint(ansiBold, oneLine(group)))
		}
		st := c.Status.String()
		pad := strings.Repeat(" ", 4-len(st)+1)
		detail := c.Detail
		if c.Duration > 0 {
			detail += " (" + round(c.Duration).String() + ")"
		}
		name := oneLine(c.Name) + strings.Repeat(" ", width-utf8.RuneCountInString(c.Name))
		fmt.Fprintf(&b, "  %s%s %s  %s\n", paint(c.Status.colour(), st), pad, name, oneLine(detail))
		if c.Hint != "" && c.Status != OK {
			fmt.Fprintf(&b, "  %s %s  %s %s\n", strings.Repeat(" ", 5), strings.Repeat(" ", width), paint(c.Status.colour(), "fix:"), oneLine(c.Hint))
		}
	}
	ok, warn, fail := r.Count(OK), r.Count(Warn), r.Count(Fail)
	fmt.Fprintf(&b, "\n%d OK, %s, %s\n", ok,
		paintIf(warn > 0, paint, ansiYellow, plural(warn, "warning")),
		paintIf(fail > 0, paint, ansiRed, plural(fail, "failure")))
	_, err := w.Write(b.Bytes())
	return err
}

func paintIf(cond bool, paint func(code, s string) string, code, s string) string {
	if cond {
		return paint(code, s)
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// round shortens a duration for reading: microseconds below 10ms, then
// 0.1ms steps below a second, then milliseconds.
func round(d time.Duration) time.Duration {
	switch {
	case d < 10*time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// oneLine replaces line breaks and other control characters (from a peer's
// error text, say) so that every check stays on its line and nothing the
// server sent can drive the terminal.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}
