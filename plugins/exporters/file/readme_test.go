package file_test

import (
	"testing"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportertest"
	"github.com/agolpipe/agolpipe/plugins/exporters/file"
)

func TestReadmeSample(t *testing.T) {
	exportertest.ReadmeSamples(t, "README.md", "file", file.New)
}
