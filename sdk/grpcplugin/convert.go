package grpcplugin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/msgpack"
)

func infoToProto(i sdk.Info) *pluginv1.Info {
	return &pluginv1.Info{Kind: string(i.Kind), Name: i.Name, Version: i.Version, Description: i.Description, ProtocolVersion: sdk.ProtocolVersion}
}

func infoFromProto(p *pluginv1.Info) sdk.Info {
	return sdk.Info{Kind: sdk.Kind(p.GetKind()), Name: p.GetName(), Version: p.GetVersion(), Description: p.GetDescription()}
}

func schemaToProto(s sdk.Schema) *pluginv1.Schema {
	out := &pluginv1.Schema{}
	for _, a := range s.Attributes {
		out.Attributes = append(out.Attributes, &pluginv1.Attribute{Name: a.Name, Type: string(a.Type), Required: a.Required, Sensitive: a.Sensitive, Description: a.Description})
	}
	for _, b := range s.Blocks {
		n := pluginv1.NestedBlock_NESTING_SINGLE
		if b.Nesting == sdk.NestingList {
			n = pluginv1.NestedBlock_NESTING_LIST
		}
		out.Blocks = append(out.Blocks, &pluginv1.NestedBlock{TypeName: b.TypeName, Nesting: n, Required: b.Required, Description: b.Description, Schema: schemaToProto(b.Schema)})
	}
	return out
}

// schemaFromProto rebuilds a schema and refuses attribute types this host
// does not know, so a newer plugin fails with a message instead of a panic.
func schemaFromProto(p *pluginv1.Schema) (sdk.Schema, error) {
	var out sdk.Schema
	for _, a := range p.GetAttributes() {
		switch sdk.Type(a.GetType()) {
		case sdk.TypeString, sdk.TypeNumber, sdk.TypeBool, sdk.TypeListString, sdk.TypeMapString:
		default:
			return sdk.Schema{}, fmt.Errorf("attribute %q has type %q, which this agolpipe does not know", a.GetName(), a.GetType())
		}
		out.Attributes = append(out.Attributes, sdk.Attribute{Name: a.GetName(), Type: sdk.Type(a.GetType()), Required: a.GetRequired(), Sensitive: a.GetSensitive(), Description: a.GetDescription()})
	}
	for _, b := range p.GetBlocks() {
		inner, err := schemaFromProto(b.GetSchema())
		if err != nil {
			return sdk.Schema{}, fmt.Errorf("block %q: %w", b.GetTypeName(), err)
		}
		n := sdk.NestingSingle
		if b.GetNesting() == pluginv1.NestedBlock_NESTING_LIST {
			n = sdk.NestingList
		}
		out.Blocks = append(out.Blocks, sdk.NestedBlock{TypeName: b.GetTypeName(), Nesting: n, Required: b.GetRequired(), Description: b.GetDescription(), Schema: inner})
	}
	return out, nil
}

// encodeConfig encodes a configuration as msgpack of the schema's object
// type. Marks (the parser may mark sensitive values) do not travel; the
// plugin knows from its own schema what is sensitive.
func encodeConfig(v cty.Value, s sdk.Schema) (*pluginv1.DynamicValue, error) {
	ty := s.ObjectType()
	if v == cty.NilVal {
		v = cty.NullVal(ty)
	}
	v, _ = v.UnmarkDeep()
	b, err := msgpack.Marshal(v, ty)
	if err != nil {
		return nil, fmt.Errorf("encoding configuration: %w", err)
	}
	return &pluginv1.DynamicValue{Msgpack: b}, nil
}

func decodeConfig(p *pluginv1.DynamicValue, s sdk.Schema) (cty.Value, error) {
	ty := s.ObjectType()
	if len(p.GetMsgpack()) == 0 {
		return cty.NullVal(ty), nil
	}
	v, err := msgpack.Unmarshal(p.GetMsgpack(), ty)
	if err != nil {
		return cty.NilVal, fmt.Errorf("decoding configuration (does the plugin's schema match the host's?): %w", err)
	}
	return v, nil
}

func diagsToProto(d sdk.Diagnostics) []*pluginv1.Diagnostic {
	var out []*pluginv1.Diagnostic
	for _, x := range d {
		sev := pluginv1.Diagnostic_SEVERITY_ERROR
		if x.Severity == sdk.SeverityWarning {
			sev = pluginv1.Diagnostic_SEVERITY_WARNING
		}
		out = append(out, &pluginv1.Diagnostic{Severity: sev, Summary: x.Summary, Detail: x.Detail, AttributePath: x.Path})
	}
	return out
}

func diagsFromProto(p []*pluginv1.Diagnostic) sdk.Diagnostics {
	var out sdk.Diagnostics
	for _, x := range p {
		sev := sdk.SeverityError
		if x.GetSeverity() == pluginv1.Diagnostic_SEVERITY_WARNING {
			sev = sdk.SeverityWarning
		}
		out = append(out, sdk.Diagnostic{Severity: sev, Summary: x.GetSummary(), Detail: x.GetDetail(), Path: x.GetAttributePath()})
	}
	return out
}

// diagsFromError reports a transport or encoding failure of Configure as a
// diagnostic, since Configure has no error result.
func diagsFromError(summary string, err error) sdk.Diagnostics {
	return sdk.Diagnostics{}.Errorf(nil, summary, "%v", err)
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func itemToProto(i sdk.Item) *pluginv1.Item {
	return &pluginv1.Item{
		Id: i.ID, Title: i.Title, Type: i.Type, TypeKeywords: i.TypeKeywords, Owner: i.Owner,
		FolderId: i.FolderID, FolderTitle: i.FolderTitle,
		CreatedUnixMillis: millis(i.Created), ModifiedUnixMillis: millis(i.Modified),
		Access: i.Access, Groups: i.Groups, Size: i.Size, Url: i.URL, Tags: i.Tags, Protected: i.Protected,
		Dependencies: i.Dependencies, DataModifiedUnixMillis: millis(i.DataModified), Raw: i.Raw,
	}
}

func itemFromProto(p *pluginv1.Item) sdk.Item {
	var raw json.RawMessage
	if len(p.GetRaw()) > 0 {
		raw = json.RawMessage(p.GetRaw())
	}
	return sdk.Item{
		ID: p.GetId(), Title: p.GetTitle(), Type: p.GetType(), TypeKeywords: p.GetTypeKeywords(), Owner: p.GetOwner(),
		FolderID: p.GetFolderId(), FolderTitle: p.GetFolderTitle(),
		Created: fromMillis(p.GetCreatedUnixMillis()), Modified: fromMillis(p.GetModifiedUnixMillis()),
		Access: p.GetAccess(), Groups: p.GetGroups(), Size: p.GetSize(), URL: p.GetUrl(), Tags: p.GetTags(), Protected: p.GetProtected(),
		Dependencies: p.GetDependencies(), DataModified: fromMillis(p.GetDataModifiedUnixMillis()), Raw: raw,
	}
}

func orgToProto(o sdk.OrgInfo) *pluginv1.OrgInfo {
	return &pluginv1.OrgInfo{PortalUrl: o.PortalURL, OrgId: o.OrgID, OrgName: o.OrgName, Mode: o.Mode, Username: o.Username, IsAdmin: o.IsAdmin, ItemCount: o.ItemCount, Warnings: o.Warnings}
}

func orgFromProto(p *pluginv1.OrgInfo) sdk.OrgInfo {
	return sdk.OrgInfo{PortalURL: p.GetPortalUrl(), OrgID: p.GetOrgId(), OrgName: p.GetOrgName(), Mode: p.GetMode(), Username: p.GetUsername(), IsAdmin: p.GetIsAdmin(), ItemCount: p.GetItemCount(), Warnings: p.GetWarnings()}
}

func artifactToProto(a sdk.Artifact) *pluginv1.Artifact {
	return &pluginv1.Artifact{Name: a.Name, MediaType: a.MediaType, Size: a.Size, Format: a.Format}
}

func artifactFromProto(p *pluginv1.Artifact) sdk.Artifact {
	return sdk.Artifact{Name: p.GetName(), MediaType: p.GetMediaType(), Size: p.GetSize(), Format: p.GetFormat()}
}

func objectToProto(o sdk.ObjectInfo) *pluginv1.ObjectInfo {
	var mod int64
	if !o.Modified.IsZero() {
		mod = o.Modified.UnixNano()
	}
	return &pluginv1.ObjectInfo{Path: o.Path, Size: o.Size, ModifiedUnixNanos: mod}
}

func objectFromProto(p *pluginv1.ObjectInfo) sdk.ObjectInfo {
	var mod time.Time
	if p.GetModifiedUnixNanos() != 0 {
		mod = time.Unix(0, p.GetModifiedUnixNanos())
	}
	return sdk.ObjectInfo{Path: p.GetPath(), Size: p.GetSize(), Modified: mod}
}

// valuesToProto keeps url.Values and http.Header in a stable order.
func valuesToProto(m map[string][]string) []*pluginv1.KeyValues {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*pluginv1.KeyValues, 0, len(keys))
	for _, k := range keys {
		out = append(out, &pluginv1.KeyValues{Key: k, Values: m[k]})
	}
	return out
}

func valuesFromProto(p []*pluginv1.KeyValues) map[string][]string {
	if len(p) == 0 {
		return nil
	}
	out := make(map[string][]string, len(p))
	for _, kv := range p {
		out[kv.GetKey()] = kv.GetValues()
	}
	return out
}

func httpRequestToProto(r sdk.PortalRequest) *pluginv1.HttpRequest {
	return &pluginv1.HttpRequest{Method: r.Method, Url: r.URL, Query: valuesToProto(r.Query), Form: valuesToProto(r.Form), Header: valuesToProto(r.Header), Offset: r.Offset}
}

func httpRequestFromProto(p *pluginv1.HttpRequest) sdk.PortalRequest {
	return sdk.PortalRequest{Method: p.GetMethod(), URL: p.GetUrl(), Query: url.Values(valuesFromProto(p.GetQuery())), Form: url.Values(valuesFromProto(p.GetForm())), Header: http.Header(valuesFromProto(p.GetHeader())), Offset: p.GetOffset()}
}
