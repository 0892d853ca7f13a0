package sender

import "github.com/prometheus/client_golang/prometheus"

func newPrivateRegistry() prometheus.Registerer { return prometheus.NewRegistry() }
