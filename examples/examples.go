// Package examples carries the example pipelines that agolpipe itself
// needs at run time: the demo pipeline is embedded so that an installed
// binary can run `agolpipe demo` without the source tree.
package examples

import _ "embed"

// Demo is examples/demo.hcl, the pipeline `agolpipe demo` runs.
//
//go:embed demo.hcl
var Demo []byte
