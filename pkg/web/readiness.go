package web

import (
	"fmt"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Readiness collects named conditions that must all hold for the daemon to
// be ready (caught up with the log, state directory writable, token
// accepted, ...). It is safe for concurrent use; its NotReady method fits
// Options.NotReady, and it exports eidastatsd_ready.
type Readiness struct {
	mu      sync.Mutex
	reasons map[string]string // condition name -> reason; "" when it holds
}

// NewReadiness registers eidastatsd_ready on reg. With no condition set yet
// it is ready, so declare every condition as failing (Set(name, false,
// "starting")) before serving.
func NewReadiness(reg prometheus.Registerer) (*Readiness, error) {
	r := &Readiness{reasons: map[string]string{}}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "ready",
		Help:      "1 when eidastatsd is ready (see /-/ready for the reasons when not), else 0.",
	}, func() float64 {
		if len(r.NotReady()) == 0 {
			return 1
		}
		return 0
	})
	if err := reg.Register(g); err != nil {
		return nil, fmt.Errorf("web: register ready gauge: %w", err)
	}
	return r, nil
}

// Set records whether condition name holds; reason is shown while it does
// not, e.g. "not caught up with the log".
func (r *Readiness) Set(name string, ok bool, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.reasons[name] = ""
		return
	}
	if reason == "" {
		reason = name
	}
	r.reasons[name] = reason
}

// NotReady returns the reasons of the failing conditions, ordered by
// condition name so that the output is stable.
func (r *Readiness) NotReady() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.reasons))
	for n, reason := range r.reasons {
		if reason != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = r.reasons[n]
	}
	return out
}
