package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/internal/testservers"
)

// TestPruneObjectLockedBucket runs `agolpipe prune` through the s3 sink's
// plugin process against a real S3 server's object-locked bucket holding a
// run past delete_after whose objects are locked for two more days. Prune
// must not claim the bytes were deleted: it reports 0 bytes freed, the
// objects and bytes still stored, and the lock's date; and the locked
// versions are indeed still in the bucket.
func TestPruneObjectLockedBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	testservers.EachS3(t, func(t *testing.T, srv testservers.S3Server) {
		ctx := context.Background()
		c := s3.New(s3.Options{Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")})
		bucket := "agolpipe-prune-lock-" + testservers.RandHex(4)
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
			t.Skipf("%s cannot create an object-lock bucket: %v", srv.Name, err)
		}
		const url = "https://gis.example.invalid/portal"
		id := "SIM arcgis " + url
		until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
		put := func(key string, body []byte) {
			t.Helper()
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("backups/" + key), Body: bytes.NewReader(body),
				ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: &until}); err != nil {
				t.Fatalf("PutObject %s: %v", key, err)
			}
		}
		plant := func(at time.Time) string {
			name := "SIM_" + at.UTC().Format("2006-01-02_15-04-05")
			put(name+"/Web Map/map.json", bytes.Repeat([]byte("x"), 10_000))
			var m bytes.Buffer
			r := &report.Run{SchemaVersion: report.SchemaVersion, RunID: name + "-id", RunFolder: name, PipelineID: id, Sink: "offsite", Started: at.UTC(), Status: "success"}
			if err := report.WriteManifest(&m, r); err != nil {
				t.Fatal(err)
			}
			put(name+"/manifest.json", m.Bytes())
			return name
		}
		old := plant(time.Now().AddDate(0, 0, -40))
		plant(time.Now().AddDate(0, 0, -1))
		t.Setenv("TEST_S3_KEY", srv.AccessKey)
		t.Setenv("TEST_S3_SECRET", srv.SecretKey)
		f := filepath.Join(t.TempDir(), "p.hcl")
		hcl := fmt.Sprintf(`
source "arcgis" "prod" { url = %q }
sink "s3" "offsite" {
  bucket            = %q
  prefix            = "backups"
  endpoint          = %q
  region            = %q
  path_style        = true
  access_key_id     = env("TEST_S3_KEY")
  secret_access_key = env("TEST_S3_SECRET")
  retention {
    delete_after = "30d"
  }
}
run { prefix = "SIM" }
`, url, bucket, srv.Endpoint, srv.Region)
		if err := os.WriteFile(f, []byte(hcl), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := runCLI(t, "prune", f, "--dry-run=false")
		if code != exitOK {
			t.Fatalf("prune: exit %d\n%s", code, out)
		}
		t.Logf("prune said:\n%s", out)
		for _, w := range []string{
			"Retention: deleted 1 run(s), 0 object(s), 0 B; kept 1 run(s)",
			"NOT freed: 2 object(s), ",
			"of the deleted runs are still stored: ",
			"locked until " + until.Format("2006-01-02 15:04 UTC"),
			"- " + old + " (started ",
			"still stored: 2 object(s), ",
		} {
			if !strings.Contains(out, w) {
				t.Errorf("prune output lacks %q:\n%s", w, out)
			}
		}
		v, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: aws.String("backups/" + old + "/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Versions) != 2 {
			t.Errorf("the locked run's versions: %d, want both still stored", len(v.Versions))
		}
	})
}
