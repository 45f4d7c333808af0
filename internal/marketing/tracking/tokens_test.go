package tracking

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func testKeys(t testing.TB) *Keys {
	k, err := NewKeys("k1", map[string][]byte{"k1": key(1)})
	require.NoError(t, err)
	return k
}

func TestTokenRoundTrip(t *testing.T) {
	k := testKeys(t)
	const send = "tok_abcdefghijklmnop"
	open, err := k.OpenToken(send)
	require.NoError(t, err)
	unsub, err := k.UnsubscribeToken(send)
	require.NoError(t, err)
	click, err := k.ClickToken(send, "https://shop.test/p/1?a=b&c=d#frag", 7)
	require.NoError(t, err)

	c, err := k.Verify(open, KindOpen)
	require.NoError(t, err)
	require.Equal(t, Claims{Kind: KindOpen, SendToken: send, KeyID: "k1"}, c)
	c, err = k.Verify(unsub, KindUnsubscribe)
	require.NoError(t, err)
	require.Equal(t, Claims{Kind: KindUnsubscribe, SendToken: send, KeyID: "k1"}, c)
	c, err = k.Verify(click, KindClick)
	require.NoError(t, err)
	require.Equal(t, Claims{Kind: KindClick, SendToken: send, URL: "https://shop.test/p/1?a=b&c=d#frag", LinkIndex: 7, KeyID: "k1"}, c)

	for _, tok := range []string{open, unsub, click} {
		require.NotContains(t, tok, "/", "tokens are one path segment")
		require.Equal(t, tok, strings.Map(func(r rune) rune { return r }, tok))
	}
}

func TestTokenOfAnotherKindIsRefused(t *testing.T) {
	k := testKeys(t)
	open, _ := k.OpenToken("s1")
	unsub, _ := k.UnsubscribeToken("s1")
	click, _ := k.ClickToken("s1", "https://x.test/", 0)
	cases := []struct {
		tok  string
		kind Kind
	}{{open, KindUnsubscribe}, {open, KindClick}, {unsub, KindOpen}, {unsub, KindClick}, {click, KindOpen}, {click, KindUnsubscribe}}
	for _, c := range cases {
		_, err := k.Verify(c.tok, c.kind)
		require.ErrorIs(t, err, ErrWrongKind)
	}
}

func TestTamperedTokensAreRefused(t *testing.T) {
	k := testKeys(t)
	click, err := k.ClickToken("s1", "https://shop.test/sale", 0)
	require.NoError(t, err)
	evil, err := k.ClickToken("s1", "https://evil.test/", 0)
	require.NoError(t, err)
	id, rest, _ := strings.Cut(click, ".")
	body, sig, _ := strings.Cut(rest, ".")
	_, evilRest, _ := strings.Cut(evil, ".")
	evilBody, _, _ := strings.Cut(evilRest, ".")

	// The payload with another URL, signed with the attacker's guess.
	payload, _ := base64.RawURLEncoding.DecodeString(body)
	swapped := bytes.Replace(payload, []byte("shop.test"), []byte("evil.test"), 1)
	forged := id + "." + base64.RawURLEncoding.EncodeToString(swapped) + "." + sig

	cases := map[string]string{
		"URL swapped in the payload":       forged,
		"another token's body":             id + "." + evilBody + "." + sig,
		"signature cut":                    id + "." + body + "." + sig[:len(sig)-2],
		"signature of zeros":               id + "." + body + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
		"no signature":                     id + "." + body,
		"empty":                            "",
		"only dots":                        "..",
		"padding added":                    click + "=",
		"signature with non-canonical b64": id + "." + body + "." + sig[:len(sig)-1] + string(sig[len(sig)-1]^1),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := k.Verify(tok, KindClick)
			require.Error(t, err)
		})
	}
	// Every single-character change anywhere is refused.
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
	for i := range click {
		for _, r := range []byte{alphabet[(strings.IndexByte(alphabet, click[i])+1)%len(alphabet)]} {
			mut := click[:i] + string(r) + click[i+1:]
			_, err := k.Verify(mut, KindClick)
			require.Error(t, err, "position %d changed to %q", i, r)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	old := testKeys(t)
	oldTok, _ := old.OpenToken("s1")

	rotated, err := NewKeys("k2", map[string][]byte{"k1": key(1), "k2": key(2)})
	require.NoError(t, err)
	c, err := rotated.Verify(oldTok, KindOpen)
	require.NoError(t, err, "tokens of the old key still verify")
	require.Equal(t, "k1", c.KeyID)
	newTok, _ := rotated.OpenToken("s1")
	require.True(t, strings.HasPrefix(newTok, "k2."), "the current key signs")

	_, err = old.Verify(newTok, KindOpen)
	require.ErrorIs(t, err, ErrUnknownKey, "a key id the verifier does not hold")

	// Moving a token to another key id breaks its signature.
	_, err = rotated.Verify("k2"+strings.TrimPrefix(oldTok, "k1"), KindOpen)
	require.ErrorIs(t, err, ErrBadSignature)

	// A verifier holding k1 under another secret refuses it.
	other, _ := NewKeys("k1", map[string][]byte{"k1": key(9)})
	_, err = other.Verify(oldTok, KindOpen)
	require.ErrorIs(t, err, ErrBadSignature)
}

func TestParseKeys(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(key(3))
	raw := base64.RawURLEncoding.EncodeToString(key(4))
	k, err := ParseKeys(" k2:" + raw + " , k1:" + b64)
	require.NoError(t, err)
	require.Equal(t, "k2", k.CurrentID())
	require.Equal(t, []string{"k1", "k2"}, k.IDs())

	bad := []string{
		"", ",", "k1", "k1:not base64!!", "k1:" + base64.StdEncoding.EncodeToString(key(1)[:31]),
		"k.1:" + b64, "k1:" + b64 + ",k1:" + raw, ":" + b64,
	}
	for _, s := range bad {
		_, err := ParseKeys(s)
		require.Error(t, err, "%q", s)
	}
	_, err = NewKeys("nope", map[string][]byte{"k1": key(1)})
	require.Error(t, err)
}

func TestValidTarget(t *testing.T) {
	cases := map[string]bool{
		"https://shop.test/":                 true,
		"http://shop.test/a?b=c#d":           true,
		"HTTPS://SHOP.TEST/":                 true,
		"https://shop.test:8443/x":           true,
		"javascript:alert(1)":                false,
		"JavaScript://shop.test/%0aalert(1)": false,
		"data:text/html,<script>":            false,
		"mailto:a@b.test":                    false,
		"//evil.test/":                       false,
		"/relative":                          false,
		"https:///nohost":                    false,
		"https://shop.test/a b":              false,
		"https://shop.test/\x00":             false,
		"https://shop.test/\n":               false,
		"ftp://shop.test/":                   false,
		"":                                   false,
		"https://shop.test/" + strings.Repeat("a", MaxURLLength): false,
	}
	for u, want := range cases {
		require.Equal(t, want, ValidTarget(u), "%q", u)
	}
}

func TestSigningRefusesBadInput(t *testing.T) {
	k := testKeys(t)
	_, err := k.ClickToken("s1", "javascript:alert(1)", 0)
	require.ErrorIs(t, err, ErrBadURL)
	_, err = k.ClickToken("s1", "https://x.test/", -1)
	require.Error(t, err)
	_, err = k.OpenToken("")
	require.Error(t, err)
	_, err = k.OpenToken(strings.Repeat("x", MaxSendTokenLength+1))
	require.Error(t, err)
}

func TestURLs(t *testing.T) {
	k := testKeys(t)
	o, err := k.OpenURL("https://t.test/", "s1")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(o, "https://t.test/t/o/k1.") && strings.HasSuffix(o, ".gif"), o)
	c, err := k.ClickURL("https://t.test", "s1", "https://shop.test/", 2)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(c, "https://t.test/t/c/k1."), c)
	u, err := k.UnsubscribeURL("https://t.test", "s1")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(u, "https://t.test/t/u/k1."), u)
}

// FuzzVerify: whatever the input, Verify does not panic, and what it
// accepts is exactly what signing those claims produces.
func FuzzVerify(f *testing.F) {
	k := testKeys(f)
	for _, kind := range []Kind{KindOpen, KindClick, KindUnsubscribe} {
		var tok string
		switch kind {
		case KindOpen:
			tok, _ = k.OpenToken("send-token")
		case KindClick:
			tok, _ = k.ClickToken("send-token", "https://shop.test/x?y=z", 3)
		default:
			tok, _ = k.UnsubscribeToken("send-token")
		}
		f.Add(tok, byte(kind))
	}
	f.Add("k1..", byte('o'))
	f.Add("k1.AQ.AAAA", byte('c'))
	f.Fuzz(func(t *testing.T, tok string, kind byte) {
		c, err := k.Verify(tok, Kind(kind))
		if err != nil {
			return
		}
		if c.Kind != Kind(kind) || c.SendToken == "" {
			t.Fatalf("accepted %q as %+v", tok, c)
		}
		if c.Kind == KindClick && !ValidTarget(c.URL) {
			t.Fatalf("accepted click to %q", c.URL)
		}
		if again := k.sign(c); again != tok {
			t.Fatalf("accepted %q, which is not what signing its claims gives (%q)", tok, again)
		}
	})
}

func BenchmarkVerifyClick(b *testing.B) {
	k := testKeys(b)
	tok, _ := k.ClickToken("0123456789abcdef0123456789abcdef", "https://shop.test/products/organic-cotton-tee?variant=123", 5)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Verify(tok, KindClick); err != nil {
			b.Fatal(err)
		}
	}
}
