/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SASL client messages for Kafka's SaslAuthenticate: PLAIN (RFC 4616) and SCRAM-SHA-256 /
 * SCRAM-SHA-512 (RFC 5802, RFC 7677), with OpenSSL's PBKDF2, HMAC and digests.
 *
 * SCRAM, as Kafka runs it (no channel binding, gs2 header "n,,"):
 *   client-first  n,,n=<user>,r=<cnonce>
 *   server-first  r=<cnonce><snonce>,s=<salt>,i=<iterations>
 *   client-final  c=biws,r=<nonce>,p=<ClientKey XOR HMAC(H(ClientKey), AuthMessage)>
 *   server-final  v=<HMAC(HMAC(SaltedPassword, "Server Key"), AuthMessage)>, checked here:
 *                 a server that does not know the password cannot produce it.
 * User names are escaped (=2C, =3D); passwords are used as given (no SASLprep: ASCII
 * passwords are what SASLprep leaves unchanged).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "forward_internal.h"

#define SCRAM_ITERATIONS_MAX 1000000 /* a server asking for more is refused (CPU burn) */

const char *ksasl_mech_name(enum ksasl_mech mech)
{
	switch (mech) {
	case KSASL_PLAIN:
		return "PLAIN";
	case KSASL_SCRAM_SHA_256:
		return "SCRAM-SHA-256";
	case KSASL_SCRAM_SHA_512:
		return "SCRAM-SHA-512";
	default:
		return "NONE";
	}
}

static const EVP_MD *scram_md(const struct ksasl *s)
{
	return s->mech == KSASL_SCRAM_SHA_512 ? EVP_sha512() : EVP_sha256();
}

int ksasl_init(struct ksasl *s, enum ksasl_mech mech, const char *user, const char *pass,
	       const char *cnonce)
{
	memset(s, 0, sizeof(*s));
	if (mech == KSASL_NONE || !user || !pass || strlen(user) >= sizeof(s->user) ||
	    strlen(pass) >= sizeof(s->pass))
		return -EINVAL;
	s->mech = mech;
	snprintf(s->user, sizeof(s->user), "%s", user);
	snprintf(s->pass, sizeof(s->pass), "%s", pass);
	if (cnonce) {
		if (strlen(cnonce) >= sizeof(s->cnonce))
			return -EINVAL;
		snprintf(s->cnonce, sizeof(s->cnonce), "%s", cnonce);
	} else if (mech != KSASL_PLAIN) {
		uint8_t raw[24];

		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return -EIO;
		/* base64 of random bytes: printable, no ',' (RFC 5802 "printable") */
		EVP_EncodeBlock((unsigned char *)s->cnonce, raw, sizeof(raw));
	}
	s->digest_len = (unsigned)EVP_MD_size(scram_md(s));
	return 0;
}

/* saslname: ',' -> "=2C", '=' -> "=3D" */
static size_t escape_user(const char *u, char *out, size_t cap)
{
	size_t n = 0;

	for (; *u && n + 4 < cap; u++) {
		if (*u == ',') {
			memcpy(out + n, "=2C", 3);
			n += 3;
		} else if (*u == '=') {
			memcpy(out + n, "=3D", 3);
			n += 3;
		} else {
			out[n++] = *u;
		}
	}
	out[n] = '\0';
	return n;
}

/* Value of attribute @p key ("r", "s", "i", "v", "e") in a comma-separated SCRAM message. */
static bool scram_attr(const char *msg, size_t len, char key, const char **val, size_t *vlen)
{
	size_t i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && msg[j] != ',')
			j++;
		if (j - i >= 2 && msg[i] == key && msg[i + 1] == '=') {
			*val = msg + i + 2;
			*vlen = j - i - 2;
			return true;
		}
		i = j + 1;
	}
	return false;
}

static int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	int n, pad = 0;

	if (len == 0 || len % 4 != 0 || (len / 4) * 3 > cap)
		return -EPROTO;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -EPROTO;
	if (in[len - 1] == '=')
		pad++;
	if (in[len - 2] == '=')
		pad++;
	*out_len = (size_t)n - (size_t)pad;
	return 0;
}

static int scram_client_final(struct ksasl *s, const char *srv, size_t len, struct kw *out)
{
	const EVP_MD *md = scram_md(s);
	unsigned dl = s->digest_len;
	uint8_t salt[256], salted[64], client_key[64], stored_key[64], client_sig[64], proof[64],
		server_key[64];
	char without_proof[512], proof_b64[128], iters[16];
	const char *nonce, *salt_b64, *iter_s;
	size_t nonce_len, salt_b64_len, iter_len, salt_len, cn = strlen(s->cnonce);
	unsigned hl;
	long iterations;
	char *end;
	int n, rc = -EPROTO;

	if (memchr(srv, '\0', len) || !scram_attr(srv, len, 'r', &nonce, &nonce_len) ||
	    !scram_attr(srv, len, 's', &salt_b64, &salt_b64_len) ||
	    !scram_attr(srv, len, 'i', &iter_s, &iter_len) || iter_len == 0 ||
	    iter_len >= sizeof(iters))
		return -EPROTO;
	/* The server's nonce must extend ours, or this is a replay / another exchange. */
	if (nonce_len <= cn || memcmp(nonce, s->cnonce, cn) != 0)
		return -EACCES;
	memcpy(iters, iter_s, iter_len);
	iters[iter_len] = '\0';
	iterations = strtol(iters, &end, 10);
	if (*end || iterations < 1 || iterations > SCRAM_ITERATIONS_MAX)
		return -EPROTO;
	if (b64_decode(salt_b64, salt_b64_len, salt, sizeof(salt), &salt_len))
		return -EPROTO;
	n = snprintf(without_proof, sizeof(without_proof), "c=biws,r=%.*s", (int)nonce_len, nonce);
	if (n < 0 || (size_t)n >= sizeof(without_proof))
		return -EPROTO;
	n = snprintf(s->auth_message, sizeof(s->auth_message), "%s,%.*s,%s", s->client_first_bare,
		     (int)len, srv, without_proof);
	if (n < 0 || (size_t)n >= sizeof(s->auth_message))
		return -EPROTO;
	if (PKCS5_PBKDF2_HMAC(s->pass, (int)strlen(s->pass), salt, (int)salt_len, (int)iterations,
			      md, (int)dl, salted) != 1)
		return -EIO;
	if (!HMAC(md, salted, (int)dl, (const uint8_t *)"Client Key", 10, client_key, &hl) ||
	    !EVP_Digest(client_key, dl, stored_key, &hl, md, NULL) ||
	    !HMAC(md, stored_key, (int)dl, (const uint8_t *)s->auth_message,
		  strlen(s->auth_message), client_sig, &hl) ||
	    !HMAC(md, salted, (int)dl, (const uint8_t *)"Server Key", 10, server_key, &hl) ||
	    !HMAC(md, server_key, (int)dl, (const uint8_t *)s->auth_message,
		  strlen(s->auth_message), s->server_signature, &hl))
		goto out;
	for (unsigned i = 0; i < dl; i++)
		proof[i] = client_key[i] ^ client_sig[i];
	EVP_EncodeBlock((unsigned char *)proof_b64, proof, (int)dl);
	kw_raw(out, without_proof, strlen(without_proof));
	kw_raw(out, ",p=", 3);
	kw_raw(out, proof_b64, strlen(proof_b64));
	rc = 1;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(stored_key, sizeof(stored_key));
	return rc;
}

static int scram_verify_final(struct ksasl *s, const char *srv, size_t len)
{
	uint8_t sig[64 + 3];
	const char *v;
	size_t vlen, slen;

	if (scram_attr(srv, len, 'e', &v, &vlen))
		return -EACCES; /* server-error */
	if (!scram_attr(srv, len, 'v', &v, &vlen) || b64_decode(v, vlen, sig, sizeof(sig), &slen) ||
	    slen != s->digest_len)
		return -EPROTO;
	return CRYPTO_memcmp(sig, s->server_signature, s->digest_len) == 0 ? 0 : -EACCES;
}

int ksasl_step(struct ksasl *s, const uint8_t *in, size_t in_len, struct kw *out)
{
	int step = s->step++;

	kw_reset(out);
	if (s->mech == KSASL_PLAIN) {
		if (step > 0)
			return 0; /* the broker answered the one message without an error */
		kw_i8(out, 0); /* no authorization id */
		kw_raw(out, s->user, strlen(s->user));
		kw_i8(out, 0);
		kw_raw(out, s->pass, strlen(s->pass));
		return out->oom ? -ENOMEM : 1;
	}
	switch (step) {
	case 0: {
		char user[sizeof(s->user) * 3];
		int n;

		escape_user(s->user, user, sizeof(user));
		n = snprintf(s->client_first_bare, sizeof(s->client_first_bare), "n=%s,r=%s", user,
			     s->cnonce);
		if (n < 0 || (size_t)n >= sizeof(s->client_first_bare))
			return -EINVAL;
		kw_raw(out, "n,,", 3);
		kw_raw(out, s->client_first_bare, (size_t)n);
		return out->oom ? -ENOMEM : 1;
	}
	case 1:
		if (!in)
			return -EPROTO;
		return scram_client_final(s, (const char *)in, in_len, out);
	case 2:
		if (!in)
			return -EPROTO;
		return scram_verify_final(s, (const char *)in, in_len);
	default:
		return -EPROTO;
	}
}
