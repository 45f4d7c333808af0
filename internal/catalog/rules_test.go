package catalog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestSlugify(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"bench rule", "Amber Anchor 0001", "amber-anchor-0001"},
		{"runs of punctuation", "Tee -- Shirt!!  (Blue)", "tee-shirt-blue"},
		{"trimmed", "  --Hello--  ", "hello"},
		{"already a slug", "classic-tee", "classic-tee"},
		{"unicode letters kept", "Café Crème", "café-crème"},
		{"digits only", "2024", "2024"},
		{"nothing left", "!!! ---", ""},
		{"empty", "", ""},
		{"underscores are separators", "a_b__c", "a-b-c"},
		{"upper case", "ÉCOLE", "école"},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, Slugify(tc.in)) })
	}
}

func TestBaseAndUniqueSlug(t *testing.T) {
	t.Run("fallback when nothing is left", func(t *testing.T) {
		require.Equal(t, "product", baseSlug("???", "product"))
	})
	t.Run("cut to the base length on a rune boundary, no trailing dash", func(t *testing.T) {
		s := baseSlug(strings.Repeat("é", 150), "x") // 300 bytes
		require.LessOrEqual(t, len(s), maxBaseSlugLen)
		require.True(t, strings.HasPrefix(strings.Repeat("é", 150), s))
		s = baseSlug(strings.Repeat("a", 199)+" b", "x")
		require.Equal(t, strings.Repeat("a", 199), s)
	})
	for _, tc := range []struct {
		name  string
		taken []string
		want  string
	}{
		{"free", nil, "tee"},
		{"taken", []string{"tee"}, "tee-2"},
		{"several taken", []string{"tee", "tee-2", "tee-3"}, "tee-4"},
		{"gap is reused", []string{"tee", "tee-3"}, "tee-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			taken := map[string]bool{}
			for _, s := range tc.taken {
				taken[s] = true
			}
			require.Equal(t, tc.want, uniqueSlug("tee", taken))
		})
	}
}

func TestCombinations(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []Option
		titles []string
	}{
		{"no options: one default variant", nil, []string{""}},
		{"one option", []Option{{"Size", []string{"S", "M", "L"}}}, []string{"S", "M", "L"}},
		{"first option varies slowest", []Option{{"Size", []string{"S", "M"}}, {"Color", []string{"Red", "Blue"}}},
			[]string{"S / Red", "S / Blue", "M / Red", "M / Blue"}},
		{"three options", []Option{{"A", []string{"1", "2"}}, {"B", []string{"x"}}, {"C", []string{"p", "q"}}},
			[]string{"1 / x / p", "1 / x / q", "2 / x / p", "2 / x / q"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			combos := combinations(tc.opts)
			var titles []string
			keys := map[string]bool{}
			for _, c := range combos {
				titles = append(titles, variantTitle(tc.opts, c))
				keys[comboKey(tc.opts, c)] = true
			}
			require.Equal(t, tc.titles, titles)
			require.Len(t, keys, len(combos), "combination keys are distinct")
		})
	}
}

func TestNormalizeOptions(t *testing.T) {
	type want struct {
		code  Code
		field string
	}
	many := make([]string, 11)
	for i := range many {
		many[i] = string(rune('a' + i))
	}
	for _, tc := range []struct {
		name string
		in   []Option
		want []want
	}{
		{"fine", []Option{{" Size ", []string{" S", "M "}}}, nil},
		{"more than 3 options", []Option{{"A", []string{"1"}}, {"B", []string{"1"}}, {"C", []string{"1"}}, {"D", []string{"1"}}},
			[]want{{CodeTooMany, "input.options"}}},
		{"empty name", []Option{{" ", []string{"x"}}}, []want{{CodeRequired, "input.options.0.name"}}},
		{"repeated name ignoring case", []Option{{"Size", []string{"S"}}, {"size", []string{"M"}}},
			[]want{{CodeTaken, "input.options.1.name"}}},
		{"no values", []Option{{"Size", nil}}, []want{{CodeRequired, "input.options.0.values"}}},
		{"repeated value", []Option{{"Size", []string{"S", "S"}}}, []want{{CodeTaken, "input.options.0.values.1"}}},
		{"empty value", []Option{{"Size", []string{"S", ""}}}, []want{{CodeInvalid, "input.options.0.values.1"}}},
		{"more than 100 combinations", []Option{{"A", many}, {"B", many}}, []want{{CodeTooMany, "input.options"}}},
		{"exactly 100 combinations", []Option{{"A", many[:10]}, {"B", many[:10]}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &problems{}
			out := normalizeOptions(tc.in, p)
			var got []want
			for _, e := range p.list {
				got = append(got, want{e.Code, strings.Join(e.Field, ".")})
			}
			require.Equal(t, tc.want, got)
			if tc.want == nil {
				require.Len(t, out, len(tc.in))
				for _, o := range out {
					require.Equal(t, strings.TrimSpace(o.Name), o.Name)
				}
			}
		})
	}
}

func TestCheckOptionValues(t *testing.T) {
	opts := []Option{{"Size", []string{"S", "M"}}, {"Color", []string{"Red"}}}
	for _, tc := range []struct {
		name   string
		opts   []Option
		raw    map[string]any
		extend bool
		codes  []Code
	}{
		{"one value per option", opts, map[string]any{"Size": "M", "Color": "Red"}, false, nil},
		{"missing option", opts, map[string]any{"Size": "M"}, false, []Code{CodeRequired}},
		{"unknown value", opts, map[string]any{"Size": "XL", "Color": "Red"}, false, []Code{CodeInvalid}},
		{"unknown value extends", opts, map[string]any{"Size": "XL", "Color": "Red"}, true, nil},
		{"unknown option", opts, map[string]any{"Size": "M", "Color": "Red", "Fit": "Slim"}, false, []Code{CodeInvalid}},
		{"not a string", opts, map[string]any{"Size": 3, "Color": "Red"}, false, []Code{CodeInvalid}},
		{"values on a product without options", nil, map[string]any{"Size": "M"}, false, []Code{CodeInvalid}},
		{"none without options", nil, nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &problems{}
			checkOptionValues(tc.opts, tc.raw, path("optionValues"), tc.extend, p)
			var codes []Code
			for _, e := range p.list {
				codes = append(codes, e.Code)
			}
			require.Equal(t, tc.codes, codes)
		})
	}
}

func TestGeneratedSKUAndInferredOptions(t *testing.T) {
	opts := []Option{{"Size", []string{"M"}}, {"Color", []string{"Dark Red"}}}
	require.Equal(t, "CLASSIC-TEE-M-DARK-RED", generatedSKU("classic-tee", opts, map[string]string{"Size": "M", "Color": "Dark Red"}))
	require.Equal(t, "CLASSIC-TEE", generatedSKU("classic-tee", nil, nil))
	require.LessOrEqual(t, len(generatedSKU(strings.Repeat("x", 250), opts, map[string]string{"Size": strings.Repeat("m", 80)})), 90)

	got := inferOptions([]VariantInput{
		{OptionValues: map[string]any{"Size": "S"}},
		{OptionValues: map[string]any{"Size": "M"}},
		{OptionValues: map[string]any{"Size": "S"}},
	})
	require.Equal(t, []Option{{"Size", []string{"S", "M"}}}, got)
}

func TestReorder(t *testing.T) {
	ids := []string{"a", "b", "c", "d"}
	at := func(i int) *int { return &i }
	for _, tc := range []struct {
		name string
		id   string
		pos  *int
		want []string
	}{
		{"to the front", "c", at(0), []string{"c", "a", "b", "d"}},
		{"to the end (nil)", "a", nil, []string{"b", "c", "d", "a"}},
		{"past the end is clamped", "b", at(99), []string{"a", "c", "d", "b"}},
		{"negative is clamped", "d", at(-5), []string{"d", "a", "b", "c"}},
		{"new id inserted", "x", at(2), []string{"a", "b", "x", "c", "d"}},
		{"same place", "b", at(1), []string{"a", "b", "c", "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, reorder(ids, tc.id, tc.pos)) })
	}
}

func TestCreatesCycle(t *testing.T) {
	// root ─ a ─ b ─ c ; x (another root)
	id := func(b byte) uuid.UUID { return uuid.UUID{b} }
	root, a, b, c, x := id(1), id(2), id(3), id(4), id(5)
	parents := map[uuid.UUID]*uuid.UUID{root: nil, a: &root, b: &a, c: &b, x: nil}
	for _, tc := range []struct {
		name         string
		node, parent uuid.UUID
		want         bool
	}{
		{"under itself", a, a, true},
		{"under its child", a, b, true},
		{"under a grandchild", a, c, true},
		{"under another root", a, x, false},
		{"under its own parent", b, a, false},
		{"a leaf under the root", c, root, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, createsCycle(parents, tc.node, tc.parent))
		})
	}
	t.Run("a stored cycle is refused, not looped over", func(t *testing.T) {
		p, q := id(8), id(9)
		loop := map[uuid.UUID]*uuid.UUID{p: &q, q: &p}
		require.True(t, createsCycle(loop, id(7), p))
	})
}

func TestValidateThemeAndBranding(t *testing.T) {
	type want struct {
		code  Code
		field string
	}
	for _, tc := range []struct {
		name     string
		theme    string
		branding string
		want     []want
	}{
		{"full valid theme", `{"colors": {"primary": "#1a73e8", "secondary": "#fff", "accent": "#FBBC04", "background": "#ffffff", "text": "#202124", "link": "#1a0dab"},
			"fonts": {"heading": "Playfair Display", "body": "Inter"},
			"layout": {"productGrid": "grid", "productsPerRow": 4, "header": "centered", "showVendor": true},
			"borderRadius": 8, "mode": "dark"}`, "", nil},
		{"empty objects are fine", `{}`, `{}`, nil},
		{"unknown key", `{"colours": {}}`, "", []want{{CodeInvalid, "theme.colours"}}},
		{"bad colour", `{"colors": {"primary": "blue"}}`, "", []want{{CodeInvalid, "theme.colors.primary"}}},
		{"unknown colour", `{"colors": {"tertiary": "#000"}}`, "", []want{{CodeInvalid, "theme.colors.tertiary"}}},
		{"colors not an object", `{"colors": "#000"}`, "", []want{{CodeInvalid, "theme.colors"}}},
		{"font with markup", `{"fonts": {"body": "Inter</style>"}}`, "", []want{{CodeInvalid, "theme.fonts.body"}}},
		{"products per row out of range", `{"layout": {"productsPerRow": 9}}`, "", []want{{CodeInvalid, "theme.layout.productsPerRow"}}},
		{"products per row not whole", `{"layout": {"productsPerRow": 2.5}}`, "", []want{{CodeInvalid, "theme.layout.productsPerRow"}}},
		{"grid value", `{"layout": {"productGrid": "masonry"}}`, "", []want{{CodeInvalid, "theme.layout.productGrid"}}},
		{"show vendor not bool", `{"layout": {"showVendor": "yes"}}`, "", []want{{CodeInvalid, "theme.layout.showVendor"}}},
		{"mode", `{"mode": "sepia"}`, "", []want{{CodeInvalid, "theme.mode"}}},
		{"radius", `{"borderRadius": -1}`, "", []want{{CodeInvalid, "theme.borderRadius"}}},
		{"several problems, sorted by key", `{"mode": "x", "borderRadius": 99}`, "",
			[]want{{CodeInvalid, "theme.borderRadius"}, {CodeInvalid, "theme.mode"}}},
		{"valid branding", "", `{"logoUrl": "https://cdn.example.com/l.svg", "faviconUrl": "/media/demo/f.png",
			"colors": {"primary": "#000000"}, "tagline": "Hi"}`, nil},
		{"branding script URL", "", `{"logoUrl": "javascript:alert(1)"}`, []want{{CodeInvalid, "branding.logoUrl"}}},
		{"branding long tagline", "", `{"tagline": "` + strings.Repeat("x", 201) + `"}`, []want{{CodeInvalid, "branding.tagline"}}},
		{"branding unknown key", "", `{"font": "x"}`, []want{{CodeInvalid, "branding.font"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &problems{}
			if tc.theme != "" {
				var m map[string]any
				dec := json.NewDecoder(strings.NewReader(tc.theme))
				dec.UseNumber() // as gqlgen decodes variables
				require.NoError(t, dec.Decode(&m))
				ValidateTheme(p, []string{"theme"}, m)
			}
			if tc.branding != "" {
				var m map[string]any
				require.NoError(t, json.Unmarshal([]byte(tc.branding), &m))
				ValidateBranding(p, []string{"branding"}, m)
			}
			var got []want
			for _, e := range p.list {
				got = append(got, want{e.Code, strings.Join(e.Field, ".")})
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestIsCurrency(t *testing.T) {
	for code, ok := range map[string]bool{"USD": true, "EUR": true, "JPY": true, "usd": false, "US": false, "XXX": false, "ABC": false} {
		require.Equal(t, ok, IsCurrency(code), code)
	}
}

func TestSanitizeHTML(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"formatting kept", `<p>Soft <strong>cotton</strong><br>tee</p>`, `<p>Soft <strong>cotton</strong><br>tee</p>`},
		{"script dropped with its content", `<p>a</p><script>alert(1)</script><p>b</p>`, `<p>a</p><p>b</p>`},
		{"event handlers dropped", `<p onclick="x()">a</p>`, `<p>a</p>`},
		{"javascript link dropped", `<a href="javascript:alert(1)">x</a>`, `<a rel="nofollow noopener">x</a>`},
		{"safe link kept", `<a href="https://example.com/?a=1&b=2" target="_blank">x</a>`,
			`<a href="https://example.com/?a=1&amp;b=2" rel="nofollow noopener">x</a>`},
		{"unknown tags unwrapped, text escaped", `<blink>hi</blink> 1 < 2`, `hi 1 &lt; 2`},
		{"style element dropped", `<style>p{}</style>ok`, `ok`},
		{"inline style dropped", `<span style="color:red">x</span>`, `<span>x</span>`},
		{"image with data URL dropped src", `<img src="data:image/png;base64,xx" alt="a">`, `<img alt="a">`},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, SanitizeHTML(tc.in)) })
	}
}

// ---- import parsing -----------------------------------------------------------

func parseAll(t *testing.T, format Format, data string) ([]*record, error) {
	t.Helper()
	var recs []*record
	emit := func(r *record) error { recs = append(recs, r); return nil }
	var err error
	if format == FormatCSV {
		err = parseCSV(strings.NewReader(data), emit)
	} else {
		err = parseJSONL(strings.NewReader(data), emit)
	}
	return recs, err
}

func TestParseJSONL(t *testing.T) {
	t.Run("products, blank lines, BOM and CRLF", func(t *testing.T) {
		recs, err := parseAll(t, FormatJSONL, "\xef\xbb\xbf"+`{"title": "A", "price": 100}`+"\r\n\n  \n"+
			`{"slug": "b", "variants": [{"sku": "B-1", "price": 5, "inventory": 3}, {"sku": "B-2", "price": 6, "inventory": {"east": 2}}]}`)
		require.NoError(t, err)
		require.Len(t, recs, 2)
		require.Equal(t, 1, recs[0].row)
		require.Equal(t, "A", *recs[0].data.Title)
		require.Equal(t, int64(100), *recs[0].data.Price)
		require.Equal(t, 4, recs[1].row, "rows are lines, blank ones counted")
		vs := *recs[1].data.Variants
		require.Equal(t, map[string]int{"": 3}, vs[0].Inventory.levels())
		require.Equal(t, map[string]int{"EAST": 2}, vs[1].Inventory.levels(), "warehouse codes are upper-cased")
	})
	for _, tc := range []struct {
		name, line, field string
	}{
		{"not JSON", `{"title": `, ""},
		{"unknown field", `{"title": "A", "colour": "red"}`, "colour"},
		{"price not an integer", `{"title": "A", "price": 19.99}`, "price"},
		{"nested type error", `{"title": "A", "variants": [{"price": "ten"}]}`, "variants.price"},
		{"not an object", `[1, 2]`, ""},
		{"two objects", `{"title": "A"} {"title": "B"}`, ""},
		{"bad inventory", `{"title": "A", "variants": [{"inventory": "lots"}]}`, "inventory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := parseAll(t, FormatJSONL, tc.line)
			require.NoError(t, err)
			require.Len(t, recs, 1)
			require.Len(t, recs[0].errs, 1)
			e := recs[0].errs[0]
			require.Equal(t, CodeInvalid, e.Code)
			require.Equal(t, 1, e.Row)
			require.Equal(t, tc.field, e.Field)
		})
	}
	t.Run("a line too long is a row error, the next line still counts", func(t *testing.T) {
		long := `{"title": "` + strings.Repeat("x", maxLineBytes) + `"}`
		recs, err := parseAll(t, FormatJSONL, long+"\n"+`{"title": "B"}`)
		require.NoError(t, err)
		require.Len(t, recs, 2)
		require.Equal(t, CodeTooLong, recs[0].errs[0].Code)
		require.Equal(t, 2, recs[1].row)
		require.Empty(t, recs[1].errs)
	})
}

func TestParseCSV(t *testing.T) {
	t.Run("rows group into products", func(t *testing.T) {
		recs, err := parseAll(t, FormatCSV, "\xef\xbb\xbf"+`Slug,Title,Status,Tags,Option1 Name,option1_value,SKU,Price,Inventory,inventory_east,image_url,variant_image_url
classic-tee,Classic Tee,ACTIVE,"cotton, summer",Size,S,TEE-S,1999,100,5,https://x.test/a.jpg,
classic-tee,,,,,M,TEE-M,1999,60,,,https://x.test/m.jpg
,,,,,L,TEE-L,2199,0,,,
gift-card,Gift Card,,,,,,5000,,,,
,Mug,,,,,,800,,,,
`)
		require.NoError(t, err)
		require.Len(t, recs, 3)
		tee := recs[0]
		require.Equal(t, 2, tee.row)
		require.Equal(t, []int{2, 3, 4}, tee.variantRows)
		require.Equal(t, []string{"Size"}, tee.optionNames)
		require.Equal(t, &[]string{"cotton", "summer"}, tee.data.Tags)
		vs := *tee.data.Variants
		require.Len(t, vs, 3)
		require.Equal(t, map[string]any{"Size": "M"}, vs[1].OptionValues)
		require.Equal(t, map[string]int{"": 100, "EAST": 5}, vs[0].Inventory.levels())
		require.Equal(t, int64(2199), *vs[2].Price)
		imgs := *tee.data.Images
		require.Len(t, imgs, 2)
		require.Equal(t, 0, imgs[0].variant)
		require.Equal(t, 2, imgs[1].variant, "the variant image of the second variant")

		require.Equal(t, "Gift Card", *recs[1].data.Title)
		require.Nil(t, recs[1].data.Images)
		require.Equal(t, "Mug", *recs[2].data.Title, "a row with a title and no slug starts a product")
		require.Equal(t, 6, recs[2].row)
	})
	t.Run("cell errors name the row and the column", func(t *testing.T) {
		recs, err := parseAll(t, FormatCSV, "title,price,taxable,option1_value\nA,12.5,maybe,\nB,1,,S\n")
		require.NoError(t, err)
		require.Len(t, recs, 2)
		require.Equal(t, []RowError{
			{Row: 2, Field: "price", Code: CodeInvalid, Message: recs[0].errs[0].Message},
			{Row: 2, Field: "taxable", Code: CodeInvalid, Message: recs[0].errs[1].Message},
		}, recs[0].errs)
		require.Equal(t, "option1_value", recs[1].errs[0].Field, "a value without an option name")
	})
	t.Run("a row with a wrong number of fields", func(t *testing.T) {
		recs, err := parseAll(t, FormatCSV, "title,price\nA,1,2\nB,2\n")
		require.NoError(t, err)
		require.Len(t, recs, 2)
		require.Equal(t, 2, recs[0].errs[0].Row)
		require.Empty(t, recs[1].errs)
	})
	for _, tc := range []struct{ name, data string }{
		{"empty file", ""},
		{"unknown column", "title,colour\nA,red\n"},
		{"repeated column", "title,Title\nA,B\n"},
		{"no title or slug", "sku,price\nA,1\n"},
		{"bad quoting", "title,price\n\"A,1\nB\"x,2\n"},
	} {
		t.Run("file error: "+tc.name, func(t *testing.T) {
			_, err := parseAll(t, FormatCSV, tc.data)
			e, ok := IsUserError(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, []string{"input", "file"}, e.Errors[0].Field)
		})
	}
}

func TestRowErrorsMapToFileFields(t *testing.T) {
	e := &Error{Errors: []FieldError{
		{Field: path("variants", 1, "sku"), Code: CodeTaken},
		{Field: path("variants", 0, "optionValues", "Color"), Code: CodeInvalid},
		{Field: path("descriptionHtml"), Code: CodeTooLong},
		{Field: nil, Code: CodeTooMany},
	}}
	csvRec := &record{row: 5, csv: true, variantRows: []int{5, 6}, optionNames: []string{"Size", "Color"}}
	require.Equal(t, []RowError{
		{Row: 6, Field: "sku", Code: CodeTaken},
		{Row: 5, Field: "option2_value", Code: CodeInvalid},
		{Row: 5, Field: "description_html", Code: CodeTooLong},
		{Row: 5, Field: "", Code: CodeTooMany},
	}, csvRec.rowErrors(e))
	jsonRec := &record{row: 3}
	got := jsonRec.rowErrors(e)
	require.Equal(t, "variants.1.sku", got[0].Field)
	require.Equal(t, 3, got[0].Row)
}

// FuzzParseImport feeds arbitrary bytes to both import parsers: they answer
// with row or file errors, never a panic, and every record they emit is
// either well formed or carries its errors.
func FuzzParseImport(f *testing.F) {
	f.Add([]byte(`{"title": "A", "variants": [{"sku": "X", "price": 1, "inventory": {"M": 2}}]}`), false)
	f.Add([]byte("{\"slug\": \"x\"}\n\n[1]\n{"), false)
	f.Add([]byte("slug,title,option1_name,option1_value,sku,price,inventory_main\na,A,Size,S,A-S,1,3\na,,,M,A-M,2,\n"), true)
	f.Add([]byte("title,price\n\"unterminated,1\n"), true)
	f.Add([]byte("\xef\xbb\xbftitle\n,\n\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, isCSV bool) {
		emit := func(r *record) error {
			if r == nil {
				t.Fatal("nil record")
			}
			for _, e := range r.errs {
				if e.Row < 1 || e.Code == "" || e.Message == "" {
					t.Fatalf("malformed row error %+v", e)
				}
			}
			_ = r.rowErrors(&Error{Errors: []FieldError{{Field: path("variants", 0, "sku"), Code: CodeInvalid}}})
			return nil
		}
		var err error
		if isCSV {
			err = parseCSV(bytes.NewReader(data), emit)
		} else {
			err = parseJSONL(bytes.NewReader(data), emit)
		}
		if err != nil {
			if _, ok := IsUserError(err); !ok {
				t.Fatalf("parse error that is not a user error: %v", err)
			}
		}
	})
}
