package cli

import (
	"context"
	"fmt"
)

// shipAggregate sends the file aggregate just wrote. It is replaced by the
// sender once pkg/sender lands.
func shipAggregate(ctx context.Context, stdio Stdio, url, token, path string) int {
	fmt.Fprintf(stdio.Err, "eidastatsd aggregate: sending is not available in this build; %s was written and can be sent with 'eidastatsd send'\n", path)
	return ExitFail
}
