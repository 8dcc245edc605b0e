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
// the server's answer after initial presence (the same for an Idle
// connection); a message's from its sending to its arrival at the
// partner; a Presence login's from the connection to the roster's
// arrival.
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
	// Scenario is "login", "messages", "idle" or "presence".
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
	// time, up to the end of what was in flight. For Idle, Duration is
	// the hold asked and Wall the ramp (from the first connection
	// attempt until every attempt ended); for Presence, Duration is the
	// measured phase's timeout and Wall the phase (from the first login
	// until every account saw all its contacts online, or the timeout).
	Duration, Wall time.Duration
	// Ops counts completed logins, delivered messages, established
	// connections (Idle) or presence stanzas received during the
	// measured phase (Presence: all of them, the accounts' own
	// reflected presence included).
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

	// Connections is the number of connections Idle was asked for;
	// Accounts the accounts they share round robin (Idle) or the ring's
	// size (Presence); Contacts each account's contacts (Presence).
	Connections, Accounts, Contacts int
	// LocalAddrs is how many local addresses Idle's connections came
	// from (1 unless the server is on an IPv4 loopback address and
	// there are more than ConnectionsPerLocalAddr connections).
	LocalAddrs int
	// Hold is how long Idle held its connections once all were up;
	// HoldServerCPU the server's CPU time then (with ServerPID).
	Hold          time.Duration
	HoldServerCPU *time.Duration
	// Dropped counts Idle's connections the server ended during the
	// hold (each also an error).
	Dropped int64
	// CloseTime is how long closing every connection took (Idle,
	// Presence); Aborted how many were dropped without the closing
	// handshake because closing took too long.
	CloseTime time.Duration
	Aborted   int64
	// ServerRSSBefore and ServerRSSAfter are the server's resident
	// memory in KiB (VmRSS) before the first connection and once all
	// were up (the lowest of the readings over the hold, after it
	// settled); zero when not measured, ServerRSSNote then says why
	// (empty when not asked). ClientRSSBefore and ClientRSSAfter are
	// the generator's own, read the same way. Idle only.
	ServerRSSBefore, ServerRSSAfter int64
	ServerRSSNote                   string
	ClientRSSBefore, ClientRSSAfter int64
	// SetupOnly: Presence stopped after the setup (no measured phase).
	SetupOnly bool
	// SetupTime is how long Presence took to check, and where needed
	// create, the rosters; SetupSkipped counts the accounts whose roster
	// was already complete, SetupPasses the passes over the accounts
	// (each logs in those still incomplete).
	SetupTime    time.Duration
	SetupSkipped int
	SetupPasses  int
	// Online counts the accounts that saw every contact available
	// within the timeout (Presence); AllOnline is the time from the
	// first login until the last of them did, nil if some never did.
	Online    int
	AllOnline *time.Duration
	// ContactPresences counts the available presence stanzas received
	// from contacts (part of Ops).
	ContactPresences int64
}

// Unit names what Ops counts: "login", "message", "connection" or
// "presence".
func (r *Report) Unit() string {
	switch r.Scenario {
	case "messages":
		return "message"
	case "idle":
		return "connection"
	case "presence":
		return "presence"
	}
	return "login"
}

// kibPer returns (after − before) / Ops, the memory per connection in
// KiB, when both were measured.
func (r *Report) kibPer(before, after int64) (float64, bool) {
	if before <= 0 || after <= 0 || r.Ops == 0 {
		return 0, false
	}
	return float64(after-before) / float64(r.Ops), true
}

// ServerKiBPerConnection returns the server's resident memory per
// established connection in KiB (Idle, with ServerPID on Linux).
func (r *Report) ServerKiBPerConnection() (float64, bool) {
	return r.kibPer(r.ServerRSSBefore, r.ServerRSSAfter)
}

// ClientKiBPerConnection returns the generator's resident memory per
// established connection in KiB (Idle, on Linux).
func (r *Report) ClientKiBPerConnection() (float64, bool) {
	return r.kibPer(r.ClientRSSBefore, r.ClientRSSAfter)
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
	if r.Ops == 0 && !r.SetupOnly {
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
	switch r.Scenario {
	case "messages":
		row("load", "%d pairs, window %d", r.Pairs, r.Window)
	case "idle":
		row("load", "%d connections over %d accounts from %d local addresses, %d connecting at once",
			r.Connections, r.Accounts, r.LocalAddrs, r.Workers)
	case "presence":
		row("load", "%d accounts × %d contacts, %d logging in at once", r.Accounts, r.Contacts, r.Workers)
	default:
		row("load", "%d workers", r.Workers)
	}
	switch r.Scenario {
	case "idle":
		row("time", "ramp %.2f s, held %.2f s (%.2f s asked), closed in %.2f s",
			r.Wall.Seconds(), r.Hold.Seconds(), r.Duration.Seconds(), r.CloseTime.Seconds())
		row("connections", "%d established (%.1f/s over the ramp), %d dropped during the hold", r.Ops, r.Rate(), r.Dropped)
	case "presence":
		row("setup", "%.2f s, %d of %d rosters already complete, %d passes", r.SetupTime.Seconds(), r.SetupSkipped, r.Accounts, r.SetupPasses)
		if r.SetupOnly {
			break
		}
		row("time", "phase %.2f s (timeout %.2f s), closed in %.2f s", r.Wall.Seconds(), r.Duration.Seconds(), r.CloseTime.Seconds())
		if r.AllOnline != nil {
			row("all online", "%.2f s after the first login", r.AllOnline.Seconds())
		} else {
			row("all online", "never: %d of %d accounts saw all their contacts", r.Online, r.Accounts)
		}
		row("presence", "%d received (%d from contacts), %.1f/s", r.Ops, r.ContactPresences, r.Rate())
	case "messages":
		row("time", "%.2f s asked, %.2f s wall", r.Duration.Seconds(), r.Wall.Seconds())
		row("messages", "%d sent, %d received, %d lost, %d out of order", r.Sent, r.Received, r.Lost, r.Reordered)
		row("delivered", "%.1f messages/s", r.Rate())
	default:
		row("time", "%.2f s asked, %.2f s wall", r.Duration.Seconds(), r.Wall.Seconds())
		row("logins", "%d (%.1f/s)", r.Ops, r.Rate())
	}
	if r.SetupOnly {
		row("errors", "%d", r.ErrorTotal())
		return tw.Flush()
	}
	l := r.Latency
	latency := "latency"
	switch r.Scenario {
	case "idle":
		latency = "connect"
	case "presence":
		latency = "login"
	}
	row(latency, "p50 %s  p90 %s  p99 %s  max %s", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
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
	if r.HoldServerCPU != nil && r.Hold > 0 {
		row("server CPU", "%.2f s = %.1f%% of one core while holding", r.HoldServerCPU.Seconds(), 100*r.HoldServerCPU.Seconds()/r.Hold.Seconds())
	}
	if r.Scenario == "idle" {
		if per, ok := r.ServerKiBPerConnection(); ok {
			row("server memory", "%.1f MiB before, %.1f MiB with the connections: %.1f KiB per connection",
				float64(r.ServerRSSBefore)/1024, float64(r.ServerRSSAfter)/1024, per)
		} else if r.ServerRSSNote != "" {
			row("server memory", "not measured: %s", r.ServerRSSNote)
		}
		if per, ok := r.ClientKiBPerConnection(); ok {
			row("client memory", "%.1f MiB before, %.1f MiB with the connections: %.1f KiB per connection",
				float64(r.ClientRSSBefore)/1024, float64(r.ClientRSSAfter)/1024, per)
		}
	}
	if r.Aborted > 0 {
		row("note", "%d connections were dropped without closing: closing took too long", r.Aborted)
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
// (run times) or milliseconds (latencies), CPU per unit in microseconds,
// memory in KiB. The fields are those of Report (see there); "unit" is
// Unit(), "rate_per_s" is ops / wall_s, "ok" is Err() == nil. Fields of
// one scenario are left out of the others' reports; those only measured
// on request or on Linux are left out when not measured.
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

	// Idle and Presence.

	// Accounts: the accounts used (Idle: shared round robin; Presence:
	// the ring's size).
	Accounts int `json:"accounts,omitempty"`
	// CloseS: seconds closing every connection took after the run.
	CloseS *float64 `json:"close_s,omitempty"`
	// Aborted: connections dropped without the closing handshake
	// because closing took too long.
	Aborted int64 `json:"aborted,omitempty"`

	// Idle. "ops" is the connections established, "rate_per_s" the
	// connect rate over the ramp ("wall_s"), "latency_ms" the connect
	// latency (connection to the answer after initial presence),
	// "server_cpu_us_per_op" the server's CPU per connection over the
	// ramp, "duration_s" the hold asked.

	// Connections: the connections asked for.
	Connections int `json:"connections,omitempty"`
	// LocalAddrs: the local addresses the connections came from.
	LocalAddrs int `json:"local_addrs,omitempty"`
	// HoldS: seconds the connections were held once all were up.
	HoldS *float64 `json:"hold_s,omitempty"`
	// HoldServerCPUS: the server's CPU seconds during the hold.
	HoldServerCPUS *float64 `json:"hold_server_cpu_s,omitempty"`
	// Dropped: connections the server ended during the hold.
	Dropped *int64 `json:"dropped,omitempty"`
	// ServerRSSBeforeKiB, ServerRSSAfterKiB: the server's VmRSS before
	// the first connection and with all up (lowest reading over the
	// hold); ServerRSSKiBPerConn = (after − before) / ops (may be
	// negative when the server returned memory meanwhile);
	// ServerRSSNote says why they are missing, when asked but not
	// measured.
	ServerRSSBeforeKiB  *int64   `json:"server_rss_before_kib,omitempty"`
	ServerRSSAfterKiB   *int64   `json:"server_rss_after_kib,omitempty"`
	ServerRSSKiBPerConn *float64 `json:"server_rss_kib_per_conn,omitempty"`
	ServerRSSNote       string   `json:"server_rss_note,omitempty"`
	// ClientRSSBeforeKiB, ClientRSSAfterKiB, ClientRSSKiBPerConn: the
	// same for the generator itself.
	ClientRSSBeforeKiB  *int64   `json:"client_rss_before_kib,omitempty"`
	ClientRSSAfterKiB   *int64   `json:"client_rss_after_kib,omitempty"`
	ClientRSSKiBPerConn *float64 `json:"client_rss_kib_per_conn,omitempty"`

	// Presence. "ops" is the presence stanzas received during the
	// measured phase ("wall_s", from the first login until all were
	// online or the timeout), "rate_per_s" presence stanzas delivered
	// per second, "latency_ms" the login latency (connection to roster),
	// "server_cpu_us_per_op" the server's CPU per presence stanza
	// delivered, "duration_s" the phase's timeout.

	// Contacts: each account's contacts.
	Contacts int `json:"contacts,omitempty"`
	// SetupOnly: only the setup ran; the phase's fields are missing.
	SetupOnly bool `json:"setup_only,omitempty"`
	// SetupS: seconds checking and creating the rosters took.
	SetupS *float64 `json:"setup_s,omitempty"`
	// SetupSkipped: accounts whose roster was already complete.
	SetupSkipped *int `json:"setup_skipped,omitempty"`
	// SetupPasses: passes over the accounts the setup made.
	SetupPasses int `json:"setup_passes,omitempty"`
	// Online: accounts that saw all their contacts available.
	Online *int `json:"online,omitempty"`
	// AllOnlineS: seconds from the first login until every account had
	// seen all its contacts available; missing when some never did.
	AllOnlineS *float64 `json:"all_online_s,omitempty"`
	// ContactPresences: available presence stanzas received from
	// contacts (part of ops).
	ContactPresences *int64 `json:"contact_presences,omitempty"`
}

func ptr[T any](v T) *T { return &v }

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
	switch r.Scenario {
	case "idle":
		j.Accounts, j.Connections, j.LocalAddrs = r.Accounts, r.Connections, r.LocalAddrs
		j.CloseS, j.Aborted = ptr(r.CloseTime.Seconds()), r.Aborted
		j.HoldS, j.Dropped = ptr(r.Hold.Seconds()), ptr(r.Dropped)
		if r.HoldServerCPU != nil {
			j.HoldServerCPUS = ptr(r.HoldServerCPU.Seconds())
		}
		if per, ok := r.ServerKiBPerConnection(); ok {
			j.ServerRSSBeforeKiB, j.ServerRSSAfterKiB, j.ServerRSSKiBPerConn = ptr(r.ServerRSSBefore), ptr(r.ServerRSSAfter), ptr(per)
		}
		j.ServerRSSNote = r.ServerRSSNote
		if per, ok := r.ClientKiBPerConnection(); ok {
			j.ClientRSSBeforeKiB, j.ClientRSSAfterKiB, j.ClientRSSKiBPerConn = ptr(r.ClientRSSBefore), ptr(r.ClientRSSAfter), ptr(per)
		}
	case "presence":
		j.Accounts, j.Contacts, j.SetupOnly = r.Accounts, r.Contacts, r.SetupOnly
		j.SetupS, j.SetupSkipped, j.SetupPasses = ptr(r.SetupTime.Seconds()), ptr(r.SetupSkipped), r.SetupPasses
		if !r.SetupOnly {
			j.CloseS, j.Aborted = ptr(r.CloseTime.Seconds()), r.Aborted
			j.Online, j.ContactPresences = ptr(r.Online), ptr(r.ContactPresences)
			if r.AllOnline != nil {
				j.AllOnlineS = ptr(r.AllOnline.Seconds())
			}
		}
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
