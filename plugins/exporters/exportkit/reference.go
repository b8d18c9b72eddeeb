package exportkit

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
)

// ReferenceReason says, in a GIS administrator's words, why only the
// description of a reference-only item was backed up and where its data
// really lives. It names the server by host only: an item URL may carry a
// token in its query.
func ReferenceReason(it sdk.Item) string {
	at := ""
	if u, err := url.Parse(it.URL); err == nil && u.Host != "" {
		at = " at " + u.Hostname()
	}
	const saved = "agolpipe saved the item's description (item.json, data.json, thumbnail, metadata.xml), not the data"
	for _, k := range it.TypeKeywords {
		if strings.EqualFold(k, "Hosted Service") {
			// A hosted scene or image layer is the organization's data, but
			// no exporter can copy it out yet: say so rather than "outside".
			return fmt.Sprintf("hosted %s: agolpipe has no exporter that can copy this kind of hosted layer's data; %s. Keep the source data it was published from", it.Type, saved)
		}
	}
	switch it.Type {
	case "WMS", "WMTS", "WFS", "OGCFeatureServer", "KML Collection":
		return fmt.Sprintf("%s layer: it displays an OGC service that runs on a server%s, outside the organization; %s. Back up that server on its own", it.Type, at, saved)
	case "Map Service", "Map Image Layer":
		return fmt.Sprintf("map image layer: it is drawn by ArcGIS Server%s from data in that server's own registered data stores, not hosted in the organization; %s. Back up the data where the server reads it", at, saved)
	case "Document Link":
		return fmt.Sprintf("document link: the document is stored on a web server%s, not in the organization; %s (which keeps the link)", at, saved)
	case "Geocoding Service", "Geoprocessing Service", "Geometry Service", "Network Analysis Service":
		return fmt.Sprintf("%s: a tool run by ArcGIS Server%s, not data in the organization; %s", strings.ToLower(it.Type), at, saved)
	}
	return fmt.Sprintf("reference-only item (%s): it points at a service or document%s outside the organization; %s", it.Type, at, saved)
}

// DescribeReference saves the description of a reference-only item: the
// reference exporter, and the exporters that find an item to be a
// reference (a non-hosted service).
func (s *Session) DescribeReference(ctx context.Context) error {
	if err := s.Describe(ctx); err != nil {
		return err
	}
	_, _, err := s.SaveDataJSON(ctx)
	if sdk.IsNotFound(err) {
		return nil
	}
	return err
}
