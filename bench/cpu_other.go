//go:build !unix

package bench

import "time"

// selfCPU: not measured on this system.
func selfCPU() (time.Duration, bool) { return 0, false }
