// Package version holds agolpipe's version, stamped at build time with
// -ldflags "-X github.com/agolpipe/agolpipe/sdk/version.Version=v1.2.3".
// It lives in sdk, the floor, because the host and every built-in plugin
// report the same version and plugins may not import core.
package version

// Version of this agolpipe build.
var Version = "0.1.0-dev"
