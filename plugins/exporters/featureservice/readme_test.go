package featureservice_test

import (
	"testing"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportertest"
	"github.com/agolpipe/agolpipe/plugins/exporters/featureservice"
)

func TestReadmeSample(t *testing.T) {
	exportertest.ReadmeSamples(t, "README.md", "feature_service", featureservice.New)
}
