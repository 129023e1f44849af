// Command connector_tasks is an enterprise plugin that reaches outside the
// sandbox only where the manifest allows: fetch_url (hosts in
// allowed_hosts) and read_file / list_dir (folders in allowed_paths, mounted
// read-only).
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"taskhost.dev/sdk"
)

func init() {
	sdk.Register("fetch_url", fetchURL, sdk.Describe(`an HTTP GET or POST: {"url":"https://...","method":"GET"} gives {"status":200,"body":"..."}`))
	sdk.Register("read_file", readFile, sdk.Describe(`a file under an allowed path: {"path":"/data/a.txt"} gives {"content":"...","size":N}`))
	sdk.Register("list_dir", listDir, sdk.Describe(`a folder under an allowed path: {"path":"/data"} gives {"entries":[{"name":"a.txt","size":N,"dir":false}]}`))
}

func main() {}

// send performs an HTTP request: the host's, which checks allowed_hosts.
var send = sdk.HTTP

// FetchInput is fetch_url's input.
type FetchInput struct {
	URL     string            `json:"url"`
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// FetchOutput is fetch_url's output; a body that is not UTF-8 text is
// refused rather than mangled.
type FetchOutput struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

func fetchURL(in FetchInput) (FetchOutput, error) {
	if !strings.HasPrefix(in.URL, "http://") && !strings.HasPrefix(in.URL, "https://") {
		return FetchOutput{}, sdk.BadInput(fmt.Errorf("url %q: want an http:// or https:// URL", in.URL))
	}
	method := strings.ToUpper(in.Method)
	if method == "" {
		method = "GET"
	}
	if method != "GET" && method != "POST" {
		return FetchOutput{}, sdk.BadInput(fmt.Errorf("method %q: want GET or POST", in.Method))
	}
	var body []byte
	if in.Body != "" {
		body = []byte(in.Body)
	}
	status, resp, err := send(method, in.URL, in.Headers, body)
	if err != nil {
		return FetchOutput{}, fmt.Errorf("%s %s: %w", method, in.URL, err)
	}
	if !utf8.Valid(resp) {
		return FetchOutput{}, sdk.Permanent(fmt.Errorf("%s %s: the body (%d bytes) is not UTF-8 text", method, in.URL, len(resp)))
	}
	return FetchOutput{Status: status, Body: string(resp)}, nil
}

// PathInput is the input of read_file and list_dir.
type PathInput struct {
	Path string `json:"path"`
}

// FileOutput is read_file's output.
type FileOutput struct {
	Content string `json:"content"`
	Size    int    `json:"size"`
}

func readFile(in PathInput) (FileOutput, error) {
	if in.Path == "" {
		return FileOutput{}, sdk.BadInput(errors.New(`read_file needs "path"`))
	}
	b, err := os.ReadFile(in.Path)
	if err != nil {
		return FileOutput{}, pathError(err)
	}
	if !utf8.Valid(b) {
		return FileOutput{}, sdk.Permanent(fmt.Errorf("%s is not UTF-8 text", in.Path))
	}
	return FileOutput{Content: string(b), Size: len(b)}, nil
}

// Entry is one folder entry.
type Entry struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	Dir  bool   `json:"dir"`
}

// DirOutput is list_dir's output, sorted by name.
type DirOutput struct {
	Entries []Entry `json:"entries"`
}

func listDir(in PathInput) (DirOutput, error) {
	if in.Path == "" {
		return DirOutput{}, sdk.BadInput(errors.New(`list_dir needs "path"`))
	}
	des, err := os.ReadDir(in.Path)
	if err != nil {
		return DirOutput{}, pathError(err)
	}
	out := DirOutput{Entries: []Entry{}}
	for _, d := range des {
		e := Entry{Name: d.Name(), Dir: d.IsDir()}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			e.Size = info.Size()
		}
		out.Entries = append(out.Entries, e)
	}
	sort.Slice(out.Entries, func(i, j int) bool { return out.Entries[i].Name < out.Entries[j].Name })
	return out, nil
}

// pathError makes a missing file a permanent failure: retrying will not
// make it appear.
func pathError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return sdk.Permanent(err)
	}
	return err
}
