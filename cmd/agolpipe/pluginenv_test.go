//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// pluginProc is a plugin process seen during a run: what it serves and
// its environment as the kernel holds it.
type pluginProc struct {
	pid        int
	kind, name string
	env        []string
}

// watchPlugins samples the plugin processes that are children of this
// process (the CLI runs in-process, its plugins are its children) until
// stop is closed, reading each one's /proc/<pid>/environ once.
func watchPlugins(stop <-chan struct{}) <-chan []pluginProc {
	out := make(chan []pluginProc, 1)
	go func() {
		seen := map[int]pluginProc{}
		self := os.Getpid()
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			ents, _ := os.ReadDir("/proc")
			for _, e := range ents {
				pid, err := strconv.Atoi(e.Name())
				if err != nil || seen[pid].pid != 0 {
					continue
				}
				stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
				if err != nil {
					continue
				}
				// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
				f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
				if len(f) < 2 || f[1] != strconv.Itoa(self) {
					continue
				}
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
				i := slices.Index(args, "serve")
				if i < 1 || args[i-1] != "plugin" || len(args) < i+3 {
					continue
				}
				environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
				if err != nil {
					continue
				}
				seen[pid] = pluginProc{pid: pid, kind: args[i+1], name: args[i+2], env: strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00")}
			}
			select {
			case <-stop:
				var procs []pluginProc
				for _, p := range seen {
					procs = append(procs, p)
				}
				out <- procs
				return
			case <-tk.C:
			}
		}
	}()
	return out
}

// TestPluginsStartWithMinimalEnvironment runs a backup with secrets in the
// environment (the portal password, S3 and Azure credentials, a webhook
// URL, a pipeline variable) and reads the environment of every plugin
// process while it runs: each holds only the allowed variables (BaseEnv,
// go-plugin's handshake, and for the s3 sink the AWS_* chain it signs in
// with), and no secret it was not given through its configuration.
func TestPluginsStartWithMinimalEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv := testservers.S3(t)
	bucket := "agolpipe-env-" + testservers.RandHex(4)
	raw := s3.New(s3.Options{Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")})
	if _, err := raw.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}

	var hookMu sync.Mutex
	hooks := 0
	hookSecret := "hook-" + testservers.RandHex(8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, hookSecret) {
			hookMu.Lock()
			hooks++
			hookMu.Unlock()
		}
	}))
	defer hook.Close()

	s, err := sim.Start(sim.Options{Items: 12, Seed: 5, ExportTime: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	admin, _ := demoAdmin(s)
	secrets := map[string]string{
		"SIM_PASSWORD":                    admin.Password,
		"AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=city;AccountKey=" + testservers.RandHex(16),
		"WEBHOOK_URL":                     hook.URL + "/" + hookSecret,
		"AGOLPIPE_VAR_api_token":          "var-" + testservers.RandHex(8),
		"GIS_DB_PASSWORD":                 "db-" + testservers.RandHex(8),
		// The s3 sink below has no keys in its block: it signs in with the
		// AWS chain, so these (and only these) must reach its process.
		"AWS_ACCESS_KEY_ID":     srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_REGION", srv.Region)
	dir := t.TempDir()
	file := writePipeline(t, dir, simSource(s, admin, "")+fmt.Sprintf(`
sink "local" "disk" { path = %q }
sink "s3" "bucket" {
  bucket     = %q
  endpoint   = %q
  path_style = true
}
notify "webhook" "ops" {
  on  = ["success", "partial", "failed"]
  url = env("WEBHOOK_URL")
}
run {
  prefix      = "ENV"
  concurrency = 2
}
`, filepath.Join(dir, "sink"), bucket, srv.Endpoint))

	stop := make(chan struct{})
	procsC := watchPlugins(stop)
	code, out := runCLI(t, "run", file, "--plain")
	close(stop)
	procs := <-procsC
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	hookMu.Lock()
	if hooks == 0 {
		t.Error("the webhook was not called: the notifier did not get its URL through its configuration")
	}
	hookMu.Unlock()

	allowed := func(p pluginProc, name string) bool {
		if slices.Contains(grpcplugin.BaseEnv(), name) || strings.HasPrefix(name, "PLUGIN_") || name == grpcplugin.Handshake.MagicCookieKey {
			return true
		}
		return p.kind == "sink" && p.name == "s3" && strings.HasPrefix(name, "AWS_")
	}
	kinds := map[string]bool{}
	for _, p := range procs {
		kinds[p.kind+"/"+p.name] = true
		for _, kv := range p.env {
			name, value, _ := strings.Cut(kv, "=")
			if !allowed(p, name) {
				t.Errorf("plugin %s %s (pid %d) has %s in its environment", p.kind, p.name, p.pid, name)
			}
			for sk, sv := range secrets {
				if strings.Contains(value, sv) && !(p.kind == "sink" && p.name == "s3" && strings.HasPrefix(sk, "AWS_")) {
					t.Errorf("plugin %s %s (pid %d) holds the value of %s (in %s)", p.kind, p.name, p.pid, sk, name)
				}
			}
		}
	}
	t.Logf("plugin processes seen: %v", kinds)
	for _, want := range []string{"source/arcgis", "sink/local", "sink/s3", "notifier/webhook"} {
		if !kinds[want] {
			t.Errorf("no %s process seen during the run (seen %v)", want, kinds)
		}
	}
	exporters := 0
	for k := range kinds {
		if strings.HasPrefix(k, "exporter/") {
			exporters++
		}
	}
	if exporters == 0 {
		t.Errorf("no exporter process seen during the run (seen %v)", kinds)
	}
}
