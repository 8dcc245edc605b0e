//go:build !linux

package bench

import (
	"errors"
	"time"
)

// processCPU: another process's CPU time is read only on Linux.
func processCPU(pid int) (time.Duration, error) {
	return 0, errors.New("the server's CPU time is measured only on Linux (/proc)")
}

// processRSS: a process's resident memory is read only on Linux.
func processRSS(pid int) (int64, error) {
	return 0, errors.New("resident memory is measured only on Linux (/proc)")
}
