// Package proc reads what the load benchmarks report of a process on Linux:
// its CPU time and resident memory, from /proc/<pid>. The benchmarks run
// the server as a separate process and measure it from outside, so that
// the figures include everything the process does (GC, the pool, background
// loops), not only the request path.
package proc

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CPUTicks returns the user plus system CPU time of pid in clock ticks
// (utime + stime of /proc/<pid>/stat; `getconf CLK_TCK` ticks a second).
func CPUTicks(pid int) (int64, error) {
	if pid <= 0 {
		return 0, errors.New("proc: no pid")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name (which may hold spaces):
	// state is field 3, utime field 14, stime field 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("proc: short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + k, errors.Join(err1, err2)
}

// RSS returns the resident set size of pid in KiB (VmRSS of
// /proc/<pid>/status, what ps -o rss shows).
func RSS(pid int) (int64, error) {
	if pid <= 0 {
		return 0, errors.New("proc: no pid")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("proc: no VmRSS")
}

// PeakRSS samples the RSS of pid every interval from now until the returned
// function is called, which answers the largest sample in KiB (0 when pid
// is 0 or could not be read).
func PeakRSS(ctx context.Context, pid int, interval time.Duration) (stop func() int64) {
	var peak atomic.Int64
	if pid <= 0 {
		return func() int64 { return 0 }
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if kb, err := RSS(pid); err == nil && kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		cancel()
		wg.Wait()
		return peak.Load()
	}
}

// Machine is the machine's CPU time so far, in clock ticks summed over its
// cores (the cpu line of /proc/stat).
type Machine struct {
	// Busy is every state but idle and iowait.
	Busy, Total int64
}

// MachineCPU reads the machine's CPU time: the difference of two readings
// says how busy the whole machine was in between, other processes included.
func MachineCPU() (Machine, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return Machine{}, errors.New("proc: unexpected /proc/stat")
	}
	var m Machine
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Machine{}, err
		}
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		m.Total += n
		if i != 3 && i != 4 { // idle, iowait
			m.Busy += n
		}
	}
	return m, nil
}
