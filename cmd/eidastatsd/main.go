// Command eidastatsd aggregates SeisComP fdsnws request logs into EIDA
// statistics and ships them to the central service.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/eida/eidastatsd/pkg/cli"
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cli.Main(ctx, os.Args[1:], cli.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Env: os.Getenv})
}
