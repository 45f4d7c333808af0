package marketing

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/omnisphere/omnisphere/internal/marketing/mailer"
	"github.com/omnisphere/omnisphere/internal/viewer"
)

// ConfirmPath is the server route of a double opt-in link: GET shows a
// page with a button, POST confirms (so that link scanners, which follow
// links with GET, never subscribe anyone).
const ConfirmPath = "/subscribe/confirm"

// confirmTimeout bounds the sending of one confirmation email.
const confirmTimeout = 30 * time.Second

// SendConfirmation emails the double opt-in link with token to email, for
// store mid, in the background: the visitor's request does not wait for the
// mail server. A mail that fails is logged; the visitor can submit again.
func (s *Service) SendConfirmation(ctx context.Context, mid uuid.UUID, email, token string) {
	if s.Mail.Sender == nil {
		return
	}
	st, err := s.store(viewer.ActAsStore(ctx, mid, "confirmation email"), mid)
	if err != nil {
		s.log.WarnContext(ctx, "marketing: confirmation email", "err", err)
		return
	}
	link := strings.TrimRight(s.Mail.PublicURL, "/") + ConfirmPath + "?token=" + url.QueryEscape(token)
	msg := &mailer.Message{From: s.Mail.From, FromName: st.Name, To: email,
		Subject: "Confirm your subscription to " + st.Name,
		HTML: fmt.Sprintf(`<p>Please confirm that you want emails from %s.</p><p><a href="%s">Confirm my subscription</a></p>`+
			`<p>If you did not ask for this, ignore this email: you will not be subscribed.</p>`, html.EscapeString(st.Name), html.EscapeString(link)),
		Text: fmt.Sprintf("Please confirm that you want emails from %s:\n%s\n\nIf you did not ask for this, ignore this email: you will not be subscribed.\n",
			st.Name, link),
		MessageID: mailer.NewMessageID(s.Mail.From)}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), confirmTimeout)
		defer cancel()
		if err := s.Mail.Sender.Send(ctx, msg); err != nil {
			s.log.ErrorContext(ctx, "marketing: confirmation email not sent", "store", mid, "err", err)
		}
	}()
}
