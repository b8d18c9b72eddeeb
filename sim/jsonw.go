package sim

import (
	"strconv"
	"sync"
	"unicode/utf8"
)

// enc is a small append-only JSON writer for the hot paths (item JSON,
// search pages, feature queries): it writes straight into a pooled buffer
// without reflection. Keys and values must be written in JSON order; the
// writer inserts the commas.
type enc struct {
	b     []byte
	comma bool
}

var encPool = sync.Pool{New: func() any { return &enc{b: make([]byte, 0, 16<<10)} }}

func getEnc() *enc {
	e := encPool.Get().(*enc)
	e.b = e.b[:0]
	e.comma = false
	return e
}

func putEnc(e *enc) {
	if cap(e.b) <= 4<<20 {
		encPool.Put(e)
	}
}

func (e *enc) sep() {
	if e.comma {
		e.b = append(e.b, ',')
	}
}

func (e *enc) open()  { e.sep(); e.b = append(e.b, '{'); e.comma = false }
func (e *enc) close() { e.b = append(e.b, '}'); e.comma = true }
func (e *enc) arr()   { e.sep(); e.b = append(e.b, '['); e.comma = false }
func (e *enc) end()   { e.b = append(e.b, ']'); e.comma = true }

func (e *enc) k(name string) {
	e.sep()
	e.b = appendJSONString(e.b, name)
	e.b = append(e.b, ':')
	e.comma = false
}

func (e *enc) str(s string) { e.sep(); e.b = appendJSONString(e.b, s); e.comma = true }
func (e *enc) strOrNull(s string) {
	if s == "" {
		e.null()
		return
	}
	e.str(s)
}
func (e *enc) int(v int64) { e.sep(); e.b = strconv.AppendInt(e.b, v, 10); e.comma = true }
func (e *enc) float(v float64) {
	e.sep()
	e.b = strconv.AppendFloat(e.b, v, 'f', -1, 64)
	e.comma = true
}
func (e *enc) bool(v bool)  { e.sep(); e.b = strconv.AppendBool(e.b, v); e.comma = true }
func (e *enc) null()        { e.sep(); e.b = append(e.b, "null"...); e.comma = true }
func (e *enc) raw(r []byte) { e.sep(); e.b = append(e.b, r...); e.comma = true }

func (e *enc) strs(list []string) {
	e.arr()
	for _, s := range list {
		e.str(s)
	}
	e.end()
}

// Shorthands for key/value pairs.
func (e *enc) ks(k, v string)       { e.k(k); e.str(v) }
func (e *enc) ki(k string, v int64) { e.k(k); e.int(v) }
func (e *enc) kb(k string, v bool)  { e.k(k); e.bool(v) }
func (e *enc) kn(k string)          { e.k(k); e.null() }

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping what JSON requires
// (and <, >, & like encoding/json) and replacing invalid UTF-8.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
