package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// MetadataFormat names the open JSON format OrgMetadata writes.
const MetadataFormat = sdk.OrgMetadataFormat

// secretKey matches user JSON keys that could carry a credential; they are
// dropped even though the portal is not known to send any.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"token", "password", "secret", "apikey", "api_key", "privatekey"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// OrgMetadata writes the organization's users (no secrets), groups with
// their members, and each listed item's sharing, as one JSON document:
//
//	{"format":"agolpipe-org-metadata/1",
//	 "portal":{"url","orgId","name","mode","version"},
//	 "users":[<portal user JSON>...],
//	 "groups":[{<portal group JSON>..., "members":{"owner","admins":[],"users":[]}}],
//	 "sharing":{"<item id>":{"access":"org","groups":["<group id>"]}}}
//
// Sharing covers the items of the last ListItems. Call it after ListItems;
// it streams to w and does not close it.
func (s *Source) OrgMetadata(ctx context.Context, w io.Writer) error {
	if s.info.Username == "" {
		return sdk.Permanent("arcgis source: OrgMetadata before Connect")
	}
	var raws []json.RawMessage
	if s.info.IsAdmin {
		var err error
		if _, raws, err = s.usersRaw(ctx); err != nil {
			return s.where(err, "listing users for the org metadata")
		}
	} else {
		var me json.RawMessage
		if err := s.c.getJSON(ctx, arcgisrest.JSON("community/self", nil), &me); err != nil {
			return s.where(err, "reading community/self")
		}
		raws = []json.RawMessage{me}
	}
	groups, err := s.orgGroups(ctx)
	if err != nil {
		return s.where(err, "listing groups for the org metadata")
	}
	enc := func(v any) ([]byte, error) { return json.Marshal(v) }
	bw := &errWriter{w: w}
	head, _ := enc(map[string]any{"url": s.info.PortalURL, "orgId": s.info.OrgID, "name": s.info.OrgName, "mode": s.info.Mode, "version": s.org.Version})
	bw.printf(`{"format":%q,"portal":%s,"users":[`, MetadataFormat, head)
	for i, raw := range raws {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			continue
		}
		for k := range m {
			if secretKey(k) {
				delete(m, k)
			}
		}
		b, _ := enc(m)
		if i > 0 {
			bw.printf(",")
		}
		bw.write(b)
	}
	bw.printf(`],"groups":[`)
	for i, g := range groups {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(g.Raw, &m); err != nil {
			continue
		}
		var members json.RawMessage
		if err := s.c.getJSON(ctx, arcgisrest.JSON("community/groups/"+url.PathEscape(g.ID)+"/users", nil), &members); err == nil {
			m["members"] = members
		} else if sdk.KindOf(err) == sdk.KindCanceled {
			return err
		}
		b, _ := enc(m)
		if i > 0 {
			bw.printf(",")
		}
		bw.write(b)
	}
	bw.printf(`],"sharing":{`)
	s.mu.Lock()
	ids := make([]string, 0, len(s.sharing))
	for id := range s.sharing {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		sh := s.sharing[id]
		if sh.Groups == nil {
			sh.Groups = []string{}
		}
		b, _ := enc(sh)
		if i > 0 {
			bw.printf(",")
		}
		bw.printf("%q:%s", id, b)
	}
	s.mu.Unlock()
	bw.printf("}}\n")
	return bw.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) write(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
