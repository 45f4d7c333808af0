package marketing

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/ent"
	"github.com/omnisphere/omnisphere/ent/cartitem"
	"github.com/omnisphere/omnisphere/ent/shoppingcart"
	"github.com/omnisphere/omnisphere/internal/marketing/mailtmpl"
	"github.com/omnisphere/omnisphere/internal/marketing/tracking"
	"github.com/omnisphere/omnisphere/internal/marketing/workflow"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// WorkflowRenderer renders the emails of automation workflows
// (workflow.Renderer): the step's template for the enrolled customer, with
// the cart of an abandoned-cart run, tracked links and the one-click
// unsubscribe headers.
type WorkflowRenderer struct{ *Service }

var _ workflow.Renderer = WorkflowRenderer{}

// Render implements workflow.Renderer.
func (w WorkflowRenderer) Render(ctx context.Context, in workflow.RenderInput) (subject, html, text string, headers map[string]string, err error) {
	s := w.Service
	if s.Mail.Keys == nil || in.Template == nil {
		return "", "", "", nil, errors.New("marketing: workflow email without tracking keys or template")
	}
	mid := in.Customer.MerchantID
	st, err := s.store(ctx, mid)
	if err != nil {
		return "", "", "", nil, err
	}
	base := strings.TrimRight(s.Mail.PublicURL, "/")
	unsub, err := s.Mail.Keys.UnsubscribeURL(base, in.Send.TrackingToken)
	if err != nil {
		return "", "", "", nil, err
	}
	data := mailtmpl.Data{Customer: customerData(in.Customer), Store: st, UnsubscribeURL: unsub}
	if id, ok := in.Enrollment.Context["cartId"].(string); ok {
		if cid, err := uuid.Parse(id); err == nil {
			data.Cart, err = s.cartData(ctx, mid, cid, st)
			if err != nil {
				return "", "", "", nil, err
			}
		}
	}
	t := mailtmpl.Template{Subject: in.Subject, Preheader: in.Template.Preheader, HTML: in.Template.HTMLBody, Text: in.Template.TextBody}
	if t.Subject == "" {
		t.Subject = in.Template.Subject
	}
	r, err := mailtmpl.Render(ctx, t, data)
	if err != nil {
		return "", "", "", nil, err
	}
	html = s.Mail.Keys.Rewrite(r.HTML, in.Send.TrackingToken, base, tracking.Options{TrackOpens: true, TrackClicks: true,
		UTM: tracking.UTM{Source: "omnisphere", Medium: "email", Campaign: in.Workflow.Name}})
	headers = map[string]string{
		"List-Unsubscribe":      "<" + unsub + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}
	return r.Subject, html, r.Text, headers, nil
}

// cartData is the template view of cart id of store mid: its lines with
// their products' titles, its total and a link back to it.
func (s *Service) cartData(ctx context.Context, mid, id uuid.UUID, st mailtmpl.Store) (mailtmpl.Cart, error) {
	sctx := viewer.ActAsStore(ctx, mid, "cart for email")
	cart, err := s.client.ShoppingCart.Query().Where(shoppingcart.ID(id)).Only(sctx)
	if ent.IsNotFound(err) {
		return mailtmpl.Cart{}, nil
	} else if err != nil {
		return mailtmpl.Cart{}, err
	}
	items, err := s.client.CartItem.Query().Where(cartitem.CartID(id)).WithVariant(func(q *ent.ProductVariantQuery) { q.WithProduct() }).All(sctx)
	if err != nil {
		return mailtmpl.Cart{}, err
	}
	out := mailtmpl.Cart{Total: mailtmpl.Money{Amount: cart.TotalAmount, Currency: cart.Currency},
		URL: st.URL + "/cart?cart=" + url.QueryEscape(cart.Token)}
	for _, it := range items {
		l := mailtmpl.CartLine{Quantity: it.Quantity, Price: mailtmpl.Money{Amount: it.UnitPrice, Currency: cart.Currency},
			Total: mailtmpl.Money{Amount: it.LineTotalAmount, Currency: cart.Currency}}
		if v := it.Edges.Variant; v != nil {
			l.VariantTitle = v.Title
			if p := v.Edges.Product; p != nil {
				l.Title = p.Title
				l.URL = st.URL + "/products/" + url.PathEscape(p.Slug)
			}
		}
		out.Lines = append(out.Lines, l)
	}
	return out, nil
}
