package restore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Change is one rewritten string of an item: where (the item property, or
// the JSON path in its data), the value before and after, and how many
// times the text was found in it.
type Change struct {
	// Where is "item" (an item property) or "data" (the item's data).
	Where string `json:"where"`
	// Path is the property name, or the JSON path in the data
	// (operationalLayers[0].url).
	Path  string `json:"path"`
	Old   string `json:"old"`
	New   string `json:"new"`
	Count int    `json:"count"`
}

// rewriteJSON replaces find by repl in every string value of the JSON
// document data and returns the document with exactly those strings
// re-encoded: every other byte (spacing, key order, numbers, escapes) is
// kept, so the change is the replacement and nothing else. Object keys are
// not rewritten (a key that changes could collide with another); the keys
// that hold find are returned in keys, so the plan can say so.
func rewriteJSON(data []byte, find, repl string) (out []byte, changes []Change, keys []string, err error) {
	type frame struct {
		obj       bool
		expectKey bool
		key       string
		idx       int
	}
	var stack []*frame
	afterValue := func() {
		if len(stack) == 0 {
			return
		}
		top := stack[len(stack)-1]
		if top.obj {
			top.expectKey = true
		} else {
			top.idx++
		}
	}
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if !f.obj {
				fmt.Fprintf(&b, "[%d]", f.idx)
				continue
			}
			if isIdent(f.key) {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				fmt.Fprintf(&b, "[%s]", strconv.Quote(f.key))
			}
		}
		if b.Len() == 0 {
			return "$"
		}
		return b.String()
	}
	type splice struct {
		start, end int
		lit        []byte
	}
	var splices []splice
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	prevEnd := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, nil, err
		}
		end := int(dec.InputOffset())
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &frame{obj: true, expectKey: true})
			case '[':
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
				afterValue()
			}
		case string:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].expectKey {
				stack[n-1].key, stack[n-1].expectKey = t, false
				if find != "" && strings.Contains(t, find) {
					keys = append(keys, path())
				}
				break
			}
			if find != "" && strings.Contains(t, find) {
				// Between two tokens there is only space, ',' and ':',
				// so the literal starts at the first quote after the
				// previous token.
				start := prevEnd
				for start < end && data[start] != '"' {
					start++
				}
				var check string
				if start >= end || json.Unmarshal(data[start:end], &check) != nil || check != t {
					return nil, nil, nil, fmt.Errorf("string at byte %d: its literal could not be located", start)
				}
				nv := strings.ReplaceAll(t, find, repl)
				changes = append(changes, Change{Where: "data", Path: path(), Old: t, New: nv, Count: strings.Count(t, find)})
				splices = append(splices, splice{start: start, end: end, lit: encodeString(nv)})
			}
			afterValue()
		default:
			afterValue()
		}
		prevEnd = end
	}
	if len(stack) > 0 {
		return nil, nil, nil, io.ErrUnexpectedEOF // the document ends inside an object or array
	}
	if len(splices) == 0 {
		return data, nil, keys, nil
	}
	var b bytes.Buffer
	b.Grow(len(data))
	last := 0
	for _, s := range splices {
		b.Write(data[last:s.start])
		b.Write(s.lit)
		last = s.end
	}
	b.Write(data[last:])
	return b.Bytes(), changes, keys, nil
}

// encodeString is s as a JSON string literal, without the HTML escaping
// encoding/json adds by default (a URL's & stays &, as portals write it).
func encodeString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
