package s3

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

// TestDeleteReportObjectLock: through the plugin protocol's gRPC
// adapters, deleting an object in an object-locked bucket says the truth in
// typed fields: the bytes are retained (S3 only wrote a delete marker), how
// many, and the lock's retain-until date; the locked version is indeed
// still there. In an ordinary bucket the same delete retains nothing and
// the object is gone.
func TestDeleteReportObjectLock(t *testing.T) {
	testservers.EachS3(t, func(t *testing.T, srv testservers.S3Server) {
		ctx := context.Background()
		c := rawClient(srv)
		bucket := "agolpipe-dlock-" + testservers.RandHex(4)
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
			t.Skipf("%s cannot create an object-lock bucket: %v", srv.Name, err)
		}
		locked := baseAttrs(t, srv, srv.Endpoint)
		locked["bucket"] = cty.StringVal(bucket)
		locked["object_lock_mode"] = cty.StringVal("GOVERNANCE")
		locked["object_lock_days"] = cty.NumberIntVal(2)
		for _, tc := range []struct {
			name  string
			attrs map[string]cty.Value
			lock  bool
		}{{"object lock", locked, true}, {"plain bucket", baseAttrs(t, srv, srv.Endpoint), false}} {
			t.Run(tc.name, func(t *testing.T) {
				s := sinktest.Configured(t, grpctest.Sink(t, New()), tc.attrs)
				if err := s.Preflight(ctx); err != nil {
					t.Fatalf("Preflight: %v", err)
				}
				const size = 4096
				if _, err := s.Put(ctx, sdk.PutRequest{Path: "run/a.bin", Size: size, Body: bytes.NewReader(make([]byte, size))}); err != nil {
					t.Fatal(err)
				}
				dr, ok := s.(sdk.DeleteReporter)
				if !ok {
					t.Fatal("the gRPC sink client does not report what a delete did")
				}
				res, err := dr.DeleteReport(ctx, "run/a.bin")
				if err != nil {
					t.Fatalf("DeleteReport: %v", err)
				}
				// S3 hides a locked object behind a delete marker; some stores
				// (versitygw) refuse the delete instead. Either way its
				// bytes stay, and only an unlocked object may be gone.
				if _, err := s.Stat(ctx, "run/a.bin"); !tc.lock && !sdk.IsNotFound(err) {
					t.Errorf("after the delete Stat says %v, want not found", err)
				}
				bucketName := tc.attrs["bucket"].AsString()
				prefix := tc.attrs["prefix"].AsString() + "/run/a.bin"
				v, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucketName, Prefix: &prefix})
				if err != nil {
					t.Fatalf("ListObjectVersions: %v", err)
				}
				stored := len(v.Versions) > 0
				if !tc.lock {
					if res.Retained || stored {
						t.Errorf("plain bucket: result %+v, versions still stored %v; want the object gone", res, stored)
					}
					return
				}
				if !stored {
					t.Fatalf("the locked version is gone; the server does not lock, so this test proves nothing")
				}
				if !res.Retained || res.RetainedBytes != size || res.Reason == "" {
					t.Errorf("locked object: result %+v; want retained, %d bytes, a reason", res, size)
				}
				if d := time.Until(res.RetainUntil); d < 47*time.Hour || d > 49*time.Hour {
					t.Errorf("retained until %v (%v from now), want about 2 days", res.RetainUntil, d)
				}
			})
		}
	})
}
