// Package sdk is the public contract between agolpipe and its plugins.
//
// A plugin is one of four kinds: a Source lists the items of an ArcGIS
// organization and performs authenticated portal requests; an Exporter turns
// one item into artifacts; a Sink stores artifacts; a Notifier tells people
// how a run went. Each kind is one Go interface in this package. The gRPC
// adapters that carry these interfaces between the agolpipe host and a plugin
// process live in sdk/grpcplugin; an outside author only implements the
// interface and calls grpcplugin.Serve from main.
//
// Every method takes a context first and request/response structs, so fields
// can be added to the protocol without breaking existing plugins.
//
// Configuration is owned by the host: a component describes its HCL schema
// (Schema), the host decodes the pipeline file with it and hands the component
// a cty.Value of that schema's object type. Diagnostics returned by a
// component carry an attribute path that the host maps back to file:line:col.
package sdk

// ProtocolVersion is the major version of the plugin protocol. It is also the
// version in the protobuf package name (agolpipe.plugin.v1) and the
// go-plugin handshake, so a host refuses a plugin built for another major.
const ProtocolVersion = 1

// Kind names one of the four plugin kinds.
type Kind string

const (
	KindSource   Kind = "source"
	KindExporter Kind = "exporter"
	KindSink     Kind = "sink"
	KindNotifier Kind = "notifier"
)

// Kinds lists every plugin kind in the order the CLI shows them.
var Kinds = []Kind{KindSource, KindExporter, KindSink, KindNotifier}

// Info describes a component: what a user types in HCL (its Name), its
// version, and a one-line description for `agolpipe plugins`.
type Info struct {
	Kind        Kind
	Name        string
	Version     string
	Description string
}
