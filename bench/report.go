package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Latency summarises a run's latencies: a login's from the connection to
// the server's answer after initial presence; a message's from its sending
// to its arrival at the partner.
type Latency struct {
	Samples            int64
	P50, P90, P99, Max time.Duration
}

// ErrorCount is one kind of failure and how often it happened.
type ErrorCount struct {
	// Kind is the phase and the cause: "login: auth not-authorized",
	// "login: timeout", "receive: connection closed"...
	Kind  string `json:"kind"`
	Count int64  `json:"count"`
	// Example is the first such error's message.
	Example string `json:"example"`
}

// Report is the result of a run.
type Report struct {
	// Scenario is "login" or "messages".
	Scenario string
	Start    time.Time
	Addr     string
	Domain   string
	// TLS is "STARTTLS" or "none".
	TLS string
	// Mechanism is the SASL mechanism the first successful login used.
	Mechanism string
	// Workers (Login), Pairs and Window (Messages): the load asked.
	Workers, Pairs, Window int
	// Duration is the time work was started for; Wall the measured
	// time, up to the end of what was in flight.
	Duration, Wall time.Duration
	// Ops counts completed logins or delivered messages.
	Ops     int64
	Latency Latency
	Errors  []ErrorCount
	// Sent and Received count messages (Messages); Lost = Sent −
	// Received, counting bounced messages and those still missing at the
	// end.
	Sent, Received, Lost int64
	// Reordered counts messages that arrived out of order.
	Reordered int64
	// Interrupted: the caller's context ended before the run did.
	Interrupted bool
	// ClientCPU is the CPU time of this process (the generator) over
	// the run, zero where it is not measured; GOMAXPROCS its cores.
	ClientCPU  time.Duration
	GOMAXPROCS int
	// ServerCPU is the server's CPU time over the run, when
	// Options.ServerPID was given and could be read; otherwise
	// ServerCPUNote says why not (empty when not asked).
	ServerCPU     *time.Duration
	ServerCPUNote string
}

// Unit names what Ops counts: "login" or "message".
func (r *Report) Unit() string {
	if r.Scenario == "messages" {
		return "message"
	}
	return "login"
}

// Rate returns Ops per second of wall time.
func (r *Report) Rate() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Wall.Seconds()
}

// ErrorTotal returns the number of failures of all kinds.
func (r *Report) ErrorTotal() int64 {
	var n int64
	for _, e := range r.Errors {
		n += e.Count
	}
	return n
}

// Err returns nil for a clean run, else what went wrong: failures, lost
// messages, or no work done at all.
func (r *Report) Err() error {
	var p []string
	if n := r.ErrorTotal(); n > 0 {
		p = append(p, fmt.Sprintf("%d errors", n))
	}
	if r.Lost != 0 {
		p = append(p, fmt.Sprintf("%d messages lost", r.Lost))
	}
	if r.Reordered != 0 {
		p = append(p, fmt.Sprintf("%d messages out of order", r.Reordered))
	}
	if r.Ops == 0 {
		p = append(p, "nothing completed")
	}
	if r.Interrupted {
		p = append(p, "interrupted")
	}
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("bench %s: %s", r.Scenario, strings.Join(p, ", "))
}

// perOp returns d per unit of work in microseconds (0 without work).
func (r *Report) perOp(d time.Duration) float64 {
	if r.Ops == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(r.Ops)
}

// WriteText writes the summary table.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t%s\n", k, fmt.Sprintf(format, a...)) }
	addr := r.Addr
	if addr == "" {
		addr = "(SRV lookup)"
	}
	fmt.Fprintf(tw, "bench %s: %s at %s, TLS %s, SASL %s\n", r.Scenario, r.Domain, addr, r.TLS, orDash(r.Mechanism))
	if r.Scenario == "messages" {
		row("load", "%d pairs, window %d", r.Pairs, r.Window)
	} else {
		row("load", "%d workers", r.Workers)
	}
	row("time", "%.2f s asked, %.2f s wall", r.Duration.Seconds(), r.Wall.Seconds())
	if r.Scenario == "messages" {
		row("messages", "%d sent, %d received, %d lost, %d out of order", r.Sent, r.Received, r.Lost, r.Reordered)
		row("delivered", "%.1f messages/s", r.Rate())
	} else {
		row("logins", "%d (%.1f/s)", r.Ops, r.Rate())
	}
	l := r.Latency
	row("latency", "p50 %s  p90 %s  p99 %s  max %s", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
	row("errors", "%d", r.ErrorTotal())
	if r.Interrupted {
		row("note", "interrupted before the end")
	}
	for _, e := range r.Errors {
		row("", "%d × %s (%s)", e.Count, e.Kind, e.Example)
	}
	if r.ClientCPU > 0 {
		row("client CPU", "%.2f s = %.0f%% of one core (%d available), %.0f µs per %s",
			r.ClientCPU.Seconds(), 100*r.ClientCPU.Seconds()/max(r.Wall.Seconds(), 1e-9), r.GOMAXPROCS, r.perOp(r.ClientCPU), r.Unit())
	} else {
		row("client CPU", "not measured on this system")
	}
	switch {
	case r.ServerCPU != nil:
		row("server CPU", "%.2f s = %.0f%% of one core, %.0f µs per %s",
			r.ServerCPU.Seconds(), 100*r.ServerCPU.Seconds()/max(r.Wall.Seconds(), 1e-9), r.perOp(*r.ServerCPU), r.Unit())
	case r.ServerCPUNote != "":
		row("server CPU", "not measured: %s", r.ServerCPUNote)
	}
	if r.ClientCPU > 0 && r.GOMAXPROCS > 0 && r.ClientCPU.Seconds() > 0.8*float64(r.GOMAXPROCS)*r.Wall.Seconds() {
		row("note", "the generator used over 80%% of its cores: it may be the bottleneck")
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// msf is a duration in milliseconds, as the JSON report writes them.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// jsonReport is the --json form of a Report: durations in seconds
// (run times) or milliseconds (latencies), CPU per unit in microseconds.
type jsonReport struct {
	Scenario       string       `json:"scenario"`
	Start          time.Time    `json:"start"`
	Addr           string       `json:"addr,omitempty"`
	Domain         string       `json:"domain"`
	TLS            string       `json:"tls"`
	Mechanism      string       `json:"mechanism,omitempty"`
	Workers        int          `json:"workers,omitempty"`
	Pairs          int          `json:"pairs,omitempty"`
	Window         int          `json:"window,omitempty"`
	DurationS      float64      `json:"duration_s"`
	WallS          float64      `json:"wall_s"`
	Ops            int64        `json:"ops"`
	Unit           string       `json:"unit"`
	RatePerS       float64      `json:"rate_per_s"`
	Latency        jsonLatency  `json:"latency_ms"`
	Errors         []ErrorCount `json:"errors"`
	ErrorTotal     int64        `json:"error_total"`
	Sent           *int64       `json:"sent,omitempty"`
	Received       *int64       `json:"received,omitempty"`
	Lost           *int64       `json:"lost,omitempty"`
	Reordered      *int64       `json:"reordered,omitempty"`
	Interrupted    bool         `json:"interrupted,omitempty"`
	ClientCPUS     float64      `json:"client_cpu_s"`
	ClientCPUPerOp float64      `json:"client_cpu_us_per_op"`
	GOMAXPROCS     int          `json:"gomaxprocs"`
	ServerCPUS     *float64     `json:"server_cpu_s,omitempty"`
	ServerCPUPerOp *float64     `json:"server_cpu_us_per_op,omitempty"`
	ServerCPUNote  string       `json:"server_cpu_note,omitempty"`
	OK             bool         `json:"ok"`
}

type jsonLatency struct {
	Samples int64   `json:"samples"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

// MarshalJSON writes the --json form.
func (r *Report) MarshalJSON() ([]byte, error) {
	j := jsonReport{
		Scenario: r.Scenario, Start: r.Start, Addr: r.Addr, Domain: r.Domain, TLS: r.TLS, Mechanism: r.Mechanism,
		Workers: r.Workers, Pairs: r.Pairs, Window: r.Window,
		DurationS: r.Duration.Seconds(), WallS: r.Wall.Seconds(),
		Ops: r.Ops, Unit: r.Unit(), RatePerS: r.Rate(),
		Latency: jsonLatency{Samples: r.Latency.Samples, P50: msf(r.Latency.P50), P90: msf(r.Latency.P90),
			P99: msf(r.Latency.P99), Max: msf(r.Latency.Max)},
		Errors: r.Errors, ErrorTotal: r.ErrorTotal(),
		ClientCPUS: r.ClientCPU.Seconds(), ClientCPUPerOp: r.perOp(r.ClientCPU), GOMAXPROCS: r.GOMAXPROCS,
		ServerCPUNote: r.ServerCPUNote, Interrupted: r.Interrupted,
		OK: r.Err() == nil,
	}
	if j.Errors == nil {
		j.Errors = []ErrorCount{}
	}
	if r.Scenario == "messages" {
		j.Sent, j.Received, j.Lost, j.Reordered = &r.Sent, &r.Received, &r.Lost, &r.Reordered
	}
	if r.ServerCPU != nil {
		s, per := r.ServerCPU.Seconds(), r.perOp(*r.ServerCPU)
		j.ServerCPUS, j.ServerCPUPerOp = &s, &per
	}
	return json.Marshal(j)
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
