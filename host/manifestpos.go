package host

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Where each key of a manifest is. BurntSushi/toml decodes the manifest,
// but its metadata keeps one position per key path, the last: for the
// second [[plugin]]'s max_memory it would name the third's. So the
// manifest is also read by go-toml's parser, whose every node has its
// place in the text, into an index of every key under its full path with
// the array-of-tables indices in it ("plugin.1.limits.max_memory").

// keyPos is one key of the manifest.
type keyPos struct {
	path     string        // full path, indices included
	line     int           // 1-based line of the key
	kind     unstable.Kind // the value's kind
	value    any           // the value, for the checks (string, int64, float64, bool, []any)
	valStart int           // byte offsets of the value's text
	valEnd   int
}

// positions indexes a manifest's keys and table headers.
type positions struct {
	keys   []keyPos       // in file order
	byPath map[string]int // path -> index into keys
	tables map[string]int // table path -> 1-based line of its header (or inline key)
}

// indexPositions reads data with go-toml's parser; a syntax error is a
// ManifestError at its line.
func indexPositions(file string, data []byte) (*positions, error) {
	ps := &positions{byPath: map[string]int{}, tables: map[string]int{}}
	var p unstable.Parser
	p.Reset(data)
	arrays := map[string]int{} // resolved array-of-tables path -> index of its current entry
	current := ""
	line := func(r unstable.Range) int { return p.Shape(r).Start.Line }
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			var segs []string
			var first unstable.Range
			it := e.Key()
			for it.Next() {
				if len(segs) == 0 {
					first = it.Node().Raw
				}
				segs = append(segs, string(it.Node().Data))
			}
			res := ""
			for i, s := range segs {
				res = join(res, s)
				n, isArray := arrays[res]
				if e.Kind == unstable.ArrayTable && i == len(segs)-1 {
					if !isArray {
						n = -1
					}
					n++
					arrays[res] = n
					isArray = true
				}
				if isArray {
					res = join(res, strconv.Itoa(n))
				}
			}
			current = res
			ps.tables[current] = line(first)
		case unstable.KeyValue:
			ps.keyValue(&p, e, current, line)
		}
	}
	if err := p.Error(); err != nil {
		msg := err.Error()
		ln := 0
		var perr *unstable.ParserError
		if pe, ok := err.(*unstable.ParserError); ok {
			perr = pe
		}
		if perr != nil && len(perr.Highlight) > 0 && bytes.Contains(data, perr.Highlight) {
			ln = p.Shape(p.Range(perr.Highlight)).Start.Line
			msg = perr.Message
		}
		return nil, &ManifestError{File: file, Line: ln, Msg: "not valid TOML: " + msg + " (see the TOML syntax at that line)"}
	}
	return ps, nil
}

// keyValue indexes a key = value, and the keys of an inline table or of an
// array of inline tables under it.
func (ps *positions) keyValue(p *unstable.Parser, e *unstable.Node, table string, line func(unstable.Range) int) {
	path := table
	var first unstable.Range
	it := e.Key()
	for n := 0; it.Next(); n++ {
		if n == 0 {
			first = it.Node().Raw
		}
		path = join(path, string(it.Node().Data))
	}
	v := e.Value()
	kp := keyPos{path: path, line: line(first), kind: v.Kind}
	kp.value = nodeValue(v)
	kp.valStart, kp.valEnd = valueRange(p, e, v)
	ps.byPath[path] = len(ps.keys)
	ps.keys = append(ps.keys, kp)
	switch v.Kind {
	case unstable.InlineTable:
		ps.tables[path] = kp.line
		ch := v.Children()
		for ch.Next() {
			ps.keyValue(p, ch.Node(), path, line)
		}
	case unstable.Array:
		ch := v.Children()
		for i := 0; ch.Next(); i++ {
			if el := ch.Node(); el.Kind == unstable.InlineTable {
				sub := join(path, strconv.Itoa(i))
				ps.tables[sub] = kp.line
				elc := el.Children()
				for elc.Next() {
					ps.keyValue(p, elc.Node(), sub, line)
				}
			}
		}
	}
}

// nodeValue is a scalar's or array's value as BurntSushi's decoder would
// hand it to an UnmarshalTOML method; nil for tables.
func nodeValue(n *unstable.Node) any {
	switch n.Kind {
	case unstable.String:
		return string(n.Data)
	case unstable.Bool:
		return string(n.Data) == "true"
	case unstable.Integer:
		v, err := strconv.ParseInt(strings.ReplaceAll(string(n.Data), "_", ""), 0, 64)
		if err != nil {
			return string(n.Data)
		}
		return v
	case unstable.Float:
		v, _ := strconv.ParseFloat(strings.ReplaceAll(string(n.Data), "_", ""), 64)
		return v
	case unstable.Array:
		var out []any
		ch := n.Children()
		for ch.Next() {
			out = append(out, nodeValue(ch.Node()))
		}
		return out
	case unstable.LocalDate, unstable.LocalDateTime, unstable.DateTime, unstable.LocalTime:
		return string(n.Data)
	}
	return nil
}

// valueRange is the byte range of a key's value text: from the first byte
// after "=" that is not a space to the end of the value (for an array or
// inline table, its closing bracket).
func valueRange(p *unstable.Parser, kv, v *unstable.Node) (int, int) {
	data := p.Data()
	var keyEnd int
	it := kv.Key()
	for it.Next() {
		r := it.Node().Raw
		keyEnd = int(r.Offset + r.Length)
	}
	start := keyEnd
	for start < len(data) && data[start] != '=' {
		start++
	}
	start++
	for start < len(data) && (data[start] == ' ' || data[start] == '\t') {
		start++
	}
	if v.Kind != unstable.Array && v.Kind != unstable.InlineTable {
		if v.Raw.Length > 0 {
			return int(v.Raw.Offset), int(v.Raw.Offset + v.Raw.Length)
		}
		end := start
		for end < len(data) && data[end] != '\n' && data[end] != '#' {
			end++
		}
		return start, len(bytes.TrimRight(data[:end], " \t\r"))
	}
	// A bracketed value: find its closing bracket, skipping strings and
	// comments.
	open, closing := byte('['), byte(']')
	if v.Kind == unstable.InlineTable {
		open, closing = '{', '}'
	}
	depth := 0
	for i := start; i < len(data); i++ {
		switch c := data[i]; {
		case c == '#':
			for i < len(data) && data[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			for i++; i < len(data) && data[i] != c; i++ {
				if c == '"' && data[i] == '\\' {
					i++
				}
			}
		case c == open:
			depth++
		case c == closing:
			if depth--; depth == 0 {
				return start, i + 1
			}
		}
	}
	return start, len(data)
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// line returns the line of the key at path (parts joined with dots, ints
// as indices), else of its nearest table, else 0.
func (ps *positions) line(parts ...any) int {
	if ps == nil {
		return 0
	}
	path := pathOf(parts...)
	for path != "" {
		if i, ok := ps.byPath[path]; ok {
			return ps.keys[i].line
		}
		if l, ok := ps.tables[path]; ok {
			return l
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func pathOf(parts ...any) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, p)
	}
	return b.String()
}

// key returns the key at path.
func (ps *positions) key(parts ...any) (keyPos, bool) {
	if ps == nil {
		return keyPos{}, false
	}
	i, ok := ps.byPath[pathOf(parts...)]
	if !ok {
		return keyPos{}, false
	}
	return ps.keys[i], true
}
