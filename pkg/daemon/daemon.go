// Package daemon wires eidastatsd's long-running service: it follows the
// request log, keeps the open days' tables, seals finished days into
// payloads in the spool, checkpoints its state, and runs the sender and the
// HTTP endpoints. It is the only package that sees all the others.
package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eida/eidastatsd/pkg/aggregate"
	"github.com/eida/eidastatsd/pkg/buildinfo"
	"github.com/eida/eidastatsd/pkg/config"
	"github.com/eida/eidastatsd/pkg/follow"
	"github.com/eida/eidastatsd/pkg/logline"
	"github.com/eida/eidastatsd/pkg/networks"
	"github.com/eida/eidastatsd/pkg/payload"
	"github.com/eida/eidastatsd/pkg/spool"
	"github.com/eida/eidastatsd/pkg/state"
)

// Options for a daemon run.
type Options struct {
	Config   *config.Config
	Token    string
	Logger   *slog.Logger
	Registry *prometheus.Registry
	Now      func() time.Time
	// Ready is called with the readiness reasons (empty: ready).
	Ready func(name string, ok bool, reason string)
	// Started is called once the daemon reads the log (sd_notify READY).
	Started func()
}

// Daemon is one run.
type Daemon struct {
	o     Options
	cfg   *config.Config
	log   *slog.Logger
	m     *metrics
	sp    *spool.Spool
	store state.Store
	wake  chan struct{}

	mu  sync.Mutex // guards reg
	reg *networks.Registry

	days     *days
	pos      *follow.Position
	clock    int64 // latest log clock seen
	dirty    bool
	lastSave time.Time // last save attempt
	// lastLate is when late lines were last shipped: lines trickling in
	// for sealed days make one supplement per checkpoint interval, not
	// one per idle period.
	lastLate time.Time
	in       *aggregate.Ingester

	// since is where a run without a position starts (follow's
	// BackfillSince); saved until the first line gives a position, so that
	// a crash before then does not skip files rotated meanwhile.
	since string
	// saveFailing: the last save failed; saveErrLog: when that was last
	// logged (failures are retried every checkpoint interval, logged at
	// most once a minute).
	saveFailing bool
	saveErrLog  time.Time
	// committed: outbox payloads whose seal is in the current state
	// generation only; publishable: in both generations (so falling back
	// to the previous generation cannot count their lines again), waiting
	// to be moved into the spool.
	committed   []string
	publishable []string
	pubErrLog   time.Time
	// writeFail: when a payload could not be written to the outbox.
	writeFail, writeFailLog time.Time
}

// New prepares a daemon; Run starts it.
func New(o Options) (*Daemon, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Ready == nil {
		o.Ready = func(string, bool, string) {}
	}
	cfg := o.Config
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	if err := os.MkdirAll(outboxDir(cfg.StateDir), 0o750); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	sp, err := spool.Open(cfg.StateDir, o.Now)
	if err != nil {
		return nil, err
	}
	d := &Daemon{o: o, cfg: cfg, log: o.Logger, sp: sp, store: state.Store{Dir: cfg.StateDir},
		wake: make(chan struct{}, 1), days: newDays()}
	d.m = newMetrics(o.Registry)
	d.in = aggregate.NewIngester(registryFunc(d.registry))
	return d, nil
}

// Spool is the daemon's spool (the sender drains it).
func (d *Daemon) Spool() *spool.Spool { return d.sp }

// Wake is signalled whenever a payload is spooled.
func (d *Daemon) Wake() <-chan struct{} { return d.wake }

// ReloadResult records a SIGHUP reload outcome in the metrics.
func (d *Daemon) ReloadResult(ok bool) {
	if ok {
		d.m.reloadOK.Set(1)
		d.m.reloadTime.SetToCurrentTime()
	} else {
		d.m.reloadOK.Set(0)
	}
}

type registryFunc func() *networks.Registry

func (f registryFunc) Extend(code, start []byte) (string, networks.Result) {
	return f().Extend(code, start)
}

func (d *Daemon) registry() *networks.Registry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reg
}

func (d *Daemon) cachePath() string { return filepath.Join(d.cfg.StateDir, "networks.json") }

// refreshRegistry fetches the registry and caches it; on failure the cached
// copy (if any) stays in use.
func (d *Daemon) refreshRegistry(ctx context.Context) error {
	d.m.regLookups.Inc()
	data, err := networks.Fetch(ctx, &http.Client{Timeout: time.Minute}, d.cfg.Networks.Registry)
	if err == nil {
		var r *networks.Registry
		if r, err = networks.Parse(data); err == nil {
			if werr := spool.WriteFile(d.cachePath(), data); werr != nil {
				d.log.Warn("cannot cache the network registry", "err", werr)
			}
			d.mu.Lock()
			d.reg = r
			d.mu.Unlock()
			return nil
		}
	}
	d.m.regFailures.Inc()
	return err
}

func (d *Daemon) loadCachedRegistry() {
	data, err := os.ReadFile(d.cachePath())
	if err != nil {
		return
	}
	if r, err := networks.Parse(data); err == nil {
		d.mu.Lock()
		d.reg = r
		d.mu.Unlock()
	}
}

// Run follows the log until ctx is done, then saves the state.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.loadState(); err != nil {
		return err
	}
	if err := d.recoverOutbox(); err != nil {
		return err
	}
	if d.pos == nil && d.since == "" {
		// Fix the starting point now and save it: the follower starts
		// after the rotated files present now, like a fresh follow.New.
		d.since = d.cfg.Log.BackfillSince
		if d.since == "" {
			d.since = firstStartSince(d.cfg.Log.Path)
		}
	}
	// Recovered payloads are published once this save puts their seal in
	// both state generations.
	d.save()
	// The registry must be known before any line is read: a temporary code
	// is never keyed unextended. Without one, wait (the log keeps), retrying
	// after 1s, 2s, 4s... up to a minute.
	d.loadCachedRegistry()
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		err := d.refreshRegistry(ctx)
		if err == nil || d.registry() != nil {
			if err != nil {
				d.log.Warn("network registry unreachable, using the cached copy", "err", err)
			}
			break
		}
		d.o.Ready("registry", false, "network registry unreachable and no cached copy")
		d.log.Warn("network registry unreachable and no cached copy: waiting before reading the log", "err", err, "registry", d.cfg.Networks.Registry, "retry_in", wait)
		select {
		case <-ctx.Done():
			return d.finalSave()
		case <-time.After(wait):
		}
	}
	d.o.Ready("registry", true, "")
	lastRefresh := d.o.Now()

	fopts := follow.Options{
		Path: d.cfg.Log.Path, Start: d.pos, PollInterval: time.Duration(d.cfg.Log.PollInterval),
		IdleTimeout: 2 * time.Second, Logger: d.log, Now: d.o.Now, Metrics: followMetrics(d.o.Registry),
	}
	if d.pos == nil {
		fopts.BackfillSince = d.since
	}
	f, err := follow.New(fopts)
	if err != nil {
		return err
	}
	defer f.Close()
	if d.o.Started != nil {
		d.o.Started()
	}
	d.lastSave = d.o.Now()
	for {
		line, err := f.Next(ctx)
		switch {
		case err == nil:
			d.handle(line)
			if ctx.Err() != nil {
				// Next keeps handing out buffered lines after
				// cancellation: stop now, the checkpoint covers this line.
				return d.finalSave()
			}
			if d.o.Now().Sub(d.lastSave) >= d.checkpointInterval() {
				d.save()
			}
			continue
		case errors.Is(err, follow.ErrIdle):
		case ctx.Err() != nil:
			return d.finalSave()
		default:
			// Transient (the follower retries); not at the end of the log,
			// so no day may be sealed by the wall clock now.
			d.log.Warn("reading the log", "err", err)
			continue
		}
		// Idle at the end of the live file: caught up.
		d.o.Ready("log", true, "")
		d.sealByWallClock()
		if len(d.days.late) > 0 && d.o.Now().Sub(d.lastLate) >= d.checkpointInterval() {
			d.lastLate = d.o.Now()
			d.flushLate()
		}
		// Idle comes every IdleTimeout while following a live log: keep to
		// the checkpoint interval (a restart re-reads the rest exactly).
		if d.dirty && d.o.Now().Sub(d.lastSave) >= d.checkpointInterval() {
			d.save()
		}
		d.publishPending()
		if d.o.Now().Sub(lastRefresh) >= time.Duration(d.cfg.Networks.Refresh) {
			lastRefresh = d.o.Now()
			if err := d.refreshRegistry(ctx); err != nil {
				d.log.Warn("network registry refresh failed, keeping the cached copy", "err", err)
			}
		}
	}
}

var (
	followMetricsOnce sync.Map
)

// followMetrics registers the follower's metrics once per registry.
func followMetrics(reg *prometheus.Registry) *follow.Metrics {
	if v, ok := followMetricsOnce.Load(reg); ok {
		return v.(*follow.Metrics)
	}
	m, err := follow.NewMetrics(reg)
	if err != nil {
		return nil
	}
	followMetricsOnce.Store(reg, m)
	return m
}

func (d *Daemon) handle(line follow.Line) {
	d.m.lines.Inc()
	// The ingester's counts hold this line only; they feed the metrics.
	clear(d.in.Counts.SkippedLines)
	clear(d.in.Counts.SkippedTraces)
	clear(d.in.Counts.Contributions)
	advanced := false
	if line.TooLong {
		d.in.TooLong(line.Length)
	} else if ev := d.in.Line(line.Data, d.tableFor); ev != nil {
		if c := dayClock(ev.Date, ev.Second); c > d.clock {
			d.clock, advanced = c, true
		}
	}
	// The position must include this line before a seal checkpoints it,
	// or a restart would apply the line twice.
	p := line.Pos
	d.pos = &p
	d.dirty = true
	if advanced {
		d.sealByLogClock()
	}
	for r, n := range d.in.Counts.SkippedLines {
		d.m.skippedLines.WithLabelValues(string(r)).Add(float64(n))
	}
	for r, n := range d.in.Counts.SkippedTraces {
		d.m.skippedTraces.WithLabelValues(string(r)).Add(float64(n))
	}
	for s, n := range d.in.Counts.Contributions {
		d.m.contributions.WithLabelValues(s).Add(float64(n))
	}
	d.m.rows.Set(float64(d.days.rows()))
	d.m.openDays.Set(float64(len(d.days.open)))
}

// tableFor picks the open table of a day, its late table if it is sealed,
// or nil if an earlier run already shipped it and the state is gone.
func (d *Daemon) tableFor(day logline.Date, _ int) *aggregate.Table {
	if t, ok := d.days.open[day]; ok {
		return t
	}
	if _, sealed := d.days.next[day]; sealed {
		d.m.late.Inc()
		t, ok := d.days.late[day]
		if !ok {
			t = aggregate.NewTable()
			d.days.late[day] = t
		}
		return t
	}
	if d.days.lost[day] {
		return nil
	}
	if seqs := shippedSeqs(d.sp, day); len(seqs) > 0 {
		d.log.Error("lines for a day already shipped by an earlier run whose state is lost: skipped so that the day is not counted twice",
			"day", day.String(), "payloads", len(seqs))
		d.days.lost[day] = true
		return nil
	}
	t := aggregate.NewTable()
	d.days.open[day] = t
	return t
}

func (d *Daemon) grace() int64 { return int64(time.Duration(d.cfg.Aggregation.Grace) / time.Second) }

// sealByLogClock seals every open day D once the log is past D+1 00:00+grace.
func (d *Daemon) sealByLogClock() { d.sealDue(d.clock) }

// sealByWallClock seals when the wall clock is past D+1 00:00+grace and the
// reader is at the end of the live file.
func (d *Daemon) sealByWallClock() {
	now := d.o.Now().UTC()
	d.sealDue(dayClock(logline.Date{Year: now.Year(), Month: int(now.Month()), Day: now.Day()}, now.Hour()*3600+now.Minute()*60+now.Second()))
}

// sealDue seals, oldest first, every open day whose end plus grace is at or
// before clock. It runs for every line that advances the log clock, so the
// common case (nothing due) allocates nothing.
func (d *Daemon) sealDue(clock int64) {
	due := func(day logline.Date) bool { return clock >= dayClock(day, 0)+86400+d.grace() }
	found := false
	for day := range d.days.open {
		if due(day) {
			found = true
			break
		}
	}
	if !found {
		return
	}
	ds := make([]logline.Date, 0, len(d.days.open))
	for day := range d.days.open {
		if due(day) {
			ds = append(ds, day)
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].Before(ds[j]) })
	for _, day := range ds {
		d.seal(day)
	}
}

// seal turns an open day into its payload.
func (d *Daemon) seal(day logline.Date) {
	t := d.days.open[day]
	delete(d.days.open, day)
	seq := d.days.next[day]
	d.days.next[day] = seq + 1
	d.m.sealed.Inc()
	d.emit(day, seq, t, "sealed")
}

// flushLate ships the lines that arrived for sealed days as supplementary
// payloads.
func (d *Daemon) flushLate() {
	for day, t := range d.days.late {
		delete(d.days.late, day)
		seq := d.days.next[day]
		d.days.next[day] = seq + 1
		d.emit(day, seq, t, "supplement")
	}
}

// emit writes a payload to the outbox, commits the checkpoint, then moves
// the payload into the spool. A crash before the commit leaves an outbox
// file that recovery deletes (the day is still open in the state); after it,
// one that recovery moves on. So a day is spooled exactly once. The payload
// is moved only once a second checkpoint also made the previous state
// generation include the seal: a fallback to that generation (the current
// one corrupt) then never reads the day's lines again into a second payload.
func (d *Daemon) emit(day logline.Date, seq int, t *aggregate.Table, kind string) {
	if t.Len() == 0 {
		d.dirty = true
		return
	}
	putBack := func() {
		if kind == "sealed" {
			d.days.open[day] = t
		} else {
			d.days.late[day] = t
		}
		if seq == 0 {
			delete(d.days.next, day)
		} else {
			d.days.next[day] = seq
		}
	}
	retry := d.retryInterval()
	if (d.saveFailing && d.o.Now().Sub(d.lastSave) < retry) || d.o.Now().Sub(d.writeFail) < retry {
		// The state or the payload cannot be written: retried after the
		// retry interval, not at every idle second.
		putBack()
		return
	}
	p := t.Payload(d.o.Now().UTC().Format(payload.TimeLayout), buildinfo.PayloadVersion())
	name, err := spool.Name(p, seq)
	if err == nil {
		err = writePayload(filepath.Join(outboxDir(d.cfg.StateDir), name), p)
	}
	if err != nil {
		// Keep the day: put it back so that nothing is lost.
		if d.o.Now().Sub(d.writeFailLog) >= time.Minute {
			d.writeFailLog = d.o.Now()
			d.log.Error("cannot write payload; the day stays open and is retried", "day", day.String(), "err", err)
		}
		d.writeFail = d.o.Now()
		putBack()
		return
	}
	if !d.save() {
		// Not committed: keep the day in memory; the outbox file goes.
		putBack()
		os.Remove(filepath.Join(outboxDir(d.cfg.StateDir), name))
		return
	}
	d.log.Info("day sealed", "day", day.String(), "kind", kind, "rows", t.Len(), "file", name)
	d.committed = append(d.committed, name)
	d.save() // on success, publishes
}

func writePayload(path string, p *payload.Payload) error {
	var buf bytes.Buffer
	if err := p.WriteGzip(&buf); err != nil {
		return err
	}
	return spool.WriteFile(path, buf.Bytes())
}

// publishPending moves the payloads whose seal is in both state
// generations into the spool; those that cannot be moved stay in the
// outbox and are retried (and at restart by recoverOutbox).
func (d *Daemon) publishPending() {
	keep := d.publishable[:0]
	for _, name := range d.publishable {
		if err := d.publish(name); err != nil {
			keep = append(keep, name)
			if d.o.Now().Sub(d.pubErrLog) >= time.Minute {
				d.pubErrLog = d.o.Now()
				d.log.Error("cannot move payload into the spool; it stays in the outbox and is retried", "file", name, "err", err)
			}
			continue
		}
		d.log.Info("payload spooled", "file", name)
	}
	d.publishable = keep
}

// publish moves a committed outbox file into the spool.
func (d *Daemon) publish(name string) error {
	src := filepath.Join(outboxDir(d.cfg.StateDir), name)
	dst := filepath.Join(d.sp.Dir(spool.DirSpool), name)
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	syncDir(d.sp.Dir(spool.DirSpool))
	syncDir(outboxDir(d.cfg.StateDir))
	d.m.spooled.Inc()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return nil
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// save writes the checkpoint; it reports success. Then the payloads
// committed by an earlier checkpoint are in both generations: they are
// published.
func (d *Daemon) save() bool {
	c := d.days.snapshot(d.pos, d.clock)
	if d.pos == nil {
		c.Since = d.since
	}
	d.lastSave = d.o.Now()
	if err := d.store.Save(c); err != nil {
		d.m.saveFailures.Inc()
		d.o.Ready("state", false, "state directory not writable")
		if !d.saveFailing || d.o.Now().Sub(d.saveErrLog) >= time.Minute {
			d.saveErrLog = d.o.Now()
			d.log.Error("cannot save state; data is kept in memory and saved again later", "err", err)
		}
		d.saveFailing = true
		return false
	}
	if d.saveFailing {
		d.log.Info("state saved again")
		d.saveFailing = false
	}
	d.o.Ready("state", true, "")
	d.publishable = append(d.publishable, d.committed...)
	d.committed = d.committed[:0]
	d.publishPending()
	d.m.saves.Inc()
	d.m.rows.Set(float64(d.days.rows()))
	d.m.openDays.Set(float64(len(d.days.open)))
	d.dirty = false
	return true
}

// maxRetry bounds the retry interval of failed writes: a long checkpoint
// interval must not keep a freed disk unused for long.
const maxRetry = 30 * time.Second

// retryInterval is how often failed state or payload writes are retried.
func (d *Daemon) retryInterval() time.Duration {
	return min(time.Duration(d.cfg.Aggregation.CheckpointEvery), maxRetry)
}

// checkpointInterval is when the next checkpoint is due after the last
// attempt: checkpoint_every, or the retry interval while saving fails.
func (d *Daemon) checkpointInterval() time.Duration {
	if d.saveFailing {
		return d.retryInterval()
	}
	return time.Duration(d.cfg.Aggregation.CheckpointEvery)
}

// finalSave is the checkpoint at shutdown.
func (d *Daemon) finalSave() error {
	if !d.save() {
		return errors.New("state not saved at shutdown: the lines since the last checkpoint are read again at the next start")
	}
	return nil
}

// firstStartSince is the BackfillSince equivalent of a fresh follower: the
// day after the newest rotated file (or the earliest date if there is none).
func firstStartSince(path string) string {
	latest := ""
	matches, _ := filepath.Glob(path + ".[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*")
	for _, m := range matches {
		date := m[len(path)+1:][:10]
		if _, err := time.Parse(time.DateOnly, date); err == nil && date > latest {
			latest = date
		}
	}
	if latest == "" {
		return "0001-01-01"
	}
	t, _ := time.Parse(time.DateOnly, latest)
	return t.AddDate(0, 0, 1).Format(time.DateOnly)
}

func (d *Daemon) loadState() error {
	var c checkpoint
	used, problem, err := d.store.Load(&c)
	switch {
	case errors.Is(err, state.ErrNone):
		d.log.Info("no saved state: first start", "log", d.cfg.Log.Path, "backfill_since", d.cfg.Log.BackfillSince)
		return nil
	case err != nil:
		// Neither generation is usable: start over rather than crash-loop;
		// days already in the spool are protected by tableFor.
		d.log.Error("saved state unusable, starting without it", "err", err)
		return nil
	}
	if problem != nil {
		d.log.Warn("current state file unusable, using the previous generation", "file", used, "problem", problem)
	}
	days, err := restoreDays(c)
	if err != nil {
		d.log.Error("saved state unusable, starting without it", "err", err)
		return nil
	}
	d.days, d.pos, d.clock, d.since = days, c.Position, c.LogClock, c.Since
	// A previous generation may predate payloads already spooled: drop
	// such days from the tables instead of shipping them twice.
	for day := range d.days.open {
		seq := d.days.next[day]
		for _, s := range shippedSeqs(d.sp, day) {
			if s >= seq {
				d.log.Warn("state older than the spool: day already shipped, dropping its table", "day", day.String())
				delete(d.days.open, day)
				d.days.next[day] = s + 1
			}
		}
	}
	return nil
}

// recoverOutbox finishes or discards what a crash left between writing a
// payload and moving it into the spool.
func (d *Daemon) recoverOutbox() error {
	ents, err := os.ReadDir(outboxDir(d.cfg.StateDir))
	if err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		var y, m, dd, seq int
		if _, err := fmt.Sscanf(name, "%04d-%02d-%02d_%06d_", &y, &m, &dd, &seq); err != nil {
			continue
		}
		day := logline.Date{Year: y, Month: m, Day: dd}
		if next, ok := d.days.next[day]; ok && next > seq {
			// Committed: published after the next save (see emit).
			d.log.Info("recovered a committed payload", "file", name)
			d.committed = append(d.committed, name)
			continue
		}
		os.Remove(filepath.Join(outboxDir(d.cfg.StateDir), name))
	}
	return nil
}
