// Package plugins lists every built-in component in one place. The agolpipe
// binary serves these by re-executing itself (`agolpipe plugin serve`), so
// built-ins travel the same gRPC road as third-party plugins.
//
// Adding a built-in is one line here plus its folder.
package plugins

import (
	"github.com/agolpipe/agolpipe/plugins/exporters/featurequery"
	"github.com/agolpipe/agolpipe/plugins/exporters/featureservice"
	"github.com/agolpipe/agolpipe/plugins/exporters/file"
	"github.com/agolpipe/agolpipe/plugins/exporters/itemjson"
	"github.com/agolpipe/agolpipe/plugins/exporters/reference"
	"github.com/agolpipe/agolpipe/plugins/exporters/survey"
	"github.com/agolpipe/agolpipe/plugins/exporters/tiles"
	"github.com/agolpipe/agolpipe/plugins/notifiers/email"
	"github.com/agolpipe/agolpipe/plugins/notifiers/webhook"
	"github.com/agolpipe/agolpipe/plugins/sinks/azureblob"
	"github.com/agolpipe/agolpipe/plugins/sinks/local"
	"github.com/agolpipe/agolpipe/plugins/sinks/s3"
	"github.com/agolpipe/agolpipe/plugins/sinks/smb"
	"github.com/agolpipe/agolpipe/plugins/sources/arcgis"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
)

// BuiltIns is the built-in set as the agolpipe binary serves it (`agolpipe
// plugin serve`) and hands it to the plugin host (described): the one
// place these maps are put together.
func BuiltIns() grpcplugin.ServeOpts {
	return grpcplugin.ServeOpts{Sources: Sources, Exporters: Exporters, Sinks: Sinks, Notifiers: Notifiers}
}

// Sources, Exporters, Sinks and Notifiers map a component name (as written
// in HCL) to a constructor that returns a fresh, unconfigured component.
var (
	Sources = map[string]func() sdk.Source{
		// sources: one line per built-in source
		"arcgis": arcgis.New,
	}
	Exporters = map[string]func() sdk.Exporter{
		// exporters: one line per built-in exporter
		"feature_query":   featurequery.New,
		"feature_service": featureservice.New,
		"file":            file.New,
		"item_json":       itemjson.New,
		"reference":       reference.New,
		"survey":          survey.New,
		"tiles":           tiles.New,
	}
	Sinks = map[string]func() sdk.Sink{
		// sinks: one line per built-in sink
		"azure_blob": azureblob.New,
		"local":      local.New,
		"s3":         s3.New,
		"smb":        smb.New,
	}
	Notifiers = map[string]func() sdk.Notifier{
		// notifiers: one line per built-in notifier
		"email":   email.New,
		"webhook": webhook.New,
	}
)
