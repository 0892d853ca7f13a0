package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eida/eidastatsd/pkg/aggregate"
	"github.com/eida/eidastatsd/pkg/logline"
)

// Label values created at start, so that every family and the usual series
// exist from the first scrape (rate() and the alerts see a 0, not nothing).
var (
	lineReasons = []logline.Reason{
		logline.ReasonEmpty, logline.ReasonInvalidUTF8, logline.ReasonNotJSON, logline.ReasonNotObject, logline.ReasonTorn,
		logline.ReasonTooLong, logline.ReasonMissingFinished, logline.ReasonBadFinished, logline.ReasonMissingStatus,
		logline.ReasonMissingUserID, logline.ReasonBadUserID, logline.ReasonMissingUserLocation, logline.ReasonBadUserLocation,
		logline.ReasonMissingTrace, logline.ReasonBadTrace, aggregate.ReasonDayShipped,
	}
	traceReasons = []logline.Reason{
		logline.ReasonTraceNotObject, logline.ReasonTraceMissingField, logline.ReasonTraceBadField, logline.ReasonUnknownNetwork,
	}
	// statuses are aggregate.StatusLabel's values.
	statuses = []string{"OK", "NODATA", "DENIED", "ERROR", "other"}
)

type metrics struct {
	lines         prometheus.Counter
	skippedLines  *prometheus.CounterVec
	skippedTraces *prometheus.CounterVec
	contributions *prometheus.CounterVec
	rows          prometheus.Gauge
	openDays      prometheus.Gauge
	sealed        prometheus.Counter
	late          prometheus.Counter
	saves         prometheus.Counter
	saveFailures  prometheus.Counter
	regLookups    prometheus.Counter
	regFailures   prometheus.Counter
	spooled       prometheus.Counter
	reloadOK      prometheus.Gauge
	reloadTime    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "eidastatsd", Name: name, Help: help})
	}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "eidastatsd", Name: name, Help: help})
	}
	m := &metrics{
		lines:         c("lines_read_total", "Complete log lines read."),
		skippedLines:  prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eidastatsd", Name: "lines_skipped_total", Help: "Log lines skipped, by reason."}, []string{"reason"}),
		skippedTraces: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eidastatsd", Name: "traces_skipped_total", Help: "OK trace items skipped, by reason."}, []string{"reason"}),
		contributions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "eidastatsd", Name: "contributions_total", Help: "Contributions to statistic rows, by request status (OK, NODATA, DENIED, ERROR, other)."}, []string{"status"}),
		rows:          g("rows", "Statistic rows held in memory for open days."),
		openDays:      g("open_day_tables", "Days being aggregated and not yet sealed (one table each)."),
		sealed:        c("day_seals_total", "Days sealed into a payload."),
		late:          c("late_lines_total", "Lines that arrived for an already sealed day (shipped as a supplementary payload)."),
		saves:         c("state_saves_total", "Checkpoints written."),
		saveFailures:  c("state_save_failures_total", "Checkpoints that could not be written."),
		regLookups:    c("registry_lookups_total", "Fetches of the FDSN network registry."),
		regFailures:   c("registry_failures_total", "Failed fetches of the FDSN network registry."),
		spooled:       c("payloads_spooled_total", "Payloads written to the spool."),
		reloadOK:      g("config_last_reload_successful", "Whether the last configuration reload (SIGHUP) succeeded."),
		reloadTime:    g("config_last_reload_success_timestamp_seconds", "Unix time of the last successful configuration (re)load."),
	}
	for _, r := range lineReasons {
		m.skippedLines.WithLabelValues(string(r))
	}
	for _, r := range traceReasons {
		m.skippedTraces.WithLabelValues(string(r))
	}
	for _, st := range statuses {
		m.contributions.WithLabelValues(st)
	}
	reg.MustRegister(m.lines, m.skippedLines, m.skippedTraces, m.contributions, m.rows, m.openDays, m.sealed, m.late,
		m.saves, m.saveFailures, m.regLookups, m.regFailures, m.spooled, m.reloadOK, m.reloadTime)
	return m
}
