package mailtmpl

import (
	"fmt"
	"strings"
	"time"
)

// Data is everything a template may read: the root ("." at the top of a
// template and "$" everywhere). Its fields are the documented, stable
// variable set of docs/email-templates.md; a template that names anything
// else fails Validate.
//
// The caller fills Data from its own rows: the send pipeline from the
// customer, the store and the campaign, the preview from SampleData.
// Nothing in Data reaches the file system, the network or the database.
type Data struct {
	// Customer is the recipient.
	Customer Customer
	// Store is the sending store.
	Store Store
	// Products are products the email features (recommendations, a
	// campaign's picks, a post-purchase cross-sell). Render uses at most
	// Limits.MaxProducts of them.
	Products []Product
	// Cart is the recipient's cart (abandoned-cart mails); empty otherwise:
	// test it with {{if .Cart.Lines}}.
	Cart Cart
	// DiscountCode is a code the email offers, or "".
	DiscountCode string
	// UnsubscribeURL is the recipient's one-click unsubscribe link
	// (tracking.Keys.UnsubscribeURL). Marketing mail must show it.
	UnsubscribeURL string
	// ViewInBrowserURL opens the email as a web page.
	ViewInBrowserURL string
	// PreferencesURL manages the recipient's email preferences, or "".
	PreferencesURL string
	// SentAt is when the email is sent; Render sets the current time when
	// it is zero.
	SentAt time.Time
}

// Customer is the recipient's profile.
type Customer struct {
	FirstName string
	LastName  string
	Email     string
	// Attributes are the profile's custom properties (customers.properties):
	// {{.Customer.Attributes.tier}} or {{.Customer.Attr "tier"}}. A missing
	// attribute renders as the empty string; use default for a fallback.
	Attributes map[string]any
}

// FullName is "First Last", or whichever of the two is set.
func (c Customer) FullName() string {
	return strings.TrimSpace(c.FirstName + " " + c.LastName)
}

// Attr returns the custom attribute key, nil (rendered as "") when unset.
func (c Customer) Attr(key string) any { return c.Attributes[key] }

// Store is the sending store.
type Store struct {
	Name string
	// URL is the storefront's home page.
	URL string
	// Currency is the store's ISO 4217 currency code.
	Currency string
	// LogoURL is the store's logo image, or "".
	LogoURL string
}

// Money is an amount in minor units (cents) of an ISO 4217 currency. It
// prints formatted ({{.Price}} shows "$19.99"), like the money function.
type Money struct {
	Amount   int64
	Currency string
}

// String formats m with FormatMoney.
func (m Money) String() string { return FormatMoney(m.Amount, m.Currency) }

// Product is a product the email shows.
type Product struct {
	Title    string
	URL      string
	ImageURL string
	Price    Money
	// CompareAtPrice is the former price of a product on sale (zero
	// Amount: none).
	CompareAtPrice Money
}

// CartLine is one line of a cart.
type CartLine struct {
	Title        string
	VariantTitle string
	Quantity     int
	// Price is the unit price, Total the line's total.
	Price    Money
	Total    Money
	URL      string
	ImageURL string
}

// Cart is the recipient's cart.
type Cart struct {
	Lines []CartLine
	Total Money
	// URL brings the recipient back to the cart (or checkout).
	URL string
}

// ItemCount is the number of units in the cart.
func (c Cart) ItemCount() int {
	n := 0
	for _, l := range c.Lines {
		n += l.Quantity
	}
	return n
}

// SampleData is the Data of a preview and of Validate: a fictional
// customer of store with two products, a two-line cart, a discount code and
// every link set, so that every documented variable has a value. store's
// empty fields get sample values.
func SampleData(store Store) Data {
	if store.Name == "" {
		store.Name = "Sample Store"
	}
	if store.URL == "" {
		store.URL = "https://shop.example.com"
	}
	if store.Currency == "" {
		store.Currency = "USD"
	}
	base := strings.TrimRight(store.URL, "/")
	cur := store.Currency
	products := []Product{
		{Title: "Organic Cotton Tee", URL: base + "/products/organic-cotton-tee",
			ImageURL: base + "/images/tee.jpg", Price: Money{2500, cur}, CompareAtPrice: Money{3200, cur}},
		{Title: "Canvas Tote Bag", URL: base + "/products/canvas-tote-bag",
			ImageURL: base + "/images/tote.jpg", Price: Money{1800, cur}},
	}
	return Data{
		Customer: Customer{
			FirstName: "Jane", LastName: "Doe", Email: "jane.doe@example.com",
			Attributes: map[string]any{"tier": "gold", "points": 1200},
		},
		Store:    store,
		Products: products,
		Cart: Cart{
			Lines: []CartLine{
				{Title: products[0].Title, VariantTitle: "M / Black", Quantity: 2, Price: products[0].Price,
					Total: Money{5000, cur}, URL: products[0].URL, ImageURL: products[0].ImageURL},
				{Title: products[1].Title, Quantity: 1, Price: products[1].Price,
					Total: Money{1800, cur}, URL: products[1].URL, ImageURL: products[1].ImageURL},
			},
			Total: Money{6800, cur},
			URL:   base + "/cart",
		},
		DiscountCode:     "WELCOME10",
		UnsubscribeURL:   base + "/unsubscribe/sample",
		ViewInBrowserURL: base + "/email/sample",
		PreferencesURL:   base + "/email/preferences/sample",
		SentAt:           time.Date(2026, time.March, 14, 9, 30, 0, 0, time.UTC),
	}
}

// minorUnits are the currencies whose minor unit is not 1/100 (ISO 4217).
var minorUnits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// MinorUnits returns the number of decimals of currency (2 unless ISO 4217
// says otherwise).
func MinorUnits(currency string) int {
	if n, ok := minorUnits[strings.ToUpper(currency)]; ok {
		return n
	}
	return 2
}

// symbols are the prefixes FormatMoney writes instead of the code.
var symbols = map[string]string{
	"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩",
	"CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "BRL": "R$", "MXN": "MX$", "CNY": "CN¥",
}

// FormatMoney formats amount minor units of currency the English way:
// "$1,234.50", "€19.99", "¥1,200", "12.500 KWD" (a code suffix for
// currencies without a symbol here). The amount is exact: no floats.
func FormatMoney(amount int64, currency string) string {
	currency = strings.ToUpper(strings.TrimSpace(currency))
	digits := MinorUnits(currency)
	neg := amount < 0
	u := uint64(amount)
	if neg {
		u = uint64(-(amount + 1)) + 1 // also right for math.MinInt64
	}
	var div uint64 = 1
	for range digits {
		div *= 10
	}
	whole, frac := u/div, u%div
	s := groupThousands(whole)
	if digits > 0 {
		s += fmt.Sprintf(".%0*d", digits, frac)
	}
	if sym, ok := symbols[currency]; ok {
		s = sym + s
	} else if currency != "" {
		s += " " + currency
	}
	if neg {
		s = "-" + s
	}
	return s
}

func groupThousands(n uint64) string {
	s := fmt.Sprint(n)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
