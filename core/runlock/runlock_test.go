package runlock

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// A second Acquire of one pipeline's lock is refused with the holder's
// record while the first holds it; another pipeline's lock is free; after
// Release the lock can be taken again.
func TestAcquireNamesHolder(t *testing.T) {
	dir := t.TempDir()
	h := Holder{PipelineID: "PROD arcgis https://x", File: "nightly.hcl", Host: "gis01", PID: os.Getpid(), Started: time.Now()}
	l, err := Acquire(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, Holder{PipelineID: h.PipelineID, PID: 1})
	var he *HeldError
	if !errors.As(err, &he) || !he.Known || he.Holder.PID != h.PID || he.Holder.Host != "gis01" {
		t.Fatalf("second Acquire: %v (%+v)", err, he)
	}
	if msg := err.Error(); !strings.Contains(msg, "pid ") || !strings.Contains(msg, "host gis01") || !strings.Contains(msg, "nightly.hcl") {
		t.Errorf("message does not name the holder: %s", msg)
	}
	other, err := Acquire(dir, Holder{PipelineID: "TEST arcgis https://x", PID: 2})
	if err != nil {
		t.Fatalf("another pipeline's lock: %v", err)
	}
	other.Release()
	l.Release()
	l2, err := Acquire(dir, Holder{PipelineID: h.PipelineID, PID: 3})
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
}
