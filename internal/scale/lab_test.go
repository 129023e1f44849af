package scale_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"taskhost.dev/internal/testplugins"
)

// A lab is a private network of its own on this machine: network
// namespaces joined by a bridge that lives in a namespace of its own, with
// addresses of subnet inside them only. Nothing in the root namespace
// gets an address of it, no route leads out of it, and the test (in the
// root namespace) only ever reaches it by running commands inside its
// namespaces (ip netns exec). Cleanup deletes the namespaces, and with
// them their links.
type lab struct {
	t       *testing.T
	prefix  string // namespace names start with it
	dir     string
	bin     string // the host binary
	plugins string // the core plugins
	mu      sync.Mutex
	procs   []*proc
}

// proc is a command started in a namespace; done closes when it exits.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// subnet is the private /24 used inside the lab's namespaces only.
const subnet = "10.231.77"

// The lab's hosts: their namespace suffix and last address byte.
var hosts = map[string]int{"eng": 1, "w1": 11, "w2": 12, "w3": 13, "cli": 20}

func newLab(t *testing.T) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the scale lab makes network namespaces: it runs as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the scale lab needs iproute2's ip")
	}
	sweepLabs()
	l := &lab{t: t, prefix: fmt.Sprintf("ths%d", os.Getpid()), dir: t.TempDir()}
	// The postgres user reads it: the test's temporary folder and its
	// parent, which the testing package makes 0700.
	os.Chmod(filepath.Dir(l.dir), 0o755)
	os.Chmod(l.dir, 0o755)
	l.bin = filepath.Join(l.dir, "host")
	build := exec.Command("go", "build", "-o", l.bin, "./cmd/host")
	build.Dir = testplugins.Root(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the host: %v\n%s", err, out)
	}
	l.plugins = testplugins.Core(t)
	t.Cleanup(l.teardown)
	br := l.ns("br")
	l.must("ip", "netns", "add", br)
	l.must("ip", "-n", br, "link", "add", "br0", "type", "bridge")
	l.must("ip", "-n", br, "link", "set", "br0", "up")
	for h, n := range hosts {
		ns := l.ns(h)
		l.must("ip", "netns", "add", ns)
		l.must("ip", "-n", br, "link", "add", "v"+h, "type", "veth", "peer", "name", "eth0", "netns", ns)
		l.must("ip", "-n", br, "link", "set", "v"+h, "master", "br0", "up")
		l.must("ip", "-n", ns, "addr", "add", fmt.Sprintf("%s.%d/24", subnet, n), "dev", "eth0")
		l.must("ip", "-n", ns, "link", "set", "eth0", "up")
		l.must("ip", "-n", ns, "link", "set", "lo", "up")
	}
	return l
}

func (l *lab) ns(host string) string { return l.prefix + host }

// addr is a lab host's address.
func addr(host string) string { return fmt.Sprintf("%s.%d", subnet, hosts[host]) }

func (l *lab) must(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cut takes a host's link down (up again with mend).
func (l *lab) cut(host string)  { l.must("ip", "-n", l.ns("br"), "link", "set", "v"+host, "down") }
func (l *lab) mend(host string) { l.must("ip", "-n", l.ns("br"), "link", "set", "v"+host, "up") }

// start runs a command in a host's namespace, its output to log.
func (l *lab) start(host, log string, args ...string) *proc {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns(host)}, args...)...)
	f, err := os.Create(log)
	if err != nil {
		l.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("starting %v: %v", args, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	return p
}

// run runs a command in a host's namespace and returns its output.
func (l *lab) run(ctx context.Context, host string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns(host)}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), nil
}

// kill sends sig to a started command's process group.
func kill(p *proc, sig syscall.Signal) {
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// stop sends sig and waits for the process to end (up to 30 s, then it is
// killed).
func stop(p *proc, sig syscall.Signal) {
	kill(p, sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		kill(p, syscall.SIGKILL)
		<-p.done
	}
}

// sweepLabs deletes the namespaces of labs whose test process is gone (a
// test killed by its timeout runs no cleanup), with what runs in them.
func sweepLabs() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(line, " ")
		var pid int
		var rest string
		if n, _ := fmt.Sscanf(name, "ths%d%s", &pid, &rest); n < 1 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // a lab of a test still running
		}
		pids, _ := exec.Command("ip", "netns", "pids", name).Output()
		for _, p := range strings.Fields(string(pids)) {
			exec.Command("kill", "-9", p).Run()
		}
		exec.Command("ip", "netns", "del", name).Run()
	}
}

func (l *lab) teardown() {
	l.mu.Lock()
	for _, p := range l.procs {
		kill(p, syscall.SIGKILL)
	}
	l.mu.Unlock()
	for h := range hosts {
		exec.Command("ip", "netns", "del", l.ns(h)).Run()
	}
	exec.Command("ip", "netns", "del", l.ns("br")).Run()
}

// eventually polls ok every 100 ms for up to d.
func eventually(d time.Duration, ok func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return ok()
}

// attempts counts, from the workers' JSON logs, the attempts of each task
// id (the worker's one line per attempt).
func attempts(logs ...string) map[string]int {
	n := map[string]int{}
	for _, log := range logs {
		f, err := os.Open(log)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Msg string `json:"msg"`
				ID  string `json:"id"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && (line.Msg == "task succeeded" || line.Msg == "task failed") && line.ID != "" {
				n[line.ID]++
			}
		}
		f.Close()
	}
	return n
}
