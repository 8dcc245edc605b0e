package doctor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	return &Report{
		Domain: "example.test",
		Start:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Checks: []Check{
			{Group: "DNS", Name: "_xmpp-client._tcp.example.test", Status: Warn, Detail: "no record", Hint: "publish it"},
			{Group: "c2s a:5222 (STARTTLS)", Name: "connect", Status: OK, Detail: "connected", Hint: "ignored for OK", Duration: 1500 * time.Microsecond},
			{Group: "c2s a:5222 (STARTTLS)", Name: "certificate", Status: Fail, Detail: "expired\nforged line \x1b[2J", Hint: "renew it"},
		},
	}
}

func TestReportText(t *testing.T) {
	r := sampleReport()
	var plain, coloured bytes.Buffer
	if err := r.WriteText(&plain, false); err != nil {
		t.Fatal(err)
	}
	r.WriteText(&coloured, true)
	out := plain.String()
	t.Logf("\n%s", out)
	if strings.Contains(out, "\x1b") {
		t.Error("escape codes without colour (or from the detail)")
	}
	for _, want := range []string{
		"XMPP doctor for example.test (2026-01-02 03:04:05 UTC)",
		"\nDNS\n",
		"  WARN  _xmpp-client._tcp.example.test  no record\n",
		"fix: publish it\n",
		"  OK    connect                         connected (1.5ms)\n",
		"  FAIL  certificate                     expired forged line  [2J\n",
		"fix: renew it\n",
		"1 OK, 1 warning, 1 failure\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(out, "ignored for OK") {
		t.Error("hint of an OK check shown")
	}
	c := coloured.String()
	for _, want := range []string{ansiGreen + "OK" + ansiReset, ansiYellow + "WARN" + ansiReset, ansiRed + "FAIL" + ansiReset} {
		if !strings.Contains(c, want) {
			t.Errorf("coloured output lacks %q", want)
		}
	}
}

func TestReportJSON(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Domain, Start string
		Status        Status
		Checks        []struct {
			Name   string
			Status Status
			MS     float64
			Hint   *string
		}
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.Status != Fail || got.Start != "2026-01-02T03:04:05Z" || len(got.Checks) != 3 {
		t.Fatalf("%+v", got)
	}
	if got.Checks[0].Status != Warn || got.Checks[1].MS != 1.5 || got.Checks[2].Status != Fail || got.Checks[0].MS != 0 {
		t.Errorf("%+v", got.Checks)
	}
	var s Status
	if err := s.UnmarshalText([]byte("BAD")); err == nil {
		t.Error("BAD accepted as a status")
	}
	if _, err := Status(7).MarshalText(); err == nil {
		t.Error("status 7 marshalled")
	}
}
