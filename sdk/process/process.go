// Package process answers one question that core and plugins both ask when
// they clean up after a killed run: is the process that left this behind
// still running? (A lock file, a temp file, a half-written upload name
// their writer's pid.) One answer in the floor package keeps the rule the
// same everywhere: a zombie counts as gone, another user's process as
// running, and when the OS cannot tell, the process is assumed alive so
// nothing of a running writer is removed.
package process
