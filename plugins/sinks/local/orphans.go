package local

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/agolpipe/agolpipe/sdk/process"
)

// Temporary files that outlive their writer. A Put's temporary file is
// removed by the Put itself, whatever happens to it, except when the sink's
// process dies (kill -9, a crash, a power cut): then the half-written file
// stays. Its name says who wrote it, .agolpipe-tmp-<host>-<pid>-<random>
// (host: a short hash of the machine's name), so a later Put into the same
// folder removes it once it is sure the writer is gone: written on this
// machine, by a process that no longer runs. A file of another machine (a
// NAS two hosts write to) or of a live process is never touched, nor one
// whose name does not say its writer.

// hostTag is this machine's part of temporary file names.
var hostTag = func() string {
	h, _ := os.Hostname()
	sum := sha256.Sum256([]byte(h))
	return hex.EncodeToString(sum[:3])
}()

// tempPattern is the os.CreateTemp pattern of this process's temporary
// files.
func tempPattern() string {
	return tempPrefix + hostTag + "-" + strconv.Itoa(os.Getpid()) + "-*"
}

// orphanOwner returns the pid that wrote a temporary file, when the file
// was written on this machine by another process than this one.
func orphanOwner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, tempPrefix+hostTag+"-")
	if !ok {
		return 0, false
	}
	pidText, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return 0, false
	}
	return pid, true
}

// swept remembers the folders this process already cleaned: once per folder
// is enough, since only a process that died leaves orphans and this one
// started after it.
var swept sync.Map

// removeOrphans deletes, once per folder per process, the temporary files
// in dir whose writer is gone. Errors are ignored: an orphan is untidy, not
// a failure of the Put that found it.
func removeOrphans(dir string) {
	if _, done := swept.LoadOrStore(dir, true); done {
		return
	}
	ents, err := os.ReadDir(osPath(dir))
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if pid, ok := orphanOwner(e.Name()); ok && !process.Alive(pid) {
			_ = os.Remove(osPath(filepath.Join(dir, e.Name())))
		}
	}
}
