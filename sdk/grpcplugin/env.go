package grpcplugin

import (
	"runtime"
	"strings"
)

// baseEnv is what every plugin process may see of the host's environment:
// what the operating system, the Go runtime and the network need, and
// nothing that is a credential of the host's. go-plugin adds its own
// handshake variables (magic cookie, PLUGIN_*, the AutoMTLS client
// certificate) on top.
//
//   - PATH, HOME, TMPDIR, TZ, ZONEINFO: finding programs, the user's files
//     (a credential chain's config files), the temp folder and local time.
//   - SSL_CERT_FILE, SSL_CERT_DIR: the system's TLS roots on Unix, where an
//     organization's own CA is often installed.
//   - HTTP(S)_PROXY, NO_PROXY (either case): a machine behind a proxy
//     reaches the portal and the stores only through it. A password inside a
//     proxy URL therefore reaches plugins that use the network; the arcgis
//     source's own `proxy` setting keeps it in one plugin's configuration.
//   - GOGC, GOMEMLIMIT, GOMAXPROCS, GODEBUG, GOTRACEBACK, GOCOVERDIR: Go
//     runtime tuning and coverage, never secrets.
//   - Windows: SystemRoot (networking needs it), SystemDrive, windir, TEMP,
//     TMP, USERPROFILE, LOCALAPPDATA, APPDATA, ProgramData, PATHEXT, ComSpec.
var baseEnv = []string{
	"PATH", "HOME", "TMPDIR", "TZ", "ZONEINFO",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	"GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG", "GOTRACEBACK", "GOCOVERDIR",
	"SystemRoot", "SystemDrive", "windir", "TEMP", "TMP", "USERPROFILE", "LOCALAPPDATA", "APPDATA", "ProgramData", "PATHEXT", "ComSpec",
}

// BaseEnv lists the variables every plugin process may receive (see
// PluginEnv).
func BaseEnv() []string { return append([]string(nil), baseEnv...) }

// PluginEnv returns the environment a plugin process starts with: the
// entries of environ (os.Environ() form) whose names are in BaseEnv or
// match pass (exact names, or prefixes ending in "*"). Everything else,
// the portal password, S3 keys, Azure connection strings, webhook URLs and
// pipeline variables among it, stays in the host; a plugin gets values
// only through its configuration. Names compare case-insensitively on
// Windows, as its environment does.
func PluginEnv(environ []string, pass ...string) []string {
	allowed := append(append([]string(nil), baseEnv...), pass...)
	var out []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		for _, a := range allowed {
			if envMatch(name, a) {
				out = append(out, kv)
				break
			}
		}
	}
	return out
}

func envMatch(name, pattern string) bool {
	fold := runtime.GOOS == "windows"
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		if fold {
			return len(name) >= len(p) && strings.EqualFold(name[:len(p)], p)
		}
		return strings.HasPrefix(name, p)
	}
	if fold {
		return strings.EqualFold(name, pattern)
	}
	return name == pattern
}
