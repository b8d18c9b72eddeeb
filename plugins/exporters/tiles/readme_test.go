package tiles_test

import (
	"testing"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportertest"
	"github.com/agolpipe/agolpipe/plugins/exporters/tiles"
)

func TestReadmeSample(t *testing.T) {
	exportertest.ReadmeSamples(t, "README.md", "tiles", tiles.New)
}
