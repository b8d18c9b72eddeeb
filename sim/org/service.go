package org

import "encoding/json"

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
	// Seed drives generated rows.
	Seed uint64 `json:"seed"`
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
