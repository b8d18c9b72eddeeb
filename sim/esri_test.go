package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// TestEsriJSClient drives the simulator with Esri's own JavaScript client
// (testdata/esri/client.mjs): sign in, search with paging, items, data,
// resources, related items, user content, a layer query and an export.
// It skips only when node is missing and AGOLPIPE_REQUIRE_NODE is unset.
func TestEsriJSClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("AGOLPIPE_REQUIRE_NODE") != "" {
			t.Fatal("node is not installed and AGOLPIPE_REQUIRE_NODE is set")
		}
		t.Skip("node is not installed (set AGOLPIPE_REQUIRE_NODE to make this a failure)")
	}
	dir := filepath.Join("testdata", "esri")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@esri", "arcgis-rest-request")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("node_modules is missing and npm is not installed")
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	for _, mode := range []string{"online", "enterprise"} {
		t.Run(mode, func(t *testing.T) {
			s := startSim(t, Options{Mode: mode, Items: 250, ExportTime: 200 * time.Millisecond})
			var u User
			for _, x := range s.Users() {
				if x.Kind == "admin" {
					u = x
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "client.mjs")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "SIM_PORTAL="+s.PortalURL()+"/sharing/rest", "SIM_USER="+u.Username, "SIM_PASS="+u.Password)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("node client.mjs: %v\nstderr:\n%s", err, stderr.String())
			}
			var got struct {
				Username         string   `json:"username"`
				OrgID            string   `json:"orgId"`
				Role             string   `json:"role"`
				SearchTotal      int      `json:"searchTotal"`
				SearchDistinct   int      `json:"searchDistinct"`
				SearchPages      int      `json:"searchPages"`
				WebmapLayers     int      `json:"webmapLayers"`
				Resources        []string `json:"resources"`
				RelatedTotal     int      `json:"relatedTotal"`
				UserContentTotal int      `json:"userContentTotal"`
				Features         int      `json:"features"`
				Count            int      `json:"count"`
				ExportItemID     string   `json:"exportItemId"`
				ExportStatus     string   `json:"exportStatus"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("client output %q: %v", stdout.String(), err)
			}
			o := s.Org()
			o.Mu.RLock()
			live, mine := 0, 0
			for _, it := range o.Items {
				if it.Deleted || it.Temp {
					continue
				}
				live++
				if it.Owner == u.Username && it.FolderID == "" {
					mine++
				}
			}
			exp := o.Item(got.ExportItemID)
			o.Mu.RUnlock()
			if got.Username != u.Username || got.OrgID != s.OrgID() || got.Role != org.RoleAdmin {
				t.Errorf("signed in as %q in %q with role %q", got.Username, got.OrgID, got.Role)
			}
			if got.SearchTotal != live || got.SearchDistinct != live || got.SearchPages != (live+99)/100 {
				t.Errorf("search saw total=%d distinct=%d pages=%d; org has %d items", got.SearchTotal, got.SearchDistinct, got.SearchPages, live)
			}
			if got.WebmapLayers == 0 || len(got.Resources) == 0 || got.RelatedTotal != 1 {
				t.Errorf("web map layers %d, resources %v, related %d", got.WebmapLayers, got.Resources, got.RelatedTotal)
			}
			if got.UserContentTotal != mine {
				t.Errorf("user content total %d, want %d", got.UserContentTotal, mine)
			}
			if got.Count == 0 && got.Features != 0 || got.Features > 5 {
				t.Errorf("query returned %d features, count %d", got.Features, got.Count)
			}
			if got.ExportStatus != "completed" || exp == nil || !exp.Temp {
				t.Errorf("export status %q, item %v", got.ExportStatus, exp)
			}
			var exports, queries, serverInfo int
			for _, r := range s.Requests() {
				switch {
				case r.Endpoint == "export" && r.Status == 200:
					exports++
				case r.Endpoint == "query" && r.User == u.Username && r.ErrorCode == 0:
					queries++
				case r.Endpoint == "rest/info":
					serverInfo++
				}
			}
			// The client must have found the server federated and queried
			// with a token, as it does against ArcGIS.
			if queries != 2 || serverInfo == 0 {
				t.Errorf("authenticated queries %d (want 2), server info requests %d", queries, serverInfo)
			}
			if exports != 1 {
				t.Errorf("request log shows %d exports, want 1", exports)
			}
		})
	}
}
