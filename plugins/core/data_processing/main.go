// Command data_processing is a core plugin: word_count, csv_to_json,
// select_fields and sha256.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode"

	"taskhost.dev/sdk"
)

func init() {
	sdk.Register("word_count", wordCount, sdk.Describe(`counts words: {"text":"a b a"} gives {"words":3,"unique":2,...}`))
	sdk.Register("csv_to_json", csvToJSON, sdk.Describe(`parses CSV with a header row: {"csv":"..."} gives {"records":[...]}`))
	sdk.Register("select_fields", selectFields, sdk.Describe(`keeps and renames fields of JSON records`))
	sdk.Register("sha256", sha256Hex, sdk.Describe(`hex SHA-256 of a text: {"text":"abc"} gives {"sha256":"ba78..."}`))
}

func main() {}

// TextInput is the input of word_count and sha256.
type TextInput struct {
	Text *string `json:"text"`
}

// WordCount is the output of word_count.
type WordCount struct {
	Words      int         `json:"words"`
	Unique     int         `json:"unique"`
	Lines      int         `json:"lines"`
	Characters int         `json:"characters"`
	Top        []WordTally `json:"top"`
}

// WordTally is one word and how often it occurs.
type WordTally struct {
	Word  string `json:"word"`
	Count int    `json:"count"`
}

func wordCount(in TextInput) (WordCount, error) {
	if in.Text == nil {
		return WordCount{}, sdk.BadInput(errors.New(`word_count needs "text"`))
	}
	text := *in.Text
	words := strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '\'' })
	counts := map[string]int{}
	for _, w := range words {
		counts[strings.ToLower(w)]++
	}
	out := WordCount{Words: len(words), Unique: len(counts), Characters: len([]rune(text))}
	if text != "" {
		out.Lines = strings.Count(strings.TrimSuffix(text, "\n"), "\n") + 1
	}
	for w, c := range counts {
		out.Top = append(out.Top, WordTally{w, c})
	}
	sort.Slice(out.Top, func(i, j int) bool {
		if out.Top[i].Count != out.Top[j].Count {
			return out.Top[i].Count > out.Top[j].Count
		}
		return out.Top[i].Word < out.Top[j].Word
	})
	if len(out.Top) > 10 {
		out.Top = out.Top[:10]
	}
	if out.Top == nil {
		out.Top = []WordTally{}
	}
	return out, nil
}

// CSVInput is the input of csv_to_json.
type CSVInput struct {
	CSV       *string `json:"csv"`
	Delimiter string  `json:"delimiter"`
}

// Records is a list of JSON objects.
type Records struct {
	Records []map[string]any `json:"records"`
}

func csvToJSON(in CSVInput) (Records, error) {
	if in.CSV == nil {
		return Records{}, sdk.BadInput(errors.New(`csv_to_json needs "csv"`))
	}
	r := csv.NewReader(strings.NewReader(*in.CSV))
	if in.Delimiter != "" {
		d := []rune(in.Delimiter)
		if len(d) != 1 {
			return Records{}, sdk.BadInput(fmt.Errorf("delimiter %q must be one character", in.Delimiter))
		}
		r.Comma = d[0]
	}
	header, err := r.Read()
	if err == io.EOF {
		return Records{Records: []map[string]any{}}, nil
	}
	if err != nil {
		return Records{}, sdk.BadInput(fmt.Errorf("reading the header row: %w", err))
	}
	out := Records{Records: []map[string]any{}}
	for {
		row, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return Records{}, sdk.BadInput(fmt.Errorf("reading CSV: %w", err))
		}
		rec := make(map[string]any, len(header))
		for i, h := range header {
			rec[h] = row[i]
		}
		out.Records = append(out.Records, rec)
	}
}

// SelectInput is the input of select_fields: the fields to keep, in order,
// and optional new names for them.
type SelectInput struct {
	Records []json.RawMessage `json:"records"`
	Fields  []string          `json:"fields"`
	Rename  map[string]string `json:"rename"`
}

// SelectOutput is the output of select_fields; each record keeps only the
// chosen fields, renamed. A missing field is left out.
type SelectOutput struct {
	Records []json.RawMessage `json:"records"`
}

func selectFields(in SelectInput) (SelectOutput, error) {
	if len(in.Fields) == 0 {
		return SelectOutput{}, sdk.BadInput(errors.New(`select_fields needs "fields", the names of the fields to keep`))
	}
	out := SelectOutput{Records: make([]json.RawMessage, 0, len(in.Records))}
	for i, raw := range in.Records {
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(raw, &rec); err != nil {
			return SelectOutput{}, sdk.BadInput(fmt.Errorf("record %d is not a JSON object", i))
		}
		var b bytes.Buffer
		b.WriteByte('{')
		n := 0
		for _, f := range in.Fields {
			v, ok := rec[f]
			if !ok {
				continue
			}
			name := f
			if r, ok := in.Rename[f]; ok {
				name = r
			}
			if n > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(name)
			b.Write(k)
			b.WriteByte(':')
			b.Write(v)
			n++
		}
		b.WriteByte('}')
		out.Records = append(out.Records, b.Bytes())
	}
	return out, nil
}

// Digest is the output of sha256.
type Digest struct {
	SHA256 string `json:"sha256"`
}

func sha256Hex(in TextInput) (Digest, error) {
	if in.Text == nil {
		return Digest{}, sdk.BadInput(errors.New(`sha256 needs "text"`))
	}
	sum := sha256.Sum256([]byte(*in.Text))
	return Digest{SHA256: hex.EncodeToString(sum[:])}, nil
}
