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
	"testing"
)

// Eidastatsd is the daemon's main package.
const Eidastatsd = "github.com/eida/eidastatsd/cmd/eidastatsd"

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

// MustBuild is Build for TestMain, where a failed build ends the run.
func MustBuild(pkg string) string {
	bin, err := Build(pkg)
	if err != nil {
		panic(err)
	}
	return bin
}

// Main runs a package's tests and then removes what Build built for them:
// func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }.
func Main(m *testing.M) int {
	defer Cleanup()
	return m.Run()
}
