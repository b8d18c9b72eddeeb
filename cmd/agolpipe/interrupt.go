package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// onSecondSignal is how run and restore treat Ctrl-C: the first one
// cancels ctx (signal.NotifyContext) and the command winds down, keeping
// its reports true; msg tells the user so. A second Ctrl-C (or SIGTERM)
// means "now": quit is called and must not return (it exits). The
// returned function ends the watch once the command is done, so a late
// signal is left to the default handler.
func onSecondSignal(ctx context.Context, stop context.CancelFunc, msg string, quit func()) (done func()) {
	finished := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-finished:
			return
		}
		stop()
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(again)
		fmt.Fprintln(os.Stderr, msg)
		select {
		case <-again:
			quit()
		case <-finished:
		}
	}()
	return func() { close(finished) }
}
