package smb

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/hirochachacha/go-smb2"
	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

func baseAttrs(srv testservers.SMBServer, port int, dir string) map[string]cty.Value {
	return map[string]cty.Value{
		"path":     cty.StringVal(`\\` + srv.Host + `\` + srv.Share + `\` + strings.ReplaceAll(dir, "/", `\`)),
		"user":     cty.StringVal(srv.User),
		"password": cty.StringVal(srv.Pass),
		"port":     cty.NumberIntVal(int64(port)),
	}
}

func configured(t *testing.T, attrs map[string]cty.Value) *Sink {
	t.Helper()
	s := New().(*Sink)
	if _, diags := s.Configure(context.Background(), sdk.ConfigureRequest{Config: sinktest.Config(t, New().Schema(), attrs)}); diags.HasErrors() {
		t.Fatalf("Configure: %v", diags.Err())
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	srv := testservers.SMB(t)
	sinktest.Run(t, func(t *testing.T) sdk.Sink { return New() }, func(t *testing.T) map[string]cty.Value {
		return baseAttrs(srv, srv.Port, "t/"+testservers.RandHex(6))
	}, sinktest.Options{})
}

func TestPreflightErrors(t *testing.T) {
	srv := testservers.SMB(t)
	wrongPass := baseAttrs(srv, srv.Port, "t/x")
	wrongPass["password"] = cty.StringVal("definitely-wrong-" + testservers.RandHex(2))
	noShare := baseAttrs(srv, srv.Port, "t/x")
	noShare["path"] = cty.StringVal(`\\` + srv.Host + `\noshare` + testservers.RandHex(2) + `\x`)
	cases := []struct {
		name     string
		attrs    map[string]cty.Value
		kind     sdk.ErrorKind
		mentions string
	}{
		{"wrong password", wrongPass, sdk.KindAuth, "check user, password and domain"},
		{"share not found", noShare, sdk.KindPermanent, "not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := configured(t, c.attrs).Preflight(context.Background())
			sinktest.WantError(t, err, c.kind, c.mentions, srv.Pass, "definitely-wrong")
		})
	}
}

// Samba "dies" mid-upload: Put fails retryable, nothing is visible, and
// the same sink reconnects by itself once the server is back.
func TestServerKilledMidUploadAndReconnect(t *testing.T) {
	srv := testservers.SMB(t)
	proxy := testservers.NewProxy(t, srv.Addr())
	dir := "t/" + testservers.RandHex(6)
	s := configured(t, baseAttrs(srv, proxy.Port(), dir))
	ctx := context.Background()
	if err := s.Preflight(ctx); err != nil {
		t.Fatalf("Preflight through proxy: %v", err)
	}
	sinktest.PutCut(t, s, "run/big.bin", 32<<20, 8<<20, proxy.Cut)
	proxy.Restore()
	if _, err := s.Stat(ctx, "run/big.bin"); !sdk.IsNotFound(err) {
		t.Errorf("after reconnecting, Stat says %v, want not found", err)
	}
	if srv.Dir != "" {
		if _, err := os.Stat(filepath.Join(srv.Dir, dir, "run", "big.bin")); !os.IsNotExist(err) {
			t.Errorf("the share's folder holds run/big.bin after the failed upload (%v)", err)
		}
	}
	if _, err := s.Put(ctx, sdk.PutRequest{Path: "run/after.txt", Size: 2, Body: strings.NewReader("ok")}); err != nil {
		t.Errorf("Put after reconnect: %v", err)
	}
	var listed []string
	if err := s.List(ctx, sdk.ListRequest{}, func(o sdk.ObjectInfo) error { listed = append(listed, o.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(listed, ",") != "run/after.txt" {
		t.Errorf("List after the failed upload: %v, want only run/after.txt (temp files hidden)", listed)
	}
}

func TestDeleteRemovesEmptyFolders(t *testing.T) {
	srv := testservers.SMB(t)
	if srv.Dir == "" {
		t.Skip("SMB_SHARE_DIR unknown")
	}
	dir := "t/" + testservers.RandHex(6)
	s := configured(t, baseAttrs(srv, srv.Port, dir))
	ctx := context.Background()
	if err := s.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"run1/a/x.txt", "run1/b.txt"} {
		if _, err := s.Put(ctx, sdk.PutRequest{Path: p, Size: 1, Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"run1/a/x.txt", "run1/b.txt"} {
		if err := s.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, dir, "run1")); !os.IsNotExist(err) {
		t.Errorf("run1 folder still there after deleting its objects (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, dir)); err != nil {
		t.Errorf("the sink's own folder was removed: %v", err)
	}
}

func TestParsePath(t *testing.T) {
	cases := []struct {
		in               string
		host, share, dir string
		port             int
		wantErr          bool
	}{
		{in: `\\nas01\gis\backups\prod`, host: "nas01", share: "gis", dir: `backups\prod`},
		{in: `\\nas01\gis`, host: "nas01", share: "gis"},
		{in: `//nas01/gis/a/`, host: "nas01", share: "gis", dir: "a"},
		{in: `smb://nas01:4450/gis/a/b`, host: "nas01", port: 4450, share: "gis", dir: `a\b`},
		{in: `smb://nas01/gis`, host: "nas01", share: "gis"},
		{in: `smb://user:pw@nas01/gis`, wantErr: true},
		{in: `\\nas01`, wantErr: true},
		{in: `\\nas01\gis\..\x`, wantErr: true},
		{in: `/mnt/nas`, wantErr: true},
	}
	for _, c := range cases {
		host, port, share, dir, err := parsePath(c.in)
		if c.wantErr {
			if err == nil {
				t.Errorf("parsePath(%q): no error", c.in)
			}
			continue
		}
		if err != nil || host != c.host || port != c.port || share != c.share || dir != c.dir {
			t.Errorf("parsePath(%q) = %q %d %q %q %v, want %q %d %q %q", c.in, host, port, share, dir, err, c.host, c.port, c.share, c.dir)
		}
	}
}

func TestPasswordIsSensitive(t *testing.T) {
	if a, ok := New().Schema().Attribute("password"); !ok || !a.Sensitive {
		t.Error("password is not sensitive")
	}
}

// A failed Put removes its temporary file when the session still works, so
// the share does not fill up with hidden leftovers.
func TestFailedPutRemovesTempFile(t *testing.T) {
	srv := testservers.SMB(t)
	if srv.Dir == "" {
		t.Skip("SMB_SHARE_DIR unknown")
	}
	dir := "t/" + testservers.RandHex(6)
	s := configured(t, baseAttrs(srv, srv.Port, dir))
	ctx := context.Background()
	if err := s.Preflight(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, sdk.PutRequest{Path: "a/x.bin", Size: -1, Body: io.MultiReader(io.LimitReader(rand.Reader, 3<<20), iotest.ErrReader(io.ErrUnexpectedEOF))}); err == nil {
		t.Fatal("Put with a failing body succeeded")
	}
	entries, err := os.ReadDir(filepath.Join(srv.Dir, dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in the share: %s", e.Name())
	}
}

// TestDiskFullIsNoSpace: a share that is full (Samba and Windows answer a
// reached quota the same way) is permanent with the reason core stops
// sending to a sink on; other NT statuses are not.
func TestDiskFullIsNoSpace(t *testing.T) {
	ctx := context.Background()
	err := classify(ctx, &smb2.ResponseError{Code: statusDiskFull}, "write x")
	if sdk.KindOf(err) != sdk.KindPermanent || sdk.ReasonOf(err) != sdk.ReasonNoSpace {
		t.Errorf("STATUS_DISK_FULL: %v, reason %v; want permanent, no space", sdk.KindOf(err), sdk.ReasonOf(err))
	}
	if r := sdk.ReasonOf(classify(ctx, &smb2.ResponseError{Code: statusBadNetworkName}, "x")); r != sdk.ReasonNone {
		t.Errorf("STATUS_BAD_NETWORK_NAME has reason %v", r)
	}
}
