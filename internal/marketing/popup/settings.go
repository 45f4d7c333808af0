package popup

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/capturepopup"
)

// FrequencyMode says how often one visitor may see a popup.
type FrequencyMode string

// The frequency modes.
const (
	// FrequencyOncePerVisitor: never again after the first view.
	FrequencyOncePerVisitor FrequencyMode = "ONCE_PER_VISITOR"
	// FrequencyOncePerSession: at most once in each browsing session.
	FrequencyOncePerSession FrequencyMode = "ONCE_PER_SESSION"
	// FrequencyEveryNDays: again once Days days have passed since the last view.
	FrequencyEveryNDays FrequencyMode = "EVERY_N_DAYS"
	// FrequencyEveryPageView: on every matching page view until submitted.
	FrequencyEveryPageView FrequencyMode = "EVERY_PAGE_VIEW"
)

// Frequency is a popup's frequency cap.
type Frequency struct {
	Mode FrequencyMode `json:"mode"`
	// Days is the wait of EVERY_N_DAYS (1–365); 0 for the other modes.
	Days int `json:"days,omitempty"`
}

// Settings is the storefront configuration of a popup that has no column of
// its own: page targeting, triggers and frequency. It is stored as JSON in
// capture_popups.targeting (see docs/popups.md); the trigger, trigger_value
// and frequency_cap_days columns mirror it for admin lists.
type Settings struct {
	// IncludePaths and ExcludePaths are path patterns in canonical form
	// (ParsePattern). No include pattern means every page.
	IncludePaths []string `json:"include"`
	ExcludePaths []string `json:"exclude"`
	// The triggers: the storefront shows the popup when the first enabled
	// one fires — DelaySeconds after the page loaded, the visitor scrolled
	// ScrollDepthPercent of the page, or the pointer leaves the window
	// (ExitIntent). With none enabled it shows on load.
	DelaySeconds       int  `json:"delaySeconds"`
	ScrollDepthPercent int  `json:"scrollDepthPercent"`
	ExitIntent         bool `json:"exitIntent"`
	// Frequency caps how often one visitor sees the popup.
	Frequency Frequency `json:"frequency"`
}

// stored is the JSON layout of capture_popups.targeting.
type stored struct {
	Version   int        `json:"version"`
	Include   []string   `json:"include"`
	Exclude   []string   `json:"exclude"`
	Trigger   *trigger   `json:"trigger,omitempty"`
	Frequency *Frequency `json:"frequency,omitempty"`
}

type trigger struct {
	DelaySeconds       int  `json:"delaySeconds"`
	ScrollDepthPercent int  `json:"scrollDepthPercent"`
	ExitIntent         bool `json:"exitIntent"`
}

// SettingsOf decodes the settings of a popup. A popup written by something
// else than this package (a seed, an import) may lack parts of the JSON:
// the trigger then comes from the trigger/trigger_value columns and the
// frequency from frequency_cap_days (0: every page view, n: every n days).
func SettingsOf(p *ent.CapturePopup) Settings {
	var st stored
	if len(p.Targeting) > 0 {
		if raw, err := json.Marshal(p.Targeting); err == nil {
			_ = json.Unmarshal(raw, &st)
		}
	}
	s := Settings{IncludePaths: st.Include, ExcludePaths: st.Exclude}
	if st.Trigger != nil {
		s.DelaySeconds, s.ScrollDepthPercent, s.ExitIntent = st.Trigger.DelaySeconds, st.Trigger.ScrollDepthPercent, st.Trigger.ExitIntent
	} else {
		switch p.Trigger {
		case capturepopup.TriggerTIME_DELAY:
			s.DelaySeconds = p.TriggerValue
		case capturepopup.TriggerSCROLL:
			s.ScrollDepthPercent = p.TriggerValue
		case capturepopup.TriggerEXIT_INTENT:
			s.ExitIntent = true
		}
	}
	switch {
	case st.Frequency != nil && st.Frequency.Mode != "":
		s.Frequency = *st.Frequency
	case p.FrequencyCapDays > 0:
		s.Frequency = Frequency{Mode: FrequencyEveryNDays, Days: p.FrequencyCapDays}
	default:
		s.Frequency = Frequency{Mode: FrequencyEveryPageView}
	}
	return s
}

// targetingJSON is the value of the targeting column for s.
func targetingJSON(s Settings) map[string]any {
	st := stored{
		Version: 1, Include: nonNil(s.IncludePaths), Exclude: nonNil(s.ExcludePaths),
		Trigger:   &trigger{DelaySeconds: s.DelaySeconds, ScrollDepthPercent: s.ScrollDepthPercent, ExitIntent: s.ExitIntent},
		Frequency: &Frequency{Mode: s.Frequency.Mode, Days: s.Frequency.Days},
	}
	raw, _ := json.Marshal(st)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// primaryTrigger is the trigger column's mirror of s: the time delay, else
// the scroll depth, else exit intent, else on load.
func primaryTrigger(s Settings) (capturepopup.Trigger, int) {
	switch {
	case s.DelaySeconds > 0:
		return capturepopup.TriggerTIME_DELAY, s.DelaySeconds
	case s.ScrollDepthPercent > 0:
		return capturepopup.TriggerSCROLL, s.ScrollDepthPercent
	case s.ExitIntent:
		return capturepopup.TriggerEXIT_INTENT, 0
	default:
		return capturepopup.TriggerON_LOAD, 0
	}
}

// TargetingOf parses the page targeting of s. Stored patterns were
// validated when written; one that no longer parses (written by something
// else) fails closed: an include pattern matches nothing and an exclude
// pattern excludes every page.
func TargetingOf(s Settings) Targeting {
	var t Targeting
	for _, raw := range s.IncludePaths {
		p, _ := ParsePattern(raw) // the zero Pattern matches nothing
		t.Include = append(t.Include, p)
	}
	for _, raw := range s.ExcludePaths {
		p, err := ParsePattern(raw)
		if err != nil {
			p = Pattern{canon: "*", all: true}
		}
		t.Exclude = append(t.Exclude, p)
	}
	return t
}

// VisitorState is what the storefront remembers of one visitor's popups
// (in a cookie or local storage) and reports with activePopups.
type VisitorState struct {
	// SessionID is the current browsing session; ONCE_PER_SESSION compares
	// it with the session of the last view.
	SessionID string
	// SeenPopupIDs are popups shown (or dismissed) at least once, ever, when
	// the storefront kept no time for them.
	SeenPopupIDs []uuid.UUID
	// LastShown is when, and in which session, each popup was last shown.
	LastShown map[uuid.UUID]Shown
	// SubmittedPopupIDs are popups the visitor submitted: never shown again.
	SubmittedPopupIDs []uuid.UUID
}

// Shown is one popup's last view by a visitor.
type Shown struct {
	At        time.Time
	SessionID string
}

// Live reports whether a popup may show at now: ACTIVE and inside its
// schedule window (starts_at inclusive, ends_at exclusive).
func Live(p *ent.CapturePopup, now time.Time) bool {
	if p.Status != capturepopup.StatusACTIVE {
		return false
	}
	if p.StartsAt != nil && now.Before(*p.StartsAt) {
		return false
	}
	if p.EndsAt != nil && !now.Before(*p.EndsAt) {
		return false
	}
	return true
}

// Eligible applies a popup's frequency cap to one visitor at now:
//
//	submitted before           never again, whatever the mode
//	EVERY_PAGE_VIEW            shown
//	ONCE_PER_VISITOR           hidden once in SeenPopupIDs or LastShown
//	ONCE_PER_SESSION           hidden when last shown in this SessionID
//	EVERY_N_DAYS               hidden until Days×24h after the last view
//
// A last view in the future (a skewed or edited clock) counts as now. A
// popup in SeenPopupIDs without a LastShown entry has an unknown time and
// session, so only ONCE_PER_VISITOR hides it.
func Eligible(id uuid.UUID, f Frequency, v VisitorState, now time.Time) bool {
	if slices.Contains(v.SubmittedPopupIDs, id) {
		return false
	}
	last, shown := v.LastShown[id]
	switch f.Mode {
	case FrequencyOncePerVisitor:
		return !shown && !slices.Contains(v.SeenPopupIDs, id)
	case FrequencyOncePerSession:
		return !shown || v.SessionID == "" || last.SessionID != v.SessionID
	case FrequencyEveryNDays:
		if !shown {
			return true
		}
		at := last.At
		if at.After(now) {
			at = now
		}
		return !now.Before(at.Add(time.Duration(f.Days) * 24 * time.Hour))
	default:
		return true
	}
}
