// Package mailtmpl renders the marketing engine's email templates: a subject
// and preheader (text/template), an HTML body (html/template, contextually
// auto-escaped) and a plain-text body (text/template, or derived from the
// rendered HTML when the template has none).
//
// Templates see one documented root value, Data (customer, store, products,
// cart, discount code, links), and a small set of pure functions (money,
// default, upper, lower, title, truncate, date, join, …); nothing reaches the
// file system, the network or the database. Source size, output size and
// execution time are limited (Limits); {{define}}, {{template}} and
// {{block}} are refused so that a template cannot recurse. See
// docs/email-templates.md for the merchant-facing reference.
//
// Validate checks a template for the create/update mutations; Render renders
// one for a recipient (the send pipeline) or for SampleData (the preview).
// Compiled templates are cached by content hash.
package mailtmpl

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"text/template/parse"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// Template is what Render renders: the fields of an email_templates row (or
// a campaign's overrides of them).
type Template struct {
	Subject   string // text/template, rendered to one line
	Preheader string // text/template, optional: inbox preview text
	HTML      string // html/template
	Text      string // text/template, optional: derived from HTML when empty
}

// Rendered is a template rendered for one recipient.
type Rendered struct {
	// Subject is one line (newlines and runs of spaces collapsed), at most
	// Limits.MaxSubjectRunes long: a header value that cannot inject headers.
	Subject string
	// Preheader is the rendered preview text, also inserted at the top of
	// HTML as a hidden element.
	Preheader string
	HTML      string
	Text      string
}

// Limits bound what a template may cost. The zero value of a field takes
// its default (DefaultLimits).
type Limits struct {
	// MaxSourceBytes bounds each source field (subject, preheader, HTML,
	// text). Default 256 KiB.
	MaxSourceBytes int
	// MaxOutputBytes bounds each rendered part, and every string a template
	// function builds. Default 2 MiB.
	MaxOutputBytes int
	// Timeout bounds one Render (all parts together). Default 500 ms.
	Timeout time.Duration
	// MaxProducts and MaxCartLines cap the lists Render passes to the
	// template (the rest is dropped). Default 100 each.
	MaxProducts  int
	MaxCartLines int
	// MaxSubjectRunes cuts the rendered subject (email_sends.subject holds
	// 500). Default 500.
	MaxSubjectRunes int
	// CacheSize is the number of compiled templates kept. Default 512.
	CacheSize int
}

// DefaultLimits are the limits of New(Limits{}).
var DefaultLimits = Limits{
	MaxSourceBytes:  256 << 10,
	MaxOutputBytes:  2 << 20,
	Timeout:         500 * time.Millisecond,
	MaxProducts:     100,
	MaxCartLines:    100,
	MaxSubjectRunes: 500,
	CacheSize:       512,
}

// Errors of Render, wrapped in a *FieldError that names the part.
var (
	ErrSourceTooLarge = errors.New("template source exceeds the size limit")
	ErrOutputTooLarge = errors.New("rendered output exceeds the size limit")
	ErrTimeout        = errors.New("rendering took longer than the time limit")
	// ErrUnsupported: {{define}}, {{template}} and {{block}} are refused.
	ErrUnsupported = errors.New("define, template and block actions are not supported in email templates")
)

// The codes of FieldError, mapped to userErrors by the GraphQL layer.
const (
	CodeSyntax          = "TEMPLATE_SYNTAX"
	CodeUnknownFunction = "TEMPLATE_UNKNOWN_FUNCTION"
	CodeUnknownVariable = "TEMPLATE_UNKNOWN_VARIABLE"
	CodeUnsupported     = "TEMPLATE_UNSUPPORTED"
	CodeTooLarge        = "TEMPLATE_TOO_LARGE"
	CodeTimeout         = "TEMPLATE_TIMEOUT"
	CodeRender          = "TEMPLATE_RENDER"
)

// The Field values of FieldError: the GraphQL input field names.
const (
	FieldSubject   = "subject"
	FieldPreheader = "preheader"
	FieldHTML      = "htmlBody"
	FieldText      = "textBody"
)

// FieldError is a problem of one template field that its author can fix:
// a syntax error, an unknown variable or function, a limit.
type FieldError struct {
	Field   string // FieldSubject, FieldPreheader, FieldHTML or FieldText
	Line    int    // 1-based line in the field's source; 0 when unknown
	Code    string // one of the Code constants
	Message string // for the merchant, without Go internals
	Err     error  `json:"-"` // the underlying error (ErrTimeout, …), if any
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", e.Field, e.Line, e.Message)
	}
	return e.Field + ": " + e.Message
}

func (e *FieldError) Unwrap() error { return e.Err }

// Renderer compiles (with a cache) and renders templates. It is safe for
// concurrent use; the package functions use a shared default Renderer.
type Renderer struct {
	limits Limits
	funcs  map[string]any

	mu    sync.Mutex
	cache map[[32]byte]*list.Element
	lru   *list.List // of *cacheEntry, most recent first
}

type cacheEntry struct {
	key [32]byte
	c   *compiled
	err error
}

// New returns a Renderer with limits (zero fields take DefaultLimits').
func New(limits Limits) *Renderer {
	d := DefaultLimits
	if limits.MaxSourceBytes <= 0 {
		limits.MaxSourceBytes = d.MaxSourceBytes
	}
	if limits.MaxOutputBytes <= 0 {
		limits.MaxOutputBytes = d.MaxOutputBytes
	}
	if limits.Timeout <= 0 {
		limits.Timeout = d.Timeout
	}
	if limits.MaxProducts <= 0 {
		limits.MaxProducts = d.MaxProducts
	}
	if limits.MaxCartLines <= 0 {
		limits.MaxCartLines = d.MaxCartLines
	}
	if limits.MaxSubjectRunes <= 0 {
		limits.MaxSubjectRunes = d.MaxSubjectRunes
	}
	if limits.CacheSize <= 0 {
		limits.CacheSize = d.CacheSize
	}
	f := funcs(limits.MaxOutputBytes)
	f[textValueFunc] = textValue
	return &Renderer{limits: limits, funcs: f, cache: map[[32]byte]*list.Element{}, lru: list.New()}
}

var defaultRenderer = New(Limits{})

// Render renders t for data with the default Renderer.
func Render(ctx context.Context, t Template, data Data) (Rendered, error) {
	return defaultRenderer.Render(ctx, t, data)
}

// Validate checks a template with the default Renderer (see
// Renderer.Validate).
func Validate(subject, htmlBody, textBody string) []FieldError {
	return defaultRenderer.ValidateTemplate(Template{Subject: subject, HTML: htmlBody, Text: textBody})
}

// ValidateTemplate is Validate with a preheader, with the default Renderer.
func ValidateTemplate(t Template) []FieldError { return defaultRenderer.ValidateTemplate(t) }

// Limits returns the Renderer's limits.
func (r *Renderer) Limits() Limits { return r.limits }

// kind is how a field is compiled.
type kind byte

const (
	kindLine kind = iota + 1 // subject, preheader: text, one line
	kindHTML                 // html/template
	kindText                 // text/template
)

// compiled is one parsed field.
type compiled struct {
	html *htmltemplate.Template
	text *texttemplate.Template
}

func (c *compiled) execute(w io.Writer, data any) error {
	if c.html != nil {
		return c.html.Execute(w, data)
	}
	return c.text.Execute(w, data)
}

// compile parses src as field (of kind k), from the cache when it was
// parsed before. Parse errors are cached too.
func (r *Renderer) compile(field string, k kind, src string) (*compiled, error) {
	h := sha256.New()
	h.Write([]byte{byte(k)})
	h.Write([]byte(field))
	h.Write([]byte{0})
	h.Write([]byte(src))
	var key [32]byte
	h.Sum(key[:0])

	r.mu.Lock()
	if el, ok := r.cache[key]; ok {
		r.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		r.mu.Unlock()
		return e.c, e.err
	}
	r.mu.Unlock()

	c, err := r.parse(field, k, src)

	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.cache[key]; ok { // a concurrent compile won
		e := el.Value.(*cacheEntry)
		return e.c, e.err
	}
	r.cache[key] = r.lru.PushFront(&cacheEntry{key: key, c: c, err: err})
	for r.lru.Len() > r.limits.CacheSize {
		old := r.lru.Back()
		r.lru.Remove(old)
		delete(r.cache, old.Value.(*cacheEntry).key)
	}
	return c, err
}

func (r *Renderer) parse(field string, k kind, src string) (c *compiled, err error) {
	defer func() { // the parser is not expected to panic; a template must never take the process down
		if p := recover(); p != nil {
			c, err = nil, &FieldError{Field: field, Code: CodeSyntax, Message: fmt.Sprintf("cannot parse template: %v", p)}
		}
	}()
	if len(src) > r.limits.MaxSourceBytes {
		return nil, &FieldError{Field: field, Code: CodeTooLarge, Err: ErrSourceTooLarge,
			Message: fmt.Sprintf("template is %d bytes; the limit is %d", len(src), r.limits.MaxSourceBytes)}
	}
	var tree *parse.Tree
	c = &compiled{}
	if k == kindHTML {
		t, err := htmltemplate.New(field).Funcs(r.funcs).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fieldError(field, err, true)
		}
		if len(t.Templates()) > 1 {
			return nil, unsupported(field, 0)
		}
		c.html, tree = t, t.Tree
	} else {
		t, err := texttemplate.New(field).Funcs(r.funcs).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fieldError(field, err, true)
		}
		if len(t.Templates()) > 1 {
			return nil, unsupported(field, 0)
		}
		c.text, tree = t, t.Tree
	}
	if tree == nil || tree.Root == nil {
		return nil, &FieldError{Field: field, Code: CodeSyntax, Message: "empty template"}
	}
	if line := instrument(tree.Root, k != kindHTML); line >= 0 {
		return nil, unsupported(field, line)
	}
	return c, nil
}

func unsupported(field string, line int) error {
	return &FieldError{Field: field, Line: line, Code: CodeUnsupported, Err: ErrUnsupported, Message: ErrUnsupported.Error()}
}

// The names instrument adds to a parse tree.
const (
	tickVar       = "$__limits"
	tickMethod    = "CheckLimits"
	textValueFunc = "_textValue"
)

// instrument rewrites a parsed tree in place before its first execution:
// every range body starts with {{$__limits := $.CheckLimits}}, which checks
// the render's deadline and context on each iteration and outputs nothing
// (an assignment is not an interpolation, also for html/template's
// escaper); in text templates every printing action gets "| _textValue", so
// that a missing value prints as "" rather than "<no value>". It returns the
// line of a {{template}} action (refused), or -1.
func instrument(l *parse.ListNode, text bool) int {
	if l == nil {
		return -1
	}
	for _, n := range l.Nodes {
		line := -1
		switch n := n.(type) {
		case *parse.TemplateNode:
			return n.Line
		case *parse.ActionNode:
			if text && len(n.Pipe.Decl) == 0 {
				n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos,
					Args: []parse.Node{parse.NewIdentifier(textValueFunc).SetPos(n.Pos)}})
			}
		case *parse.IfNode:
			line = max(instrument(n.List, text), instrument(n.ElseList, text))
		case *parse.WithNode:
			line = max(instrument(n.List, text), instrument(n.ElseList, text))
		case *parse.RangeNode:
			line = max(instrument(n.List, text), instrument(n.ElseList, text))
			tick := &parse.ActionNode{NodeType: parse.NodeAction, Pos: n.Pos, Line: n.Line,
				Pipe: &parse.PipeNode{NodeType: parse.NodePipe, Pos: n.Pos, Line: n.Line,
					Decl: []*parse.VariableNode{{NodeType: parse.NodeVariable, Pos: n.Pos, Ident: []string{tickVar}}},
					Cmds: []*parse.CommandNode{{NodeType: parse.NodeCommand, Pos: n.Pos,
						Args: []parse.Node{&parse.VariableNode{NodeType: parse.NodeVariable, Pos: n.Pos, Ident: []string{"$", tickMethod}}}}}}}
			n.List.Nodes = append([]parse.Node{tick}, n.List.Nodes...)
		}
		if line >= 0 {
			return line
		}
	}
	return -1
}

// textValue prints nothing for a missing value in text parts.
func textValue(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// root is the value templates execute on: Data (its fields promoted) plus
// the render's budget, which the instrumented range bodies consult.
type root struct {
	Data
	b *budget
}

// String makes `{{.}}` or `{{$}}` at a template's top print nothing,
// rather than the render's internals (found by FuzzRenderLimits).
func (r *root) String() string { return "" }

// CheckLimits is called by every range iteration (see instrument). It is
// visible to templates but prints nothing and has no effect but the check.
func (r *root) CheckLimits() (string, error) {
	if r.b == nil {
		return "", nil
	}
	return "", r.b.check()
}

// budget is one Render's time limit, shared by its parts.
type budget struct {
	ctx      context.Context
	deadline time.Time
	err      error // the first limit hit; execution errors are then this
}

func (b *budget) check() error {
	if b.err != nil {
		return b.err
	}
	if err := b.ctx.Err(); err != nil {
		b.err = err
	} else if time.Now().After(b.deadline) {
		b.err = ErrTimeout
	}
	return b.err
}

// limitWriter refuses output beyond max bytes and any write after the
// budget ran out, which aborts the template's execution.
type limitWriter struct {
	buf bytes.Buffer
	max int
	b   *budget
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if err := w.b.check(); err != nil {
		return 0, err
	}
	if w.buf.Len()+len(p) > w.max {
		w.b.err = ErrOutputTooLarge
		return 0, ErrOutputTooLarge
	}
	return w.buf.Write(p)
}

// Render renders t for data within the Renderer's limits and ctx. A
// problem of the template is a *FieldError (its Err is ErrTimeout,
// ErrOutputTooLarge, ErrSourceTooLarge or ErrUnsupported for the limits); a
// cancelled ctx returns ctx's error.
//
// Execution time: every range iteration and every write checks the
// deadline, and every function result is capped at MaxOutputBytes, so a
// template stops within about one iteration's work of the deadline. What
// cannot be interrupted is a single builtin or function call, each linear
// in its (capped) input, and html/template's one-time escaping analysis of
// a new template (linear in its size, bounded by MaxSourceBytes).
func (r *Renderer) Render(ctx context.Context, t Template, data Data) (Rendered, error) {
	deadline := time.Now().Add(r.limits.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	b := &budget{ctx: ctx, deadline: deadline}
	if data.SentAt.IsZero() {
		data.SentAt = time.Now().UTC()
	}
	if len(data.Products) > r.limits.MaxProducts {
		data.Products = data.Products[:r.limits.MaxProducts]
	}
	if len(data.Cart.Lines) > r.limits.MaxCartLines {
		data.Cart.Lines = data.Cart.Lines[:r.limits.MaxCartLines]
	}
	rt := &root{Data: data, b: b}
	var out Rendered
	var err error
	if out.Subject, err = r.exec(FieldSubject, kindLine, t.Subject, rt); err != nil {
		return Rendered{}, err
	}
	out.Subject = oneLine(out.Subject, r.limits.MaxSubjectRunes)
	if t.Preheader != "" {
		if out.Preheader, err = r.exec(FieldPreheader, kindLine, t.Preheader, rt); err != nil {
			return Rendered{}, err
		}
		out.Preheader = oneLine(out.Preheader, r.limits.MaxSubjectRunes)
	}
	if out.HTML, err = r.exec(FieldHTML, kindHTML, t.HTML, rt); err != nil {
		return Rendered{}, err
	}
	if strings.TrimSpace(t.Text) != "" {
		if out.Text, err = r.exec(FieldText, kindText, t.Text, rt); err != nil {
			return Rendered{}, err
		}
	} else {
		out.Text = HTMLToText(out.HTML)
		if len(out.Text) > r.limits.MaxOutputBytes {
			return Rendered{}, &FieldError{Field: FieldText, Code: CodeTooLarge, Err: ErrOutputTooLarge,
				Message: "the text derived from the HTML body exceeds the size limit"}
		}
	}
	if out.Preheader != "" {
		out.HTML = insertPreheader(out.HTML, out.Preheader)
	}
	return out, nil
}

// exec renders one field.
func (r *Renderer) exec(field string, k kind, src string, rt *root) (string, error) {
	if err := rt.b.check(); err != nil {
		return "", r.limitError(field, err)
	}
	c, err := r.compile(field, k, src)
	if err != nil {
		return "", err
	}
	w := &limitWriter{max: r.limits.MaxOutputBytes, b: rt.b}
	err = c.execute(w, rt)
	if rt.b.err != nil { // a limit, whatever error the template package made of it
		return "", r.limitError(field, rt.b.err)
	}
	if err != nil {
		return "", fieldError(field, err, false)
	}
	return w.buf.String(), nil
}

func (r *Renderer) limitError(field string, err error) error {
	switch {
	case errors.Is(err, ErrTimeout):
		return &FieldError{Field: field, Code: CodeTimeout, Err: ErrTimeout,
			Message: fmt.Sprintf("rendering took longer than %s", r.limits.Timeout)}
	case errors.Is(err, ErrOutputTooLarge):
		return &FieldError{Field: field, Code: CodeTooLarge, Err: ErrOutputTooLarge,
			Message: fmt.Sprintf("rendered output exceeds %d bytes", r.limits.MaxOutputBytes)}
	}
	return err // the context's error
}

// errLocation matches text/template's and html/template's error prefixes:
// "template: NAME:LINE: …", "template: NAME:LINE:COL: executing … at <…>: …"
// and "html/template:NAME:LINE:COL: …".
var errLocation = regexp.MustCompile(`^(?:html/)?template: ?[A-Za-z]+:(\d+)(?::\d+)?: (?:executing "[A-Za-z]+" )?(.*)$`)

// fieldError turns a parse or execution error into a FieldError.
func fieldError(field string, err error, parsing bool) *FieldError {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(err, ErrValueTooLarge) {
		return &FieldError{Field: field, Code: CodeTooLarge, Err: ErrOutputTooLarge, Message: ErrValueTooLarge.Error()}
	}
	msg := err.Error()
	line := 0
	if m := errLocation.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	msg = strings.ReplaceAll(msg, "mailtmpl.", "")
	msg = strings.ReplaceAll(msg, "*root", "Data")
	msg = strings.ReplaceAll(msg, "root", "Data")
	code := CodeRender
	switch {
	case strings.Contains(msg, "function ") && strings.Contains(msg, "not defined"):
		code = CodeUnknownFunction
	case strings.Contains(msg, "can't evaluate field"), strings.Contains(msg, "undefined variable"),
		strings.Contains(msg, "is not a method"), strings.Contains(msg, "not a field"):
		code = CodeUnknownVariable
	case parsing:
		code = CodeSyntax
	}
	var he *htmltemplate.Error
	if errors.As(err, &he) && he.ErrorCode != htmltemplate.OK {
		code = CodeSyntax
		if he.Line > 0 {
			line = he.Line
		}
		msg, _, _ = strings.Cut(he.Description, ": {") // drop the escaper's internal state
		msg = "HTML: " + msg
	}
	return &FieldError{Field: field, Line: line, Code: code, Message: msg, Err: err}
}

// ValidateTemplate checks every field of t for the create and update
// mutations: size, syntax, unsupported actions and unknown functions (at
// parse time), then unknown variables and runtime errors by rendering it
// against SampleData — and against an empty Data, which takes the other
// branch of most {{if}}s (only unknown-variable errors count there: an
// empty profile may legitimately fail an index into Products). It returns
// at most one error per field, nil when the template is good.
func (r *Renderer) ValidateTemplate(t Template) []FieldError {
	var out []FieldError
	fields := []struct {
		name, src string
		k         kind
	}{
		{FieldSubject, t.Subject, kindLine},
		{FieldPreheader, t.Preheader, kindLine},
		{FieldHTML, t.HTML, kindHTML},
		{FieldText, t.Text, kindText},
	}
	if strings.TrimSpace(t.Subject) == "" {
		out = append(out, FieldError{Field: FieldSubject, Code: CodeSyntax, Message: "subject is required"})
	}
	for _, f := range fields {
		if f.src == "" {
			continue
		}
		for i, data := range []Data{SampleData(Store{}), {SentAt: time.Unix(0, 0)}} {
			b := &budget{ctx: context.Background(), deadline: time.Now().Add(r.limits.Timeout)}
			_, err := r.exec(f.name, f.k, f.src, &root{Data: data, b: b})
			if err == nil {
				continue
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				fe = &FieldError{Field: f.name, Code: CodeRender, Message: err.Error(), Err: err}
			}
			if i == 1 && fe.Code != CodeUnknownVariable {
				continue
			}
			out = append(out, *fe)
			break
		}
	}
	return out
}

// oneLine makes a header-safe line: control characters and runs of white
// space become one space, cut to max runes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if utf8.RuneCountInString(s) > max {
		n := 0
		for i := range s {
			if n == max {
				return strings.TrimSpace(s[:i])
			}
			n++
		}
	}
	return s
}

// insertPreheader puts the preview text right after <body …>, hidden, so
// that inbox previews show it instead of the first visible words.
func insertPreheader(body, preheader string) string {
	div := `<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all" aria-hidden="true">` +
		html.EscapeString(preheader) + `</div>`
	lower := strings.ToLower(body)
	if i := strings.Index(lower, "<body"); i >= 0 {
		if j := strings.IndexByte(body[i:], '>'); j >= 0 {
			at := i + j + 1
			return body[:at] + div + body[at:]
		}
	}
	return div + body
}
