// Command table turns the results of bench/compare.sh into a Markdown
// section: the machine, the command, then one table per scenario with each
// server's figures and the ratios of Starling's to Prosody's and to
// ejabberd's.
//
//	table [-doc FILE] RESULTS
//
// RESULTS holds meta.tsv (key TAB value lines: the machine, the versions,
// the command) and, per server, SERVER/SCENARIO.json (a `starling bench
// --json` report) or SERVER/SCENARIO.err (why there is no report). Without
// -doc the section is printed; with it, the section replaces the one
// between the markers in FILE, or is appended to FILE with its markers.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The markers around the generated section of the document.
const (
	beginMarker = "<!-- compare:begin -->"
	endMarker   = "<!-- compare:end -->"
)

// generatorBusy is the share of its cores above which the generator, not
// the server, is taken to limit a run.
const generatorBusy = 0.9

// server is one of the compared servers.
type server struct{ id, name string }

var servers = []server{{"starling", "Starling"}, {"prosody", "Prosody"}, {"ejabberd", "ejabberd"}}

// scenario is one run, the same on every server.
type scenario struct {
	id, title string
	// unit names the rate: "logins/s"...
	rateUnit string
	// perUnit names what the server CPU is divided by.
	perUnit string
}

var scenarios = []scenario{
	{"login-plain", "login, plain TCP + PLAIN", "logins/s", "login"},
	{"login-tls", "login, STARTTLS + SCRAM-SHA-1", "logins/s", "login"},
	{"login-tls-sha256", "login, STARTTLS + SCRAM-SHA-256", "logins/s", "login"},
	{"messages-plain", "messages, plain TCP", "msgs/s", "message"},
	{"messages-tls", "messages, STARTTLS", "msgs/s", "message"},
	{"idle", "idle connections, STARTTLS + SCRAM-SHA-1", "connections", "connection"},
	{"presence", "presence, STARTTLS + SCRAM-SHA-1", "presences/s", "presence"},
}

// result is one server's outcome of one scenario: a report, or why not.
type result struct {
	rep    map[string]any
	failed string
}

func main() {
	doc := flag.String("doc", "", "replace the generated section of this Markdown `file` (appended if absent)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: table [-doc FILE] RESULTS")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *doc, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "table:", err)
		os.Exit(1)
	}
}

func run(dir, doc string, stdout io.Writer) error {
	meta, err := readMeta(filepath.Join(dir, "meta.tsv"))
	if err != nil {
		return err
	}
	res, err := readResults(dir)
	if err != nil {
		return err
	}
	section := render(meta, res)
	if doc == "" {
		_, err := io.WriteString(stdout, section)
		return err
	}
	old, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	out, err := splice(string(old), section)
	if err != nil {
		return err
	}
	tmp := doc + ".tmp"
	if err := os.WriteFile(tmp, []byte(out), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, doc)
}

// readMeta reads key TAB value lines; other lines are ignored.
func readMeta(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "\t"); ok && k != "" {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, sc.Err()
}

// readResults reads every SERVER/SCENARIO.json or .err under dir, keyed
// by "server/scenario".
func readResults(dir string) (map[string]result, error) {
	res := map[string]result{}
	for _, s := range servers {
		for _, sc := range scenarios {
			key := s.id + "/" + sc.id
			base := filepath.Join(dir, s.id, sc.id)
			b, err := os.ReadFile(base + ".json")
			if err == nil {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					res[key] = result{failed: "unreadable report: " + err.Error()}
				} else {
					res[key] = result{rep: m}
				}
				continue
			}
			if !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			if e, err := os.ReadFile(base + ".err"); err == nil {
				res[key] = result{failed: lastLine(string(e))}
			}
		}
	}
	return res, nil
}

// lastLine returns the last line of s (where a failing command puts its
// reason), shortened.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if l == "" {
		l = "failed"
	}
	const max = 160
	if len(l) > max {
		l = l[:max] + "…"
	}
	return l
}

// num returns the number at path (keys separated by dots) in m.
func num(m map[string]any, path string) (float64, bool) {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		if v, ok = o[k]; !ok {
			return 0, false
		}
	}
	f, ok := v.(float64)
	return f, ok
}

// find returns the first number among the keys named, else the first
// top-level number whose key holds every one of the words (in sorted key
// order): the reports of newer scenarios may name their fields
// differently.
func find(m map[string]any, names []string, words ...string) (float64, string, bool) {
	for _, n := range names {
		if f, ok := num(m, n); ok {
			return f, n, true
		}
	}
	if len(words) == 0 {
		return 0, "", false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
next:
	for _, k := range keys {
		lk := strings.ToLower(k)
		for _, w := range words {
			if !strings.Contains(lk, w) {
				continue next
			}
		}
		if f, ok := m[k].(float64); ok {
			return f, k, true
		}
	}
	return 0, "", false
}

// figures are the numbers of one row.
type figures struct {
	rate, p50, p99, cpu, mem, online float64
	hasRate, hasLat, hasCPU, hasMem  bool
	hasOnline                        bool
}

func extract(sc scenario, m map[string]any) figures {
	var f figures
	if sc.id == "presence" {
		f.rate, _, f.hasRate = find(m, []string{"deliveries_per_s", "presence_deliveries_per_s", "delivery_rate_per_s"}, "deliver", "per_s")
		f.online, _, f.hasOnline = find(m, []string{"all_online_s", "all_online_time_s"}, "online")
	}
	if sc.id == "idle" {
		f.rate, _, f.hasRate = find(m, []string{"connections_held", "held", "connected", "ops"})
	}
	if !f.hasRate && sc.id != "idle" {
		f.rate, f.hasRate = num(m, "rate_per_s")
	}
	var ok1, ok2 bool
	f.p50, ok1 = num(m, "latency_ms.p50")
	f.p99, ok2 = num(m, "latency_ms.p99")
	if samples, ok := num(m, "latency_ms.samples"); ok && samples == 0 {
		ok1 = false
	}
	f.hasLat = ok1 && ok2
	if sc.id == "presence" {
		f.cpu, _, f.hasCPU = find(m, []string{"server_cpu_us_per_delivery"}, "server_cpu", "deliver")
	}
	if !f.hasCPU {
		f.cpu, f.hasCPU = num(m, "server_cpu_us_per_op")
	}
	f.mem, _, f.hasMem = find(m, []string{"server_rss_kib_per_conn", "server_rss_per_conn_kib", "rss_kib_per_conn"}, "server", "rss", "per")
	return f
}

// notes returns what a reader must know about a report: failures, and a
// generator that used (almost) all of its cores.
func notes(m map[string]any) string {
	var n []string
	if ok, _ := m["ok"].(bool); !ok {
		s := "not clean"
		if e, _ := num(m, "error_total"); e > 0 {
			s = fmt.Sprintf("%.0f errors", e)
			if l, ok := m["errors"].([]any); ok && len(l) > 0 {
				if first, ok := l[0].(map[string]any); ok {
					if k, ok := first["kind"].(string); ok {
						s += " (" + k + ")"
					}
				}
			}
		}
		if lost, _ := num(m, "lost"); lost != 0 {
			s += fmt.Sprintf(", %.0f lost", lost)
		}
		n = append(n, s)
	}
	if busy, ok := generatorLoad(m); ok && busy >= generatorBusy {
		n = append(n, fmt.Sprintf("generator at %.0f%% of its core: the figure describes the generator", 100*busy))
	}
	if note, _ := m["server_cpu_note"].(string); note != "" {
		n = append(n, "server CPU: "+note)
	}
	return strings.Join(n, "; ")
}

// generatorLoad returns the generator's CPU time over the wall time, per
// core it had.
func generatorLoad(m map[string]any) (float64, bool) {
	cpu, ok1 := num(m, "client_cpu_s")
	wall, ok2 := num(m, "wall_s")
	if !ok1 || !ok2 || wall <= 0 || cpu <= 0 {
		return 0, false
	}
	cores, _ := num(m, "gomaxprocs")
	return cpu / wall / math.Max(cores, 1), true
}

func render(meta map[string]string, res map[string]result) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("%s\n", beginMarker)
	p("## Side by side: Starling, Prosody and ejabberd\n\n")
	p("Generated by `bench/compare.sh`")
	if d := meta["date"]; d != "" {
		p(" on %s", d)
	}
	p("; the script rewrites this section, so edit the script, not the section.\n\n")
	p("- Machine: %s; %s cores; %s memory; kernel %s; Debian %s.\n",
		or(meta["cpu"]), or(meta["cores"]), or(meta["memory"]), or(meta["kernel"]), or(meta["debian"]))
	p("- Software: Starling %s (%s), Prosody %s, ejabberd %s (Erlang/OTP %s).\n",
		or(meta["starling"]), or(meta["go"]), or(meta["prosody"]), or(meta["ejabberd"]), or(meta["erlang"]))
	if v := meta["pinning"]; v != "" {
		p("- CPU: %s.\n", v)
	}
	if v := meta["accounts"]; v != "" {
		p("- Accounts: %s.\n", v)
	}
	for _, s := range servers {
		if v := meta["storage_"+s.id]; v != "" {
			p("- %s: %s.\n", s.name, v)
		}
	}
	if v := meta["limits"]; v != "" {
		p("- Limits: %s.\n", v)
	}
	if v := meta["note"]; v != "" {
		p("- Note: %s.\n", v)
	}
	if v := meta["command"]; v != "" {
		p("\nCommand: `%s`\n", v)
	}
	p("\nRatios are Starling's figure divided by the other server's: above 1 is better for Starling in rates, below 1 in latencies, CPU and memory.\n")
	for _, sc := range scenarios {
		present := false
		for _, s := range servers {
			if _, ok := res[s.id+"/"+sc.id]; ok {
				present = true
			}
		}
		if !present {
			continue
		}
		p("\n### %s%s\n\n", sc.title, load(sc, res))
		rateHead := "Rate"
		if sc.id == "idle" {
			rateHead = "Held"
		}
		head := []string{"Server", rateHead, "Latency p50 / p99", "Server CPU per " + sc.perUnit, "Server memory per connection"}
		if sc.id == "presence" {
			head = append(head, "All online")
		}
		head = append(head, "Notes")
		p("| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
		figs := map[string]figures{}
		for _, s := range servers {
			r, ok := res[s.id+"/"+sc.id]
			row := []string{s.name}
			switch {
			case !ok:
				row = append(row, blanks(len(head)-2)...)
				row = append(row, "not run")
			case r.rep == nil:
				row = append(row, blanks(len(head)-2)...)
				row = append(row, "failed: "+cell(r.failed))
			default:
				f := extract(sc, r.rep)
				figs[s.id] = f
				row = append(row,
					maybe(f.hasRate, fmt.Sprintf("%s %s", count(f.rate), sc.rateUnit)),
					maybe(f.hasLat, fmt.Sprintf("%s / %s ms", dec(f.p50), dec(f.p99))),
					maybe(f.hasCPU, fmt.Sprintf("%s µs", count(f.cpu))),
					maybe(f.hasMem, fmt.Sprintf("%s KiB", dec(f.mem))))
				if sc.id == "presence" {
					row = append(row, maybe(f.hasOnline, fmt.Sprintf("%s s", dec(f.online))))
				}
				row = append(row, cell(notes(r.rep)))
			}
			p("| %s |\n", strings.Join(row, " | "))
		}
		st, ok := figs["starling"]
		if !ok || !clean(res["starling/"+sc.id]) {
			continue
		}
		for _, s := range servers[1:] {
			o, ok := figs[s.id]
			if !ok || !clean(res[s.id+"/"+sc.id]) {
				continue
			}
			row := []string{"Starling / " + s.name,
				ratio(st.hasRate && o.hasRate, st.rate, o.rate),
				ratio2(st.hasLat && o.hasLat, st.p50, o.p50, st.p99, o.p99),
				ratio(st.hasCPU && o.hasCPU, st.cpu, o.cpu),
				ratio(st.hasMem && o.hasMem, st.mem, o.mem)}
			if sc.id == "presence" {
				row = append(row, ratio(st.hasOnline && o.hasOnline, st.online, o.online))
			}
			row = append(row, "")
			p("| %s |\n", strings.Join(row, " | "))
		}
	}
	p("%s\n", endMarker)
	return b.String()
}

// load describes the load of a scenario from any of its reports.
func load(sc scenario, res map[string]result) string {
	for _, s := range servers {
		r := res[s.id+"/"+sc.id]
		if r.rep == nil {
			continue
		}
		var parts []string
		for _, k := range []struct{ key, label string }{
			{"workers", "workers"}, {"pairs", "pairs"}, {"window", "window"},
			{"connections", "connections"}, {"accounts", "accounts"}, {"contacts", "contacts each"},
		} {
			if v, ok := num(r.rep, k.key); ok && v > 0 {
				if k.key == "window" {
					parts = append(parts, fmt.Sprintf("window %.0f", v))
				} else {
					parts = append(parts, fmt.Sprintf("%.0f %s", v, k.label))
				}
			}
		}
		if d, ok := num(r.rep, "duration_s"); ok && d > 0 && sc.id != "presence" {
			parts = append(parts, fmt.Sprintf("%s s", dec(d)))
		}
		if len(parts) == 0 {
			return ""
		}
		return " (" + strings.Join(parts, ", ") + ")"
	}
	return ""
}

func clean(r result) bool {
	if r.rep == nil {
		return false
	}
	ok, _ := r.rep["ok"].(bool)
	return ok
}

func ratio(ok bool, a, b float64) string {
	if !ok || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func ratio2(ok bool, a1, b1, a2, b2 float64) string {
	if !ok {
		return "–"
	}
	return ratio(true, a1, b1) + " / " + ratio(true, a2, b2)
}

func maybe(ok bool, s string) string {
	if !ok {
		return "–"
	}
	return s
}

func blanks(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "–"
	}
	return s
}

// count formats a rate or a per-unit figure: whole numbers with thousands
// separators from 100 on, one decimal below.
func count(f float64) string {
	if math.Abs(f) < 100 {
		return dec(f)
	}
	s := fmt.Sprintf("%.0f", f)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// dec formats f with up to three significant digits after the point for
// small numbers.
func dec(f float64) string {
	switch a := math.Abs(f); {
	case a >= 100:
		return fmt.Sprintf("%.0f", f)
	case a >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.2f", f)
	}
}

// cell makes s safe inside a table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.Join(strings.Fields(s), " ")
}

func or(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// splice replaces the section between the markers in doc, or appends it.
func splice(doc, section string) (string, error) {
	i := strings.Index(doc, beginMarker)
	j := strings.Index(doc, endMarker)
	switch {
	case i < 0 && j < 0:
		var b bytes.Buffer
		b.WriteString(strings.TrimRight(doc, "\n"))
		b.WriteString("\n\n")
		b.WriteString(section)
		return b.String(), nil
	case i < 0 || j < i:
		return "", errors.New("the document's compare markers are missing or out of order")
	}
	rest := doc[j+len(endMarker):]
	rest = strings.TrimPrefix(rest, "\n")
	return doc[:i] + section + rest, nil
}
