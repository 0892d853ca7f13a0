package aggregate

import (
	"fmt"
	"strings"
	"testing"
)

// The index finds every row by its key across growth, for inline and long
// keys, and tells apart keys whose hashes are equal.
func TestRowIndex(t *testing.T) {
	x := newRowIndex()
	keys := map[string]*Row{}
	for i := range 20000 {
		k := fmt.Sprintf("key-%d", i)
		if i%7 == 0 {
			k += strings.Repeat("L", inlineKey) // stored as a string
		}
		if x.find([]byte(k), x.hash([]byte(k))) != nil {
			t.Fatalf("%q found before insert", k)
		}
		r := &Row{}
		r.key.set([]byte(k))
		x.insert(r, x.hash([]byte(k)))
		keys[k] = r
	}
	for k, r := range keys {
		if got := x.find([]byte(k), x.hash([]byte(k))); got != r {
			t.Fatalf("%q: found %p, want %p", k, got, r)
		}
		if string(r.key.bytes()) != k {
			t.Fatalf("key bytes %q, want %q", r.key.bytes(), k)
		}
	}
	if len(x.rows) != len(keys) || 2*len(x.rows) > len(x.slots) {
		t.Fatalf("%d rows in %d slots", len(x.rows), len(x.slots))
	}
	// Same hash, different keys: the key decides.
	const h = 1<<63 | 12345
	a, b := &Row{}, &Row{}
	a.key.set([]byte("a"))
	b.key.set([]byte("b"))
	x.insert(a, h)
	x.insert(b, h)
	if x.find([]byte("a"), h) != a || x.find([]byte("b"), h) != b || x.find([]byte("c"), h) != nil {
		t.Fatal("keys with equal hashes mixed up")
	}
}
