// Command hostile is a plugin that misbehaves on purpose, one task per way,
// for the host's sandbox tests. It also has a well-behaved task, ok.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/extism/go-pdk"

	"taskhost.dev/sdk"
)

func init() {
	sdk.RegisterRaw("ok", func(in []byte) ([]byte, error) { return in, nil })
	sdk.RegisterRaw("loop", func([]byte) ([]byte, error) {
		n := 0
		for {
			n++
		}
	})
	sdk.RegisterRaw("announced_loop", func([]byte) ([]byte, error) {
		sdk.Log(slog.LevelWarn, "spinning now")
		n := 0
		for {
			n++
		}
	})
	sdk.RegisterRaw("membomb", func([]byte) ([]byte, error) {
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1 // touch every page: resident, not just reserved
			}
			keep = append(keep, b)
		}
	})
	sdk.RegisterRaw("panic", func([]byte) ([]byte, error) { panic("boom") })
	sdk.RegisterRaw("recurse", func([]byte) ([]byte, error) { return nil, errors.New(string(rune(recurse(0)))) })
	sdk.RegisterRaw("bigoutput", func([]byte) ([]byte, error) {
		return []byte(`"` + strings.Repeat("x", 2<<20) + `"`), nil
	})
	sdk.Register("readfile", func(in pathInput) (string, error) {
		if in.Path == "" {
			in.Path = "/etc/passwd"
		}
		b, err := os.ReadFile(in.Path)
		if err != nil {
			return "", err
		}
		return string(b), nil
	})
	sdk.Register("logflood", func(in floodInput) (int, error) {
		pad := strings.Repeat("z", 1000)
		for i := range in.Lines {
			line := fmt.Sprintf("flood line %06d %s", i, pad)
			if in.Stdout {
				fmt.Println(line)
			} else {
				sdk.Log(slog.LevelInfo, line)
			}
		}
		return in.Lines, nil
	})
	sdk.Register("http", func(in urlInput) (httpOutput, error) {
		if in.URL == "" {
			in.URL = "http://example.com/"
		}
		resp := pdk.NewHTTPRequest(pdk.MethodGet, in.URL).Send()
		return httpOutput{Status: int(resp.Status()), Body: string(resp.Body())}, nil
	})
}

type pathInput struct {
	Path string `json:"path"`
}

// floodInput asks logflood for Lines distinct lines of about 1 KiB, logged
// at info or, with Stdout, printed.
type floodInput struct {
	Lines  int  `json:"lines"`
	Stdout bool `json:"stdout"`
}

type urlInput struct {
	URL string `json:"url"`
}

type httpOutput struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

func recurse(n int) int {
	var pad [64]byte
	pad[n%64] = byte(n)
	return recurse(n+1) + int(pad[0])
}

func main() {}
