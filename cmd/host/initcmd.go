package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

const initSynopsis = `Usage: host init plugin NAME [--dir DIR] [--sdk PATH]

Makes a Go plugin, outside this repository, in DIR/NAME (DIR defaults to
the current folder): a go.mod that takes the taskhost SDK from PATH (a
taskhost checkout; the current folder's when it is one), a task "NAME"
with a native test, its export stub, and a Makefile whose build target
writes NAME.wasm. Then:

    cd NAME && go test ./... && make build && cp NAME.wasm /path/to/plugins/`

var pluginName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func cmdInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("host init", initSynopsis, stderr)
	dir := fset.String("dir", ".", "the `folder` to make the plugin's folder in")
	sdkPath := fset.String("sdk", "", "a taskhost checkout (`path`) to take the SDK from; the current folder when it is one")
	var hf hostFlags
	pos, err := hf.parse(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "plugin" {
		fset.Usage()
		return usageErr("want init plugin NAME")
	}
	name := pos[1]
	if !pluginName.MatchString(name) {
		return usageErr("plugin name %q: lower-case letters, digits and _, starting with a letter", name)
	}
	root := *sdkPath
	if root == "" {
		root = "."
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !strings.HasPrefix(strings.TrimSpace(string(b)), "module taskhost.dev\n") {
		return usageErr("%s is not a taskhost checkout (no go.mod of module taskhost.dev): give --sdk PATH", root)
	}
	out := filepath.Join(*dir, name)
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s exists already; choose another name or --dir", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	goVersion := strings.TrimPrefix(strings.Fields(mustGoVersion(root))[0], "go")
	files := map[string]string{
		"go.mod":            fmt.Sprintf("module example.com/%s\n\ngo %s\n\nrequire taskhost.dev v0.0.0\n\n// The SDK comes from a taskhost checkout (taskhost.dev is not a public module).\nreplace taskhost.dev => %s\n", name, goVersion, root),
		"main.go":           strings.ReplaceAll(pluginMain, "NAME", name),
		"exports_wasip1.go": strings.ReplaceAll(pluginExports, "NAME", name),
		"main_test.go":      strings.ReplaceAll(pluginTest, "NAME", name),
		"Makefile":          strings.ReplaceAll(pluginMakefile, "NAME", name),
	}
	for f, text := range files {
		if err := os.WriteFile(filepath.Join(out, f), []byte(text), 0o644); err != nil {
			return err
		}
	}
	tidy := exec.CommandContext(ctx, "go", "mod", "tidy")
	tidy.Dir = out
	if b, err := tidy.CombinedOutput(); err != nil {
		return fmt.Errorf("go mod tidy in %s: %v\n%s", out, err, b)
	}
	fmt.Fprintf(stdout, "plugin %s made in %s\n  cd %s && go test ./... && make build   # writes %s.wasm\n", name, out, out, name)
	return nil
}

// mustGoVersion reads the go line of the checkout's go.mod.
func mustGoVersion(root string) string {
	b, _ := os.ReadFile(filepath.Join(root, "go.mod"))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "go "); ok {
			return "go" + strings.TrimSpace(v)
		}
	}
	return "go1.26"
}

const pluginMain = `// Package main is the NAME plugin: its tasks are ordinary Go functions,
// registered with the taskhost SDK, which does JSON, errors and metadata.
package main

import (
	"errors"

	"taskhost.dev/sdk"
)

// In is the task's input, Out its output: any JSON-decodable types.
type In struct {
	Name string ` + "`json:\"name\"`" + `
}

type Out struct {
	Greeting string ` + "`json:\"greeting\"`" + `
}

// NAME greets; an empty name is bad input, never retried.
func NAME(in In) (Out, error) {
	if in.Name == "" {
		return Out{}, sdk.BadInput(errors.New("name is empty"))
	}
	return Out{Greeting: "hello, " + in.Name}, nil
}

func init() { sdk.Register("NAME", NAME, sdk.Describe("greets by name")) }

func main() {}
`

const pluginExports = `package main

import "taskhost.dev/sdk"

// One stub per task: the host calls it.
//
//go:wasmexport NAME
func NAMEExport() int32 { return sdk.Serve("NAME") }
`

const pluginTest = `package main

import (
	"testing"

	"taskhost.dev/sdk"
)

// The task's logic runs natively, as it will in the sandbox.
func TestTask(t *testing.T) {
	out, err := sdk.Call("NAME", []byte(` + "`{\"name\":\"ann\"}`" + `))
	if err != nil || string(out) != ` + "`{\"greeting\":\"hello, ann\"}`" + ` {
		t.Fatalf("NAME = %s, %v", out, err)
	}
	if _, err := sdk.Call("NAME", []byte(` + "`{}`" + `)); err == nil {
		t.Fatal("an empty name was accepted")
	}
}
`

const pluginMakefile = `# build: NAME.wasm, to copy into a worker's plugins folder.
build:
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 go build -buildmode=c-shared -trimpath -ldflags="-s -w" -o NAME.wasm .

test:
	go test ./...

.PHONY: build test
`
