// Command fakeplugin is a third-party plugin binary for the plugin host's
// tests: it serves the grpctest fakes of every kind under the name "fake".
package main

import "github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"

func main() {
	grpctest.ServeFakes()
}
