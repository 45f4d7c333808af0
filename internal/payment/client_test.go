package payment

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/omnisphere/omnisphere/internal/payment/stripemock"
)

// captured is one request the recorder saw on its way to stripe-mock.
type captured struct {
	Method, Path string
	Header       http.Header
	Form         url.Values
}

// recorder is a reverse proxy in front of stripe-mock that keeps every
// request, so tests can assert what the client sent.
type recorder struct {
	URL  string
	mu   sync.Mutex
	reqs []captured
}

func newRecorder(t *testing.T, upstream string) *recorder {
	t.Helper()
	u, err := url.Parse(upstream)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if r.Method == http.MethodGet {
			form = r.URL.Query()
		}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, captured{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Form: form})
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

// take returns and forgets the requests seen so far.
func (r *recorder) take() []captured {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

func newClient(t *testing.T, apiURL string) *Stripe {
	t.Helper()
	s := New(Config{SecretKey: "sk_test_123", APIURL: apiURL, PublicURL: "https://shop.example.com/", MaxNetworkRetries: -1})
	require.True(t, s.Enabled())
	return s
}

func TestDisabledClient(t *testing.T) {
	s := New(Config{})
	require.Nil(t, s)
	require.False(t, s.Enabled())
	ctx := context.Background()
	_, err := s.CreateConnectedAccount(ctx, uuid.New(), "a@example.com", "US")
	require.ErrorIs(t, err, ErrDisabled)
	_, err = s.AccountLink(ctx, "acct_1")
	require.ErrorIs(t, err, ErrDisabled)
	_, err = s.Account(ctx, "acct_1")
	require.ErrorIs(t, err, ErrDisabled)
	_, err = s.CreatePaymentIntent(ctx, PaymentIntentParams{})
	require.ErrorIs(t, err, ErrDisabled)
	_, err = s.PaymentIntent(ctx, "pi_1")
	require.ErrorIs(t, err, ErrDisabled)
	_, err = s.CreateRefund(ctx, RefundParams{})
	require.ErrorIs(t, err, ErrDisabled)
}

func TestStripeClient(t *testing.T) {
	rec := newRecorder(t, stripemock.Start(t))
	s := newClient(t, rec.URL)
	ctx := context.Background()

	t.Run("connected account and onboarding link", func(t *testing.T) {
		merchant := uuid.New()
		id, err := s.CreateConnectedAccount(ctx, merchant, "owner@example.com", "us")
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(id, "acct_"), id)
		reqs := rec.take()
		require.Len(t, reqs, 1)
		r := reqs[0]
		require.Equal(t, "POST /v1/accounts", r.Method+" "+r.Path)
		require.Equal(t, "omnisphere-account-"+merchant.String(), r.Header.Get("Idempotency-Key"))
		require.Equal(t, APIVersion, r.Header.Get("Stripe-Version"))
		require.Equal(t, "Bearer sk_test_123", r.Header.Get("Authorization"))
		require.Equal(t, "express", r.Form.Get("type"))
		require.Equal(t, "US", r.Form.Get("country"))
		require.Equal(t, "owner@example.com", r.Form.Get("email"))
		require.Equal(t, merchant.String(), r.Form.Get("metadata[merchant_id]"))
		require.Equal(t, "true", r.Form.Get("capabilities[card_payments][requested]"))
		require.Equal(t, "true", r.Form.Get("capabilities[transfers][requested]"))

		link, err := s.AccountLink(ctx, id)
		require.NoError(t, err)
		_, err = url.ParseRequestURI(link)
		require.NoError(t, err, "account link %q", link)
		reqs = rec.take()
		require.Len(t, reqs, 1)
		require.Equal(t, "POST /v1/account_links", reqs[0].Method+" "+reqs[0].Path)
		require.Equal(t, id, reqs[0].Form.Get("account"))
		require.Equal(t, "account_onboarding", reqs[0].Form.Get("type"))
		require.Equal(t, "https://shop.example.com/admin/payments?onboarding=refresh", reqs[0].Form.Get("refresh_url"))
		require.Equal(t, "https://shop.example.com/admin/payments?onboarding=return", reqs[0].Form.Get("return_url"))

		acct, err := s.Account(ctx, id)
		require.NoError(t, err)
		require.NotEmpty(t, acct.ID)
		reqs = rec.take()
		require.Len(t, reqs, 1)
		require.Equal(t, "GET /v1/accounts/"+id, reqs[0].Method+" "+reqs[0].Path)
	})

	t.Run("payment intent is a destination charge", func(t *testing.T) {
		order, merchant := uuid.New(), uuid.New()
		pi, err := s.CreatePaymentIntent(ctx, PaymentIntentParams{
			OrderID: order, MerchantID: merchant, Amount: 12_345, Currency: "EUR",
			Destination: "acct_1Merchant", ApplicationFee: 370, Email: "buyer@example.com",
			IdempotencyKey: "order-" + order.String() + "-1",
		})
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(pi.ID, "pi_"), pi.ID)
		require.NotEmpty(t, pi.ClientSecret)
		require.NotEmpty(t, pi.Status)
		reqs := rec.take()
		require.Len(t, reqs, 1, "one request, no retry")
		r := reqs[0]
		require.Equal(t, "POST /v1/payment_intents", r.Method+" "+r.Path)
		require.Equal(t, "order-"+order.String()+"-1", r.Header.Get("Idempotency-Key"))
		for k, v := range map[string]string{
			"amount":                             "12345",
			"currency":                           "eur",
			"transfer_data[destination]":         "acct_1Merchant",
			"application_fee_amount":             "370",
			"automatic_payment_methods[enabled]": "true",
			"metadata[order_id]":                 order.String(),
			"metadata[merchant_id]":              merchant.String(),
			"receipt_email":                      "buyer@example.com",
		} {
			require.Equal(t, v, r.Form.Get(k), k)
		}

		got, err := s.PaymentIntent(ctx, pi.ID)
		require.NoError(t, err)
		require.NotEmpty(t, got.ClientSecret)
		reqs = rec.take()
		require.Len(t, reqs, 1)
		require.Equal(t, "GET /v1/payment_intents/"+pi.ID, reqs[0].Method+" "+reqs[0].Path)
		require.Empty(t, reqs[0].Header.Get("Idempotency-Key"), "reads carry no idempotency key")
	})

	t.Run("refund reverses the transfer and the fee", func(t *testing.T) {
		ref, err := s.CreateRefund(ctx, RefundParams{
			PaymentIntentID: "pi_123", Amount: 500, IdempotencyKey: "refund-1",
			Metadata: map[string]string{"refund_id": "r1"},
		})
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(ref.ID, "re_"), ref.ID)
		require.NotEmpty(t, ref.Status)
		reqs := rec.take()
		require.Len(t, reqs, 1)
		r := reqs[0]
		require.Equal(t, "POST /v1/refunds", r.Method+" "+r.Path)
		require.Equal(t, "refund-1", r.Header.Get("Idempotency-Key"))
		for k, v := range map[string]string{
			"payment_intent":         "pi_123",
			"amount":                 "500",
			"refund_application_fee": "true",
			"reverse_transfer":       "true",
			"metadata[refund_id]":    "r1",
		} {
			require.Equal(t, v, r.Form.Get(k), k)
		}

		_, err = s.CreateRefund(ctx, RefundParams{PaymentIntentID: "pi_123", IdempotencyKey: "refund-2"})
		require.NoError(t, err)
		reqs = rec.take()
		require.Len(t, reqs, 1)
		_, has := reqs[0].Form["amount"]
		require.False(t, has, "a full refund sends no amount")
	})

	t.Run("invalid parameters send nothing", func(t *testing.T) {
		valid := PaymentIntentParams{
			OrderID: uuid.New(), MerchantID: uuid.New(), Amount: 1000, Currency: "usd",
			Destination: "acct_1", ApplicationFee: 10, IdempotencyKey: "k",
		}
		for name, mutate := range map[string]func(p *PaymentIntentParams){
			"no order":          func(p *PaymentIntentParams) { p.OrderID = uuid.Nil },
			"no merchant":       func(p *PaymentIntentParams) { p.MerchantID = uuid.Nil },
			"zero amount":       func(p *PaymentIntentParams) { p.Amount = 0 },
			"bad currency":      func(p *PaymentIntentParams) { p.Currency = "euro" },
			"bad destination":   func(p *PaymentIntentParams) { p.Destination = "ba_1" },
			"fee above amount":  func(p *PaymentIntentParams) { p.ApplicationFee = 1001 },
			"negative fee":      func(p *PaymentIntentParams) { p.ApplicationFee = -1 },
			"no idempotency":    func(p *PaymentIntentParams) { p.IdempotencyKey = " " },
			"key over 255 char": func(p *PaymentIntentParams) { p.IdempotencyKey = strings.Repeat("k", 256) },
		} {
			t.Run(name, func(t *testing.T) {
				p := valid
				mutate(&p)
				_, err := s.CreatePaymentIntent(ctx, p)
				require.ErrorIs(t, err, ErrInvalidParams)
			})
		}
		_, err := s.CreateRefund(ctx, RefundParams{PaymentIntentID: "pi_1"})
		require.ErrorIs(t, err, ErrInvalidParams)
		_, err = s.CreateRefund(ctx, RefundParams{PaymentIntentID: "ch_1", IdempotencyKey: "k"})
		require.ErrorIs(t, err, ErrInvalidParams)
		_, err = s.AccountLink(ctx, "nope")
		require.ErrorIs(t, err, ErrInvalidParams)
		_, err = New(Config{SecretKey: "sk_test_123", APIURL: rec.URL}).AccountLink(ctx, "acct_1")
		require.ErrorIs(t, err, ErrInvalidParams, "no PUBLIC_URL")
		require.Empty(t, rec.take())
	})
}

// stripeErrorServer answers every request with status and body.
func stripeErrorServer(t *testing.T, status int, body string, count *int) string {
	t.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*count++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_test")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestStripeErrors(t *testing.T) {
	intent := PaymentIntentParams{
		OrderID: uuid.New(), MerchantID: uuid.New(), Amount: 1000, Currency: "usd",
		Destination: "acct_1", IdempotencyKey: "k",
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name        string
		status      int
		body        string
		url         string
		want        *Error // nil: not an *Error
		unavailable bool
	}{
		{
			name:   "card declined",
			status: http.StatusPaymentRequired,
			body:   `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`,
			want: &Error{Op: "create payment intent", Type: "card_error", Code: "card_declined", DeclineCode: "insufficient_funds",
				Message: "Your card has insufficient funds.", HTTPStatus: 402, RequestID: "req_test"},
		},
		{
			name:   "invalid request",
			status: http.StatusBadRequest,
			body:   `{"error":{"type":"invalid_request_error","code":"amount_too_small","param":"amount","message":"Amount must be at least $0.50 usd"}}`,
			want: &Error{Op: "create payment intent", Type: "invalid_request_error", Code: "amount_too_small", Param: "amount",
				Message: "Amount must be at least $0.50 usd", HTTPStatus: 400, RequestID: "req_test"},
		},
		{
			name:   "server error",
			status: http.StatusInternalServerError,
			body:   `{"error":{"type":"api_error","message":"Something went wrong"}}`,
			want: &Error{Op: "create payment intent", Type: "api_error", Message: "Something went wrong",
				HTTPStatus: 500, RequestID: "req_test"},
			unavailable: true,
		},
		{
			name:   "rate limited",
			status: http.StatusTooManyRequests,
			body:   `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`,
			want: &Error{Op: "create payment intent", Type: "invalid_request_error", Code: "rate_limit", Message: "Too many requests",
				HTTPStatus: 429, RequestID: "req_test"},
			unavailable: true,
		},
		{name: "gateway page", status: http.StatusBadGateway, body: `<html>bad gateway</html>`, unavailable: true},
		{name: "connection refused", url: closedURL, unavailable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			count := 0
			u := tc.url
			if u == "" {
				u = stripeErrorServer(t, tc.status, tc.body, &count)
			}
			_, err := newClient(t, u).CreatePaymentIntent(context.Background(), intent)
			require.Error(t, err)
			require.Equal(t, tc.unavailable, errors.Is(err, ErrUnavailable), "errors.Is(%v, ErrUnavailable)", err)
			var se *Error
			if tc.want == nil {
				require.False(t, errors.As(err, &se), "%v is not an *Error", err)
				return
			}
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.want, se)
			require.Equal(t, tc.want.Type == "card_error", se.IsCardError())
			require.Equal(t, 1, count, "no retries")
		})
	}

	t.Run("canceled context", func(t *testing.T) {
		count := 0
		u := stripeErrorServer(t, 200, `{}`, &count)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := newClient(t, u).CreatePaymentIntent(ctx, intent)
		require.ErrorIs(t, err, context.Canceled)
		require.NotErrorIs(t, err, ErrUnavailable)
	})
}

// A network retry repeats the request with the same idempotency key, so
// Stripe applies it once.
func TestRetryKeepsTheIdempotencyKey(t *testing.T) {
	upstream := stripemock.Start(t)
	var (
		mu   sync.Mutex
		keys []string
	)
	u, err := url.Parse(upstream)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		first := len(keys) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"type":"api_error","message":"try again"}}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	s := New(Config{SecretKey: "sk_test_123", APIURL: srv.URL, MaxNetworkRetries: 1})
	pi, err := s.CreatePaymentIntent(context.Background(), PaymentIntentParams{
		OrderID: uuid.New(), MerchantID: uuid.New(), Amount: 1000, Currency: "usd",
		Destination: "acct_1", IdempotencyKey: "order-x-1",
	})
	require.NoError(t, err)
	require.NotEmpty(t, pi.ClientSecret)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"order-x-1", "order-x-1"}, keys)
}
