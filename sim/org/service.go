package org

import (
	"encoding/json"
	"sort"
)

// Service kinds, as the last segment of a service URL.
const (
	FeatureServer    = "FeatureServer"
	MapServer        = "MapServer"
	VectorTileServer = "VectorTileServer"
)

// Service describes a hosted service behind an item.
type Service struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Layers holds layers and tables (IsTable) with ids unique in the service.
	Layers         []*Layer `json:"layers"`
	IsView         bool     `json:"isView,omitempty"`
	SourceItemID   string   `json:"sourceItemId,omitempty"`
	MaxRecordCount int      `json:"maxRecordCount"`
	Capabilities   string   `json:"capabilities"`
	SyncEnabled    bool     `json:"syncEnabled,omitempty"`
	// MaxExportTiles is maxExportTilesCount of tile services.
	MaxExportTiles int `json:"maxExportTilesCount,omitempty"`
	// Levels is the number of cache levels of tile services.
	Levels int `json:"levels,omitempty"`
	// Definition is the createParameters a client gave createService, kept
	// to round-trip fields the simulator does not model.
	Definition json.RawMessage `json:"definition,omitempty"`
	// Overrides are the service properties set through the admin
	// updateDefinition (editorTrackingInfo, initialExtent, description...):
	// their top-level keys replace those of the service root JSON.
	Overrides json.RawMessage `json:"overrides,omitempty"`
}

// Layer is a feature layer or table of a feature service.
type Layer struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	IsTable  bool   `json:"isTable,omitempty"`
	Geometry string `json:"geometryType,omitempty"`
	// Rows is the number of generated features.
	Rows           int   `json:"rows"`
	HasAttachments bool  `json:"hasAttachments,omitempty"`
	LastEdit       int64 `json:"lastEditDate"`
	SchemaEdit     int64 `json:"schemaLastEditDate"`
	// Parent is the id of the layer a related table hangs off, or -1.
	Parent int `json:"parent"`
	// Definition is a layer definition given through addToDefinition; when
	// set, Stored holds its features (those added through the API).
	Definition json.RawMessage   `json:"definition,omitempty"`
	Stored     []json.RawMessage `json:"-"`
	// OIDs are the object ids of Stored, ascending (nil: 1..len(Stored));
	// NextOID is the id the next added feature gets. A generated layer
	// becomes a stored one on its first data edit (the simulator's
	// materialize), so every layer can be edited.
	OIDs    []int `json:"-"`
	NextOID int   `json:"-"`
	// Attachments of a stored layer, per object id.
	Attachments map[int][]Attachment `json:"-"`
	// NextAttachmentID is the id the next added attachment gets.
	NextAttachmentID int `json:"-"`
	// Overrides are layer properties set through updateDefinition on a
	// generated layer (drawingInfo, templates, types...): their top-level
	// keys replace those of the generated definition.
	Overrides json.RawMessage `json:"overrides,omitempty"`
	// SourceLayer is, for a view's layer, the id of the source layer it
	// reads (nil: the same id as its own).
	SourceLayer *int `json:"sourceLayer,omitempty"`
	// Seed drives generated rows.
	Seed uint64 `json:"seed"`
}

// Attachment is an attachment of a stored layer's feature: uploaded bytes
// (Body), or, for attachments a generated layer had before it was first
// edited or that came from an export stand-in, generated ones (Seed, Size,
// Magic, as Blob).
type Attachment struct {
	ID             int    `json:"id"`
	GlobalID       string `json:"globalId"`
	ParentGlobalID string `json:"parentGlobalId"`
	Name           string `json:"name"`
	ContentType    string `json:"contentType"`
	Size           int64  `json:"size"`
	Keywords       string `json:"keywords"`
	Body           []byte `json:"-"`
	Seed           uint64 `json:"seed,omitempty"`
	// Magic is binary (a JPEG's starts with 0xFF): []byte, so JSON carries
	// it as base64 and not as text that loses its invalid UTF-8.
	Magic []byte `json:"magic,omitempty"`
}

// Blob is the generated content of an attachment without Body.
func (a Attachment) Blob() Blob { return Blob{Seed: a.Seed, Size: a.Size, Magic: string(a.Magic)} }

// Index returns the position in Stored of the feature with object id oid,
// or -1. The caller holds the org lock.
func (l *Layer) Index(oid int) int {
	if l.OIDs == nil {
		if oid >= 1 && oid <= len(l.Stored) {
			return oid - 1
		}
		return -1
	}
	i := sort.SearchInts(l.OIDs, oid)
	if i < len(l.OIDs) && l.OIDs[i] == oid {
		return i
	}
	return -1
}

// ObjectIDs returns the object ids of the layer's features in [lo, hi],
// ascending.
func (l *Layer) ObjectIDs(lo, hi int) []int {
	var out []int
	if l.Definition == nil || l.OIDs == nil {
		for v := max(lo, 1); v <= min(hi, l.RowCount()); v++ {
			out = append(out, v)
		}
		return out
	}
	for _, v := range l.OIDs[sort.SearchInts(l.OIDs, lo):] {
		if v > hi {
			break
		}
		out = append(out, v)
	}
	return out
}

// HasRow reports whether the layer has a feature with object id oid.
func (l *Layer) HasRow(oid int) bool {
	if l.Definition == nil {
		return oid >= 1 && oid <= l.Rows
	}
	return l.Index(oid) >= 0
}

// FindLayer returns the layer or table with id, or nil.
func (s *Service) FindLayer(id int) *Layer {
	for _, l := range s.Layers {
		if l.ID == id {
			return l
		}
	}
	return nil
}

// LastEdit is the latest lastEditDate of the service's layers.
func (s *Service) LastEdit() int64 {
	var m int64
	for _, l := range s.Layers {
		if l.LastEdit > m {
			m = l.LastEdit
		}
	}
	return m
}

// Field is a field of a generated layer.
type Field struct {
	Name   string
	Type   string
	Alias  string
	Length int
	// Domain names a coded-value domain in Domains, or "".
	Domain   string
	Nullable bool
	Editable bool
}

// CodedValue is one value of a coded-value domain.
type CodedValue struct {
	Name string
	Code string
}

// StatusDomain is the coded-value domain every generated layer's STATUS field
// carries, so exports and restores must keep domains.
var StatusDomain = []CodedValue{
	{"Open", "OPEN"}, {"In progress", "WIP"}, {"Closed", "CLOSED"}, {"Cancelled", "CXL"},
}

// LayerFields are the fields of generated feature layers.
var LayerFields = []Field{
	{Name: "OBJECTID", Type: "esriFieldTypeOID", Alias: "OBJECTID"},
	{Name: "GlobalID", Type: "esriFieldTypeGlobalID", Alias: "GlobalID", Length: 38},
	{Name: "NAME", Type: "esriFieldTypeString", Alias: "Name", Length: 100, Nullable: true, Editable: true},
	{Name: "STATUS", Type: "esriFieldTypeString", Alias: "Status", Length: 10, Domain: "Status", Nullable: true, Editable: true},
	{Name: "VALUE", Type: "esriFieldTypeDouble", Alias: "Value", Nullable: true, Editable: true},
	{Name: "INSPECTED", Type: "esriFieldTypeDate", Alias: "Inspected", Length: 8, Nullable: true, Editable: true},
	{Name: "CreationDate", Type: "esriFieldTypeDate", Alias: "CreationDate", Length: 8, Nullable: true},
	{Name: "Creator", Type: "esriFieldTypeString", Alias: "Creator", Length: 128, Nullable: true},
	{Name: "EditDate", Type: "esriFieldTypeDate", Alias: "EditDate", Length: 8, Nullable: true},
	{Name: "Editor", Type: "esriFieldTypeString", Alias: "Editor", Length: 128, Nullable: true},
}

// TableFields are the fields of generated related tables; PARENTGUID points
// at the GlobalID of a row of the parent layer.
var TableFields = []Field{
	{Name: "OBJECTID", Type: "esriFieldTypeOID", Alias: "OBJECTID"},
	{Name: "GlobalID", Type: "esriFieldTypeGlobalID", Alias: "GlobalID", Length: 38},
	{Name: "PARENTGUID", Type: "esriFieldTypeGUID", Alias: "Parent", Length: 38, Nullable: true, Editable: true},
	{Name: "NOTE", Type: "esriFieldTypeString", Alias: "Note", Length: 255, Nullable: true, Editable: true},
	{Name: "READING", Type: "esriFieldTypeInteger", Alias: "Reading", Nullable: true, Editable: true},
	{Name: "READ_AT", Type: "esriFieldTypeDate", Alias: "Read at", Length: 8, Nullable: true, Editable: true},
}

// Fields returns the generated fields of the layer.
func (l *Layer) Fields() []Field {
	if l.IsTable {
		return TableFields
	}
	return LayerFields
}

// RowCount is the number of features of the layer: generated rows, or the
// features added through the API for layers defined through the API.
func (l *Layer) RowCount() int {
	if l.Definition != nil {
		return len(l.Stored)
	}
	return l.Rows
}
