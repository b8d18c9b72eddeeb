package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
)

// TestPlanShowsFiltersZipAndRetention runs `agolpipe plan` through plugin
// processes against the simulator: each source filter's count of items
// left out matches the organization, each sink says zip on or off and its
// retention policy, and the retention preview names the run that would go
// after this run, while the sink is left as it was.
func TestPlanShowsFiltersZipAndRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 11})
	// The filters' expected effect, from the organization itself: the
	// most common ordinary item type, and one item of another type.
	o := srv.Org()
	o.Mu.RLock()
	byType := map[string][]string{}
	for _, it := range o.Items {
		if strings.HasSuffix(it.Type, "Package") || it.Type == "Map Area" || it.Type == "API Key" || it.Type == "Application" || it.Type == "Code Attachment" || it.Type == "SQLite Geodatabase" {
			continue // left out by the source's own rules first
		}
		byType[it.Type] = append(byType[it.Type], it.ID)
	}
	o.Mu.RUnlock()
	var common, other string
	for typ, ids := range byType {
		if common == "" || len(ids) > len(byType[common]) || len(ids) == len(byType[common]) && typ < common {
			common = typ
		}
	}
	for typ, ids := range byType {
		if typ != common && (other == "" || ids[0] < other) {
			other = ids[0]
		}
	}
	if common == "" || other == "" {
		t.Fatalf("the simulated organization has too few item types: %v", byType)
	}

	dir := t.TempDir()
	nas, zipped := filepath.Join(dir, "nas"), filepath.Join(dir, "zipped")
	now := time.Now()
	id := "SIM arcgis " + strings.ToLower(srv.PortalURL())
	old := plantManifestRun(t, nas, now.AddDate(0, 0, -40), "success", id)
	recent := plantManifestRun(t, nas, now.AddDate(0, 0, -10), "success", id)
	filters := fmt.Sprintf(`  exclude_ids    = [%q]
  exclude_types  = [%q]
  exclude_owners = ["nobody-at-all"]`, other, common)
	file := writePipeline(t, dir, simSource(srv, admin, filters)+fmt.Sprintf(`
sink "local" "nas" {
  path = %q
  retention {
    delete_after = "30d"
    keep_monthly = 1
  }
}
sink "local" "zipped" {
  path     = %q
  zip      = true
  required = false
}
run {
  prefix       = "SIM"
  max_duration = "10h"
}
`, nas, zipped))

	code, out := runCLI(t, "plan", file)
	if code != exitOK {
		t.Fatalf("agolpipe plan: exit %d\n%s", code, out)
	}
	want := []string{
		`Source filters (arcgis "sim"), items each left out:`,
		`max_duration 10h0m0s (then what is still pending fails)`,
		fmt.Sprintf("  %6d  exclude_ids = [%q]\n", 1, other),
		fmt.Sprintf("  %6d  exclude_types = [%q]\n", len(byType[common]), common),
		fmt.Sprintf("  %6d  exclude_owners = [\"nobody-at-all\"]\n", 0),
		"  nas (local, required, layout type): " + nas + "\n",
		"    zip: off: artifacts as files under SIM_",
		"    retention: delete_after 30d, keep_monthly 1\n",
		fmt.Sprintf("    after this run, if it succeeds (runs of pipeline %q, sink \"nas\", in the sink now):\n", id),
		"      Retention: would delete (dry_run) 1 run(s), 2 object(s), ",
		"; kept 2 run(s)\n",
		"        - " + old + " (started ",
		"        - " + recent + " (started ", "success): kept: younger than delete_after",
		" (this run) (started ", "success): kept: newest complete full run",
		"  zipped (local, optional, layout type): " + zipped + "\n",
		"    zip: on: one archive SIM_",
		"    retention: none",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("plan output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "- "+recent) && !strings.Contains(out, "- "+recent+" (started "+now.AddDate(0, 0, -10).UTC().Format("2006-01-02 15:04 MST")+", success): kept") {
		t.Errorf("plan says %s (10 days old, within delete_after) would go:\n%s", recent, out)
	}
	if strings.Contains(out, admin.Password) {
		t.Error("plan printed the password")
	}
	// Plan wrote and deleted nothing.
	ents, _ := os.ReadDir(nas)
	if len(ents) != 2 {
		t.Errorf("after plan the sink holds %d entries, want the 2 planted runs", len(ents))
	}
	if ents, _ := os.ReadDir(zipped); len(ents) != 0 {
		t.Errorf("plan wrote into the zipped sink: %v", ents)
	}
}

// TestNonAdminScope signs in to the simulated org as a publisher (no admin
// privilege): `plan` must show the same scope warning `run` prints, and
// Results.txt must not call the user's own item count "the items in the
// organization". The plan also writes modified_within as the file does.
func TestNonAdminScope(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, _ := startSim(t, sim.Options{Items: 30, Seed: 5})
	var publisher sim.User
	for _, u := range srv.Users() {
		if u.Kind == "publisher" {
			publisher = u
			break
		}
	}
	if publisher.Username == "" {
		t.Fatal("no publisher in the simulated org")
	}
	t.Setenv("SIM_PASSWORD", publisher.Password)
	dir := t.TempDir()
	nas := filepath.Join(dir, "nas")
	file := writePipeline(t, dir, simSource(srv, publisher, "")+fmt.Sprintf(`
sink "local" "nas" {
  path = %q
}
run {
  prefix          = "NA"
  modified_within = "1d"
}
`, nas))
	scope := publisher.Username + " is not an administrator"

	code, out := runCLI(t, "plan", file)
	if code != exitOK {
		t.Fatalf("agolpipe plan: exit %d\n%s", code, out)
	}
	for _, want := range []string{scope, "Incremental: only items modified within 1d\n", `run { modified_within = "1d" }`} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "24h0m0s") || strings.Contains(out, "modified_within = run") {
		t.Errorf("plan writes modified_within in Go's words, not the file's:\n%s", out)
	}

	code, _ = runCLI(t, "run", file, "--plain")
	if code != exitOK {
		t.Fatalf("agolpipe run: exit %d", code)
	}
	results, err := filepath.Glob(filepath.Join(nas, "NA_*", "Results.txt"))
	if err != nil || len(results) != 1 {
		t.Fatalf("Results.txt: %v %v", results, err)
	}
	b, err := os.ReadFile(results[0])
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if strings.Contains(text, "items in the organization") {
		t.Errorf("a non-admin's Results.txt calls its own count the organization's:\n%s", text)
	}
	for _, want := range []string{"within reach of " + publisher.Username + ", who is not an administrator", scope} {
		if !strings.Contains(text, want) {
			t.Errorf("Results.txt lacks %q:\n%s", want, text)
		}
	}
}

// TestRedactionKeepsLogReadable runs a backup whose sink folder comes from
// env() and whose pipeline holds a one-character secret: run.log must show
// the folder (it is not a secret) and must not cut the secret's letter out
// of every word ("conte[redacted]t").
func TestRedactionKeepsLogReadable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 12, Seed: 3})
	dir := t.TempDir()
	root := filepath.Join(dir, "backups")
	t.Setenv("NC_BACKUP_ROOT", root)
	file := writePipeline(t, dir, simSource(srv, admin, "")+`
variable "tiny" {
  sensitive = true
  default   = "n"
}
sink "local" "nas" {
  path = format("%s/nas", env("NC_BACKUP_ROOT"))
}
notify "webhook" "team" {
  url     = "http://127.0.0.1:9/hook"
  headers = { "X-Tiny" = var.tiny }
  on      = ["failed"]
}
run { prefix = "RD" }
`)
	if code, out := runCLI(t, "run", file, "--plain"); code != exitOK {
		t.Fatalf("agolpipe run: exit %d\n%s", code, out)
	}
	logs, err := filepath.Glob(filepath.Join(root, "nas", "RD_*", report.LogFile))
	if err != nil || len(logs) != 1 {
		t.Fatalf("run.log: %v %v", logs, err)
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.Contains(log, filepath.Join(root, "nas")) {
		t.Errorf("run.log does not name the sink folder %s (an env() value that is no secret)", filepath.Join(root, "nas"))
	}
	if i := strings.Index(log, "[redacted]"); i >= 0 {
		t.Errorf("run.log redacts inside words: %q", log[max(0, i-40):min(len(log), i+40)])
	}
	if !strings.Contains(log, "connected") {
		t.Errorf("run.log lacks the word \"connected\":\n%s", log)
	}
}
