package itemjson_test

import (
	"testing"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportertest"
	"github.com/agolpipe/agolpipe/plugins/exporters/itemjson"
)

func TestReadmeSample(t *testing.T) {
	exportertest.ReadmeSamples(t, "README.md", "item_json", itemjson.New)
}
