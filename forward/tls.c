/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TLS transport (OpenSSL), for security.protocol = ssl / sasl_ssl. One SSL_CTX per
 * forwarder built from the ssl.* keys (CA file or directory, client certificate and key for
 * mutual TLS, verification switches with librdkafka's names and defaults: the broker's
 * certificate and host name are verified unless turned off). Each connection holds an SSL
 * object on its non-blocking socket; handshake, reads and writes map OpenSSL's WANT_READ /
 * WANT_WRITE onto -EAGAIN and the poll direction.
 *
 * Writes go through a staging buffer: OpenSSL has no writev, and a write that returned
 * WANT_WRITE must be retried with the same bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <rte_log.h>

#include "forward_internal.h"

#define STAGE_BYTES (64u << 10)

extern int sluice_forward_logtype;

struct ktls {
	SSL_CTX *ctx;
	bool verify_host;
};

struct tls_conn {
	SSL *ssl;
	struct ktls *tls;
	uint8_t stage[STAGE_BYTES];
	size_t stage_len; /* bytes staged and not yet accepted by SSL_write */
	bool logged;
};

static void ssl_errstr(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown TLS error");
	ERR_clear_error();
}

static int key_password_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pw = u;
	size_t n = strlen(pw);

	(void)rwflag;
	if (n >= (size_t)size)
		return 0;
	memcpy(buf, pw, n + 1);
	return (int)n;
}

int ktls_create(const struct kclient_conf *conf, struct ktls **out, char *errstr, size_t len)
{
	struct ktls *t = calloc(1, sizeof(*t));
	char why[256];

	*out = NULL;
	if (!t) {
		snprintf(errstr, len, "out of memory");
		return -ENOMEM;
	}
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx)
		goto ssl_fail;
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (conf->ssl_ca_location[0]) {
		struct stat st;
		int ok;

		if (stat(conf->ssl_ca_location, &st) != 0) {
			snprintf(errstr, len, "ssl.ca.location %s: %s", conf->ssl_ca_location,
				 strerror(errno));
			goto fail;
		}
		ok = S_ISDIR(st.st_mode)
			? SSL_CTX_load_verify_locations(t->ctx, NULL, conf->ssl_ca_location)
			: SSL_CTX_load_verify_locations(t->ctx, conf->ssl_ca_location, NULL);
		if (ok != 1)
			goto ssl_fail;
	} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
		goto ssl_fail;
	}
	if (conf->ssl_key_password[0]) {
		SSL_CTX_set_default_passwd_cb(t->ctx, key_password_cb);
		SSL_CTX_set_default_passwd_cb_userdata(t->ctx, (void *)conf->ssl_key_password);
	}
	if (conf->ssl_cert_location[0] &&
	    SSL_CTX_use_certificate_chain_file(t->ctx, conf->ssl_cert_location) != 1)
		goto ssl_fail;
	if (conf->ssl_key_location[0] &&
	    (SSL_CTX_use_PrivateKey_file(t->ctx, conf->ssl_key_location, SSL_FILETYPE_PEM) != 1 ||
	     SSL_CTX_check_private_key(t->ctx) != 1))
		goto ssl_fail;
	SSL_CTX_set_verify(t->ctx, conf->ssl_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	t->verify_host = conf->ssl_verify && conf->ssl_verify_host;
	*out = t;
	return 0;
ssl_fail:
	ssl_errstr(why, sizeof(why));
	snprintf(errstr, len, "TLS set-up: %s", why);
fail:
	ktls_destroy(t);
	return -EINVAL;
}

void ktls_destroy(struct ktls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

static struct tls_conn *tc(struct kconn *c)
{
	return c->tctx;
}

static int tls_attach(struct kconn *c)
{
	struct tls_conn *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->tls = c->env->tls;
	t->ssl = SSL_new(t->tls->ctx);
	if (!t->ssl || SSL_set_fd(t->ssl, c->fd) != 1) {
		SSL_free(t->ssl);
		free(t);
		return -ENOMEM;
	}
	/* SNI always; the name is also checked against the certificate when verifying. */
	SSL_set_tlsext_host_name(t->ssl, c->host);
	if (t->tls->verify_host && SSL_set1_host(t->ssl, c->host) != 1) {
		SSL_free(t->ssl);
		free(t);
		return -ENOMEM;
	}
	SSL_set_connect_state(t->ssl);
	c->tctx = t;
	return 0;
}

/* Map an SSL_* result: -EAGAIN with the direction, or a logged error. */
static int ssl_result(struct kconn *c, int rc, bool *want_write, const char *what)
{
	struct tls_conn *t = tc(c);
	int e = SSL_get_error(t->ssl, rc);
	char why[256];

	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (want_write)
			*want_write = false;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		if (want_write)
			*want_write = true;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		return errno ? -errno : -ECONNRESET;
	default:
		ssl_errstr(why, sizeof(why));
		if (!t->logged) {
			long v = SSL_get_verify_result(t->ssl);

			rte_log(RTE_LOG_ERR, sluice_forward_logtype,
				"forwarder: %s:%u: TLS %s: %s%s%s\n", c->host, c->port, what, why,
				v != X509_V_OK ? ": " : "",
				v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
		}
		t->logged = true;
		return -EPROTO;
	}
}

static int tls_handshake(struct kconn *c, bool *want_write)
{
	int rc = SSL_do_handshake(tc(c)->ssl);

	*want_write = false;
	if (rc == 1)
		return 0;
	return ssl_result(c, rc, want_write, "handshake");
}

static ssize_t tls_read(struct kconn *c, void *buf, size_t len)
{
	int rc = SSL_read(tc(c)->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);

	if (rc > 0)
		return rc;
	rc = ssl_result(c, rc, NULL, "read");
	return rc == -ECONNRESET ? 0 : rc;
}

static ssize_t tls_writev(struct kconn *c, const struct iovec *iov, int iovcnt)
{
	struct tls_conn *t = tc(c);
	size_t staged = t->stage_len;
	int rc;

	/* The staged prefix is the head of iov (the caller re-offers unwritten bytes). */
	if (staged == 0) {
		for (int i = 0; i < iovcnt && staged < STAGE_BYTES; i++) {
			size_t n = iov[i].iov_len;

			if (n > STAGE_BYTES - staged)
				n = STAGE_BYTES - staged;
			memcpy(t->stage + staged, iov[i].iov_base, n);
			staged += n;
		}
		t->stage_len = staged;
	}
	if (staged == 0)
		return 0;
	rc = SSL_write(t->ssl, t->stage, (int)staged);
	if (rc <= 0)
		return ssl_result(c, rc, NULL, "write");
	/* Partial writes are enabled: keep what is left at the front of the stage. */
	memmove(t->stage, t->stage + rc, staged - (size_t)rc);
	t->stage_len = staged - (size_t)rc;
	return rc;
}

static bool tls_pending(struct kconn *c)
{
	return c->tctx && SSL_pending(tc(c)->ssl) > 0;
}

static void tls_detach(struct kconn *c)
{
	struct tls_conn *t = tc(c);

	if (!t)
		return;
	SSL_free(t->ssl);
	free(t);
	c->tctx = NULL;
}

const struct ktransport_ops ktransport_tls = {
	.name = "ssl",
	.attach = tls_attach,
	.handshake = tls_handshake,
	.read = tls_read,
	.writev = tls_writev,
	.pending = tls_pending,
	.detach = tls_detach,
};
