package cli

import (
	"fmt"
	"io"

	"gopkg.in/yaml.v3"

	"github.com/eida/eidastatsd/pkg/config"
)

func printYAML(w io.Writer, c *config.Config) int {
	out, err := yaml.Marshal(c)
	if err != nil {
		fmt.Fprintln(w, err)
		return ExitFail
	}
	w.Write(out)
	return ExitOK
}
