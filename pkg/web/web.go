// Package web serves the daemon's operational HTTP endpoints: Prometheus
// metrics, liveness, readiness and a small index page.
package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultListen is the default http.listen address: loopback only, because
// the metrics reveal traffic volumes; 9469 is free in the Prometheus
// default port allocation list.
const DefaultListen = "127.0.0.1:9469"

// shutdownTimeout bounds how long in-flight scrapes may delay shutdown.
const shutdownTimeout = 5 * time.Second

// Options configure the handler.
type Options struct {
	// Gatherer is the private registry served on /metrics (required).
	Gatherer prometheus.Gatherer
	// NotReady returns why the daemon is not ready; empty means ready. Nil
	// means always ready.
	NotReady func() []string
	// Version is shown on the index page.
	Version string
	// Logger receives errors from the metrics handler; nil discards them.
	Logger *slog.Logger
}

// NewHandler returns the mux for /metrics, /-/healthy, /-/ready and /.
func NewHandler(o Options) (http.Handler, error) {
	if o.Gatherer == nil {
		return nil, errors.New("web: Gatherer is required")
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      slogErrorLog{logger},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "eidastatsd is healthy.")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		var reasons []string
		if o.NotReady != nil {
			reasons = o.NotReady()
		}
		if len(reasons) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "eidastatsd is not ready:")
			for _, r := range reasons {
				fmt.Fprintln(w, "- "+r)
			}
			return
		}
		fmt.Fprintln(w, "eidastatsd is ready.")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := indexTmpl.Execute(w, o.Version); err != nil {
			logger.Warn("render index page", "err", err)
		}
	})
	return mux, nil
}

var indexTmpl = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>eidastatsd</title></head>
<body>
<h1>eidastatsd</h1>
<p>EIDA download statistics daemon{{if .}}, version {{.}}{{end}}.</p>
<ul>
<li><a href="metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="-/healthy">/-/healthy</a>: liveness</li>
<li><a href="-/ready">/-/ready</a>: readiness, with the reasons when not ready</li>
</ul>
</body></html>
`))

// slogErrorLog adapts slog to promhttp's Logger interface.
type slogErrorLog struct{ l *slog.Logger }

func (s slogErrorLog) Println(v ...any) {
	s.l.Warn("serving metrics", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}

// Server is an HTTP server bound to its address at construction, so that a
// port in use is reported at start-up rather than later.
type Server struct {
	ln     net.Listener
	srv    *http.Server
	logger *slog.Logger
}

// Listen binds addr (DefaultListen when empty) and prepares to serve h.
func Listen(addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	if addr == "" {
		addr = DefaultListen
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("web: listen on %s: %w", addr, err)
	}
	return &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		logger: logger,
	}, nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx is cancelled, then shuts down gracefully, giving
// in-flight requests a few seconds. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.logger.Info("http server listening", "addr", s.ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("web: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web: serve: %w", err)
	}
	return nil
}
