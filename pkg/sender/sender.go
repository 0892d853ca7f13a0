// Package sender ships spooled payloads to the central EIDA statistics
// service (contract section 6): oldest first, validated, split once, resent
// byte-identical until the service has them, and never dropped.
package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eida/eidastatsd/pkg/payload"
	"github.com/eida/eidastatsd/pkg/spool"
)

// Defaults for zero Options fields.
const (
	DefaultTimeout           = 600 * time.Second // the reference client's
	DefaultMinBackoff        = 10 * time.Second
	DefaultMaxBackoff        = 30 * time.Minute
	DefaultTokenRefusedRetry = 10 * time.Minute
	DefaultMaxRowsPerPayload = 20000
	DefaultKeepSent          = 90 * 24 * time.Hour
	idleRescan               = time.Hour
	maxRetryAfter            = 24 * time.Hour
	maxAnswer                = 64 << 10
)

// Options configure a Sender. Zero fields take the defaults above.
type Options struct {
	URL   string // full submit URL, e.g. https://ws.resif.fr/eidaws/statistics/1/submit
	Token string // never logged

	Timeout           time.Duration // per POST
	MinBackoff        time.Duration
	MaxBackoff        time.Duration
	TokenRefusedRetry time.Duration // wait after a 401/403
	MaxRowsPerPayload int           // split above this; < 0 never splits
	Limits            payload.Limits
	KeepSent          time.Duration
	// Attempts bounds the POSTs per part in SendFile (the CLI); the daemon's
	// Run retries forever. Default 1.
	Attempts int

	Client *http.Client // default: a client with TLS verification on
	Now    func() time.Time
	Logger *slog.Logger
	Jitter func() float64 // in [0,1); default math/rand
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.TokenRefusedRetry <= 0 {
		o.TokenRefusedRetry = DefaultTokenRefusedRetry
	}
	if o.MaxRowsPerPayload == 0 {
		o.MaxRowsPerPayload = DefaultMaxRowsPerPayload
	}
	if o.Limits == (payload.Limits{}) {
		o.Limits = payload.DefaultLimits
	}
	if o.KeepSent <= 0 {
		o.KeepSent = DefaultKeepSent
	}
	if o.Attempts <= 0 {
		o.Attempts = 1
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
}

// Outcome is what became of a payload (or one attempt at it).
type Outcome int

const (
	Delivered     Outcome = iota // the service stored it
	AlreadyThere                 // "already exists" after an earlier attempt of ours: delivered
	Failed                       // refused for good (moved to failed/)
	NothingToSend                // every row was rejected locally
	Retry                        // no usable answer: try again later
	TokenRefused                 // 401/403: keep, retry slowly
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case AlreadyThere:
		return "already_there"
	case Failed:
		return "failed"
	case NothingToSend:
		return "nothing_to_send"
	case Retry:
		return "retry"
	case TokenRefused:
		return "token_refused"
	}
	return "unknown"
}

// Done reports whether the payload needs no further sending.
func (o Outcome) Done() bool { return o == Delivered || o == AlreadyThere || o == NothingToSend }

// Sender ships payloads from a spool.
type Sender struct {
	o   Options
	sp  *spool.Spool
	m   *Metrics
	log *slog.Logger
}

// New returns a Sender. sp may be nil when only SendFile is used; m may be
// nil (metrics then go to a private registry).
func New(opts Options, sp *spool.Spool, m *Metrics) *Sender {
	opts.defaults()
	if m == nil {
		m = NewMetrics(newPrivateRegistry())
	}
	m.mu.Lock()
	m.now = opts.Now
	m.mu.Unlock()
	return &Sender{o: opts, sp: sp, m: m, log: opts.Logger.With("url", redact(opts.URL))}
}

// answer is one POST's result.
type answer struct {
	outcome    Outcome
	status     int
	body       string
	retryAfter time.Duration
	err        error
}

// post sends body once and classifies the answer.
func (s *Sender) post(ctx context.Context, body []byte) answer {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.URL, bytes.NewReader(body))
	if err != nil {
		return answer{outcome: Failed, err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	// The service reads "Authentication", not "Authorization".
	req.Header.Set("Authentication", "Bearer "+s.o.Token)
	start := time.Now()
	resp, err := s.o.Client.Do(req)
	s.m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		a := answer{outcome: Retry, err: scrub(err, s.o.Token)}
		s.m.attempts.WithLabelValues(a.outcome.String(), "0").Inc()
		return a
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	a := classify(resp.StatusCode, string(raw))
	if rerr != nil && a.outcome == Delivered {
		// The status line said OK; the body is only text.
		rerr = nil
	}
	if rerr != nil && a.outcome != Retry {
		a = answer{outcome: Retry, status: resp.StatusCode, err: fmt.Errorf("read answer: %w", rerr)}
	}
	a.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.o.Now())
	s.m.attempts.WithLabelValues(a.outcome.String(), strconv.Itoa(resp.StatusCode)).Inc()
	return a
}

// classify maps an HTTP answer to an outcome (contract section 6).
func classify(status int, body string) answer {
	a := answer{status: status, body: body}
	switch {
	case status >= 200 && status < 300:
		a.outcome = Delivered
	case status == http.StatusBadRequest && strings.Contains(body, "already exists"):
		a.outcome = AlreadyThere // the caller checks it was ours
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		a.outcome = TokenRefused
	case status == http.StatusInternalServerError && strings.Contains(body, "Error on statistics ingestion"):
		a.outcome = Failed // the hash is consumed: resending cannot help
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		a.outcome = Retry
	default:
		a.outcome = Failed
	}
	return a
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// backoff is the wait after n consecutive transient failures (n >= 1):
// exponential, capped, with jitter in [d/2, d); Retry-After wins when longer.
func (s *Sender) backoff(n int, retryAfter time.Duration) time.Duration {
	d := s.o.MaxBackoff
	if n-1 < 62 {
		if f := float64(s.o.MinBackoff) * math.Pow(2, float64(n-1)); f < float64(s.o.MaxBackoff) {
			d = time.Duration(f)
		}
	}
	d = d/2 + time.Duration(s.o.Jitter()*float64(d/2))
	return max(d, retryAfter, s.o.MinBackoff/2)
}

// prepare validates a never-sent spool file and persists its final form:
// invalid rows to rejected/, the rest split into parts that replace it. It
// returns the path to send next (or "" when nothing is left to send).
func (s *Sender) prepare(path string) (string, Outcome, error) {
	p, err := payload.ReadFile(path)
	if err != nil {
		return "", Failed, s.fail(path, answer{err: err}, "payload file unreadable")
	}
	if err := p.CheckHeader(); err != nil {
		return "", Failed, s.fail(path, answer{err: err}, "payload header invalid")
	}
	valid, rejected := p.Partition(s.o.Limits)
	if len(rejected) > 0 {
		rp, err := s.sp.WriteRejected(path, p, rejected)
		if err != nil {
			return "", Retry, err
		}
		s.countRejected(rejected)
		s.log.Warn("rows rejected locally: the central schema cannot store them",
			"payload", baseName(path), "rejected", len(rejected), "kept", len(valid.Stats), "file", rp,
			"first_reason", rejected[0].Field+": "+rejected[0].Detail)
	}
	if len(valid.Stats) == 0 {
		if err := s.sp.Remove(path); err != nil {
			return "", Retry, err
		}
		s.log.Warn("payload has no valid row left: nothing to send", "payload", baseName(path))
		return "", NothingToSend, nil
	}
	parts := valid.Split(s.o.MaxRowsPerPayload)
	if len(rejected) == 0 && len(parts) == 1 {
		return path, Retry, nil
	}
	paths, err := s.sp.Replace(path, parts)
	if err != nil {
		return "", Retry, err
	}
	if len(parts) > 1 {
		s.log.Info("payload split", "payload", baseName(path), "parts", len(parts), "rows", len(valid.Stats))
	}
	return paths[0], Retry, nil
}

func (s *Sender) countRejected(rows []payload.Rejected) {
	for _, r := range rows {
		s.m.rejected.WithLabelValues(r.Reason).Inc()
	}
}

// process takes the oldest spool file one step: prepare if never sent, then
// one POST. It returns the outcome and, for Retry, the server's Retry-After.
func (s *Sender) process(ctx context.Context, path string) (Outcome, time.Duration, error) {
	if !s.sp.Attempted(path) {
		next, out, err := s.prepare(path)
		if err != nil || next == "" {
			return out, 0, err
		}
		path = next
	}
	p, err := payload.ReadFile(path)
	if err != nil {
		return Failed, 0, s.fail(path, answer{err: err}, "payload file unreadable")
	}
	body, err := p.Marshal()
	if err != nil {
		return Failed, 0, s.fail(path, answer{err: err}, "payload cannot be encoded")
	}
	sentBefore := s.sp.Attempted(path)
	if err := s.sp.MarkAttempt(path); err != nil {
		return Retry, 0, err // never send without the marker
	}
	a := s.post(ctx, body)
	if ctx.Err() != nil {
		return Retry, 0, ctx.Err()
	}
	if a.outcome == AlreadyThere && !sentBefore {
		// Not ours to have sent: an identical stats list was stored before.
		a.outcome = Failed
	}
	if a.outcome != TokenRefused {
		s.m.setTokenRefused(false)
	}
	switch a.outcome {
	case Delivered, AlreadyThere:
		if _, err := s.sp.Delivered(path); err != nil {
			return a.outcome, 0, err
		}
		s.m.delivered.Inc()
		s.m.lastDelivery.Set(float64(s.o.Now().Unix()))
		msg := "payload delivered"
		if a.outcome == AlreadyThere {
			msg = "payload already on the central service from an earlier attempt: counted as delivered"
		}
		s.log.Info(msg, "payload", baseName(path), "rows", len(p.Stats), "status", a.status)
		return a.outcome, 0, nil
	case TokenRefused:
		s.m.setTokenRefused(true)
		s.log.Error("central service REFUSES THE TOKEN: payloads are kept and retried slowly; fix the token",
			"status", a.status, "payload", baseName(path), "retry_in", s.o.TokenRefusedRetry)
		return TokenRefused, 0, nil
	case Retry:
		s.log.Warn("send failed, will retry", "payload", baseName(path), "status", a.status, "error", a.err)
		return Retry, a.retryAfter, nil
	default:
		return Failed, 0, s.fail(path, a, "central service refused the payload")
	}
}

func (s *Sender) fail(path string, a answer, msg string) error {
	ans := spool.Answer{Time: s.o.Now().UTC(), URL: redact(s.o.URL), Status: a.status, Body: a.body}
	if a.err != nil {
		ans.Error = a.err.Error()
	}
	dst, err := s.sp.Failed(path, ans)
	if err != nil {
		return err
	}
	s.m.failed.Inc()
	s.log.Error(msg+": moved to failed/", "payload", baseName(path), "status", a.status,
		"answer", truncate(a.body, 300), "error", a.err, "file", dst)
	return nil
}

// drain sends spool files oldest first until the spool is empty (wait 0) or
// a payload must wait (wait > 0).
func (s *Sender) drain(ctx context.Context, failures *int) (time.Duration, error) {
	for {
		s.refreshSpoolMetrics()
		files, err := s.sp.Pending()
		if err != nil {
			return s.o.MinBackoff, err
		}
		if len(files) == 0 {
			return 0, nil
		}
		out, ra, err := s.process(ctx, files[0])
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err != nil {
			// Local trouble (disk): keep the order, retry later.
			*failures++
			s.log.Error("spool error", "error", err)
			return s.backoff(*failures, 0), nil
		}
		switch out {
		case Retry:
			*failures++
			return s.backoff(*failures, ra), nil
		case TokenRefused:
			*failures = 0
			return s.o.TokenRefusedRetry, nil
		}
		*failures = 0
	}
}

func (s *Sender) refreshSpoolMetrics() {
	oldest, n, err := s.sp.OldestPending()
	if err == nil {
		s.m.setSpool(oldest, n)
	}
}

// Run drains the spool until ctx ends: it sends whatever is pending, waits
// for wake (a payload was enqueued; make it buffered, send without
// blocking) or for the backoff, and starts again. It never drops a payload.
func (s *Sender) Run(ctx context.Context, wake <-chan struct{}) error {
	failures := 0
	for {
		if n, err := s.sp.PruneSent(s.o.KeepSent); err != nil {
			s.log.Error("pruning sent/", "error", err)
		} else if n > 0 {
			s.log.Info("pruned delivered payloads", "files", n)
		}
		wait, err := s.drain(ctx, &failures)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.log.Error("spool", "error", err)
		}
		if wait == 0 {
			t := time.NewTimer(idleRescan)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		// A backoff is not cut short by new payloads: they queue behind.
		t := time.NewTimer(wait)
	waiting:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-wake:
			case <-t.C:
				break waiting
			}
		}
	}
}

// FileResult is what SendFile did with one file.
type FileResult struct {
	Outcome  Outcome // the worst outcome over the parts
	Parts    []Outcome
	Rejected []payload.Rejected
	Answers  []string // the service's answer per part, truncated
}

// SendFile sends a payload file that is not in a spool (the send command,
// and aggregate --send-to): validated, split like the daemon does, each part
// POSTed up to Options.Attempts times. Nothing is written to disk. An
// "already exists" answer is reported as AlreadyThere: without a spool there
// is no attempt record, so it may also be another sender's identical list.
func (s *Sender) SendFile(ctx context.Context, path string) (FileResult, error) {
	var res FileResult
	p, err := payload.ReadFile(path)
	if err != nil {
		return res, err
	}
	if err := p.CheckHeader(); err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	valid, rejected := p.Partition(s.o.Limits)
	res.Rejected = rejected
	s.countRejected(rejected)
	if len(valid.Stats) == 0 {
		res.Outcome = NothingToSend
		return res, nil
	}
	for _, part := range valid.Split(s.o.MaxRowsPerPayload) {
		body, err := part.Marshal()
		if err != nil {
			return res, err
		}
		var a answer
		for try := 1; ; try++ {
			a = s.post(ctx, body)
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if a.outcome != Retry || try >= s.o.Attempts {
				break
			}
			t := time.NewTimer(s.backoff(try, a.retryAfter))
			select {
			case <-ctx.Done():
				t.Stop()
				return res, ctx.Err()
			case <-t.C:
			}
		}
		switch a.outcome {
		case Delivered, AlreadyThere:
			s.m.delivered.Inc()
			s.m.lastDelivery.Set(float64(s.o.Now().Unix()))
			s.m.setTokenRefused(false)
		case TokenRefused:
			s.m.setTokenRefused(true)
		case Failed:
			s.m.failed.Inc()
		}
		ans := truncate(a.body, 300)
		if a.err != nil {
			ans = a.err.Error()
		}
		res.Parts = append(res.Parts, a.outcome)
		res.Answers = append(res.Answers, ans)
		if rank(a.outcome) > rank(res.Outcome) {
			res.Outcome = a.outcome
		}
	}
	return res, nil
}

// rank orders outcomes from best to worst for a summary.
func rank(o Outcome) int {
	switch o {
	case Delivered:
		return 0
	case AlreadyThere:
		return 1
	case NothingToSend:
		return 2
	case Retry:
		return 3
	case TokenRefused:
		return 4
	}
	return 5
}

func baseName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// redact drops user info and the query from a URL for logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// scrub makes sure an error text never carries the token.
func scrub(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "<token>"))
}
