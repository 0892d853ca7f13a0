// Package testbin builds the project's commands for tests that drive the
// real binaries, once per test process.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
)

// Build compiles the main package pkg (an import path, e.g.
// "github.com/eida/eidastatsd/cmd/eidastatsd") and returns the binary's
// path; later calls return the same binary.
func Build(pkg string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p, nil
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "eidastatsd-testbin")
		if err != nil {
			return "", err
		}
		dir = d
	}
	bin := filepath.Join(dir, path.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = bin
	return bin, nil
}

// Cleanup removes the built binaries (call it from TestMain after m.Run).
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir, built = "", map[string]string{}
	}
}
