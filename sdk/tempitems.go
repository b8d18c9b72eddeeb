package sdk

// Temporary export items are the convention three parts of agolpipe share:
// an exporter creates them in the user's content (the portal's export API
// writes its output as an item), the engine leaves this run's own out of
// the listing, and the source sweeps those a crashed run left behind. The
// title is how all three recognise them, so it is defined here, once.

// TempExportTitlePrefix starts the title of every temporary export item.
const TempExportTitlePrefix = "agolpipe-export "

// TempExportTitle is the title of the temporary export items of one item in
// one run: the prefix, the run id, the item id.
func TempExportTitle(runID, itemID string) string {
	return TempExportTitlePrefix + runID + " " + itemID
}
