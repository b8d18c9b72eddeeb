// Package version holds agolpipe's version, stamped at build time with
// -ldflags "-X github.com/agolpipe/agolpipe/core/version.Version=v1.2.3".
package version

// Version of this agolpipe build.
var Version = "0.1.0-dev"
