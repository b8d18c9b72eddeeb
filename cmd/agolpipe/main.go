// Command agolpipe backs up ArcGIS Online and Portal for ArcGIS
// organizations (restore is not built yet). Each subcommand lives in its own
// file and adds itself to rootCmd in an init function.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/sdk/version"
	"github.com/spf13/cobra"
)

// The exit codes are defined once, in core/engine (a run's record carries
// them too); these are their short names for the commands.
const (
	exitOK       = engine.ExitOK
	exitPartial  = engine.ExitPartial
	exitUsage    = engine.ExitUsage
	exitCanceled = engine.ExitCanceled
)

var rootCmd = &cobra.Command{
	Use:           "agolpipe",
	Short:         "Back up ArcGIS Online and Portal for ArcGIS organizations, as code",
	Version:       version.Version,
	SilenceUsage:  true,
	SilenceErrors: true,
}

// exitError carries a process exit code out of a subcommand. A subcommand
// that has already told the user what went wrong returns it with a nil err.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withExit wraps err (which may be nil) with an exit code.
func withExit(code int, err error) error { return &exitError{code: code, err: err} }

func main() {
	setGCPercent()
	os.Exit(execute())
}

// setGCPercent collects garbage at 50% heap growth instead of Go's 100%
// unless the user set GOGC. agolpipe's heap is mostly chunk buffers in
// flight, so a tighter target lowers the peak RSS of the host and of the
// built-in plugins (the same binary) at no CPU cost measured in
// bench/stream (see its README). GOGC in the environment still wins.
func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}

func execute() int {
	if len(os.Args) < 2 || os.Args[1] != "plugin" {
		// A built-in plugin (this binary re-executed) leaves that to its host.
		removeStaleTemp()
	}
	rootCmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		//lint:ignore ST1005 printed as the whole message, with cobra's own usage hint as its last line
		return withExit(exitUsage, fmt.Errorf("%w\nRun '%s --help' for usage.", err, c.CommandPath()))
	})
	err := rootCmd.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "Error:", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors (unknown command, wrong arg count) are usage errors.
	fmt.Fprintln(os.Stderr, "Error:", err)
	return exitUsage
}
