// Package payload is the document a node ships to the central EIDA
// statistics service (contract section 5): its JSON shape, the gzipped file
// form the batch command and the spool use, and reading either back.
package payload

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// TimeLayout is generated_at's layout (UTC).
const TimeLayout = "2006-01-02 15:04:05"

// Row is one statistic: a (month, network, station, location, channel,
// country) key and its counters.
type Row struct {
	Month                  string `json:"month"`
	Network                string `json:"network"`
	Station                string `json:"station"`
	Location               string `json:"location"`
	Channel                string `json:"channel"`
	Country                string `json:"country"`
	Bytes                  int64  `json:"bytes"`
	NbRequests             int64  `json:"nb_requests"`
	NbSuccessfulRequests   int64  `json:"nb_successful_requests"`
	NbUnsuccessfulRequests int64  `json:"nb_unsuccessful_requests"`
	Clients                string `json:"clients"`
}

// Payload is one shipment.
type Payload struct {
	GeneratedAt      string   `json:"generated_at"`
	Version          string   `json:"version"`
	DaysCoverage     []string `json:"days_coverage"`
	AggregationScore int64    `json:"aggregation_score"`
	Stats            []Row    `json:"stats"`
}

// Marshal is the exact JSON body sent to the central service. It is
// deterministic for a given Payload, so a resend is byte-identical.
func (p *Payload) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Decode reads a payload, gzipped or plain JSON (detected by content). A null
// country (the Python aggregator's) decodes as "".
func Decode(r io.Reader) (*Payload, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read payload: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	var p Payload
	dec := json.NewDecoder(src)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	return &p, nil
}

// ReadFile reads a payload file (.json or .json.gz).
func ReadFile(path string) (*Payload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
