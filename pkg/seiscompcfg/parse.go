package seiscompcfg

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// This file mirrors Seiscomp::Config::Config (libs/seiscomp/config/config.cpp:
// parseFile, handleEntry, tokenize, parseRValue, handleInclude) closely, so
// that eidastatsd reads fdsnws.cfg the way fdsnws itself does. The odd
// corners (e.g. "$VAR/x" naming the variable "VAR/x", tokens joined without
// spaces) are deliberate: they are SeisComP's behaviour.

// nullObject marks an unresolvable reference, as CONF_NULL_OBJECT does.
const nullObject = "\x00null\x00"

// maxIncludeDepth guards against include chains SeisComP's visited-file
// check would not catch (the same file under different relative names).
const maxIncludeDepth = 32

// Symbol is one assigned parameter.
type Symbol struct {
	Values []string
	File   string
	Line   int
}

// Config is the symbol table built from one or more files, later files
// overriding earlier ones, like SeisComP's configuration stages.
type Config struct {
	Symbols map[string]Symbol
	// Errors are syntax errors with file and line; SeisComP refuses to start
	// a module whose configuration has any.
	Errors []error

	env      func(string) string
	home     string
	open     func(string) (io.ReadCloser, error)
	included map[string]bool
	depth    int
}

// NewConfig returns an empty symbol table. env resolves $VAR and ${VAR}
// references that are not parameters, home expands "~" in include paths.
func NewConfig(env func(string) string, home string) *Config {
	return &Config{
		Symbols:  map[string]Symbol{},
		env:      env,
		home:     home,
		open:     func(p string) (io.ReadCloser, error) { return os.Open(p) },
		included: map[string]bool{},
	}
}

// Get returns the first value of a parameter, as Config::getString does.
func (c *Config) Get(name string) (string, Symbol, bool) {
	s, ok := c.Symbols[name]
	if !ok || len(s.Values) == 0 {
		return "", s, ok
	}
	return s.Values[0], s, true
}

// ReadFile parses one configuration file into the table.
func (c *Config) ReadFile(path string) error {
	f, err := c.open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	c.included[path] = true
	return c.Parse(f, path, "")
}

// Parse reads configuration text; name is used in errors and to resolve
// relative includes; prefix is the namespace ("" at top level).
func (c *Config) Parse(r io.Reader, name, prefix string) error {
	p := fileParser{c: c, file: name, defaultPrefix: prefix, prefix: prefix}
	return p.run(r)
}

type fileParser struct {
	c             *Config
	file          string
	line          int
	defaultPrefix string
	prefix        string
	namespaces    []string
}

func (p *fileParser) errorf(format string, args ...any) {
	p.c.Errors = append(p.c.Errors, fmt.Errorf("%s:%d: %s", p.file, p.line, fmt.Sprintf(format, args...)))
}

func trim(s string) string { return strings.Trim(s, " \t\r\n\v\f") }

func isSpace(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

func (p *fileParser) run(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var entry []byte
	stringMode := false
	for sc.Scan() {
		p.line++
		line := trim(sc.Text())
		if line == "" {
			continue
		}
		// Strip the comment, tracking quotes across continued lines.
		for i := 0; i < len(line); i++ {
			ch := line[i]
			prev := line[0]
			if i > 0 {
				prev = line[i-1]
			}
			if ch == '"' && prev != '\\' {
				stringMode = !stringMode
			} else if ch == '#' && !stringMode {
				break
			}
			entry = append(entry, ch)
		}
		e := trim(string(entry))
		entry = []byte(e)
		if e == "" {
			continue
		}
		if e[len(e)-1] != '\\' {
			if stringMode {
				p.errorf("missing terminating \" character")
				stringMode = false
				entry = entry[:0]
				continue
			}
			p.handleEntry(e + "\n")
			entry = entry[:0]
		} else {
			entry = entry[:len(entry)-1]
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", p.file, err)
	}
	if len(p.namespaces) > 0 {
		p.errorf("namespace '%s' has not been closed", p.namespaces[len(p.namespaces)-1])
	}
	return nil
}

func (p *fileParser) handleEntry(entry string) {
	tokens := tokenize(entry)
	entry = trim(entry) // for messages
	if len(tokens) < 2 {
		if len(tokens) == 1 && tokens[0] == "}" {
			if len(p.namespaces) == 0 {
				p.errorf("unexpected closing block: %s", entry)
				return
			}
			p.namespaces = p.namespaces[:len(p.namespaces)-1]
			p.prefix = p.defaultPrefix
			for _, ns := range p.namespaces {
				p.prefix += ns + "."
			}
			return
		}
		p.errorf("config entry malformed: too few parameters for %s", entry)
		return
	}
	if tokens[0][0] == '$' {
		p.errorf("cannot assign to rvalue: %s", tokens[0])
		return
	}
	switch {
	case tokens[0] == "include":
		if len(tokens) > 2 {
			p.errorf("operator include has too many operands")
			return
		}
		values, err := parseRValue(tokens[1], p.c.lookup)
		if err != nil {
			p.errorf("%v", err)
			return
		}
		if len(values) == 0 || !p.include(values[0]) {
			p.errorf("could not read include file %s", strings.Join(values, ","))
		}
	case tokens[0] == "del":
		values, err := parseRValue(strings.Join(tokens[1:], ""), p.c.lookup)
		if err != nil {
			p.errorf("%v", err)
			return
		}
		for _, v := range values {
			if _, ok := p.c.Symbols[v]; !ok {
				p.errorf("could not remove variable %s from symbol table", v)
				return
			}
			delete(p.c.Symbols, v)
		}
	case len(tokens) == 2 && tokens[1] == "{":
		p.namespaces = append(p.namespaces, tokens[0])
		p.prefix += tokens[0] + "."
	case tokens[1] == "=":
		if len(tokens) < 3 {
			p.errorf("rvalue missing in assignment: %s", entry)
			return
		}
		values, err := parseRValue(strings.Join(tokens[2:], ""), p.c.lookup)
		if err != nil {
			p.errorf("%v", err)
			return
		}
		for i := range values {
			values[i] = stripEscapes(values[i])
		}
		p.c.Symbols[p.prefix+tokens[0]] = Symbol{Values: values, File: p.file, Line: p.line}
	default:
		p.errorf("invalid entry: %s", entry)
	}
}

// include reads another file into the same table under the current
// namespace. Relative names are relative to the including file.
func (p *fileParser) include(name string) bool {
	if name == "" {
		return false
	}
	if name[0] == '~' {
		name = p.c.home + name[1:]
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(filepath.Dir(p.file), name)
	}
	if p.c.included[name] {
		return true
	}
	if p.c.depth >= maxIncludeDepth {
		return false
	}
	f, err := p.c.open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	p.c.included[name] = true
	p.c.depth++
	defer func() { p.c.depth-- }()
	sub := fileParser{c: p.c, file: name, defaultPrefix: p.prefix, prefix: p.prefix}
	before := len(p.c.Errors)
	if err := sub.run(f); err != nil {
		return false
	}
	return len(p.c.Errors) == before
}

// lookup resolves a reference: a parameter first, then the environment.
func (c *Config) lookup(name string) ([]string, bool) {
	if s, ok := c.Symbols[name]; ok {
		return s.Values, true
	}
	if c.env != nil {
		if v := c.env(name); v != "" {
			return []string{v}, true
		}
	}
	return nil, false
}

// tokenize splits an entry at whitespace and around '=' and ','; quoted
// strings stay one token with their quotes; a backslash keeps the next
// character literal (both characters are kept).
func tokenize(entry string) []string {
	var tokens []string
	var next []byte
	stringMode, escapeMode := false, false
	for i := 0; i < len(entry); i++ {
		ch := entry[i]
		prev := entry[0]
		if i > 0 {
			prev = entry[i-1]
		}
		isOperator := ch == '=' || ch == ','
		if ch == '\\' && !escapeMode && !stringMode {
			escapeMode = true
			continue
		}
		switch {
		case stringMode:
			next = append(next, ch)
			if ch == '"' && prev != '\\' {
				stringMode = false
				tokens = append(tokens, string(next))
				next = next[:0]
			}
		case escapeMode:
			next = append(next, prev, ch)
			escapeMode = false
		case isSpace(ch):
			if len(next) > 0 {
				tokens = append(tokens, string(next))
				next = next[:0]
			}
		case isOperator:
			if len(next) > 0 {
				tokens = append(tokens, string(next))
				next = next[:0]
			}
			tokens = append(tokens, string(ch))
		case ch == '"' && prev != '\\':
			stringMode = true
			next = append(next, ch)
		default:
			next = append(next, ch)
		}
	}
	// Like SeisComP, a token not ended by whitespace is dropped: entries end
	// in '\n', so only an escaped final character is lost.
	return tokens
}

var errNullConcat = errors.New("NULL object found in string concatenation")

// parseRValue turns the right-hand side into a list of values: quotes
// removed, ',' separating values, whitespace outside quotes dropped, $NAME
// and ${NAME} resolved.
func parseRValue(entry string, lookup func(string) ([]string, bool)) ([]string, error) {
	var tokens []string
	var parsed []byte
	stringMode, escapeMode, openBrace := false, false, false
	var refErr error
	for i := 0; i < len(entry); i++ {
		ch := entry[i]
		if ch == '\\' && !stringMode && !escapeMode {
			escapeMode = true
			continue
		}
		switch {
		case escapeMode:
			parsed = append(parsed, ch)
			escapeMode = false
		case ch == '"':
			stringMode = !stringMode
			if i+1 < len(entry) && entry[i+1] == '"' {
				tokens = append(tokens, "")
			}
		case ch == '$' && !stringMode:
			i++
			if i >= len(entry) {
				return nil, errors.New("stand-alone reference operator")
			}
			var variable []byte
			for ; i < len(entry); i++ {
				c := entry[i]
				if c == '{' {
					openBrace = !openBrace
				} else if c == '}' {
					openBrace = !openBrace
					break
				} else {
					variable = append(variable, c)
				}
			}
			if openBrace {
				return nil, errors.New("missing brace in reference")
			}
			if len(parsed) > 0 {
				tokens = append(tokens, string(parsed))
				parsed = parsed[:0]
			}
			values, ok := lookup(string(variable))
			if !ok {
				refErr = fmt.Errorf("cannot resolve '%s'", variable)
				values = []string{nullObject}
			}
			for j, v := range values {
				if j > 0 {
					tokens = append(tokens, ",")
				}
				tokens = append(tokens, v)
			}
		case ch == ',' && !stringMode:
			if len(parsed) > 0 {
				tokens = append(tokens, string(parsed))
				parsed = parsed[:0]
			}
			tokens = append(tokens, ",")
		default:
			if !isSpace(ch) || stringMode {
				parsed = append(parsed, ch)
			}
		}
	}
	if len(parsed) > 0 {
		tokens = append(tokens, string(parsed))
	}

	var values []string
	var token strings.Builder
	for i, cur := range tokens {
		prev := tokens[0]
		if i > 0 {
			prev = tokens[i-1]
		}
		hasNext := i+1 < len(tokens)
		switch {
		case cur == nullObject:
			switch {
			case hasNext && prev == "," && tokens[i+1] == ",":
			case hasNext && i == 0 && tokens[i+1] == ",":
			case !hasNext && prev == ",":
			default:
				if refErr != nil {
					return nil, fmt.Errorf("%v: %w", refErr, errNullConcat)
				}
				return nil, errNullConcat
			}
		case cur == ",":
			if prev == "," || (hasNext && tokens[i+1] == ",") || !hasNext {
				return nil, errors.New("invalid list")
			}
			if prev != nullObject {
				values = append(values, token.String())
			}
			token.Reset()
		default:
			token.WriteString(cur)
			if !hasNext {
				values = append(values, token.String())
			}
		}
	}
	return values, nil
}

// stripEscapes removes the backslash of an escaped double quote.
func stripEscapes(s string) string {
	return strings.ReplaceAll(s, `\"`, `"`)
}
