package sdk

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Temporary export items are the convention three parts of agolpipe share:
// an exporter creates them in the user's content (the portal's export API
// writes its output as an item), the engine and the source leave them out
// of the listing, and the source removes those a crashed run left behind.
//
// A title can be chosen by anyone, so it proves nothing: a real PDF titled
// "agolpipe-export budget notes" was once deleted for its title. What
// proves an item is agolpipe's scratch is its mark, three keywords:
//
//	agolpipe-temp-export               (TempExportKeyword: the mark itself)
//	agolpipe-run-<run id>              (which run made it)
//	agolpipe-process-<pid>@<host>      (the agolpipe process of that run)
//
// The exporter sends them as tags with the export request (the ArcGIS API
// for Python's export sends tags too), so the item carries them from its
// creation, and adds them to the item's typeKeywords right after (the
// export operation's documented parameters do not include keywords, and a
// portal may drop the tags); the mark is read from either.
//
// An item is agolpipe's temporary export item only with the mark, of an
// export result type (TempExportTypes), created by the signed-in user.
// Items that only look alike are backed up like any other.

// TempExportTitlePrefix starts the title of every temporary export item.
// It names the item for a person looking at the content; it is no proof.
const TempExportTitlePrefix = "agolpipe-export "

// TempExportTitle is the title of the temporary export items of one item in
// one run: the prefix, the run id, the item id.
func TempExportTitle(runID, itemID string) string {
	return TempExportTitlePrefix + runID + " " + itemID
}

// The typeKeywords of agolpipe's mark (see above).
const (
	TempExportKeyword     = "agolpipe-temp-export"
	TempRunKeywordPrefix  = "agolpipe-run-"
	TempProcKeywordPrefix = "agolpipe-process-"
)

// TempExportTypes are the item types the portal's export operation creates
// (the result types of each exportFormat, and the tile and scene packages
// of exports that write an item). Only items of these types can be
// temporary export items.
var TempExportTypes = []string{
	"File Geodatabase", "Shapefile", "CSV", "CSV Collection", "GeoJson", "Microsoft Excel",
	"KML", "KML Collection", "Feature Collection", "GeoPackage", "Scene Package",
	"Vector Tile Package", "Tile Package", "Compact Tile Package",
}

// IsTempExportType reports whether typ is one of TempExportTypes.
func IsTempExportType(typ string) bool { return slices.Contains(TempExportTypes, typ) }

// RunProcess identifies the agolpipe process of the running run as
// "<pid>@<host>". Plugins are started by that process, so in a plugin it
// is the parent process; the host itself passes its own pid.
func RunProcess(pid int) string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown-host"
	}
	// typeKeywords are a comma-separated list in the portal's forms.
	h = strings.NewReplacer(",", "_", " ", "_").Replace(h)
	return strconv.Itoa(pid) + "@" + h
}

// TempExportMark is the typeKeywords an exporter adds to a temporary export
// item it created: the mark, the run id and the run's process (proc, from
// RunProcess).
func TempExportMark(runID, proc string) []string {
	return []string{TempExportKeyword, TempRunKeywordPrefix + runID, TempProcKeywordPrefix + proc}
}

// TempMark is agolpipe's mark as read from an item's typeKeywords.
type TempMark struct {
	RunID string
	// PID and Host name the run's process; PID is 0 when not recorded.
	PID  int
	Host string
}

// ReadTempMark returns the mark an item carries in its typeKeywords or its
// tags, and whether it has one (the TempExportKeyword; the run and process
// may be missing).
func ReadTempMark(typeKeywords, tags []string) (TempMark, bool) {
	var m TempMark
	if !slices.Contains(typeKeywords, TempExportKeyword) && !slices.Contains(tags, TempExportKeyword) {
		return m, false
	}
	for _, k := range append(slices.Clip(typeKeywords), tags...) {
		if r, ok := strings.CutPrefix(k, TempRunKeywordPrefix); ok {
			m.RunID = r
		}
		if p, ok := strings.CutPrefix(k, TempProcKeywordPrefix); ok {
			pid, host, _ := strings.Cut(p, "@")
			if n, err := strconv.Atoi(pid); err == nil && n > 0 {
				m.PID, m.Host = n, host
			}
		}
	}
	return m, true
}

// IsTempExportItem reports whether an item listed from the portal is
// agolpipe's scratch: it carries the mark and is of an export result type.
// Whose it is and whether it may be deleted is the sweep's question.
func IsTempExportItem(typ string, typeKeywords, tags []string) bool {
	_, ok := ReadTempMark(typeKeywords, tags)
	return ok && IsTempExportType(typ)
}

// TempLeftoverAge is how old a marked temporary export item of another
// run must be before it is removed although that run's process cannot be
// checked (it ran on another machine): no run lasts three days.
const TempLeftoverAge = 72 * time.Hour
