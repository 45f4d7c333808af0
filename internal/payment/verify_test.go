package payment

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76/webhook"
)

const (
	testSecret        = "whsec_test_platform"
	testConnectSecret = "whsec_test_connect"
)

// eventJSON is a Stripe event as a webhook delivers it.
func eventJSON(id, typ, account, apiVersion string) []byte {
	acct := "null"
	if account != "" {
		acct = fmt.Sprintf("%q", account)
	}
	return fmt.Appendf(nil, `{
  "id": %q,
  "object": "event",
  "account": %s,
  "api_version": %q,
  "created": 1700000000,
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": null, "idempotency_key": null},
  "type": %q,
  "data": {"object": {
    "id": "pi_3Test", "object": "payment_intent", "amount": 12345, "currency": "eur",
    "status": "succeeded", "metadata": {"order_id": "o-1", "merchant_id": "m-1"}
  }}
}`, id, acct, apiVersion, typ)
}

// sign returns the Stripe-Signature header of payload signed at ts.
func sign(payload []byte, secret string, ts time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: ts,
	}).Header
}

func TestVerifyEvent(t *testing.T) {
	now := time.Now()
	body := eventJSON("evt_1", "payment_intent.succeeded", "", APIVersion)
	changed := append([]byte(nil), body...)
	changed[len(changed)-3] = ' ' // one byte after signing

	tests := []struct {
		name    string
		payload []byte
		header  string
		secret  string
		wantErr []error // all must match; none: success
	}{
		{name: "good", payload: body, header: sign(body, testSecret, now), secret: testSecret},
		{name: "300s old is still good", payload: body, header: sign(body, testSecret, now.Add(-300*time.Second)), secret: testSecret},
		{name: "signed in the future", payload: body, header: sign(body, testSecret, now.Add(time.Minute)), secret: testSecret},
		{name: "301s old", payload: body, header: sign(body, testSecret, now.Add(-301*time.Second)), secret: testSecret,
			wantErr: []error{ErrSignature, webhook.ErrTooOld}},
		{name: "bad signature", payload: body, header: fmt.Sprintf("t=%d,v1=%064x", now.Unix(), 42), secret: testSecret,
			wantErr: []error{ErrSignature, webhook.ErrNoValidSignature}},
		{name: "body changed after signing", payload: changed, header: sign(body, testSecret, now), secret: testSecret,
			wantErr: []error{ErrSignature, webhook.ErrNoValidSignature}},
		{name: "wrong secret", payload: body, header: sign(body, testConnectSecret, now), secret: testSecret,
			wantErr: []error{ErrSignature, webhook.ErrNoValidSignature}},
		{name: "no header", payload: body, header: "", secret: testSecret,
			wantErr: []error{ErrSignature, webhook.ErrNotSigned}},
		{name: "garbled header", payload: body, header: "t=now,v1", secret: testSecret,
			wantErr: []error{ErrSignature, webhook.ErrInvalidHeader}},
		{name: "no secret configured", payload: body, header: sign(body, "", now), secret: "",
			wantErr: []error{ErrSignature}},
		{name: "other API version", payload: eventJSON("evt_1", "payment_intent.succeeded", "", "2020-08-27"),
			header: sign(eventJSON("evt_1", "payment_intent.succeeded", "", "2020-08-27"), testSecret, now), secret: testSecret,
			wantErr: []error{ErrAPIVersion}},
		{name: "signed but not JSON", payload: []byte("hello"), header: sign([]byte("hello"), testSecret, now), secret: testSecret,
			wantErr: []error{ErrMalformedEvent}},
		{name: "signed but no id", payload: eventJSON("", "payment_intent.succeeded", "", APIVersion),
			header: sign(eventJSON("", "payment_intent.succeeded", "", APIVersion), testSecret, now), secret: testSecret,
			wantErr: []error{ErrMalformedEvent}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := VerifyEvent(tc.payload, tc.header, tc.secret, now)
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				require.Equal(t, "evt_1", ev.ID)
				require.Equal(t, "payment_intent.succeeded", string(ev.Type))
				require.Equal(t, APIVersion, ev.APIVersion)
				require.Equal(t, "pi_3Test", ev.Data.Object["id"])
				return
			}
			for _, want := range tc.wantErr {
				require.ErrorIs(t, err, want)
			}
		})
	}
}
