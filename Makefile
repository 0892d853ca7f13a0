# Convenience targets; the scripts work without make.
.PHONY: build sample test bench install clean
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
build:
	go build -ldflags "-X github.com/eida/eidastatsd/pkg/buildinfo.revision=$(REVISION)" -o bin/eidastatsd ./cmd/eidastatsd
sample:
	scripts/sample
test:
	scripts/test
bench:
	test/bench/bench.sh
install: build
	DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) deploy/install.sh bin/eidastatsd
clean:
	rm -rf bin out
