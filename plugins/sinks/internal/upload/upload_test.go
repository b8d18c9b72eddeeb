package upload

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestBody(t *testing.T) {
	broke := errors.New("exporter stream broke")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name     string
		body     *Body
		size     int64
		readErr  string // "" for none
		copyErrs error
	}{
		{"whole body", &Body{R: strings.NewReader("hello")}, 5, "", nil},
		{"body fails after 5 bytes", &Body{R: io.MultiReader(strings.NewReader("hello"), iotest.ErrReader(broke))}, 5, `s3 sink: reading the artifact for "a/b.json": exporter stream broke`, broke},
		{"cancelled run is not the body's fault", &Body{R: strings.NewReader("hello"), Ctx: canceled}, 0, "", context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := io.Copy(io.Discard, c.body)
			if !errors.Is(err, c.copyErrs) {
				t.Errorf("copy: %v, want %v", err, c.copyErrs)
			}
			if c.body.Size() != c.size {
				t.Errorf("Size %d, want %d", c.body.Size(), c.size)
			}
			re := c.body.ReadError("s3", "a/b.json")
			if c.readErr == "" && re != nil || c.readErr != "" && (re == nil || re.Error() != c.readErr) {
				t.Errorf("ReadError %v, want %q", re, c.readErr)
			}
			if c.readErr != "" && !errors.Is(re, broke) {
				t.Errorf("ReadError does not wrap the body's error: %v", re)
			}
		})
	}
}
