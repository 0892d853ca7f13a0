package seiscompcfg

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func parseString(t testing.TB, text string, env map[string]string) *Config {
	t.Helper()
	c := NewConfig(func(k string) string { return env[k] }, "/home/sysop")
	c.open = func(string) (io.ReadCloser, error) { return nil, errors.New("no includes here") }
	if err := c.Parse(strings.NewReader(text), "test.cfg", ""); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		key     string
		want    []string
		wantErr string
	}{
		{"plain", "a = b", "a", []string{"b"}, ""},
		{"no spaces", "a=b", "a", []string{"b"}, ""},
		{"list", "a = x, y ,z", "a", []string{"x", "y", "z"}, ""},
		{"spaces removed outside quotes", "a = hello world", "a", []string{"helloworld"}, ""},
		{"quoted keeps spaces and commas", `a = "x, y", z`, "a", []string{"x, y", "z"}, ""},
		{"empty string", `a = ""`, "a", []string{""}, ""},
		{"quote concatenation", `a = "x"y"z"`, "a", []string{"xyz"}, ""},
		{"escaped comma", `a = x\,y`, "a", []string{"x,y"}, ""},
		{"escaped quote in string", `a = "say \"hi\""`, "a", []string{`say \hi"`}, ""},
		{"comment", "a = b # c", "a", []string{"b"}, ""},
		{"hash in quotes", `a = "b # c"`, "a", []string{"b # c"}, ""},
		{"continuation", "a = x,\\\n y", "a", []string{"x", "y"}, ""},
		// As in SeisComP, a comment line ends a continued entry.
		{"continuation ended by a comment line", "a = x\\\n# c\n,y", "", nil, "invalid entry: ,y"},
		{"namespace", "ns {\n a = 1\n inner {\n  b = 2\n }\n}", "ns.inner.b", []string{"2"}, ""},
		{"namespace closed", "ns {\n a = 1\n}\nb = 2", "b", []string{"2"}, ""},
		{"dotted name", "ns.a = 1", "ns.a", []string{"1"}, ""},
		{"override", "a = 1\na = 2", "a", []string{"2"}, ""},
		{"env ref", "a = ${E}/x", "a", []string{"/e/x"}, ""},
		{"bare ref takes rest", "a = $E", "a", []string{"/e"}, ""},
		{"bare ref with suffix is one name", "a = $E/x", "", nil, "cannot resolve 'E/x'"},
		{"param ref list", "l = 1, 2\na = ${l}", "a", []string{"1", "2"}, ""},
		{"undefined ref in list is dropped", "a = x, ${NOPE}, y", "a", []string{"x", "y"}, ""},
		{"undefined ref alone", "a = ${NOPE}", "", nil, "cannot resolve 'NOPE'"},
		{"dollar in quotes is literal", `a = "$E"`, "a", []string{"$E"}, ""},
		{"missing brace", "a = ${E", "", nil, "missing brace"},
		{"stand-alone dollar", "a = $", "", nil, "stand-alone reference"},
		{"invalid list", "a = x,,y", "", nil, "invalid list"},
		{"trailing comma", "a = x,", "", nil, "invalid list"},
		{"no value", "a =", "", nil, "rvalue missing"},
		{"unterminated", `a = "x`, "", nil, "missing terminating"},
		{"one token", "a", "", nil, "too few parameters"},
		{"stray close", "}", "", nil, "unexpected closing block"},
		{"unclosed namespace", "ns {\na = 1", "", nil, "namespace 'ns' has not been closed"},
		{"assign to rvalue", "$a = 1", "", nil, "cannot assign to rvalue"},
		{"garbage", "a b c", "", nil, "invalid entry"},
		{"crlf", "a = b\r\n", "a", []string{"b"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parseString(t, tt.text, map[string]string{"E": "/e"})
			if tt.wantErr != "" {
				if len(c.Errors) == 0 || !strings.Contains(errors.Join(c.Errors...).Error(), tt.wantErr) {
					t.Fatalf("errors %v, want %q", c.Errors, tt.wantErr)
				}
				return
			}
			if len(c.Errors) > 0 {
				t.Fatalf("unexpected errors: %v", c.Errors)
			}
			got := c.Symbols[tt.key].Values
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s = %q, want %q (symbols %v)", tt.key, got, tt.want, c.Symbols)
			}
		})
	}
}

func TestParseLineNumbers(t *testing.T) {
	c := parseString(t, "# header\n\na = 1\nb = x,\\\n  y\n", nil)
	if got := c.Symbols["a"].Line; got != 3 {
		t.Errorf("a at line %d, want 3", got)
	}
	if got := c.Symbols["b"].Line; got != 5 {
		t.Errorf("b at line %d, want 5 (the last line of a continued entry)", got)
	}
}

// FuzzParse checks that no input crashes the parser, and that simple values
// written the way SeisComP writes them read back unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"requestLog = @LOGDIR@/fdsnws-requests.log\n",
		"a = \"x, y\", z # c\n",
		"ns {\n a = ${E}\n}\n",
		"a = x\\\n y\n",
		"include ~/x.cfg\n",
		"del a\n",
		"a = $\n",
		"\"\\\"\"=\"\n",
	} {
		f.Add(s, "value")
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		c := parseString(t, text, map[string]string{"E": "/e"})
		for name := range c.Symbols {
			if name == "" {
				t.Errorf("empty symbol name from %q", text)
			}
		}
		for _, r := range value {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@/._-+: ~", r)) {
				return
			}
		}
		c = parseString(t, "key = \""+value+"\"\n", nil)
		if got := c.Symbols["key"].Values; len(c.Errors) > 0 || !reflect.DeepEqual(got, []string{value}) {
			t.Errorf("round trip of %q: got %q, errors %v", value, got, c.Errors)
		}
	})
}
