package cli

import "context"

// shipAggregate sends the file aggregate just wrote, like the Python tool's
// --send-to.
func shipAggregate(ctx context.Context, stdio Stdio, url, token, path string) int {
	return shipFile(ctx, stdio, url, token, path)
}
