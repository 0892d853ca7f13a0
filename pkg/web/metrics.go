package web

import (
	"fmt"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric of the project.
const Namespace = "eidastatsd"

// RegisterBuildInfo registers eidastatsd_build_info{version,revision,goversion} 1,
// the usual way to expose which build runs (join on it in PromQL).
func RegisterBuildInfo(reg prometheus.Registerer, version, revision string) error {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "build_info",
		Help:      "A metric with a constant '1' value labeled by version, revision and goversion from which eidastatsd was built.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(version, revision, runtime.Version()).Set(1)
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("web: register build info: %w", err)
	}
	return nil
}

// RegisterRuntime registers the standard Go runtime (go_*) and process
// (process_*) collectors, which a private registry lacks.
func RegisterRuntime(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("web: register runtime collectors: %w", err)
		}
	}
	return nil
}
