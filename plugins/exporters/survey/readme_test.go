package survey_test

import (
	"testing"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportertest"
	"github.com/agolpipe/agolpipe/plugins/exporters/survey"
)

func TestReadmeSample(t *testing.T) {
	exportertest.ReadmeSamples(t, "README.md", "survey", survey.New)
}
