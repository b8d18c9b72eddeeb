package pipeline

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// CheckSinkLocations refuses sinks of one pipeline that write into the same
// folder or into folders nested in each other. Such sinks hold one copy,
// not two (the run says "2 stored" of one file), and each sink's retention
// would meet the other's runs. locs[i] is the Location sinks[i] reported
// from Configure ("" when unknown: not checked).
//
// Locations are compared as paths: equal, or one a folder of the other.
// Local paths compare as the sink resolved them; URLs (s3://bucket/prefix,
// https://account.blob.../container/prefix) and UNC paths with the part a
// sink appends after the path (" at <endpoint>", " (port N)") compare only
// when that part is the same.
func CheckSinkLocations(sinks []*SinkBlock, locs []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i := range sinks {
		for j := 0; j < i; j++ {
			if i >= len(locs) || locs[i] == "" || locs[j] == "" {
				continue
			}
			a, b := splitLocation(locs[j]), splitLocation(locs[i])
			if a.where != b.where {
				continue
			}
			var what string
			switch {
			case a.path == b.path:
				what = "the same folder as"
			case strings.HasPrefix(b.path, a.path+"/"):
				what = "a folder inside the folder of"
			case strings.HasPrefix(a.path, b.path+"/"):
				what = "the folder that holds the folder of"
			default:
				continue
			}
			base := a.path
			if len(b.path) < len(base) {
				base = b.path
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Sinks overlap",
				Detail: fmt.Sprintf("Sink %q writes to %s, %s sink %q (%s, at %s). Two sinks on one folder keep one copy, not two, and nested folders mix one sink's runs into the other's. Give each sink a folder of its own, side by side, for example %s/nightly and %s/incremental.",
					sinks[i].Name, locs[i], what, sinks[j].Name, locs[j], sinks[j].DeclRange, base, base),
				Subject: sinks[i].DeclRange.Ptr(),
			})
		}
	}
	return diags
}

type location struct{ path, where string }

// splitLocation turns a sink's Location into a comparable path (forward
// slashes, no trailing slash) and the qualifier after it, if any.
func splitLocation(loc string) location {
	var l location
	p := loc
	if strings.Contains(p, "://") || strings.HasPrefix(p, `\\`) {
		for _, sep := range []string{" at ", " (port "} {
			if i := strings.Index(p, sep); i >= 0 {
				p, l.where = p[:i], p[i:]
				break
			}
		}
	}
	p = strings.ReplaceAll(p, `\`, "/")
	if len(p) >= 2 && p[1] == ':' || strings.HasPrefix(p, "//") && !strings.Contains(p, "://") {
		p = strings.ToLower(p) // Windows drive and share paths ignore case
	}
	l.path = strings.TrimRight(p, "/")
	return l
}
