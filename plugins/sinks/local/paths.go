package local

import "strings"

// Windows path rules live here as plain string functions, not behind build
// tags, so the tests check them on every OS that runs the test suite.

// winVolume splits a Windows path into its volume ("C:", `\\server\share`,
// `\\?\C:`, `\\?\UNC\server\share`) and the rest.
func winVolume(p string) (vol, rest string) {
	isSep := func(c byte) bool { return c == '\\' || c == '/' }
	if len(p) >= 4 && isSep(p[0]) && isSep(p[1]) && (p[2] == '?' || p[2] == '.') && isSep(p[3]) {
		// \\?\C:\x or \\?\UNC\server\share\x
		inner := p[4:]
		if len(inner) >= 4 && strings.EqualFold(inner[:3], "UNC") && isSep(inner[3]) {
			v, r := uncVolume(inner[4:])
			return p[:8] + v, r
		}
		v, r := winVolume(inner)
		return p[:4] + v, r
	}
	if len(p) >= 2 && p[1] == ':' && ((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')) {
		return p[:2], p[2:]
	}
	if len(p) >= 2 && isSep(p[0]) && isSep(p[1]) {
		v, r := uncVolume(p[2:])
		return p[:2] + v, r
	}
	return "", p
}

// uncVolume splits "server\share\rest" after the leading backslashes.
func uncVolume(p string) (vol, rest string) {
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' || p[i] == '/' {
			n++
			if n == 2 {
				return p[:i], p[i:]
			}
		}
	}
	return p, ""
}

// isRoot reports whether an absolute, cleaned path is the root of a
// filesystem, a drive or a share: somewhere agolpipe must not own.
func isRoot(abs string, windows bool) bool {
	if !windows {
		return strings.Trim(abs, "/") == ""
	}
	vol, rest := winVolume(abs)
	if vol == "" {
		return strings.Trim(rest, `\/`) == ""
	}
	return strings.Trim(rest, `\/`) == ""
}

// longPath gives an absolute Windows path the \\?\ prefix that lifts the
// 260-character MAX_PATH limit of the Win32 API. Paths that already have it,
// and relative paths, are returned unchanged. The path must be cleaned and
// use backslashes, as filepath.Join returns on Windows.
func longPath(p string) string {
	if strings.HasPrefix(p, `\\?\`) || strings.HasPrefix(p, `\\.\`) {
		return p
	}
	if strings.HasPrefix(p, `\\`) {
		return `\\?\UNC\` + p[2:]
	}
	if len(p) >= 3 && p[1] == ':' && p[2] == '\\' {
		return `\\?\` + p
	}
	return p
}
