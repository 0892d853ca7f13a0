package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type doc struct{ N int }

func TestSaveLoadGenerations(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	var d doc
	if _, _, err := s.Load(&d); !errors.Is(err, ErrNone) {
		t.Fatalf("fresh dir: %v", err)
	}
	for i := 1; i <= 3; i++ {
		if err := s.Save(doc{i}); err != nil {
			t.Fatal(err)
		}
	}
	used, problem, err := s.Load(&d)
	if err != nil || problem != nil || d.N != 3 || filepath.Base(used) != fileName {
		t.Fatalf("%v %v %d %s", err, problem, d.N, used)
	}
	left, _ := filepath.Glob(filepath.Join(s.Dir, ".state*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestCorruptFallsBack(t *testing.T) {
	corruptions := map[string]func(string){
		"empty":     func(p string) { os.WriteFile(p, nil, 0o600) },
		"nul":       func(p string) { os.WriteFile(p, make([]byte, 4096), 0o600) },
		"truncated": func(p string) { b, _ := os.ReadFile(p); os.WriteFile(p, b[:len(b)-3], 0o600) },
		"bitflip":   func(p string) { b, _ := os.ReadFile(p); b[len(b)-2] ^= 1; os.WriteFile(p, b, 0o600) },
		"removed":   func(p string) { os.Remove(p) },
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			s := Store{Dir: t.TempDir()}
			s.Save(doc{1})
			s.Save(doc{2})
			corrupt(filepath.Join(s.Dir, fileName))
			var d doc
			used, problem, err := s.Load(&d)
			if err != nil || d.N != 1 || filepath.Base(used) != prevName {
				t.Fatalf("used %s problem %v err %v n=%d", used, problem, err, d.N)
			}
			if name != "removed" && problem == nil {
				t.Fatal("problem with the current generation not reported")
			}
			// The damaged file does not become the previous generation at
			// the next save: both generations are usable.
			if err := s.Save(doc{3}); err != nil {
				t.Fatal(err)
			}
			var cur, prev doc
			if err := readChecked(filepath.Join(s.Dir, fileName), &cur); err != nil || cur.N != 3 {
				t.Fatalf("current after save: %v n=%d", err, cur.N)
			}
			if err := readChecked(filepath.Join(s.Dir, prevName), &prev); err != nil || prev.N != 1 {
				t.Fatalf("previous after save: %v n=%d", err, prev.N)
			}
		})
	}
}

func TestBothCorrupt(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	s.Save(doc{1})
	s.Save(doc{2})
	os.WriteFile(filepath.Join(s.Dir, fileName), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(s.Dir, prevName), []byte("y"), 0o600)
	var d doc
	_, _, err := s.Load(&d)
	if err == nil || errors.Is(err, ErrNone) || !strings.Contains(err.Error(), "no usable generation") {
		t.Fatalf("err %v", err)
	}
}

func TestReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if err := (Store{Dir: dir}).Save(doc{1}); err == nil {
		t.Fatal("save into a read-only dir succeeded")
	}
}
