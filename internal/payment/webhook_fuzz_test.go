package payment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/omnisphere/omnisphere/ent"
)

// refused reports whether err is one of VerifyEvent's typed refusals.
func refused(err error) bool {
	return errors.Is(err, ErrSignature) || errors.Is(err, ErrAPIVersion) || errors.Is(err, ErrMalformedEvent)
}

// FuzzVerifyEvent checks the Stripe webhook intake's verification.
//
// Garbage: any body, Stripe-Signature header and secret never panic, and
// are either refused with ErrSignature, ErrAPIVersion or ErrMalformedEvent
// or (only with a genuine signature) accepted as a well-formed event.
//
// Signed: the fuzzed body signed with the secret at most Tolerance ago
// never fails on the signature (it may still be refused as another API
// version or not an event); signed longer ago it fails with ErrTooOld.
// An accepted event is the body's: its id, type and API version are what
// the JSON says, and the intake's decoding of the body (UseNumber) and of
// the stored row (eventOf, StoredCreated) give the same event back.
// Any changed byte of the body, any changed character of the signature, a
// changed timestamp or another secret fails with ErrSignature.
func FuzzVerifyEvent(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	good := eventJSON("evt_1", "payment_intent.succeeded", "", APIVersion)
	f.Add(good, sign(good, testSecret, now), testSecret, int64(0), uint16(10), byte(1))
	f.Add(good, "", testSecret, int64(300), uint16(0), byte(0x20))
	f.Add(eventJSON("evt_2", "charge.refunded", "acct_1", APIVersion), "t=1800000000,v1=00", testConnectSecret, int64(301), uint16(200), byte(0x80))
	f.Add(eventJSON("evt_3", "account.updated", "acct_1", "2020-08-27"), "t=now,v1", testSecret, int64(-60), uint16(5), byte(0xff))
	f.Add([]byte("hello"), "t=1,v1=,v0=abc,t=2", "", int64(1<<40), uint16(3), byte(4))
	f.Add([]byte(`{"id":"evt_4","object":"event","api_version":"2023-10-16","type":"x","data":null,"created":"1700000000"}`), "v1="+strings.Repeat("a", 64), testSecret, int64(-1), uint16(1), byte(2))
	f.Add([]byte(`{"id":"evt_5","api_version":"2023-10-16","type":"payment_intent.created","created":1.7e9,"data":{"object":{"amount":1e400}}}`), "t=-1,v1=zz", "whsec_", int64(299), uint16(77), byte(9))
	f.Add([]byte(`[]`), strings.Repeat("t=1,", 1000), testSecret, int64(0), uint16(0), byte(0))

	f.Fuzz(func(t *testing.T, body []byte, header, secret string, age int64, pos uint16, flip byte) {
		// Garbage.
		if ev, err := VerifyEvent(body, header, secret, now); err != nil {
			if !refused(err) {
				t.Fatalf("VerifyEvent refused with an untyped error: %v", err)
			}
		} else if ev.ID == "" || ev.Type == "" || ev.Data == nil || ev.APIVersion != APIVersion {
			t.Fatalf("VerifyEvent accepted a malformed event %+v", ev)
		}

		if secret == "" {
			if _, err := VerifyEvent(body, sign(body, secret, now), secret, now); !errors.Is(err, ErrSignature) {
				t.Fatalf("no secret configured, yet: %v", err)
			}
			return
		}
		if age < 0 {
			age = -(age + 1) % (1 << 40)
			age = -min(age, 3600) // a clock ahead of ours: accepted as Stripe does
		} else {
			age %= 1 << 40
		}
		signedAt := now.Add(-time.Duration(age) * time.Second)
		hdr := sign(body, secret, signedAt)

		ev, err := VerifyEvent(body, hdr, secret, now)
		switch {
		case age > int64(Tolerance/time.Second):
			// A body that is no event fails on that first (the JSON is
			// read before the clock); an event fails as too old.
			if err == nil || (errors.Is(err, ErrSignature) && !errors.Is(err, webhook.ErrTooOld)) || !refused(err) {
				t.Fatalf("signed %d s ago, want ErrTooOld: %v", age, err)
			}
			return
		case errors.Is(err, ErrSignature):
			t.Fatalf("a body signed %d s ago with the secret failed on the signature: %v", age, err)
		case err != nil:
			if !refused(err) {
				t.Fatalf("untyped refusal: %v", err)
			}
		default:
			checkDecoded(t, body, ev.ID, string(ev.Type), ev.Created)
			if got, err := verifyAny(body, hdr, []string{secret + "-old", secret}, now); err != nil || got.ID != ev.ID {
				t.Fatalf("verifyAny with the secret second: %+v, %v", got, err)
			}
		}

		// Mutations: all fail on the signature.
		mutants := map[string][2]string{}
		if flip != 0 && len(body) > 0 {
			b := bytes.Clone(body)
			b[int(pos)%len(b)] ^= flip
			mutants["body"] = [2]string{string(b), hdr}
		}
		if i := strings.Index(hdr, "v1="); i >= 0 {
			sig := []byte(hdr)
			j := i + 3 + int(pos)%(len(hdr)-i-3)
			sig[j] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sig[j])+1+int(flip)%15)%16]
			mutants["signature"] = [2]string{string(body), string(sig)}
		}
		mutants["timestamp"] = [2]string{string(body), strings.Replace(hdr, fmt.Sprintf("t=%d", signedAt.Unix()), fmt.Sprintf("t=%d", signedAt.Unix()+1+int64(flip)), 1)}
		mutants["secret"] = [2]string{string(body), sign(body, secret+"x", signedAt)}
		mutants["no v1"] = [2]string{string(body), strings.Replace(hdr, "v1=", "v0=", 1)}
		for name, m := range mutants {
			if _, err := VerifyEvent([]byte(m[0]), m[1], secret, now); !errors.Is(err, ErrSignature) {
				t.Fatalf("%s changed after signing, yet: %v", name, err)
			}
		}
	})
}

// checkDecoded decodes body as the intake does (deliver: a JSON object,
// numbers kept exact), stores it as a row's payload and reads it back
// (eventOf, StoredCreated): the same event comes out.
func checkDecoded(t *testing.T, body []byte, id, typ string, created int64) {
	t.Helper()
	payload := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&payload); err != nil {
		t.Fatalf("a verified event does not decode as the intake decodes it: %v", err)
	}
	// The row's payload comes back from the database as plain JSON.
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatalf("payload does not re-encode: %v", err)
	}
	stored := map[string]any{}
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatalf("stored payload does not decode: %v", err)
	}
	if !plainKeys(payload) {
		// Keys that differ from the event's fields only in case: Go's JSON
		// decoding matches them to the fields, last one winning, so the
		// sorted re-encoding of the map may pick another. Stripe never
		// sends such bodies (and this one is signed by Stripe).
		return
	}
	rows := map[string]map[string]any{"as decoded": payload}
	if created > -1<<53 && created < 1<<53 {
		// Stored numbers come back as float64, exact up to 2^53.
		rows["as stored"] = stored
	}
	for name, p := range rows {
		ev, err := eventOf(&ent.WebhookEvent{Payload: p})
		if err != nil {
			t.Fatalf("eventOf(%s): %v", name, err)
		}
		if ev.ID != id || string(ev.Type) != typ || ev.Data == nil || ev.Created != created {
			t.Fatalf("eventOf(%s) = %s %s %d, verified %s %s %d", name, ev.ID, ev.Type, ev.Created, id, typ, created)
		}
		if got := StoredCreated(p); got != created {
			t.Fatalf("StoredCreated(%s) = %d, the event says %d", name, got, created)
		}
	}
}

// plainKeys reports whether no two top-level keys of p, and no key and an
// event field, are equal but for case.
func plainKeys(p map[string]any) bool {
	seen := map[string]bool{}
	for k := range p {
		l := strings.ToLower(k)
		if seen[l] {
			return false
		}
		seen[l] = true
		switch l {
		case "id", "type", "created", "data", "api_version", "object", "account", "livemode", "pending_webhooks", "request":
			if l != k {
				return false
			}
		}
	}
	return true
}

// FuzzStoredCreated feeds arbitrary stored payloads to the readers of the
// webhook_events table (a row's payload is any JSON object): StoredCreated
// and eventOf never panic, and StoredCreated reads back an integer created
// time however it is stored (number, exact number, string).
func FuzzStoredCreated(f *testing.F) {
	f.Add([]byte(`{"id":"evt_1","type":"x","created":1700000000,"data":{"object":{}}}`), int64(1700000000))
	f.Add([]byte(`{"created":"  42 "}`), int64(-5))
	f.Add([]byte(`{"created":1e400}`), int64(0))
	f.Add([]byte(`{"created":null,"data":"x"}`), int64(1<<53))
	f.Add([]byte(`{"id":7,"type":[],"data":{"object":[]}}`), int64(-1<<53))
	f.Fuzz(func(t *testing.T, body []byte, created int64) {
		for _, useNumber := range []bool{false, true} {
			p := map[string]any{}
			dec := json.NewDecoder(bytes.NewReader(body))
			if useNumber {
				dec.UseNumber()
			}
			if dec.Decode(&p) != nil {
				continue
			}
			_ = StoredCreated(p)
			_, _ = eventOf(&ent.WebhookEvent{Payload: p})
		}
		// Exactly representable as a float64 (JSON numbers through
		// map[string]any are).
		created %= 1 << 53
		for _, v := range []any{float64(created), json.Number(fmt.Sprint(created)), fmt.Sprintf(" %d ", created)} {
			if got := StoredCreated(map[string]any{"created": v}); got != created {
				t.Fatalf("StoredCreated(%T %v) = %d, want %d", v, v, got, created)
			}
		}
	})
}
