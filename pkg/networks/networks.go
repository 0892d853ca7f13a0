// Package networks extends temporary FDSN network codes with the start year
// of the epoch a trace falls in (Z3 → Z32015), from the FDSN network
// registry (contract section 4).
package networks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/eida/eidastatsd/pkg/logline"
)

// DefaultRegistry is the live FDSN network service.
const DefaultRegistry = "https://www.fdsn.org/ws/networks/1/query"

// Epoch is one registry entry of a temporary code.
type Epoch struct {
	Start   logline.Date
	End     logline.Date
	OpenEnd bool
	Year    string // Start's year, the suffix
}

// Registry maps temporary codes to their epochs, in registry order (the
// first matching epoch wins, as in the reference).
type Registry struct {
	epochs map[string][]Epoch
}

// IsTemporary reports whether a code is extended: ^[0-9XYZ][0-9A-Z]$.
func IsTemporary(code []byte) bool {
	if len(code) != 2 {
		return false
	}
	c0, c1 := code[0], code[1]
	return (c0 >= '0' && c0 <= '9' || c0 == 'X' || c0 == 'Y' || c0 == 'Z') &&
		(c1 >= '0' && c1 <= '9' || c1 >= 'A' && c1 <= 'Z')
}

// Result of an extension.
type Result int

const (
	// Permanent: the code is not temporary and is used unchanged.
	Permanent Result = iota
	// Extended: a registry epoch covers the date.
	Extended
	// Unknown: no epoch covers the date (or the code is not registered).
	Unknown
	// BadDate: the trace start is not a YYYY-MM-DD date.
	BadDate
)

// Extend returns the network code to use for a trace. For a temporary code
// it appends the start year of the first epoch with start <= date <= end.
func (r *Registry) Extend(code, startDate []byte) (string, Result) {
	if !IsTemporary(code) {
		return "", Permanent
	}
	d, ok := logline.ParseDate(string(startDate))
	if !ok {
		return "", BadDate
	}
	for _, e := range r.epochs[string(code)] {
		if !d.Before(e.Start) && (e.OpenEnd || !e.End.Before(d)) {
			return string(code) + e.Year, Extended
		}
	}
	return "", Unknown
}

// Len is the number of temporary codes known.
func (r *Registry) Len() int { return len(r.epochs) }

type document struct {
	Networks []struct {
		Code      string  `json:"fdsn_code"`
		StartDate string  `json:"start_date"`
		EndDate   *string `json:"end_date"`
	} `json:"networks"`
}

// Parse reads the registry's JSON answer. Only temporary codes are kept.
func Parse(data []byte) (*Registry, error) {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("network registry: %w", err)
	}
	if doc.Networks == nil {
		return nil, errors.New(`network registry: no "networks" list`)
	}
	r := &Registry{epochs: map[string][]Epoch{}}
	for i, n := range doc.Networks {
		if !IsTemporary([]byte(n.Code)) {
			continue
		}
		start, ok := logline.ParseDate(first10(n.StartDate))
		if !ok {
			return nil, fmt.Errorf("network registry: entry %d (%s): bad start_date %q", i, n.Code, n.StartDate)
		}
		e := Epoch{Start: start, Year: n.StartDate[:4], OpenEnd: n.EndDate == nil || *n.EndDate == ""}
		if !e.OpenEnd {
			end, ok := logline.ParseDate(first10(*n.EndDate))
			if !ok {
				return nil, fmt.Errorf("network registry: entry %d (%s): bad end_date %q", i, n.Code, *n.EndDate)
			}
			e.End = end
		}
		r.epochs[n.Code] = append(r.epochs[n.Code], e)
	}
	return r, nil
}

func first10(s string) string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

// Fetch reads the registry from src: an http(s) URL (format=json is added
// when missing) or a local file in the same JSON shape. An unreachable
// registry is an error: a temporary code is never used unextended.
func Fetch(ctx context.Context, client *http.Client, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("network registry: %w", err)
		}
		return data, nil
	}
	u := src
	if !strings.Contains(u, "format=") {
		if strings.Contains(u, "?") {
			u += "&format=json"
		} else {
			u += "?format=json"
		}
	}
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("network registry: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("network registry unreachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("network registry %s: HTTP %d", u, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("network registry: %w", err)
	}
	return data, nil
}

// Load fetches and parses the registry.
func Load(ctx context.Context, client *http.Client, src string) (*Registry, error) {
	data, err := Fetch(ctx, client, src)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}
