package follow

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the follower's Prometheus metrics. Create them once per
// registry and pass them to every Follower of the process (a restarted
// follower keeps counting). A nil *Metrics records nothing.
type Metrics struct {
	rotations, truncations, overlong, bytesRead, lost, errors prometheus.Counter
	offset, lag                                               prometheus.Gauge
}

// NewMetrics registers the follower metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		rotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eidastatsd_rotations_total",
			Help: "Rotations of the request log followed (renamed away and drained).",
		}),
		truncations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eidastatsd_log_truncations_total",
			Help: "Times the request log was truncated in place and read again from its start.",
		}),
		overlong: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eidastatsd_log_overlong_lines_total",
			Help: "Request log lines longer than the maximum line length, skipped.",
		}),
		bytesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eidastatsd_bytes_read_total",
			Help: "Bytes read from the request log files (decompressed).",
		}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eidastatsd_log_position_lost_total",
			Help: "Saved positions whose file was found neither live nor rotated; reading restarted at the live file.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eidastatsd_log_read_errors_total",
			Help: "Errors opening, reading or checking the request log files (retried).",
		}),
		offset: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eidastatsd_log_offset_bytes",
			Help: "Position after the last line handed out, in the file being read.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eidastatsd_log_lag_bytes",
			Help: "Bytes of the file being read that are not handed out yet (0 for compressed files).",
		}),
	}
	for _, c := range []prometheus.Collector{m.rotations, m.truncations, m.overlong, m.bytesRead, m.lost, m.errors, m.offset, m.lag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) rotation() {
	if m != nil {
		m.rotations.Inc()
	}
}

func (m *Metrics) truncation() {
	if m != nil {
		m.truncations.Inc()
	}
}

func (m *Metrics) tooLong() {
	if m != nil {
		m.overlong.Inc()
	}
}

func (m *Metrics) read(n int) {
	if m != nil {
		m.bytesRead.Add(float64(n))
	}
}

func (m *Metrics) lostPosition() {
	if m != nil {
		m.lost.Inc()
	}
}

func (m *Metrics) readError() {
	if m != nil {
		m.errors.Inc()
	}
}

func (m *Metrics) position(offset, lag int64) {
	if m != nil {
		m.offset.Set(float64(offset))
		m.lag.Set(float64(lag))
	}
}
