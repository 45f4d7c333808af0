package tracking

import (
	"net/netip"
	"strings"
	"time"
)

// MachineRules are the heuristics that flag a pixel load as a machine open
// (email_opens.is_machine_open): not a person reading the email, so it is
// left out of open counts, unique opens and rates. The zero value uses the
// defaults.
type MachineRules struct {
	// MinDelay: a load sooner than this after the send is a machine
	// (security gateways and link scanners fetch images on delivery).
	// Default 3 s; negative disables the rule.
	MinDelay time.Duration
	// ExtraAgents are more user-agent substrings (case-insensitive) of
	// known machines.
	ExtraAgents []string
}

// Machine-open reasons.
const (
	ReasonNoUserAgent  = "no_user_agent"
	ReasonAppleMPP     = "apple_mail_privacy_protection"
	ReasonAppleNetwork = "apple_network"
	ReasonKnownAgent   = "known_machine_agent"
	ReasonTooSoon      = "too_soon_after_send"
)

// machineAgents are user-agent substrings (lower case) of prefetchers,
// security scanners, link checkers and HTTP libraries. Image proxies that
// fetch when a person opens the email (Gmail's GoogleImageProxy, Yahoo's,
// Outlook.com's) are not here: their loads are real opens.
var machineAgents = []string{
	"bot", "crawler", "spider", "slurp", "headlesschrome", "phantomjs",
	"python-requests", "python-urllib", "aiohttp", "curl/", "wget/", "go-http-client",
	"java/", "okhttp", "apache-httpclient", "libwww", "httpclient", "node-fetch", "axios/",
	"barracuda", "mimecast", "proofpoint", "symantec", "messagelabs", "trendmicro",
	"forcepoint", "sophos", "ironport", "fortiguard", "zscaler", "cloudmark", "trustwave",
	"safelinks", "microsoft office existence discovery", "ms-office", "scanner",
}

// appleNetwork is 17.0.0.0/8, which Apple owns whole: pixel loads from it
// are Apple's Mail Privacy Protection proxies (people on Apple's corporate
// network are too few to matter).
var appleNetwork = netip.MustParsePrefix("17.0.0.0/8")

// ClassifyOpen reports whether a pixel load is a machine open, and why.
// sentAt is when the email was handed to the provider (zero: unknown).
//
// The rules, first match wins:
//  1. No user agent at all.
//  2. Apple Mail Privacy Protection: Apple's proxy fetches every image of
//     every message when it arrives on an MPP-enabled device, with the bare
//     user agent "Mozilla/5.0" (no platform or engine), or from Apple's
//     17.0.0.0/8 network.
//  3. A known prefetcher, scanner or HTTP library (machineAgents plus
//     ExtraAgents), matched as a case-insensitive substring.
//  4. Loaded less than MinDelay after the send: gateways that scan on
//     delivery.
//
// These are heuristics: MPP also loads from other proxy networks with a
// normal-looking agent (those count as human), and a person who opens an
// email within seconds counts as a machine.
func (r MachineRules) ClassifyOpen(userAgent, ip string, sentAt, openedAt time.Time) (machine bool, reason string) {
	ua := strings.TrimSpace(userAgent)
	if ua == "" {
		return true, ReasonNoUserAgent
	}
	if ua == "Mozilla/5.0" {
		return true, ReasonAppleMPP
	}
	if addr, err := netip.ParseAddr(strings.TrimSpace(ip)); err == nil && appleNetwork.Contains(addr.Unmap()) {
		return true, ReasonAppleNetwork
	}
	lower := strings.ToLower(ua)
	for _, list := range [][]string{machineAgents, r.ExtraAgents} {
		for _, s := range list {
			if s != "" && strings.Contains(lower, strings.ToLower(s)) {
				return true, ReasonKnownAgent
			}
		}
	}
	delay := r.MinDelay
	if delay == 0 {
		delay = 3 * time.Second
	}
	if delay > 0 && !sentAt.IsZero() && openedAt.Sub(sentAt) < delay {
		return true, ReasonTooSoon
	}
	return false, ""
}
