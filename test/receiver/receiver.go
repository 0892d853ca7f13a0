// Package receiver is a test double of the central EIDA statistics service
// (EIDA/eida-statistics ws_eidastats, contract section 6) backed by a real
// PostgreSQL with postgresql-hll, with hooks to inject the faults a node
// must survive.
package receiver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Answers of the real service.
const (
	MsgOK      = "Statistic successfully ingested to database!"
	MsgExists  = "This statistic already exists on the server. Refusing to merge"
	MsgIngest  = "Error on statistics ingestion"
	SubmitPath = "/eidaws/statistics/1/submit"
)

// Schema is the central table (deployed widths) and the de-dup hash table.
const Schema = `
CREATE TABLE IF NOT EXISTS dataselect_stats (
	month date NOT NULL,
	network varchar(6) NOT NULL,
	station varchar(5) NOT NULL,
	location varchar(2) NOT NULL,
	channel varchar(3) NOT NULL,
	country varchar(2) NOT NULL,
	bytes bigint NOT NULL,
	nb_requests int NOT NULL,
	nb_successful_requests int NOT NULL,
	nb_unsuccessful_requests int NOT NULL,
	clients hll(11,5,-1,1) NOT NULL,
	PRIMARY KEY (month, network, station, location, channel, country)
);
CREATE TABLE IF NOT EXISTS payloads (
	hash text PRIMARY KEY
);`

const upsert = `
INSERT INTO dataselect_stats AS s (month, network, station, location, channel, country,
	bytes, nb_requests, nb_successful_requests, nb_unsuccessful_requests, clients)
VALUES ($1::date, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::hll)
ON CONFLICT (month, network, station, location, channel, country) DO UPDATE SET
	bytes = s.bytes + EXCLUDED.bytes,
	nb_requests = s.nb_requests + EXCLUDED.nb_requests,
	nb_successful_requests = s.nb_successful_requests + EXCLUDED.nb_successful_requests,
	nb_unsuccessful_requests = s.nb_unsuccessful_requests + EXCLUDED.nb_unsuccessful_requests,
	clients = hll_union(s.clients, EXCLUDED.clients)`

var dayRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// Server is the fake service.
type Server struct {
	db *pgxpool.Pool

	mu         sync.Mutex
	tokens     map[string]bool
	failNext   []int // status codes to answer before looking at requests
	loseNext   int   // commit, then drop the connection without an answer
	retryAfter string
	ln         net.Listener
	addr       string
	srv        *http.Server
	stats      Stats
}

// Stats count what the server saw.
type Stats struct {
	Requests, Ingested, Duplicates, IngestErrors, Lost, Injected, AuthRefused int
}

// New returns a server storing into db (whose search_path must hold the
// Schema tables, see Setup) that accepts the given tokens.
func New(db *pgxpool.Pool, tokens ...string) *Server {
	s := &Server{db: db}
	s.SetTokens(tokens...)
	return s
}

// Setup creates the tables.
func Setup(ctx context.Context, db *pgxpool.Pool) error {
	if _, err := db.Exec(ctx, Schema); err != nil {
		return fmt.Errorf("receiver schema: %w", err)
	}
	return nil
}

// Start listens on 127.0.0.1 (a free port the first time, the same port
// after Down) and returns the submit URL.
func (s *Server) Start() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.ln, s.addr = ln, ln.Addr().String()
	s.srv = &http.Server{Handler: s}
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s.URL(), nil
}

// URL is the submit URL.
func (s *Server) URL() string { return "http://" + s.addr + SubmitPath }

// Down closes the listener and every connection: clients get "connection
// refused" until Start is called again.
func (s *Server) Down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Close is Down.
func (s *Server) Close() { s.Down() }

// SetTokens replaces the accepted tokens.
func (s *Server) SetTokens(tokens ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]bool{}
	for _, t := range tokens {
		s.tokens[t] = true
	}
}

// FailNext answers the next len(codes) requests with these status codes,
// without touching the database; retryAfter, if set, goes with them.
func (s *Server) FailNext(retryAfter string, codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, codes...)
	s.retryAfter = retryAfter
}

// LoseNext makes the next n requests commit and then lose their answer (the
// connection is closed without a response).
func (s *Server) LoseNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseNext += n
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.count(func(st *Stats) { st.Requests++ })
	if r.URL.Path != SubmitPath || r.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	var injected int
	if len(s.failNext) > 0 {
		injected, s.failNext = s.failNext[0], s.failNext[1:]
		s.stats.Injected++
	}
	ra := s.retryAfter
	s.mu.Unlock()
	if injected != 0 {
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		http.Error(w, "injected failure", injected)
		return
	}

	// Like the service: whatever follows the first space.
	h := r.Header.Get("Authentication")
	if h == "" {
		s.count(func(st *Stats) { st.AuthRefused++ })
		http.Error(w, "Missing authentication header", http.StatusUnauthorized)
		return
	}
	_, tok, _ := strings.Cut(h, " ")
	s.mu.Lock()
	ok := s.tokens[tok]
	s.mu.Unlock()
	if !ok {
		s.count(func(st *Stats) { st.AuthRefused++ })
		http.Error(w, "Token not valid", http.StatusForbidden)
		return
	}
	if r.Header.Get("Content-Encoding") != "" {
		http.Error(w, "compressed bodies are not accepted", http.StatusBadRequest)
		return
	}

	var doc struct {
		GeneratedAt  *string         `json:"generated_at"`
		Version      *string         `json:"version"`
		Stats        json.RawMessage `json:"stats"`
		DaysCoverage []string        `json:"days_coverage"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<30))
	if err := dec.Decode(&doc); err != nil {
		http.Error(w, "Bad request: body is not a JSON object", http.StatusBadRequest)
		return
	}
	var rows []map[string]any
	if doc.GeneratedAt == nil || doc.Version == nil || doc.Stats == nil || doc.DaysCoverage == nil {
		http.Error(w, "Bad request: missing key", http.StatusBadRequest)
		return
	}
	if utf8.RuneCountInString(*doc.Version) > 32 {
		http.Error(w, "Bad request: version too long", http.StatusBadRequest)
		return
	}
	for _, d := range doc.DaysCoverage {
		if !dayRE.MatchString(d) {
			http.Error(w, "Bad request: days_coverage", http.StatusBadRequest)
			return
		}
	}
	dec2 := json.NewDecoder(bytes.NewReader(doc.Stats))
	dec2.UseNumber()
	if err := dec2.Decode(&rows); err != nil || len(rows) == 0 {
		http.Error(w, "Bad request: stats must be a non-empty list", http.StatusBadRequest)
		return
	}

	// The real service finishes its transaction even if the client goes
	// away mid-request; so does this fake (a cancelled context would leave a
	// consumed hash with nothing stored).
	ctx := context.WithoutCancel(r.Context())
	// The hash is taken (and kept) before ingestion, as upstream does.
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc.Stats); err != nil {
		http.Error(w, "Bad request", http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(compact.Bytes())
	tag, err := s.db.Exec(ctx, `INSERT INTO payloads (hash) VALUES ($1) ON CONFLICT DO NOTHING`, hex.EncodeToString(sum[:]))
	if err != nil {
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	if tag.RowsAffected() == 0 {
		s.count(func(st *Stats) { st.Duplicates++ })
		http.Error(w, MsgExists, http.StatusBadRequest)
		return
	}
	if err := s.ingest(ctx, rows); err != nil {
		s.count(func(st *Stats) { st.IngestErrors++ })
		http.Error(w, MsgIngest+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.count(func(st *Stats) { st.Ingested++ })

	s.mu.Lock()
	lose := s.loseNext > 0
	if lose {
		s.loseNext--
		s.stats.Lost++
	}
	s.mu.Unlock()
	if lose {
		panic(http.ErrAbortHandler) // closes the connection, no answer
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, MsgOK)
}

func (s *Server) ingest(ctx context.Context, rows []map[string]any) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		for i, r := range rows {
			country := str(r["country"])
			if utf8.RuneCountInString(country) != 2 {
				country = ""
			}
			clients, ok := r["clients"].(string)
			if !ok {
				return fmt.Errorf("row %d: clients missing", i)
			}
			_, err := tx.Exec(ctx, upsert, str(r["month"]), str(r["network"]), str(r["station"]),
				str(r["location"]), str(r["channel"]), country,
				num(r["bytes"]), num(r["nb_requests"]), num(r["nb_successful_requests"]),
				num(r["nb_unsuccessful_requests"]), clients)
			if err != nil {
				return fmt.Errorf("row %d: %w", i, err)
			}
		}
		return nil
	})
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return "None" // Python's str(None)
	}
	return fmt.Sprint(v)
}

// num passes the JSON number text through, so PostgreSQL does the range
// check like the real service.
func num(v any) string {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return "invalid"
}

// ErrNoDSN is returned by OpenTest when no database is configured.
var ErrNoDSN = errors.New("EIDASTATSD_TEST_PG is not set")
