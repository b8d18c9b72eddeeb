package sinktest

import (
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
)

// Config builds a configuration value of schema from a few attributes, the
// rest null, as core decodes a sink block that leaves them out (see
// sdk.Schema.ConfigValue). It fails t on a name or value the schema refuses.
func Config(t testing.TB, schema sdk.Schema, attrs map[string]cty.Value) cty.Value {
	t.Helper()
	v, err := schema.ConfigValue(attrs)
	if err != nil {
		t.Fatalf("sinktest: configuration: %v", err)
	}
	return v
}

// CutAfter returns a reader of r that calls cut once, right after the read
// that brings the bytes read to n, and goes on reading r: the sink's
// client is mid-upload when cut makes the server go away (a proxy's Cut) or
// cancels the Put's context.
func CutAfter(r io.Reader, n int64, cut func()) io.Reader {
	return &cutAfter{r: r, left: n, cut: cut}
}

type cutAfter struct {
	r    io.Reader
	left int64
	cut  func()
	once sync.Once
}

func (c *cutAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left <= 0 {
		c.once.Do(c.cut)
	}
	return n, err
}

// PutCut puts size random bytes at path on s and calls cut once cutAt of
// them were read, to make the server go away mid-upload. It fails t unless
// Put fails with a retryable error, since the run retries such an artifact.
// That nothing became visible is the caller's to check, through a sink that
// reaches the server directly.
func PutCut(t testing.TB, s sdk.Sink, path string, size, cutAt int64, cut func()) {
	t.Helper()
	body := CutAfter(io.LimitReader(rand.NewChaCha8([32]byte{1}), size), cutAt, cut)
	_, err := s.Put(context.Background(), sdk.PutRequest{Path: path, Size: size, Body: body})
	if err == nil {
		t.Fatalf("Put %q succeeded although the server went away after %d of %d bytes", path, cutAt, size)
	}
	if sdk.KindOf(err) != sdk.KindRetryable {
		t.Errorf("Put %q error %v has kind %v, want retryable", path, err, sdk.KindOf(err))
	}
}

// Configured configures s from attrs (see Config) and runs its Preflight,
// failing t on a diagnostic or an error, and returns s: the body of most
// newSink functions given to Run.
func Configured(t testing.TB, s sdk.Sink, attrs map[string]cty.Value) sdk.Sink {
	t.Helper()
	if _, diags := s.Configure(context.Background(), sdk.ConfigureRequest{Config: Config(t, s.Schema(), attrs)}); diags.HasErrors() {
		t.Fatalf("Configure: %v", diags.Err())
	}
	if err := s.Preflight(context.Background()); err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	return s
}

// WantError fails t unless err is an error of kind whose message mentions
// what the user should fix (mentions) and shows none of secrets (empty
// ones are ignored): the checks of a sink's Preflight with bad credentials
// or a missing bucket.
func WantError(t testing.TB, err error, kind sdk.ErrorKind, mentions string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want a %v error mentioning %q", kind, mentions)
	}
	if sdk.KindOf(err) != kind {
		t.Errorf("kind %v, want %v: %v", sdk.KindOf(err), kind, err)
	}
	if !strings.Contains(err.Error(), mentions) {
		t.Errorf("error does not mention %q: %v", mentions, err)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}
