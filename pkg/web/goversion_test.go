package web

import "runtime"

func goVersion() string { return runtime.Version() }
