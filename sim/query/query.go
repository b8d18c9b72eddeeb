// Package query parses the subset of the ArcGIS item search syntax (the `q`
// parameter of /sharing/rest/search) that the simulator understands, and
// matches items against it.
//
// Supported: field:value and field:"quoted phrase" for id, owner, orgid
// (alias accountid), type, typekeywords, tags, title, snippet, description,
// name, access and group; inclusive [a TO b] and exclusive {a TO b} ranges
// on created and modified (epoch ms, * for an open end); AND, OR, NOT
// (upper-case), a leading - for NOT, parentheses; bare words and phrases
// match title, tags, snippet and type keywords; a trailing * is a prefix
// wildcard; * alone matches everything. Terms without an operator between
// them are ANDed.
//
// Like the real service, `type:` matches part of the type name, so
// type:"Web Map" also finds "Web Mapping Application".
package query

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/agolpipe/agolpipe/sim/org"
)

// Query is a parsed search expression. A Query is immutable and safe for
// concurrent use.
type Query struct{ root node }

// Match reports whether it matches; orgID is the id of the org it lives in.
func (q *Query) Match(it *org.Item, orgID string) bool {
	if q == nil || q.root == nil {
		return true
	}
	return q.root.match(it, orgID)
}

type node interface {
	match(it *org.Item, orgID string) bool
	matchDoc(d Doc) bool
}

// Doc is anything searchable by field other than an item (users, groups):
// Values returns the values of a field, ok=false when the field is unknown.
type Doc interface {
	Values(field string) (vals []string, ok bool)
}

// MatchDoc reports whether d matches. Terms compare case-insensitively,
// phrases as substrings; ranges never match a Doc.
func (q *Query) MatchDoc(d Doc) bool {
	if q == nil || q.root == nil {
		return true
	}
	return q.root.matchDoc(d)
}

func (n andNode) matchDoc(d Doc) bool { return n.l.matchDoc(d) && n.r.matchDoc(d) }
func (n orNode) matchDoc(d Doc) bool  { return n.l.matchDoc(d) || n.r.matchDoc(d) }
func (n notNode) matchDoc(d Doc) bool { return !n.n.matchDoc(d) }
func (allNode) matchDoc(Doc) bool     { return true }
func (rangeNode) matchDoc(Doc) bool   { return false }
func (n termNode) matchDoc(d Doc) bool {
	field := n.field
	if field == "" {
		field = "*"
	}
	vals, ok := d.Values(field)
	if !ok {
		return false
	}
	v := strings.ToLower(n.value)
	for _, x := range vals {
		lx := strings.ToLower(x)
		switch {
		case n.phrase && strings.Contains(lx, v):
			return true
		case n.prefix && strings.HasPrefix(lx, v):
			return true
		case lx == v:
			return true
		case field == "*" && n.textMatch(x):
			return true
		}
	}
	return false
}

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ n node }
type allNode struct{}

func (n andNode) match(it *org.Item, o string) bool { return n.l.match(it, o) && n.r.match(it, o) }
func (n orNode) match(it *org.Item, o string) bool  { return n.l.match(it, o) || n.r.match(it, o) }
func (n notNode) match(it *org.Item, o string) bool { return !n.n.match(it, o) }
func (allNode) match(*org.Item, string) bool        { return true }

type termNode struct {
	field  string
	value  string // lower-cased unless the field is case-sensitive
	phrase bool
	prefix bool
}

type rangeNode struct {
	field  string
	lo, hi int64
	incl   bool
}

func (n rangeNode) match(it *org.Item, _ string) bool {
	var v int64
	switch n.field {
	case "created":
		v = it.Created
	case "modified":
		v = it.Modified
	default:
		return false
	}
	if n.incl {
		return v >= n.lo && v <= n.hi
	}
	return v > n.lo && v < n.hi
}

// textMatch matches a lower-cased value against s: phrases and prefixes as
// substrings/prefixes of words, bare words as whole words.
func (n termNode) textMatch(s string) bool {
	ls := strings.ToLower(s)
	if n.phrase {
		return strings.Contains(ls, n.value)
	}
	if n.prefix {
		for _, w := range strings.FieldsFunc(ls, isSep) {
			if strings.HasPrefix(w, n.value) {
				return true
			}
		}
		return false
	}
	for _, w := range strings.FieldsFunc(ls, isSep) {
		if w == n.value {
			return true
		}
	}
	return false
}

func isSep(r rune) bool {
	return r == ' ' || r == '\t' || r == '-' || r == '_' || r == '/' || r == ',' || r == '.' || r == ':' || r == '(' || r == ')'
}

func (n termNode) anyEqual(list []string) bool {
	for _, x := range list {
		lx := strings.ToLower(x)
		if lx == n.value || (n.prefix && strings.HasPrefix(lx, n.value)) {
			return true
		}
	}
	return false
}

func (n termNode) match(it *org.Item, orgID string) bool {
	switch n.field {
	case "id":
		return it.ID == n.value
	case "owner":
		if n.prefix {
			return strings.HasPrefix(it.Owner, n.value)
		}
		return it.Owner == n.value
	case "orgid", "accountid":
		return n.value == orgID
	case "type":
		lt := strings.ToLower(it.Type)
		if n.prefix {
			return strings.HasPrefix(lt, n.value)
		}
		return strings.Contains(lt, n.value)
	case "typekeywords":
		return n.anyEqual(it.Keywords())
	case "tags":
		return n.anyEqual(it.Tags)
	case "title":
		return n.textMatch(it.Title)
	case "snippet":
		return n.textMatch(it.Snippet)
	case "description":
		return n.textMatch(it.Description)
	case "name":
		return strings.EqualFold(it.Name, n.value) || (n.prefix && strings.HasPrefix(strings.ToLower(it.Name), n.value))
	case "access":
		return it.Access == n.value
	case "group":
		for _, g := range it.Groups {
			if g == n.value {
				return true
			}
		}
		return false
	case "":
		return n.textMatch(it.Title) || n.anyEqual(it.Tags) || n.textMatch(it.Snippet) || n.anyEqual(it.Keywords())
	}
	return false
}

// caseSensitive fields keep the value's case.
var caseSensitive = map[string]bool{"id": true, "owner": true, "orgid": true, "accountid": true, "group": true, "access": true}

// Error is a syntax error at a byte offset of the query.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("query syntax error at %d: %s", e.Pos, e.Msg) }

// Parse parses q. An empty q matches everything.
func Parse(q string) (*Query, error) {
	p := &parser{src: q}
	p.next()
	if p.tok.kind == tEOF {
		return &Query{root: allNode{}}, nil
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, &Error{p.tok.pos, fmt.Sprintf("unexpected %q", p.tok.text)}
	}
	return &Query{root: n}, nil
}

type tkind int

const (
	tEOF tkind = iota
	tWord
	tPhrase
	tLParen
	tRParen
	tLBracket // [ or {
	tRBracket // ] or }
	tColon
	tMinus
)

type token struct {
	kind tkind
	text string
	pos  int
}

type parser struct {
	src string
	pos int
	tok token
}

func (p *parser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '+') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{tEOF, "", start}
		return
	}
	c := p.src[p.pos]
	switch c {
	case '(':
		p.pos++
		p.tok = token{tLParen, "(", start}
	case ')':
		p.pos++
		p.tok = token{tRParen, ")", start}
	case '[', '{':
		p.pos++
		p.tok = token{tLBracket, string(c), start}
	case ']', '}':
		p.pos++
		p.tok = token{tRBracket, string(c), start}
	case ':':
		p.pos++
		p.tok = token{tColon, ":", start}
	case '-':
		p.pos++
		p.tok = token{tMinus, "-", start}
	case '"':
		end := strings.IndexByte(p.src[p.pos+1:], '"')
		if end < 0 {
			p.tok = token{tPhrase, p.src[p.pos+1:], start}
			p.pos = len(p.src)
			return
		}
		p.tok = token{tPhrase, p.src[p.pos+1 : p.pos+1+end], start}
		p.pos += end + 2
	default:
		for p.pos < len(p.src) && !strings.ContainsRune(" \t\n()[]{}:\"", rune(p.src[p.pos])) {
			p.pos++
		}
		p.tok = token{tWord, p.src[start:p.pos], start}
	}
}

func (p *parser) isOp(op string) bool { return p.tok.kind == tWord && p.tok.text == op }

func (p *parser) or() (node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isOp("OR") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *parser) and() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("AND"):
			p.next()
		case p.isOp("NOT"):
			// "a NOT b" means a AND NOT b; unary handles the NOT.
		case p.tok.kind == tEOF || p.tok.kind == tRParen || p.isOp("OR"):
			return l, nil
		}
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
}

func (p *parser) unary() (node, error) {
	if p.isOp("NOT") || p.tok.kind == tMinus {
		p.next()
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	return p.primary()
}

// group parses "( expression )", the current token being the "(".
func (p *parser) group() (node, error) {
	p.next()
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tRParen {
		return nil, &Error{p.tok.pos, "missing )"}
	}
	p.next()
	return n, nil
}

func (p *parser) primary() (node, error) {
	switch p.tok.kind {
	case tLParen:
		return p.group()
	case tPhrase:
		t := termNode{value: strings.ToLower(p.tok.text), phrase: true}
		p.next()
		return t, nil
	case tWord:
		w := p.tok.text
		p.next()
		if p.tok.kind == tColon {
			p.next()
			return p.fieldValue(strings.ToLower(w))
		}
		if w == "*" {
			return allNode{}, nil
		}
		return word("", w), nil
	}
	return nil, &Error{p.tok.pos, fmt.Sprintf("unexpected %q", p.tok.text)}
}

func word(field, w string) termNode {
	t := termNode{field: field, value: w}
	if strings.HasSuffix(w, "*") {
		t.prefix = true
		t.value = strings.TrimSuffix(w, "*")
	}
	if !caseSensitive[field] {
		t.value = strings.ToLower(t.value)
	}
	return t
}

func (p *parser) fieldValue(field string) (node, error) {
	switch p.tok.kind {
	case tPhrase:
		t := termNode{field: field, value: p.tok.text, phrase: true}
		if !caseSensitive[field] {
			t.value = strings.ToLower(t.value)
		}
		p.next()
		return t, nil
	case tWord:
		w := p.tok.text
		p.next()
		if w == "*" {
			return allNode{}, nil
		}
		return word(field, w), nil
	case tLParen:
		// field:(a OR b): apply the field to each bare term inside.
		n, err := p.group()
		if err != nil {
			return nil, err
		}
		return withField(n, field), nil
	case tLBracket:
		incl := p.tok.text == "["
		p.next()
		lo, err := p.bound(-1 << 62)
		if err != nil {
			return nil, err
		}
		if !p.isOp("TO") {
			return nil, &Error{p.tok.pos, "range needs TO"}
		}
		p.next()
		hi, err := p.bound(1 << 62)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRBracket {
			return nil, &Error{p.tok.pos, "range not closed"}
		}
		p.next()
		return rangeNode{field: field, lo: lo, hi: hi, incl: incl}, nil
	}
	return nil, &Error{p.tok.pos, "missing value after " + field + ":"}
}

func (p *parser) bound(open int64) (int64, error) {
	if p.tok.kind != tWord {
		return 0, &Error{p.tok.pos, "range bound expected"}
	}
	w := p.tok.text
	p.next()
	if w == "*" {
		return open, nil
	}
	v, err := strconv.ParseInt(w, 10, 64)
	if err != nil {
		return 0, &Error{p.tok.pos, fmt.Sprintf("range bound %q is not epoch milliseconds", w)}
	}
	return v, nil
}

func withField(n node, field string) node {
	switch x := n.(type) {
	case andNode:
		return andNode{withField(x.l, field), withField(x.r, field)}
	case orNode:
		return orNode{withField(x.l, field), withField(x.r, field)}
	case notNode:
		return notNode{withField(x.n, field)}
	case termNode:
		if x.field == "" {
			x.field = field
		}
		return x
	}
	return n
}
