package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/verify"
	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/sim"
)

// verifyFixture is a backed-up simulated org in three sinks: a local
// folder, a real S3 server's bucket, and a zipped local folder.
type verifyFixture struct {
	file, dir, bucket string
	s3                *s3.Client
	m                 *report.Run // the run's manifest in the local sink
	srv               *sim.Server
}

func newVerifyFixture(t *testing.T, runExtra string) *verifyFixture {
	t.Helper()
	ctx := context.Background()
	s3srv := testservers.S3(t)
	c := s3.New(s3.Options{Region: s3srv.Region, BaseEndpoint: aws.String(s3srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s3srv.AccessKey, s3srv.SecretKey, "")})
	bucket := "agolpipe-verify-" + testservers.RandHex(4)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	t.Setenv("TEST_S3_KEY", s3srv.AccessKey)
	t.Setenv("TEST_S3_SECRET", s3srv.SecretKey)
	srv, admin := startSim(t, sim.Options{Items: 12, Seed: 7, LargeFileSize: 64 << 10})
	dir := t.TempDir()
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "nas" { path = %q }
sink "s3" "offsite" {
  bucket            = %q
  prefix            = "backups"
  endpoint          = %q
  region            = %q
  path_style        = true
  access_key_id     = env("TEST_S3_KEY")
  secret_access_key = env("TEST_S3_SECRET")
}
sink "local" "zipped" {
  path = %q
  zip  = true
}
run {
  prefix      = "SIM"
  concurrency = 3
  retries     = 1
  %s
}
`, filepath.Join(dir, "nas"), bucket, s3srv.Endpoint, s3srv.Region, filepath.Join(dir, "zipped"), runExtra))
	f := &verifyFixture{file: file, dir: dir, bucket: bucket, s3: c, srv: srv}
	f.m = backup(t, file, dir)
	return f
}

// pick returns artifacts of the run matching ok, at least n of them.
func (f *verifyFixture) pick(t *testing.T, n int, ok func(report.Artifact) bool) []report.Artifact {
	t.Helper()
	var out []report.Artifact
	for _, a := range f.m.Artifacts {
		if ok(a) {
			out = append(out, a)
		}
	}
	if len(out) < n {
		t.Fatalf("the run has %d matching artifacts, want %d", len(out), n)
	}
	return out[:n]
}

func (f *verifyFixture) s3Key(a report.Artifact) string {
	for _, o := range a.Sinks {
		if o.Sink == "offsite" {
			return "backups/" + f.m.RunFolder + "/" + o.Path
		}
	}
	panic("no offsite copy of " + a.Path)
}

func (f *verifyFixture) s3Get(t *testing.T, key string) []byte {
	t.Helper()
	o, err := f.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &f.bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *verifyFixture) s3Put(t *testing.T, key string, b []byte) {
	t.Helper()
	if _, err := f.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyFindsEveryKindOfDamage backs up a simulated org into a local
// folder, an S3 bucket (a real S3 server) and a zipped local folder, and
// checks `agolpipe verify` through the sink plugins: a clean run verifies
// (exit 0) in every sink; then in the local and the S3 sink one artifact is
// corrupted (same size), one truncated, one deleted, and an extra object
// is added; in the zipped sink a byte of the archive is flipped inside an
// artifact and an extra object is put beside the archive. Verify exits 1
// and names each, per sink, with the item id and title, and nothing else.
func TestVerifyFindsEveryKindOfDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	f := newVerifyFixture(t, "")
	code, out := runCLI(t, "verify", f.file)
	if code != exitOK {
		t.Fatalf("verify of an intact run: exit %d\n%s", code, out)
	}
	for _, s := range []string{"nas", "offsite", "zipped"} {
		if !regexp.MustCompile(fmt.Sprintf(`sink %q \([^)]*\): OK: %d artifact\(s\)`, s, len(f.m.Artifacts))).MatchString(out) {
			t.Errorf("verify does not say sink %s is OK with %d artifacts:\n%s", s, len(f.m.Artifacts), out)
		}
	}
	if !strings.Contains(out, "Every sink (3) holds the whole run "+f.m.RunFolder+" unchanged") {
		t.Errorf("verify's last line:\n%s", out)
	}

	// Damage: three artifacts of at least 2 bytes, each in a different
	// way, in the local and the S3 sink.
	victims := f.pick(t, 3, func(a report.Artifact) bool { return a.Size > 2 && a.ItemID != "" })
	corrupt, cut, gone := victims[0], victims[1], victims[2]
	nasPath := func(a report.Artifact) string {
		return filepath.Join(f.dir, "nas", f.m.RunFolder, filepath.FromSlash(a.Path))
	}
	b, err := os.ReadFile(nasPath(corrupt))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(nasPath(corrupt), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(nasPath(cut), cut.Size-1); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(nasPath(gone)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "nas", f.m.RunFolder, "Web Map", "planted.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	b = f.s3Get(t, f.s3Key(corrupt))
	b[0] ^= 0x01
	f.s3Put(t, f.s3Key(corrupt), b)
	b = f.s3Get(t, f.s3Key(cut))
	f.s3Put(t, f.s3Key(cut), b[:len(b)/2])
	if _, err := f.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &f.bucket, Key: aws.String(f.s3Key(gone))}); err != nil {
		t.Fatal(err)
	}
	f.s3Put(t, "backups/"+f.m.RunFolder+"/stray.bin", []byte("not ours"))

	// In the zipped sink: flip a byte inside the largest stored artifact
	// (a zip, stored as is in the archive), and plant an extra file.
	var big report.Artifact
	for _, a := range f.m.Artifacts {
		if strings.HasSuffix(a.Path, ".zip") && a.Size > big.Size {
			big = a
		}
	}
	if big.Size == 0 {
		t.Fatal("the run has no zip artifact")
	}
	archive := filepath.Join(f.dir, "zipped", f.m.RunFolder, f.m.RunFolder+".zip")
	ab, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := os.ReadFile(nasPath(big))
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(ab, nb[:4096])
	if at < 0 {
		t.Fatalf("%s is not stored as is in the archive", big.Path)
	}
	ab[at+100] ^= 0x01
	if err := os.WriteFile(archive, ab, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "zipped", f.m.RunFolder, "notes.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out = runCLI(t, "verify", f.file, "--run", f.m.RunFolder)
	if code != exitPartial {
		t.Fatalf("verify of a damaged run: exit %d, want %d\n%s", code, exitPartial, out)
	}
	t.Logf("verify said:\n%s", out)
	title := map[string]string{}
	for _, it := range f.m.Items {
		title[it.ID] = it.Title
	}
	// Each sink's block, up to the next sink's.
	block := func(sink string) string {
		i := strings.Index(out, fmt.Sprintf("sink %q (", sink))
		if i < 0 {
			t.Fatalf("no block for sink %s:\n%s", sink, out)
		}
		rest := out[i+1:]
		if j := strings.Index(rest, "\nsink \""); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	want := func(sink, blk, problem, path string, a *report.Artifact) {
		t.Helper()
		line := fmt.Sprintf("  - %s: %s\n", problem, path)
		if a != nil {
			line += fmt.Sprintf("      item %s %q", a.ItemID, title[a.ItemID])
		}
		if !strings.Contains(blk, line) {
			t.Errorf("sink %s: no finding\n%s\nin\n%s", sink, line, blk)
		}
	}
	for _, sink := range []string{"nas", "offsite"} {
		blk := block(sink)
		prefix := f.m.RunFolder + "/" // the s3 sink's paths are under its prefix
		if !strings.Contains(blk, "4 PROBLEM(S)") {
			t.Errorf("sink %s: want exactly 4 problems:\n%s", sink, blk)
		}
		want(sink, blk, "corrupt", prefix+corrupt.Path, &corrupt)
		want(sink, blk, "truncated", prefix+cut.Path, &cut)
		want(sink, blk, "missing", prefix+gone.Path, &gone)
		extra := prefix + "Web Map/planted.json"
		if sink == "offsite" {
			extra = prefix + "stray.bin"
		}
		want(sink, blk, "extra", extra, nil)
	}
	blk := block("zipped")
	if !strings.Contains(blk, "2 PROBLEM(S)") {
		t.Errorf("sink zipped: want exactly 2 problems:\n%s", blk)
	}
	want("zipped", blk, "corrupt", big.Path+" in archive "+f.m.RunFolder+"/"+f.m.RunFolder+".zip", &big)
	want("zipped", blk, "extra", f.m.RunFolder+"/notes.txt", nil)
	if !strings.Contains(out, "0 of 3 sink(s) hold the whole run "+f.m.RunFolder+" unchanged") {
		t.Errorf("verify's last line:\n%s", out)
	}

	// --sink and --json: one sink, machine-readable, same verdict.
	code, out = runCLI(t, "verify", f.file, "--sink", "offsite", "--json", "--parallel", "2")
	if code != exitPartial {
		t.Fatalf("verify --sink offsite --json: exit %d\n%s", code, out)
	}
	var res verify.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, fd := range res.Sinks[0].Findings {
		got[string(fd.Problem)] = fd.Path
	}
	if len(res.Sinks) != 1 || res.Sinks[0].Sink != "offsite" || len(got) != 4 || got["missing"] != f.m.RunFolder+"/"+gone.Path {
		t.Errorf("verify --json: %+v", res)
	}
}
