package arcgis

import (
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
)

func TestLoginHint(t *testing.T) {
	tests := []struct {
		name, set, file, block, want string
	}{
		{"from the host", "", "nightly.hcl", "prod", "agolpipe login nightly.hcl prod"},
		{"path with spaces", "", "/etc/agol pipe/it's.hcl", "prod", `agolpipe login '/etc/agol pipe/it'\''s.hcl' prod`},
		{"set on the source wins", "agolpipe login x.hcl y", "nightly.hcl", "prod", "agolpipe login x.hcl y"},
		{"outside a pipeline", "", "", "", "agolpipe login <pipeline.hcl> <source name>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loginHint(tt.set, sdk.ConfigureRequest{Name: tt.block, PipelineFile: tt.file}); got != tt.want {
				t.Errorf("loginHint = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDeclaresOrgMetadata(t *testing.T) {
	if !sdk.SourceFeaturesOf(New()).OrgMetadata {
		t.Fatal("the arcgis source does not declare org metadata")
	}
}
