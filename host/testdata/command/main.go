// Command command is a plain WASI command (a Go program built without
// -buildmode=c-shared) for the host's tests of tasks whose function is
// _start: it reads its input on stdin and writes its output to stdout.
//
//	"fail"      writes to stderr and exits with code 3
//	"big N"     writes N bytes of x to stdout
//	"log N"     writes N lines to stderr, then "done" to stdout
//	otherwise   writes "hello, INPUT" to stdout and a line to stderr
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading stdin:", err)
		os.Exit(1)
	}
	text := string(in)
	var n int
	switch {
	case text == "fail":
		fmt.Fprintln(os.Stderr, "command: cannot handle this input")
		os.Exit(3)
	case sscan(text, "big %d", &n):
		os.Stdout.WriteString(strings.Repeat("x", n))
	case sscan(text, "log %d", &n):
		for i := range n {
			fmt.Fprintf(os.Stderr, "line %d %s\n", i, strings.Repeat("y", 100))
		}
		fmt.Print("done")
	default:
		fmt.Fprintln(os.Stderr, "command: greeting", text)
		fmt.Print("hello, " + text)
	}
}

func sscan(s, format string, n *int) bool {
	_, err := fmt.Sscanf(s, format, n)
	return err == nil
}
