package catalog

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// The parsers of import files. They read untrusted input: every problem is
// a row error or a file error, never a panic (FuzzParseImport).

// maxLineBytes bounds one JSONL line (one product).
const maxLineBytes = 4 << 20

var bom = []byte("\xef\xbb\xbf")

// parseJSONL reads one product per line; blank lines are skipped.
func parseJSONL(r io.Reader, emit func(*record) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		b, tooLong, err := readLine(br, maxLineBytes)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("catalog: read import: %w", err)
		}
		if line == 1 {
			b = bytes.TrimPrefix(b, bom)
		}
		switch {
		case tooLong:
			if e := emit(&record{row: line, errs: []RowError{{Row: line, Code: CodeTooLong,
				Message: fmt.Sprintf("the line is longer than %d bytes", maxLineBytes)}}}); e != nil {
				return e
			}
		case len(bytes.TrimSpace(b)) > 0:
			if e := emit(decodeJSONRow(line, b)); e != nil {
				return e
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}

// readLine reads up to and without '\n' (and a '\r' before it). A line
// longer than max is consumed and reported tooLong.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+2 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if err == nil && len(buf) == 0 && !tooLong {
			buf = []byte{}
		}
		return buf, tooLong, err
	}
}

// decodeJSONRow decodes one line into a record (with its problems).
func decodeJSONRow(line int, b []byte) *record {
	rec := &record{row: line}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec.data); err != nil {
		rec.errs = append(rec.errs, jsonRowError(line, err))
		return rec
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		rec.errs = append(rec.errs, RowError{Row: line, Code: CodeInvalid, Message: "a line holds one JSON object"})
	}
	return rec
}

var unknownFieldRe = regexp.MustCompile(`^json: unknown field "(.*)"$`)

func jsonRowError(line int, err error) RowError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return RowError{Row: line, Code: CodeInvalid, Message: "each line must be a JSON object"}
		}
		want := "a " + te.Type.String()
		switch te.Type.Kind().String() {
		case "int", "int64":
			want = "an integer (amounts in minor units, e.g. 1999 for 19.99)"
		case "string":
			want = "a string"
		case "bool":
			want = "true or false"
		case "slice":
			want = "a list"
		case "map", "struct":
			want = "an object"
		}
		return RowError{Row: line, Field: te.Field, Code: CodeInvalid, Message: te.Field + " must be " + want}
	case errors.As(err, &se):
		return RowError{Row: line, Code: CodeInvalid, Message: fmt.Sprintf("not valid JSON (at byte %d)", se.Offset)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return RowError{Row: line, Code: CodeInvalid, Message: "not valid JSON (the line ends early)"}
	}
	if m := unknownFieldRe.FindStringSubmatch(err.Error()); m != nil {
		return RowError{Row: line, Field: m[1], Code: CodeInvalid, Message: fmt.Sprintf("unknown field %q", m[1])}
	}
	var ie *inventoryError
	if errors.As(err, &ie) {
		return RowError{Row: line, Field: "inventory", Code: CodeInvalid, Message: ie.Error()}
	}
	return RowError{Row: line, Code: CodeInvalid, Message: "not a valid product object"}
}

// importInventory is a variant's stock in a file: a number (stock on hand in
// the default warehouse) or an object of warehouse codes and numbers.
type importInventory map[string]int

type inventoryError struct{ msg string }

func (e *inventoryError) Error() string { return e.msg }

// UnmarshalJSON reads a number or an object of warehouse code → number.
func (inv *importInventory) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '{' {
		var m map[string]int
		if err := json.Unmarshal(b, &m); err != nil {
			return &inventoryError{"inventory must map warehouse codes to whole numbers"}
		}
		out := importInventory{}
		for k, v := range m {
			out[strings.ToUpper(strings.TrimSpace(k))] = v
		}
		*inv = out
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return &inventoryError{"inventory must be a whole number or an object of warehouse codes"}
	}
	*inv = importInventory{"": n}
	return nil
}

func (inv *importInventory) levels() map[string]int {
	if inv == nil {
		return nil
	}
	return *inv
}

// ---- CSV ----------------------------------------------------------------------

// csvColumns are the columns a CSV import may have (besides inventory_<CODE>).
var csvColumns = map[string]bool{
	"slug": true, "title": true, "description": true, "description_html": true, "status": true,
	"published_at": true, "vendor": true, "product_type": true, "tags": true, "category": true,
	"category_name": true, "category_parent": true, "seo_title": true, "seo_description": true,
	"option1_name": true, "option1_value": true, "option2_name": true, "option2_value": true,
	"option3_name": true, "option3_value": true, "sku": true, "variant_title": true, "price": true,
	"compare_at_price": true, "cost": true, "weight_grams": true, "barcode": true,
	"requires_shipping": true, "taxable": true, "track_inventory": true, "allow_backorder": true,
	"inventory": true, "low_stock_threshold": true, "image_url": true, "image_alt": true,
	"variant_image_url": true,
}

// variantColumns are the columns that make a row a variant.
var variantColumns = []string{"sku", "variant_title", "option1_value", "option2_value", "option3_value",
	"price", "compare_at_price", "cost", "weight_grams", "barcode", "requires_shipping", "taxable",
	"track_inventory", "allow_backorder", "inventory", "low_stock_threshold", "variant_image_url"}

var inventoryColumnRe = regexp.MustCompile(`^inventory_([a-z0-9][a-z0-9_-]{0,49})$`)

// csvFileError is a problem of the file as a whole.
func csvFileError(format string, args ...any) error {
	return fieldErr(CodeInvalid, path("file"), format, args...)
}

// parseCSV reads a header row, then one row per variant; consecutive rows
// with the same slug (or, after the first, with neither slug nor title) are
// one product.
func parseCSV(r io.Reader, emit func(*record) error) error {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, bom) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return csvFileError("the file is empty: a header row is required")
	}
	if err != nil {
		return csvReadError(err)
	}
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		c := strings.ToLower(strings.TrimSpace(h))
		c = strings.NewReplacer(" ", "_", "-", "_").Replace(c)
		if !csvColumns[c] && !inventoryColumnRe.MatchString(c) {
			return csvFileError("unknown column %q (docs/catalog.md lists the columns)", clipText(h, 60))
		}
		if seen[c] {
			return csvFileError("column %q is given twice", c)
		}
		seen[c] = true
		cols[i] = c
	}
	if !seen["title"] && !seen["slug"] {
		return csvFileError("a title or slug column is required")
	}
	var cur *csvGroup
	for n := 2; ; n++ {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return csvReadError(err)
		}
		if len(fields) != len(cols) {
			if e := emit(&record{row: n, csv: true, errs: []RowError{{Row: n, Code: CodeInvalid,
				Message: fmt.Sprintf("the row has %d fields, the header %d", len(fields), len(cols))}}}); e != nil {
				return e
			}
			continue
		}
		cells := make(map[string]string, len(cols))
		empty := true
		for i, c := range cols {
			v := strings.TrimSpace(fields[i])
			cells[c] = v
			empty = empty && v == ""
		}
		if empty {
			continue
		}
		slug, title := Slugify(cells["slug"]), cells["title"]
		continues := cur != nil && ((slug != "" && slug == cur.key) || (cells["slug"] == "" && title == ""))
		if !continues {
			if cur != nil {
				if e := emit(cur.record()); e != nil {
					return e
				}
			}
			cur = newCSVGroup(n, cells)
		}
		cur.add(n, cells)
	}
	if cur != nil {
		return emit(cur.record())
	}
	return nil
}

func csvReadError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return csvFileError("the CSV is malformed at line %d: %v", pe.Line, pe.Err)
	}
	return fmt.Errorf("catalog: read import: %w", err)
}

// csvGroup collects the rows of one product.
type csvGroup struct {
	rec      *record
	key      string
	hasImage bool
}

func newCSVGroup(n int, cells map[string]string) *csvGroup {
	g := &csvGroup{rec: &record{row: n, csv: true}, key: Slugify(cells["slug"])}
	d := &g.rec.data
	str := func(col string) *string {
		if v, ok := cells[col]; ok && v != "" {
			return &v
		}
		return nil
	}
	d.Slug, d.Title = str("slug"), str("title")
	d.Description, d.DescriptionHTML = str("description"), str("description_html")
	d.Status, d.PublishedAt = str("status"), str("published_at")
	d.Vendor, d.ProductType = str("vendor"), str("product_type")
	d.SEOTitle, d.SEODescription = str("seo_title"), str("seo_description")
	d.Category, d.CategoryName, d.CategoryParent = str("category"), str("category_name"), str("category_parent")
	if t := str("tags"); t != nil {
		tags := []string{}
		for _, x := range strings.Split(*t, ",") {
			if x = strings.TrimSpace(x); x != "" {
				tags = append(tags, x)
			}
		}
		d.Tags = &tags
	}
	for k := 1; k <= MaxOptions; k++ {
		if name := cells[fmt.Sprintf("option%d_name", k)]; name != "" {
			g.rec.optionNames = append(g.rec.optionNames, name)
		}
	}
	return g
}

// add reads one row of the group: its variant and its images.
func (g *csvGroup) add(n int, cells map[string]string) {
	rec := g.rec
	d := &rec.data
	bad := func(col, format string, args ...any) {
		rec.errs = append(rec.errs, RowError{Row: n, Field: col, Code: CodeInvalid, Message: fmt.Sprintf(format, args...)})
	}
	isVariant := false
	for _, c := range variantColumns {
		isVariant = isVariant || cells[c] != ""
	}
	for c, v := range cells {
		isVariant = isVariant || (v != "" && inventoryColumnRe.MatchString(c))
	}
	variantIndex := 0
	if isVariant {
		v := importVariant{}
		if s := cells["sku"]; s != "" {
			v.SKU = &s
		}
		if s := cells["variant_title"]; s != "" {
			v.Title = &s
		}
		if s := cells["barcode"]; s != "" {
			v.Barcode = &s
		}
		for k := 1; k <= MaxOptions; k++ {
			col := fmt.Sprintf("option%d_value", k)
			val := cells[col]
			if val == "" {
				continue
			}
			if k > len(rec.optionNames) {
				bad(col, "%s needs option%d_name on the product's first row", col, k)
				continue
			}
			if v.OptionValues == nil {
				v.OptionValues = map[string]any{}
			}
			v.OptionValues[rec.optionNames[k-1]] = val
		}
		v.Price = csvInt64(cells, "price", bad)
		v.CompareAtPrice = csvInt64(cells, "compare_at_price", bad)
		v.Cost = csvInt64(cells, "cost", bad)
		v.WeightGrams = csvInt(cells, "weight_grams", bad)
		v.LowStockThreshold = csvInt(cells, "low_stock_threshold", bad)
		v.RequiresShipping = csvBool(cells, "requires_shipping", bad)
		v.Taxable = csvBool(cells, "taxable", bad)
		v.TrackInventory = csvBool(cells, "track_inventory", bad)
		v.AllowBackorder = csvBool(cells, "allow_backorder", bad)
		inv := importInventory{}
		if q := csvInt(cells, "inventory", bad); q != nil {
			inv[""] = *q
		}
		for c := range cells {
			if m := inventoryColumnRe.FindStringSubmatch(c); m != nil {
				if q := csvInt(cells, c, bad); q != nil {
					inv[strings.ToUpper(m[1])] = *q
				}
			}
		}
		if len(inv) > 0 {
			v.Inventory = &inv
		}
		if d.Variants == nil {
			d.Variants = &[]importVariant{}
		}
		*d.Variants = append(*d.Variants, v)
		rec.variantRows = append(rec.variantRows, n)
		variantIndex = len(*d.Variants)
	}
	if u := cells["image_url"]; u != "" {
		im := importImageRow{URL: u}
		if a := cells["image_alt"]; a != "" {
			im.Alt = &a
		}
		g.addImage(im)
	}
	if u := cells["variant_image_url"]; u != "" {
		g.addImage(importImageRow{URL: u, variant: variantIndex})
	}
}

func (g *csvGroup) addImage(im importImageRow) {
	d := &g.rec.data
	if d.Images == nil {
		d.Images = &[]importImageRow{}
	}
	*d.Images = append(*d.Images, im)
}

func (g *csvGroup) record() *record { return g.rec }

func csvInt64(cells map[string]string, col string, bad func(string, string, ...any)) *int64 {
	v := cells[col]
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		bad(col, "%s must be a whole number (amounts in minor units, e.g. 1999 for 19.99)", col)
		return nil
	}
	return &n
}

func csvInt(cells map[string]string, col string, bad func(string, string, ...any)) *int {
	n := csvInt64(cells, col, bad)
	if n == nil {
		return nil
	}
	if *n > maxStock || *n < -maxStock {
		bad(col, "%s is out of range", col)
		return nil
	}
	i := int(*n)
	return &i
}

func csvBool(cells map[string]string, col string, bad func(string, string, ...any)) *bool {
	switch strings.ToLower(cells[col]) {
	case "":
		return nil
	case "true", "yes", "y", "1":
		t := true
		return &t
	case "false", "no", "n", "0":
		f := false
		return &f
	}
	bad(col, "%s must be true or false", col)
	return nil
}

// csvColumnOf names the CSV column of an input field path (without "input").
func csvColumnOf(f []string, optionNames []string) string {
	if len(f) == 0 {
		return ""
	}
	switch f[0] {
	case "variants":
		if len(f) < 3 {
			return ""
		}
		switch f[2] {
		case "title":
			return "variant_title"
		case "optionValues":
			if len(f) >= 4 {
				for k, n := range optionNames {
					if n == f[3] {
						return fmt.Sprintf("option%d_value", k+1)
					}
				}
			}
			return "option1_value"
		}
		return snake(f[2])
	case "options":
		k := 1
		if len(f) >= 2 {
			if i, err := strconv.Atoi(f[1]); err == nil {
				k = i + 1
			}
		}
		if len(f) >= 3 && f[2] == "values" {
			return fmt.Sprintf("option%d_value", k)
		}
		return fmt.Sprintf("option%d_name", k)
	case "images":
		if len(f) >= 3 && f[2] == "alt" {
			return "image_alt"
		}
		return "image_url"
	case "categoryId":
		return "category"
	}
	return snake(f[0])
}

// snake turns a camelCase field name into its snake_case column.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
