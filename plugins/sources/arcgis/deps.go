package arcgis

import (
	"context"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// jsonConfigured are item types whose data is JSON that names other items
// (operational layers, source maps, widgets' data sources).
var jsonConfigured = map[string]bool{
	"Web Map": true, "Web Scene": true, "Web Mapping Application": true, "Dashboard": true,
	"StoryMap": true, "Story Map": true, "Web Experience": true, "Web Experience Template": true,
	"Hub Site Application": true, "Hub Page": true, "Site Application": true, "Site Page": true,
	"QuickCapture Project": true, "Workforce Project": true, "Insights Workbook": true,
	"Insights Page": true, "Mobile Application": true, "Form": true, "Solution": true,
}

// withRelationships are origin types of the forward relationship types a
// backup cares about (Map2Service, Survey2Service, Service2Data, WMA2Code,
// Solution2Item, ...); other types never have forward relationships.
var withRelationships = map[string]bool{
	"Web Map": true, "Web Scene": true, "Form": true, "Feature Service": true, "Solution": true,
	"Web Mapping Application": true, "Mobile Application": true, "Map Service": true,
	"Vector Tile Service": true, "Workforce Project": true, "StoryMap": true,
}

// relationshipTypes are the portal's relationship types (all of them, so a
// single relatedItems request per item covers every kind).
var relationshipTypes = "APIKey2Item,Area2CustomPackage,Area2Package,Item2Attachment,Item2Report,Listed2Provisioned,Map2AppConfig,Map2Area,Map2FeatureCollection,Map2Service,MobileApp2Code,Service2Data,Service2Layer,Service2Route,Service2Service,Service2Style,Solution2Item,Style2Style,Survey2Data,Survey2Service,SurveyAddIn2Data,Theme2Story,TrackView2Map,WebStyle2DesktopStyle,WMA2Code,WorkforceMap2FeatureService"

// itemIDPattern matches item ids in either case on the bytes as read, so a
// data document is not copied twice more (to a string, then lowercased)
// per item scanned: 16 listing workers did that at once.
var itemIDPattern = regexp.MustCompile(`(?i)\b[0-9a-f]{32}\b`)

// maxDataScan bounds the item data read to find ids; app JSON is far smaller.
const maxDataScan = 32 << 20

// dependencies finds the ids of items it refers to: forward relationships
// and 32-hex item ids in its JSON data. Best effort: a data or relationship
// request that fails leaves that part out rather than failing the listing.
func (s *Source) dependencies(ctx context.Context, it *sdk.Item) ([]string, error) {
	found := map[string]bool{}
	if jsonConfigured[it.Type] {
		// Retried like every other call, and a body cut short is an error:
		// ids read from half a web map would be a silently short list.
		err := s.c.retry(ctx, func() error {
			resp, err := s.c.do(ctx, arcgisrest.JSON("content/items/"+url.PathEscape(it.ID)+"/data", nil))
			if err != nil {
				return err
			}
			b, err := io.ReadAll(io.LimitReader(resp.Body, maxDataScan))
			drain(resp.Body)
			if err != nil {
				return arcgisrest.ClassifyTransport(err)
			}
			for _, id := range itemIDPattern.FindAll(b, -1) {
				found[strings.ToLower(string(id))] = true
			}
			return nil
		})
		if err != nil && sdk.KindOf(err) == sdk.KindCanceled {
			return nil, err
		}
	}
	if withRelationships[it.Type] {
		var r struct {
			RelatedItems []struct {
				ID string `json:"id"`
			} `json:"relatedItems"`
		}
		err := s.c.getJSON(ctx, arcgisrest.JSON("content/items/"+url.PathEscape(it.ID)+"/relatedItems", url.Values{"direction": {"forward"}, "relationshipTypes": {relationshipTypes}}), &r)
		if err == nil {
			for _, x := range r.RelatedItems {
				found[x.ID] = true
			}
		} else if sdk.KindOf(err) == sdk.KindCanceled {
			return nil, err
		}
	}
	delete(found, it.ID)
	delete(found, "")
	var out []string
	for id := range found {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}
