//go:build !unix

package campaign

import "time"

// processCPU is not measured here.
func processCPU() time.Duration { return 0 }
