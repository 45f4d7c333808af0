// Package segment owns the rule language of DYNAMIC customer segments
// (docs/segments.md): parsing and validating a rule (Parse), evaluating it
// over one customer in Go (Evaluate), translating it to SQL for PostgreSQL
// and SQLite, and keeping segment_members current — a full refresh of one
// segment (Service.Refresh) and the re-evaluation of one customer against
// every DYNAMIC segment of the store (Service.ReevaluateCustomer), both
// writing a segment.entered outbox event per customer who joins.
package segment

import (
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
)

// Limits of a rule.
const (
	// MaxDepth is the deepest nesting of groups; the root group is depth 1.
	MaxDepth = 4
	// MaxConditions is the number of conditions (groups not counted) a rule
	// may hold.
	MaxConditions = 50
	// MaxListValues bounds the values of an in / not_in list.
	MaxListValues = 100
	// MaxFilters bounds the property filters of one event condition.
	MaxFilters = 5
	// MaxStringLength bounds every string value, in bytes.
	MaxStringLength = 255
	// MaxDays bounds every day count (windows, days_ago): 100 years.
	MaxDays = 36500
	// MaxCount bounds the count of an event condition.
	MaxCount = 1_000_000
	// maxNumber bounds numeric values, so that every backend compares them
	// exactly as float64.
	maxNumber = 1e15
)

// Kind is the kind of a condition.
type Kind string

// The kinds of conditions.
const (
	KindGroup     Kind = "group"
	KindProfile   Kind = "profile"
	KindAttribute Kind = "attribute"
	KindTag       Kind = "tag"
	KindEvent     Kind = "event"
	KindOrder     Kind = "order"
	KindConsent   Kind = "consent"
)

// Operator compares a value of the customer with the condition's value.
type Operator string

// The operators. Which ones a condition accepts depends on its kind and on
// the type of its field (docs/segments.md has the table).
const (
	OpEquals      Operator = "equals"
	OpNotEquals   Operator = "not_equals"
	OpContains    Operator = "contains"
	OpNotContains Operator = "not_contains"
	OpStartsWith  Operator = "starts_with"
	OpGreaterThan Operator = "greater_than"
	OpLessThan    Operator = "less_than"
	OpIn          Operator = "in"
	OpNotIn       Operator = "not_in"
	OpExists      Operator = "exists"
	OpNotExists   Operator = "not_exists"
	OpHas         Operator = "has"
	OpHasNot      Operator = "has_not"
	OpAtLeast     Operator = "at_least"
	OpAtMost      Operator = "at_most"
)

// Match says how a group combines its conditions.
type Match string

// The matches of a group.
const (
	MatchAll Match = "all"
	MatchAny Match = "any"
)

// Rule is a parsed, valid rule: what Parse returns, Evaluate and the SQL
// translation consume, and MarshalJSON writes back in canonical form (the
// form to store in customer_segments.rules).
type Rule struct {
	// Root is the top group.
	Root Condition
}

// Condition is one node of a rule: a group (Kind == KindGroup, with Match
// and Conditions) or a leaf condition of one of the other kinds.
type Condition struct {
	Kind Kind
	// Match and Conditions: groups only.
	Match      Match
	Conditions []Condition
	// Field: the profile field (profile) or the order metric (order).
	Field string
	// Key: the attribute key (attribute).
	Key string
	// Channel: "email" or "sms" (consent).
	Channel string
	// Event, Filters, Count and WithinDays: event conditions. WithinDays 0
	// means all time.
	Event      string
	Filters    []Filter
	Count      Count
	WithinDays int
	// Operator and Value: every leaf but event conditions.
	Operator Operator
	Value    Value
}

// Filter is a property filter of an event condition.
type Filter struct {
	Property string
	Operator Operator
	Value    Value
}

// Count is the count clause of an event condition: at_least or at_most N.
type Count struct {
	Operator Operator
	N        int
}

// valueType is the type of a Value.
type valueType int

const (
	vNone    valueType = iota // exists, not_exists
	vString                   // Str
	vNumber                   // Num
	vBool                     // Bool
	vTime                     // Time (absolute)
	vDaysAgo                  // Days: now minus Days days
	vDays                     // Days: a window length (order recency)
	vStrings                  // Strs
	vNumbers                  // Nums
	vIDs                      // IDs
)

// Value is the parsed value of a condition.
type Value struct {
	typ  valueType
	Str  string
	Num  float64
	Bool bool
	Time time.Time
	Days int
	Strs []string
	Nums []float64
	IDs  []uuid.UUID
}

// at returns the instant a time value stands for, given now.
func (v Value) at(now time.Time) time.Time {
	if v.typ == vDaysAgo {
		return daysBefore(now, v.Days)
	}
	return v.Time
}

// daysBefore is now minus n days of 24 hours, in UTC.
func daysBefore(now time.Time, n int) time.Time {
	return now.UTC().Add(-time.Duration(n) * 24 * time.Hour)
}

// fieldType is the type of a profile field.
type fieldType int

const (
	tString fieldType = iota
	tEnum
	tNumber
	tTime
	tBool
)

// profileField is one customer column a profile (or order) condition may
// read.
type profileField struct {
	col      string
	typ      fieldType
	nullable bool     // the column may be NULL (exists / not_exists apply)
	enum     []string // tEnum: the allowed values
	str      func(*ent.Customer) string
	num      func(*ent.Customer) float64
	time     func(*ent.Customer) *time.Time
	boolean  func(*ent.Customer) bool
}

func tp(t time.Time) *time.Time { return &t }

// profileFields is the whitelist of profile fields, by rule name.
var profileFields = map[string]profileField{
	"email":        {col: "email", typ: tString, str: func(c *ent.Customer) string { return c.Email }},
	"first_name":   {col: "first_name", typ: tString, str: func(c *ent.Customer) string { return c.FirstName }},
	"last_name":    {col: "last_name", typ: tString, str: func(c *ent.Customer) string { return c.LastName }},
	"phone":        {col: "phone", typ: tString, nullable: true, str: func(c *ent.Customer) string { return c.Phone }},
	"locale":       {col: "locale", typ: tString, nullable: true, str: func(c *ent.Customer) string { return c.Locale }},
	"timezone":     {col: "timezone", typ: tString, nullable: true, str: func(c *ent.Customer) string { return c.Timezone }},
	"country":      {col: "country", typ: tString, nullable: true, str: func(c *ent.Customer) string { return c.Country }},
	"city":         {col: "city", typ: tString, nullable: true, str: func(c *ent.Customer) string { return c.City }},
	"currency":     {col: "currency", typ: tString, str: func(c *ent.Customer) string { return c.Currency }},
	"utm_source":   {col: "utm_source", typ: tString, nullable: true, str: func(c *ent.Customer) string { return c.UtmSource }},
	"utm_medium":   {col: "utm_medium", typ: tString, nullable: true, str: func(c *ent.Customer) string { return c.UtmMedium }},
	"utm_campaign": {col: "utm_campaign", typ: tString, nullable: true, str: func(c *ent.Customer) string { return c.UtmCampaign }},
	"referrer":     {col: "referrer", typ: tString, nullable: true, str: func(c *ent.Customer) string { return c.Referrer }},
	"status": {col: "status", typ: tEnum, enum: []string{"ACTIVE", "DISABLED", "DELETED"},
		str: func(c *ent.Customer) string { return string(c.Status) }},
	"source": {col: "source", typ: tEnum, enum: []string{"STOREFRONT", "CHECKOUT", "POPUP", "ADMIN", "IMPORT", "API"},
		str: func(c *ent.Customer) string { return string(c.Source) }},
	"email_opt_in_level": {col: "email_opt_in_level", typ: tEnum, enum: []string{"SINGLE_OPT_IN", "CONFIRMED_OPT_IN", "UNKNOWN"},
		str: func(c *ent.Customer) string { return string(c.EmailOptInLevel) }},
	"email_verified": {col: "email_verified", typ: tBool, boolean: func(c *ent.Customer) bool { return c.EmailVerified }},
	"created_at":     {col: "created_at", typ: tTime, time: func(c *ent.Customer) *time.Time { return tp(c.CreatedAt) }},
	"last_seen_at":   {col: "last_seen_at", typ: tTime, nullable: true, time: func(c *ent.Customer) *time.Time { return c.LastSeenAt }},
	"last_login_at":  {col: "last_login_at", typ: tTime, nullable: true, time: func(c *ent.Customer) *time.Time { return c.LastLoginAt }},
	"first_order_at": {col: "first_order_at", typ: tTime, nullable: true, time: func(c *ent.Customer) *time.Time { return c.FirstOrderAt }},
	"last_order_at":  {col: "last_order_at", typ: tTime, nullable: true, time: func(c *ent.Customer) *time.Time { return c.LastOrderAt }},
	"email_consented_at": {col: "email_consented_at", typ: tTime, nullable: true,
		time: func(c *ent.Customer) *time.Time { return c.EmailConsentedAt }},
	"email_unsubscribed_at": {col: "email_unsubscribed_at", typ: tTime, nullable: true,
		time: func(c *ent.Customer) *time.Time { return c.EmailUnsubscribedAt }},
	"lifetime_value_amount": {col: "lifetime_value_amount", typ: tNumber,
		num: func(c *ent.Customer) float64 { return float64(c.LifetimeValueAmount) }},
	"order_count": {col: "order_count", typ: tNumber, num: func(c *ent.Customer) float64 { return float64(c.OrderCount) }},
	"average_order_value_amount": {col: "average_order_value_amount", typ: tNumber,
		num: func(c *ent.Customer) float64 { return float64(c.AverageOrderValueAmount) }},
}

// The order metrics of order conditions.
const (
	OrderTotalSpent          = "total_spent"
	OrderOrdersCount         = "orders_count"
	OrderAverageOrderValue   = "average_order_value"
	OrderLastOrderWithinDays = "last_order_within_days"
	OrderNoOrderWithinDays   = "no_order_within_days"
	OrderBoughtProduct       = "bought_product"
	OrderBoughtCategory      = "bought_category"
)

// orderNumberFields maps the numeric order metrics to their profile field.
var orderNumberFields = map[string]string{
	OrderTotalSpent:        "lifetime_value_amount",
	OrderOrdersCount:       "order_count",
	OrderAverageOrderValue: "average_order_value_amount",
}

// purchasedStatuses are the order statuses that count as a purchase for
// bought_product and bought_category.
var purchasedStatuses = []string{"PAID", "FULFILLED", "DELIVERED", "PARTIALLY_REFUNDED"}

// consentValues are the consent states per channel.
var consentValues = map[string][]string{
	"email": {"SUBSCRIBED", "UNSUBSCRIBED", "PENDING", "BOUNCED", "COMPLAINED"},
	"sms":   {"SUBSCRIBED", "UNSUBSCRIBED", "PENDING"},
}

// walk calls fn for every leaf condition of c.
func (c *Condition) walk(fn func(*Condition)) {
	if c.Kind == KindGroup {
		for i := range c.Conditions {
			c.Conditions[i].walk(fn)
		}
		return
	}
	fn(c)
}
