// Package retry is the host's name for sdk/retry, where the one retry
// policy of agolpipe lives: it moved to the sdk so that plugins (the arcgis
// source, the exporters) retry with the same code and budget as the host
// without importing core. New code imports sdk/retry.
package retry

import sdkretry "github.com/agolpipe/agolpipe/sdk/retry"

// Policy is sdkretry.Policy.
type Policy = sdkretry.Policy

// Defaults of sdkretry.
const (
	DefaultRetries       = sdkretry.DefaultRetries
	DefaultBase          = sdkretry.DefaultBase
	DefaultMax           = sdkretry.DefaultMax
	DefaultMaxRetryAfter = sdkretry.DefaultMaxRetryAfter
)
