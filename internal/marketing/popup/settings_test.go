package popup

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/capturepopup"
)

func TestEligible(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	id, other := uuid.New(), uuid.New()
	shown := func(ago time.Duration, session string) map[uuid.UUID]Shown {
		return map[uuid.UUID]Shown{id: {At: now.Add(-ago), SessionID: session}}
	}
	visitor := FrequencyOncePerVisitor
	session := FrequencyOncePerSession
	days := FrequencyEveryNDays
	always := FrequencyEveryPageView
	for _, tc := range []struct {
		name string
		f    Frequency
		v    VisitorState
		want bool
	}{
		{"visitor: never shown", Frequency{Mode: visitor}, VisitorState{}, true},
		{"visitor: other popup shown", Frequency{Mode: visitor}, VisitorState{SeenPopupIDs: []uuid.UUID{other}}, true},
		{"visitor: seen", Frequency{Mode: visitor}, VisitorState{SeenPopupIDs: []uuid.UUID{id}}, false},
		{"visitor: last shown long ago", Frequency{Mode: visitor}, VisitorState{LastShown: shown(400*24*time.Hour, "s0")}, false},
		{"session: never shown", Frequency{Mode: session}, VisitorState{SessionID: "s1"}, true},
		{"session: shown this session", Frequency{Mode: session}, VisitorState{SessionID: "s1", LastShown: shown(time.Minute, "s1")}, false},
		{"session: shown in an earlier session", Frequency{Mode: session}, VisitorState{SessionID: "s2", LastShown: shown(time.Minute, "s1")}, true},
		{"session: no session id", Frequency{Mode: session}, VisitorState{LastShown: shown(time.Minute, "")}, true},
		{"session: seen without a time", Frequency{Mode: session}, VisitorState{SessionID: "s1", SeenPopupIDs: []uuid.UUID{id}}, true},
		{"days: never shown", Frequency{Mode: days, Days: 7}, VisitorState{}, true},
		{"days: inside the wait", Frequency{Mode: days, Days: 7}, VisitorState{LastShown: shown(6*24*time.Hour, "")}, false},
		{"days: one second short", Frequency{Mode: days, Days: 7}, VisitorState{LastShown: shown(7*24*time.Hour-time.Second, "")}, false},
		{"days: exactly the wait", Frequency{Mode: days, Days: 7}, VisitorState{LastShown: shown(7*24*time.Hour, "")}, true},
		{"days: past the wait", Frequency{Mode: days, Days: 1}, VisitorState{LastShown: shown(25*time.Hour, "")}, true},
		{"days: future view counts as now", Frequency{Mode: days, Days: 1}, VisitorState{LastShown: shown(-48*time.Hour, "")}, false},
		{"days: seen without a time", Frequency{Mode: days, Days: 7}, VisitorState{SeenPopupIDs: []uuid.UUID{id}}, true},
		{"every page view: shown", Frequency{Mode: always}, VisitorState{SessionID: "s1", LastShown: shown(time.Second, "s1"), SeenPopupIDs: []uuid.UUID{id}}, true},
		{"unknown mode: every page view", Frequency{Mode: "WEIRD"}, VisitorState{LastShown: shown(time.Second, "")}, true},
		{"submitted: never again (every page view)", Frequency{Mode: always}, VisitorState{SubmittedPopupIDs: []uuid.UUID{id}}, false},
		{"submitted: never again (days)", Frequency{Mode: days, Days: 1}, VisitorState{SubmittedPopupIDs: []uuid.UUID{id}}, false},
		{"submitted other popup", Frequency{Mode: always}, VisitorState{SubmittedPopupIDs: []uuid.UUID{other}}, true},
	} {
		if got := Eligible(id, tc.f, tc.v, now); got != tc.want {
			t.Errorf("%s: Eligible = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLive(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	before, after := now.Add(-time.Hour), now.Add(time.Hour)
	for _, tc := range []struct {
		name         string
		status       capturepopup.Status
		starts, ends *time.Time
		want         bool
	}{
		{"active, no window", capturepopup.StatusACTIVE, nil, nil, true},
		{"draft", capturepopup.StatusDRAFT, nil, nil, false},
		{"paused", capturepopup.StatusPAUSED, nil, nil, false},
		{"started", capturepopup.StatusACTIVE, &before, nil, true},
		{"starts now", capturepopup.StatusACTIVE, &now, nil, true},
		{"not started", capturepopup.StatusACTIVE, &after, nil, false},
		{"ends later", capturepopup.StatusACTIVE, nil, &after, true},
		{"ends now", capturepopup.StatusACTIVE, nil, &now, false},
		{"ended", capturepopup.StatusACTIVE, &before, &before, false},
	} {
		p := &ent.CapturePopup{Status: tc.status, StartsAt: tc.starts, EndsAt: tc.ends}
		if got := Live(p, now); got != tc.want {
			t.Errorf("%s: Live = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSettingsRoundTripAndFallbacks(t *testing.T) {
	s := Settings{IncludePaths: []string{"/products/*"}, ExcludePaths: []string{"/cart"}, DelaySeconds: 5,
		ScrollDepthPercent: 40, ExitIntent: true, Frequency: Frequency{Mode: FrequencyOncePerSession}}
	got := SettingsOf(&ent.CapturePopup{Targeting: targetingJSON(s), Trigger: capturepopup.TriggerON_LOAD, FrequencyCapDays: 9})
	if strings.Join(got.IncludePaths, ",") != "/products/*" || strings.Join(got.ExcludePaths, ",") != "/cart" ||
		got.DelaySeconds != 5 || got.ScrollDepthPercent != 40 || !got.ExitIntent || got.Frequency != s.Frequency {
		t.Fatalf("round trip: got %+v, want %+v", got, s)
	}
	// A popup written by someone else: the columns decide.
	for _, tc := range []struct {
		trig  capturepopup.Trigger
		value int
		days  int
		want  Settings
	}{
		{capturepopup.TriggerTIME_DELAY, 12, 0, Settings{DelaySeconds: 12, Frequency: Frequency{Mode: FrequencyEveryPageView}}},
		{capturepopup.TriggerSCROLL, 60, 3, Settings{ScrollDepthPercent: 60, Frequency: Frequency{Mode: FrequencyEveryNDays, Days: 3}}},
		{capturepopup.TriggerEXIT_INTENT, 0, 7, Settings{ExitIntent: true, Frequency: Frequency{Mode: FrequencyEveryNDays, Days: 7}}},
		{capturepopup.TriggerON_LOAD, 0, 0, Settings{Frequency: Frequency{Mode: FrequencyEveryPageView}}},
	} {
		got := SettingsOf(&ent.CapturePopup{Trigger: tc.trig, TriggerValue: tc.value, FrequencyCapDays: tc.days,
			Targeting: map[string]any{"include": []any{"/x"}}})
		if got.DelaySeconds != tc.want.DelaySeconds || got.ScrollDepthPercent != tc.want.ScrollDepthPercent ||
			got.ExitIntent != tc.want.ExitIntent || got.Frequency != tc.want.Frequency || len(got.IncludePaths) != 1 {
			t.Errorf("columns %s/%d/%d: got %+v, want %+v", tc.trig, tc.value, tc.days, got, tc.want)
		}
	}
	for _, tc := range []struct {
		s     Settings
		trig  capturepopup.Trigger
		value int
	}{
		{Settings{DelaySeconds: 3, ScrollDepthPercent: 50, ExitIntent: true}, capturepopup.TriggerTIME_DELAY, 3},
		{Settings{ScrollDepthPercent: 50, ExitIntent: true}, capturepopup.TriggerSCROLL, 50},
		{Settings{ExitIntent: true}, capturepopup.TriggerEXIT_INTENT, 0},
		{Settings{}, capturepopup.TriggerON_LOAD, 0},
	} {
		if trig, v := primaryTrigger(tc.s); trig != tc.trig || v != tc.value {
			t.Errorf("primaryTrigger(%+v) = %s/%d, want %s/%d", tc.s, trig, v, tc.trig, tc.value)
		}
	}
}

func TestToken(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	old := []byte(strings.Repeat("o", 32))
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := confirmation{MerchantID: uuid.New(), CustomerID: uuid.New(), PopupID: uuid.New(), IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	tok := signToken(key, c)
	got, err := verifyToken([][]byte{key}, tok, now.Add(59*time.Minute))
	if err != nil || got != c {
		t.Fatalf("verify: %+v, %v", got, err)
	}
	if _, err := verifyToken([][]byte{key, old}, signToken(old, c), now); err != nil {
		t.Fatalf("old key: %v", err)
	}
	if _, err := verifyToken([][]byte{key}, tok, now.Add(time.Hour)); err != errTokenExpired {
		t.Fatalf("at expiry: %v, want expired", err)
	}
	body, sig, _ := strings.Cut(tok, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, bad := range map[string]string{
		"empty":            "",
		"no dot":           body + sig,
		"payload tampered": flip(body, 5) + "." + sig,
		"mac tampered":     body + "." + flip(sig, 3),
		"other key":        signToken(old, c),
		"truncated mac":    body + "." + sig[:20],
		"not base64":       "!!!." + sig,
		"too long":         tok + strings.Repeat("A", 300),
		"extra part":       tok + ".x",
	} {
		if _, err := verifyToken([][]byte{key}, bad, now); err != errTokenInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	// A tampered expiry is refused even when it is in the past.
	c2 := c
	c2.ExpiresAt = now.Add(-time.Hour)
	forged := signToken(old, c2)
	if _, err := verifyToken([][]byte{key}, forged, now); err != errTokenInvalid {
		t.Errorf("forged expired token: %v, want invalid", err)
	}
}
