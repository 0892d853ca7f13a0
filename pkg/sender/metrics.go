package sender

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the shipping metrics.
type Metrics struct {
	delivered    prometheus.Counter
	failed       prometheus.Counter
	rejected     *prometheus.CounterVec
	attempts     *prometheus.CounterVec
	duration     prometheus.Histogram
	lastDelivery prometheus.Gauge
	spooled      prometheus.Gauge
	tokenRefused prometheus.Gauge

	mu     sync.Mutex
	oldest time.Time // enqueue time of the oldest undelivered payload
	now    func() time.Time
	refuse bool
}

// NewMetrics registers the shipping metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "eidastatsd", Name: "payloads_delivered_total",
			Help: "Payloads the central service accepted (or had already accepted)."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "eidastatsd", Name: "payloads_failed_total",
			Help: "Payloads the central service refused for good, moved to failed/."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eidastatsd", Name: "rows_rejected_total",
			Help: "Statistic rows kept out of payloads because the central schema cannot store them, by reason."}, []string{"reason"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eidastatsd", Name: "send_attempts_total",
			Help: "POSTs to the central service by outcome and HTTP status code (0 when there was no answer)."}, []string{"outcome", "code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "eidastatsd", Name: "send_duration_seconds",
			Help: "Duration of POSTs to the central service.", Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}}),
		lastDelivery: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "eidastatsd", Name: "last_delivery_timestamp_seconds",
			Help: "Unix time of the last delivered payload."}),
		spooled: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "eidastatsd", Name: "spool_payloads",
			Help: "Payloads waiting in spool/."}),
		tokenRefused: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "eidastatsd", Name: "token_refused",
			Help: "1 while the central service refuses the token (401/403), else 0."}),
		now: time.Now,
	}
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "eidastatsd", Name: "oldest_undelivered_payload_age_seconds",
		Help: "Age of the oldest payload waiting in spool/, 0 when none."}, m.oldestAge)
	for _, r := range []string{"too_long", "bad_text", "bad_month", "counter_range", "bad_clients"} {
		m.rejected.WithLabelValues(r)
	}
	reg.MustRegister(m.delivered, m.failed, m.rejected, m.attempts, m.duration, m.lastDelivery, m.spooled, m.tokenRefused, oldest)
	return m
}

func (m *Metrics) oldestAge() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.oldest.IsZero() {
		return 0
	}
	return max(0, m.now().Sub(m.oldest).Seconds())
}

func (m *Metrics) setSpool(oldest time.Time, n int) {
	m.mu.Lock()
	m.oldest = oldest
	m.mu.Unlock()
	m.spooled.Set(float64(n))
}

func (m *Metrics) setTokenRefused(v bool) {
	m.mu.Lock()
	m.refuse = v
	m.mu.Unlock()
	if v {
		m.tokenRefused.Set(1)
	} else {
		m.tokenRefused.Set(0)
	}
}

// TokenRefused reports whether the last answer refused the token (for the
// daemon's readiness).
func (m *Metrics) TokenRefused() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refuse
}

// TokenRefusedGauge is the eidastatsd_token_refused gauge (for tests).
func (m *Metrics) TokenRefusedGauge() prometheus.Gauge { return m.tokenRefused }

// AttemptsCounter is one eidastatsd_send_attempts_total series (for tests).
func (m *Metrics) AttemptsCounter(outcome, code string) prometheus.Counter {
	return m.attempts.WithLabelValues(outcome, code)
}
