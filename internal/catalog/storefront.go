package catalog

import (
	"context"
	"encoding/json"
	"math"
	"net/mail"
	"regexp"
	"sort"
	"strings"

	"github.com/omnisphere/omnisphere/ent"
)

// StorefrontInput is the input of UpdateStorefrontConfig. Nil and unset
// fields keep the stored value.
type StorefrontInput struct {
	StoreName        *string
	StoreDescription Nullable[string]
	SupportEmail     Nullable[string]
	DefaultLocale    *string
	// Theme and Branding replace the stored objects (a nil Value clears
	// them); they must have the shape of docs/catalog.md.
	Theme            Nullable[map[string]any]
	Branding         Nullable[map[string]any]
	Currency         *string
	TaxRateBps       *int
	PricesIncludeTax *bool
	GuestCheckout    *bool
	Published        *bool
	SEOTitle         Nullable[string]
	SEODescription   Nullable[string]
	SEOImageURL      Nullable[string]
	SocialLinks      Nullable[map[string]any]

	// ShowStockQuantity: whether visitors and customers see a variant's
	// exact quantityAvailable (else null).
	ShowStockQuantity *bool
}

var localeRe = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)

// UpdateStorefrontConfig changes the store's storefront settings (creating
// them at first).
func (s *Service) UpdateStorefrontConfig(ctx context.Context, in StorefrontInput) (*ent.StorefrontConfig, error) {
	p := &problems{}
	name := text(p, path("storeName"), in.StoreName, 200)
	desc := nullableText(p, path("storeDescription"), in.StoreDescription, maxDescription)
	email := nullableText(p, path("supportEmail"), in.SupportEmail, 254)
	if email.Value != nil {
		if a, err := mail.ParseAddress(*email.Value); err != nil || a.Address != *email.Value {
			p.add(CodeInvalid, path("supportEmail"), "supportEmail must be an email address")
		}
	}
	locale := text(p, path("defaultLocale"), in.DefaultLocale, 35)
	if locale != nil && !localeRe.MatchString(*locale) {
		p.add(CodeInvalid, path("defaultLocale"), "defaultLocale must be a BCP 47 language tag, e.g. en or fr-CA")
	}
	var currency *string
	if in.Currency != nil {
		c := strings.ToUpper(strings.TrimSpace(*in.Currency))
		if !IsCurrency(c) {
			p.add(CodeInvalid, path("currency"), "currency must be an ISO 4217 code, e.g. USD")
		}
		currency = &c
	}
	if in.TaxRateBps != nil && (*in.TaxRateBps < 0 || *in.TaxRateBps > 10000) {
		p.add(CodeInvalid, path("taxRateBps"), "taxRateBps must be between 0 and 10000")
	}
	seoTitle := nullableText(p, path("seoTitle"), in.SEOTitle, 255)
	seoDesc := nullableText(p, path("seoDescription"), in.SEODescription, 512)
	seoImage := in.SEOImageURL
	if seoImage.Value != nil {
		if u := checkURL(p, path("seoImageUrl"), *seoImage.Value); u == "" {
			seoImage = Null[string]()
		}
	}
	if in.Theme.Value != nil {
		ValidateTheme(p, path("theme"), *in.Theme.Value)
	}
	if in.Branding.Value != nil {
		ValidateBranding(p, path("branding"), *in.Branding.Value)
	}
	if in.SocialLinks.Value != nil {
		validateSocialLinks(p, path("socialLinks"), *in.SocialLinks.Value)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	var out *ent.StorefrontConfig
	err := s.inTx(ctx, func(ctx context.Context, c *ent.Client) error {
		cur, err := c.StorefrontConfig.Query().Only(ctx)
		if ent.IsNotFound(err) {
			cur, err = c.StorefrontConfig.Create().Save(ctx)
		}
		if err != nil {
			return err
		}
		u := c.StorefrontConfig.UpdateOne(cur)
		m := u.Mutation()
		if name != nil {
			u.SetStoreName(*name)
		}
		setNullable(desc, m.SetStoreDescription, m.ClearStoreDescription)
		setNullable(email, m.SetSupportEmail, m.ClearSupportEmail)
		if locale != nil {
			u.SetDefaultLocale(*locale)
		}
		setNullable(in.Theme, m.SetTheme, m.ClearTheme)
		setNullable(in.Branding, m.SetBranding, m.ClearBranding)
		setNullable(in.SocialLinks, m.SetSocialLinks, m.ClearSocialLinks)
		if currency != nil {
			u.SetCurrency(*currency)
		}
		if in.TaxRateBps != nil {
			u.SetTaxRateBps(*in.TaxRateBps)
		}
		if in.PricesIncludeTax != nil {
			u.SetPricesIncludeTax(*in.PricesIncludeTax)
		}
		if in.GuestCheckout != nil {
			u.SetGuestCheckout(*in.GuestCheckout)
		}
		if in.Published != nil {
			u.SetPublished(*in.Published)
		}
		if in.ShowStockQuantity != nil {
			u.SetShowStockQuantity(*in.ShowStockQuantity)
		}
		setNullable(seoTitle, m.SetSeoTitle, m.ClearSeoTitle)
		setNullable(seoDesc, m.SetSeoDescription, m.ClearSeoDescription)
		setNullable(trimmed(seoImage), m.SetSeoImageURL, m.ClearSeoImageURL)
		out, err = u.Save(ctx)
		return err
	})
	return done(out, err)
}

// ---- theme and branding shapes (docs/catalog.md) ---------------------------

var (
	hexColorRe = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)
	fontRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 '\-]{0,99}$`)
)

// shape describes a JSON object: each key's check.
type shape map[string]func(p *problems, at []string, v any)

// ValidateTheme checks a theme object against its documented shape:
//
//	{ "colors": {"primary", "secondary", "accent", "background", "text", "link": "#rgb" | "#rrggbb"},
//	  "fonts": {"heading", "body": font family name},
//	  "layout": {"productGrid": "grid" | "list", "productsPerRow": 2..6,
//	             "header": "left" | "centered", "showVendor": bool},
//	  "borderRadius": 0..32, "mode": "light" | "dark" | "auto" }
//
// Every key is optional; unknown keys are INVALID.
func ValidateTheme(p *problems, at []string, theme map[string]any) {
	themeShape.check(p, at, theme)
}

// ValidateBranding checks a branding object against its documented shape:
//
//	{ "logoUrl", "faviconUrl", "coverImageUrl": http(s) URL or /media/ path,
//	  "colors": {"primary", "secondary": "#rgb" | "#rrggbb"},
//	  "tagline": string of at most 200 bytes }
func ValidateBranding(p *problems, at []string, branding map[string]any) {
	brandingShape.check(p, at, branding)
}

var themeShape = shape{
	"colors": object(shape{
		"primary": color, "secondary": color, "accent": color,
		"background": color, "text": color, "link": color,
	}),
	"fonts":        object(shape{"heading": font, "body": font}),
	"layout":       object(shape{"productGrid": oneOf("grid", "list"), "productsPerRow": intIn(2, 6), "header": oneOf("left", "centered"), "showVendor": boolean}),
	"borderRadius": intIn(0, 32),
	"mode":         oneOf("light", "dark", "auto"),
}

var brandingShape = shape{
	"logoUrl": urlValue, "faviconUrl": urlValue, "coverImageUrl": urlValue,
	"colors":  object(shape{"primary": color, "secondary": color}),
	"tagline": stringMax(200),
}

func (sh shape) check(p *problems, at []string, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := sh[k]
		if !ok {
			p.add(CodeInvalid, append(append([]string{}, at...), k), "unknown key %q", k)
			continue
		}
		f(p, append(append([]string{}, at...), k), m[k])
	}
}

func object(sh shape) func(*problems, []string, any) {
	return func(p *problems, at []string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			p.add(CodeInvalid, at, "%s must be an object", at[len(at)-1])
			return
		}
		sh.check(p, at, m)
	}
}

func color(p *problems, at []string, v any) {
	if s, ok := v.(string); !ok || !hexColorRe.MatchString(s) {
		p.add(CodeInvalid, at, "%s must be a colour like #1a2b3c", at[len(at)-1])
	}
}

func font(p *problems, at []string, v any) {
	if s, ok := v.(string); !ok || !fontRe.MatchString(s) {
		p.add(CodeInvalid, at, "%s must be a font family name (letters, digits, spaces, ' and -)", at[len(at)-1])
	}
}

func boolean(p *problems, at []string, v any) {
	if _, ok := v.(bool); !ok {
		p.add(CodeInvalid, at, "%s must be true or false", at[len(at)-1])
	}
}

func urlValue(p *problems, at []string, v any) {
	s, ok := v.(string)
	if !ok {
		p.add(CodeInvalid, at, "%s must be a URL", at[len(at)-1])
		return
	}
	checkURL(p, at, s)
}

func stringMax(n int) func(*problems, []string, any) {
	return func(p *problems, at []string, v any) {
		if s, ok := v.(string); !ok || len(s) > n {
			p.add(CodeInvalid, at, "%s must be a string of at most %d bytes", at[len(at)-1], n)
		}
	}
}

func oneOf(vals ...string) func(*problems, []string, any) {
	return func(p *problems, at []string, v any) {
		if s, ok := v.(string); !ok || !contains(vals, s) {
			p.add(CodeInvalid, at, "%s must be one of %s", at[len(at)-1], strings.Join(vals, ", "))
		}
	}
}

func intIn(lo, hi int64) func(*problems, []string, any) {
	return func(p *problems, at []string, v any) {
		n, ok := integer(v)
		if !ok || n < lo || n > hi {
			p.add(CodeInvalid, at, "%s must be an integer from %d to %d", at[len(at)-1], lo, hi)
		}
	}
}

// integer reads a JSON number that is a whole number.
func integer(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case int32:
		return int64(n), true
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// validateSocialLinks: {"<network>": URL}, at most 20 networks of 1-32
// lowercase letters.
func validateSocialLinks(p *problems, at []string, m map[string]any) {
	if len(m) > 20 {
		p.add(CodeTooMany, at, "at most 20 social links")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kat := append(append([]string{}, at...), k)
		if !networkRe.MatchString(k) {
			p.add(CodeInvalid, kat, "network names are 1-32 lowercase letters")
			continue
		}
		urlValue(p, kat, m[k])
	}
}

var networkRe = regexp.MustCompile(`^[a-z]{1,32}$`)

// IsCurrency reports whether code is an active ISO 4217 currency code.
func IsCurrency(code string) bool { return currencies[code] }

var currencies = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND
		BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
		ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD
		JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
		MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
		RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND
		TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG`) {
		m[c] = true
	}
	return m
}()
