//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// filesMargin is the open files a run needs besides its connections:
// standard streams, the poller, /proc reads, DNS lookups.
const filesMargin = 100

// openFileLimit returns how many files this process may open: the soft
// RLIMIT_NOFILE, raised first to the hard limit. Go (1.19 and later)
// already raises it to just below the hard limit at start; this raises
// it the rest of the way where Go did not.
func openFileLimit() (uint64, bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, false
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	return lim.Cur, true
}

// checkOpenFiles fails when n connections (each an open file) plus a
// margin do not fit under the open-file limit: better at once than half
// way through a ramp.
func checkOpenFiles(n int, what string) error {
	limit, ok := openFileLimit()
	if !ok || uint64(n)+filesMargin <= limit {
		return nil
	}
	return fmt.Errorf("bench: %d %s need about %d open files, but this process may open only %d (RLIMIT_NOFILE, see ulimit -n and -Hn): raise the limit or run several generators",
		n, what, n+filesMargin, limit)
}

// filesBudget returns how many connections fit under the open-file limit
// (at least 1), at most want.
func filesBudget(want int) int {
	limit, ok := openFileLimit()
	if !ok || uint64(want)+filesMargin <= limit {
		return want
	}
	if limit <= filesMargin {
		return 1
	}
	return int(limit - filesMargin)
}
