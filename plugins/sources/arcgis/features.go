package arcgis

import (
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
)

// SourceFeatures declares the optional abilities of the arcgis source: it
// writes the organization's metadata (see OrgMetadata) and reports listing
// warnings (see ListWarnings).
func (s *Source) SourceFeatures() sdk.SourceFeatures {
	return sdk.SourceFeatures{OrgMetadata: true}
}

// loginHint is the command named when a sign-in has lapsed: the one set on
// the source, else built from the pipeline file and block name the host
// passed to Configure, else a template.
func loginHint(set string, req sdk.ConfigureRequest) string {
	if set != "" {
		return set
	}
	if req.PipelineFile == "" || req.Name == "" {
		return "agolpipe login <pipeline.hcl> <source name>"
	}
	return "agolpipe login " + shellWord(req.PipelineFile) + " " + shellWord(req.Name)
}

// shellWord quotes s for a POSIX shell when it holds anything but plain
// path characters, so the hint can be pasted as is.
func shellWord(s string) string {
	plain := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@+,", r))
	}) < 0
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var (
	_ sdk.FeatureSource     = (*Source)(nil)
	_ sdk.OrgMetadataSource = (*Source)(nil)
	_ sdk.ListWarner        = (*Source)(nil)
)
