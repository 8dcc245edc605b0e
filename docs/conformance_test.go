// Package docs holds the project's documents; its tests keep them true:
// every test a document cites exists, and starling.doap lists the same
// extensions, versions and statuses as docs/conformance.md.
package docs

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/config"
)

func readConformance(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("conformance.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	reCode   = regexp.MustCompile("`([^`]+)`")
	reConv   = regexp.MustCompile(`^conv/([\w.*-]+)$`)
	reGoTest = regexp.MustCompile(`^([\w/]+)\.((?:Test|Fuzz)\w+)$`)
)

// TestCitedTestsExist checks that each conversation script and Go test
// docs/conformance.md names is there, so a renamed or deleted test cannot
// leave a row claiming coverage it no longer has.
func TestCitedTestsExist(t *testing.T) {
	doc := readConformance(t)
	checked := 0
	for _, m := range reCode.FindAllStringSubmatch(doc, -1) {
		ref := m[1]
		if ref == "conv/NAME" || ref == "pkg.TestName" {
			continue // the document's own explanation of the notation
		}
		if c := reConv.FindStringSubmatch(ref); c != nil {
			files, _ := filepath.Glob(filepath.Join("..", "testdata", "conv", c[1]+".conv"))
			if len(files) == 0 {
				t.Errorf("%s: no such conversation script", ref)
			}
			checked++
			continue
		}
		g := reGoTest.FindStringSubmatch(ref)
		if g == nil {
			continue
		}
		checked++
		if !goTestExists(g[1], g[2]) {
			t.Errorf("%s: no such test", ref)
		}
	}
	if checked < 100 {
		t.Errorf("only %d test references found: is the document's format still understood?", checked)
	}
}

// goTestExists looks for func name in the test files of the package pkg,
// given as its path from the repository root or, for modules and
// storage backends, by its last element.
func goTestExists(pkg, name string) bool {
	for _, dir := range []string{pkg, "modules/" + pkg, "storage/" + pkg, "internal/" + pkg} {
		files, _ := filepath.Glob(filepath.Join("..", dir, "*_test.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil && strings.Contains(string(b), "\nfunc "+name+"(") {
				return true
			}
		}
	}
	return false
}

// supported is one extension as listed: version and status.
type supported struct{ version, status string }

// xepTable reads the "Extensions (XEPs)" table: XEP number → version and
// the first word of the status, plus the module column.
func xepTable(t *testing.T) (map[string]supported, []string) {
	t.Helper()
	doc := readConformance(t)
	_, table, ok := strings.Cut(doc, "## Extensions (XEPs)")
	if !ok {
		t.Fatal("no Extensions (XEPs) section")
	}
	xeps := map[string]supported{}
	var modules []string
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| XEP-") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 7 {
			t.Fatalf("short row: %s", line)
		}
		num := strings.TrimPrefix(strings.TrimSpace(cells[1]), "XEP-")
		status, _, _ := strings.Cut(strings.TrimSpace(cells[4]), " ")
		xeps[num] = supported{version: strings.TrimSpace(cells[3]), status: status}
		for _, m := range strings.Split(cells[5], ",") {
			modules = append(modules, strings.TrimSpace(m))
		}
	}
	return xeps, modules
}

// TestDOAPMatchesConformance: starling.doap (XEP-0453) and the XEP table
// list the same extensions with the same versions and statuses.
func TestDOAPMatchesConformance(t *testing.T) {
	want, _ := xepTable(t)
	f, err := os.Open(filepath.Join("..", "starling.doap"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doap struct {
		Project struct {
			Name       string `xml:"http://usefulinc.com/ns/doap# name"`
			Implements []struct {
				Resource string `xml:"http://www.w3.org/1999/02/22-rdf-syntax-ns# resource,attr"`
				XEP      *struct {
					URL struct {
						Resource string `xml:"http://www.w3.org/1999/02/22-rdf-syntax-ns# resource,attr"`
					} `xml:"https://linkmauve.fr/ns/xmpp-doap# xep"`
					Status  string `xml:"https://linkmauve.fr/ns/xmpp-doap# status"`
					Version string `xml:"https://linkmauve.fr/ns/xmpp-doap# version"`
				} `xml:"https://linkmauve.fr/ns/xmpp-doap# SupportedXep"`
			} `xml:"http://usefulinc.com/ns/doap# implements"`
		} `xml:"http://usefulinc.com/ns/doap# Project"`
	}
	if err := xml.NewDecoder(f).Decode(&doap); err != nil {
		t.Fatalf("starling.doap: %v", err)
	}
	if doap.Project.Name != "Starling" {
		t.Errorf("project name %q", doap.Project.Name)
	}
	got := map[string]supported{}
	for _, im := range doap.Project.Implements {
		if im.XEP == nil {
			continue
		}
		num := strings.TrimSuffix(strings.TrimPrefix(im.XEP.URL.Resource, "https://xmpp.org/extensions/xep-"), ".html")
		got[num] = supported{version: im.XEP.Version, status: im.XEP.Status}
	}
	if len(got) == 0 {
		t.Fatal("no SupportedXep in starling.doap")
	}
	for num, w := range want {
		if g, ok := got[num]; !ok {
			t.Errorf("XEP-%s is in conformance.md, not in starling.doap", num)
		} else if g != w {
			t.Errorf("XEP-%s: starling.doap says %+v, conformance.md %+v", num, g, w)
		}
	}
	for num := range got {
		if _, ok := want[num]; !ok {
			t.Errorf("XEP-%s is in starling.doap, not in conformance.md", num)
		}
	}
}

// TestEveryModuleDocumented: each feature module the configuration knows
// appears in the XEP table (or, for the roster, in its own sections).
func TestEveryModuleDocumented(t *testing.T) {
	_, modules := xepTable(t)
	for name := range config.ModuleNames {
		found := false
		for _, m := range modules {
			found = found || m == name
		}
		if !found {
			t.Errorf("module %q is not in the XEP table's Module column", name)
		}
	}
}
