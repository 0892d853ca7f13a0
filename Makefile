# Convenience targets; the scripts work without make.
.PHONY: build sample test bench install clean
build:
	go build -o bin/eidastatsd ./cmd/eidastatsd
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
