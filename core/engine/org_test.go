package engine

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// metaSource is a fakeSource with the optional abilities: org metadata
// (declared or not) and listing warnings.
type metaSource struct {
	fakeSource
	declare  bool
	doc      string
	err      error
	warnings []string
}

func (s *metaSource) SourceFeatures() sdk.SourceFeatures {
	return sdk.SourceFeatures{OrgMetadata: s.declare}
}
func (s *metaSource) OrgMetadata(ctx context.Context, w io.Writer) error {
	if s.err != nil {
		return s.err
	}
	// Two writes, so the document crosses more than one chunk boundary.
	half := len(s.doc) / 2
	if _, err := io.WriteString(w, s.doc[:half]); err != nil {
		return err
	}
	_, err := io.WriteString(w, s.doc[half:])
	return err
}
func (s *metaSource) ListWarnings() []string { return s.warnings }

func TestOrgMetadataAndListWarnings(t *testing.T) {
	doc := `{"format":"agolpipe-org-metadata/1","users":[` + strings.Repeat(`{"username":"u"},`, 5000) + `{}]}`
	tests := []struct {
		name      string
		src       *metaSource
		wantFile  bool
		wantWarns []string
	}{
		{"declared", &metaSource{declare: true, doc: doc, warnings: []string{"listed 118 of 120 items the organization holds"}},
			true, []string{"source: listed 118 of 120 items the organization holds"}},
		{"not declared", &metaSource{doc: doc}, false, nil},
		{"fails", &metaSource{declare: true, err: sdk.Permanent("403 users listing refused")},
			false, []string{"metadata (users, groups, sharing) was not saved: 403 users listing refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, []sdk.ListedItem{item("a1", "ok one", "Web Map")})
			tt.src.items = f.opts.Source.(*fakeSource).items
			f.opts.Source = tt.src
			rep, err := Run(context.Background(), f.opts)
			if err != nil || rep.ExitCode != ExitOK {
				t.Fatalf("Run: %v exit %d; org metadata must never fail the run", err, rep.ExitCode)
			}
			for _, dir := range f.dirs {
				b, err := os.ReadFile(filepath.Join(dir, rep.RunFolder, filepath.FromSlash(OrgMetadataPath)))
				if !tt.wantFile {
					if err == nil {
						t.Errorf("%s: org/metadata.json written", dir)
					}
					continue
				}
				if err != nil || string(b) != doc {
					t.Fatalf("%s: org/metadata.json: %v (%d bytes, want %d)", dir, err, len(b), len(doc))
				}
				m := readManifest(t, dir, rep.RunFolder)
				found := false
				for _, a := range m.Artifacts {
					if a.Path == OrgMetadataPath {
						found = true
						if a.SHA256 != sha([]byte(doc)) || a.Size != int64(len(doc)) || a.Format != sdk.OrgMetadataFormat {
							t.Errorf("manifest record %+v does not match the document", a)
						}
					}
				}
				if !found {
					t.Errorf("%s: manifest does not list %s", dir, OrgMetadataPath)
				}
			}
			results, _ := os.ReadFile(filepath.Join(f.dirs[0], rep.RunFolder, report.ResultsFile))
			for _, w := range tt.wantWarns {
				if !strings.Contains(string(results), w) {
					t.Errorf("Results.txt lacks warning %q:\n%s", w, results)
				}
			}
		})
	}
}

// flakyNotifier fails its first call with a retryable error.
type flakyNotifier struct {
	fakeNotifier
	calls atomic.Int32
}

func (n *flakyNotifier) Notify(ctx context.Context, req sdk.NotifyRequest) error {
	if n.calls.Add(1) == 1 {
		return &sdk.Error{Kind: sdk.KindRetryable, Err: errors.New("421 too many connections")}
	}
	return n.fakeNotifier.Notify(ctx, req)
}

func TestNotifyIsRetried(t *testing.T) {
	f := newFixture(t, []sdk.ListedItem{item("f1", "fail", "Web Map")})
	n := &flakyNotifier{}
	f.opts.Notifiers = []Notifier{{Block: notifierBlock("mail"), Notifier: n}}
	rep, _ := Run(context.Background(), f.opts)
	if n.calls.Load() != 2 || len(n.got) != 1 {
		t.Fatalf("notifier called %d times, delivered %d; want a retry after the transient error", n.calls.Load(), len(n.got))
	}
	for _, w := range rep.Warnings {
		if strings.Contains(w, "notifier") {
			t.Errorf("a notification delivered on retry left a warning: %s", w)
		}
	}
}
