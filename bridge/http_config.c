/* The config's `http` group (include/http_config.h): listener, realm, algorithm and
 * users with stored digests. Checked with the key table routine (keys.h) so
 * that errors name file:line like every other key. */
#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_config.h"

#include "dl_mhd.h"
#include "keys.h"
#include "mb_error.h"

#define HTTP__N(a) (sizeof(a) / sizeof((a)[0]))

static const char *http__check_addr(const char *v)
{
	unsigned char buf[16];
	if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1)
		return NULL;
	return "must be an IPv4 or IPv6 address such as \"127.0.0.1\" or \"::\"";
}

/* The realm goes into the challenge header between quotes. */
static const char *http__check_realm(const char *v)
{
	for (; *v; v++)
		if (*v == '"' || *v == '\\' || (unsigned char)*v < 0x20)
			return "must not hold quotes, backslashes or control characters";
	return NULL;
}

static const char http__algorithms[][8] = {"MD5", "SHA-256", ""};

struct http__user_cfg {
	char *name, *ha1;
};

/* clang-format off */
static const struct config_key http__user_keys[] = {
	{.name = "name", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct http__user_cfg, name), .check = http__check_realm},
	{.name = "ha1", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct http__user_cfg, ha1)},
};
/* clang-format on */

static int http__hex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++) {
		int c = s[i], v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

static int http__users(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_http *hc = target;
	const config_setting_t *alg =
	    config_setting_get_member(config_setting_parent(s), "algorithm");
	int sha256 = alg && config_setting_get_string(alg) &&
		     strcmp(config_setting_get_string(alg), "SHA-256") == 0;
	size_t len = sha256 ? 32 : 16;
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return keys_error_type(p, s, " must be a list ( { name = ...; ha1 = ...; }, ... )");
	n = config_setting_length(s);
	if (!(hc->users = calloc(n ? (size_t)n : 1, sizeof *hc->users)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct http__user_cfg u = {0};
		int rc;

		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return keys_error_type(p, e, " must be a group { name = ...; ha1 = ...; }");
		if (config_setting_get_member(e, "password"))
			return keys_error_at(
			    p, config_setting_get_member(e, "password"), e,
			    ".password: passwords are not stored; give ha1, the %s of "
			    "\"name:realm:password\" in hex (docs/user-guide.md, \"Web interface "
			    "and REST API\")",
			    sha256 ? "SHA-256" : "MD5");
		rc = keys_parse(p, e, http__user_keys, HTTP__N(http__user_keys), &u);
		if (rc == 0 && http__hex(u.ha1, hc->users[i].ha1, len) != 0)
			rc = keys_error_at(p, config_setting_get_member(e, "ha1"), e,
					   ".ha1 must be %zu hex digits (the %s of "
					   "\"name:realm:password\")",
					   2 * len, sha256 ? "SHA-256" : "MD5");
		for (int k = 0; rc == 0 && k < i; k++)
			if (strcmp(hc->users[k].name, u.name) == 0)
				rc =
				    keys_error_at(p, e, e, ": user \"%s\" is listed twice", u.name);
		free(u.ha1);
		if (rc != 0) {
			free(u.name);
			return rc;
		}
		hc->users[i].name = u.name;
		hc->users[i].ha1_len = len;
		hc->nusers = (size_t)i + 1;
	}
	return 0;
}

/* http.hosts: names (or addresses) a browser may reach the server by besides
 * the machine's own, lower case, without brackets or a final dot. */
static int http__hosts(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_http *hc = target;
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return keys_error_type(p, s, " must be a list of host names [ \"modbridge.lan\" ]");
	n = config_setting_length(s);
	if (!(hc->hosts = calloc(n ? (size_t)n : 1, sizeof *hc->hosts)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		size_t len;
		if (v && *v == '[' && (len = strlen(v)) > 2 && v[len - 1] == ']') {
			v++;
			len -= 2;
		} else {
			len = v ? strlen(v) : 0;
		}
		if (len && v[len - 1] == '.')
			len--;
		int bad = !v || !len || len > 253;
		for (size_t k = 0; !bad && k < len; k++)
			bad = (unsigned char)v[k] <= ' ' || (unsigned char)v[k] >= 0x7f ||
			      strchr("/@\"\\[]", v[k]);
		if (bad)
			return keys_error_at(
			    p, e, s,
			    "[%d] must be a host name or address such as "
			    "\"modbridge.lan\" or \"192.0.2.7\" (no scheme, port or path), "
			    "or \"*\" for any",
			    i);
		if (!(hc->hosts[i] = strndup(v, len)))
			return MB_ENOMEM;
		for (char *c = hc->hosts[i]; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c + 'a' - 'A');
		hc->nhosts = (size_t)i + 1;
	}
	return 0;
}

/* --- tls ---------------------------------------------------------------- */

/* A certificate chain or a key is a few KiB; more is not one. */
#define HTTP__PEM_MAX (256 * 1024)

struct http__tls_cfg {
	char *cert, *key;
};

/* clang-format off */
static const struct config_key http__tls_keys[] = {
	{.name = "cert", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct http__tls_cfg, cert)},
	{.name = "key", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct http__tls_cfg, key)},
};
/* clang-format on */

/* The PEM text of the file path names (what the setting s gives) into *out,
 * or an error naming s's file:line. */
static int http__read_pem(struct config_parser *p, const config_setting_t *s, const char *path,
			  const char *what, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "rb");
	int err = errno;

	if (!f)
		return keys_error_at(p, s, s, ": cannot open \"%s\": %s", path, strerror(err));
	if ((buf = malloc(HTTP__PEM_MAX + 1)))
		len = fread(buf, 1, HTTP__PEM_MAX + 1, f);
	err = ferror(f) ? errno : 0;
	fclose(f);
	if (!buf)
		return MB_ENOMEM;
	buf[len > HTTP__PEM_MAX ? HTTP__PEM_MAX : len] = '\0';
	const char *why = err			? strerror(err)
			  : len > HTTP__PEM_MAX ? "larger than 256 KiB"
			  : memchr(buf, '\0', len) || !strstr(buf, "-----BEGIN ")
			      ? "not PEM text (-----BEGIN ...)"
			      : NULL;
	if (why) {
		free(buf);
		return keys_error_at(p, s, s, ": \"%s\" is %s%s, not %s", path,
				     err ? "unreadable: " : "", why, what);
	}
	*out = buf;
	return 0;
}

static enum MHD_Result http__no_request(void *cls, struct MHD_Connection *c, const char *url,
					const char *method, const char *version, const char *upload,
					size_t *upload_size, void **con_cls)
{
	(void)cls, (void)c, (void)url, (void)method, (void)version, (void)upload;
	(void)upload_size, (void)con_cls;
	return MHD_NO;
}

/* Do key and certificate make a TLS server? libmicrohttpd (GnuTLS) is asked
 * with a daemon that listens nowhere and is stopped at once, so that
 * --check and a reload refuse a pair the start would fail on. */
static int http__tls_usable(const char *cert, const char *key)
{
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_TLS | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, http__no_request, NULL,
	    MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
	if (!d)
		return 0;
	MHD_stop_daemon(d);
	return 1;
}

/* `tls`: the group, libmicrohttpd's TLS, both files readable PEM, and a key
 * that fits its certificate. */
static int http__tls(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_http *hc = target;
	struct http__tls_cfg t = {0};
	int rc;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return keys_error_type(p, s,
				       " must be a group { cert = \"...pem\"; key = \"...pem\"; }");
	/* The key pair is checked by libmicrohttpd itself, which is opened
	 * for that (include/dl.h): --check with a `tls` group needs it. */
	char dlerr[300];
	if (dl_mhd_load("http.tls", dlerr, sizeof dlerr) != 0)
		return keys_error(p, s, "%s", dlerr);
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return keys_error_at(p, s, s,
				     ": this libmicrohttpd was built without TLS (on OpenWrt, "
				     "install libmicrohttpd-ssl); remove the group, or serve HTTPS "
				     "from a reverse proxy (docs/user-guide.md, \"HTTPS\")");
	rc = keys_parse(p, s, http__tls_keys, HTTP__N(http__tls_keys), &t);
	if (rc == 0)
		rc = http__read_pem(p, config_setting_get_member(s, "cert"), t.cert,
				    "a certificate", &hc->tls_cert_pem);
	if (rc == 0)
		rc = http__read_pem(p, config_setting_get_member(s, "key"), t.key, "a private key",
				    &hc->tls_key_pem);
	if (rc == 0 && (!strstr(hc->tls_cert_pem, "CERTIFICATE-----") ||
			!strstr(hc->tls_key_pem, "PRIVATE KEY-----")))
		rc = keys_error_at(
		    p, s, s,
		    ": cert must hold a PEM certificate (BEGIN CERTIFICATE) and key an "
		    "unencrypted PEM private key (BEGIN PRIVATE KEY, BEGIN RSA/EC PRIVATE KEY)");
	if (rc == 0 && strstr(hc->tls_key_pem, "ENCRYPTED"))
		rc = keys_error_at(p, config_setting_get_member(s, "key"), s,
				   ".key: the key is encrypted; give it without a passphrase "
				   "(openssl pkey -in key.pem -out plain.pem) and readable only by "
				   "the daemon");
	if (rc == 0 && !http__tls_usable(hc->tls_cert_pem, hc->tls_key_pem))
		rc = keys_error_at(p, s, s,
				   ": TLS cannot start with this pair: the key does not fit the "
				   "certificate, or one of them is damaged or of a kind GnuTLS "
				   "does not take");
	hc->tls_cert = t.cert;
	hc->tls_key = t.key;
	return rc;
}

/* clang-format off */
static const struct config_key http__keys[] = {
	{.name = "listen", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_http, listen), .check = http__check_addr},
	{.name = "port", .kind = CONFIG_K_INT, .off = offsetof(struct config_http, port),
	 .min = 0, .max = 65535},
	{.name = "realm", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_http, realm), .check = http__check_realm},
	{.name = "algorithm", .kind = CONFIG_K_CHOICE, .off = offsetof(struct config_http, sha256),
	 CONFIG_CHOICES(http__algorithms)},
	{.name = "read_only_without_auth", .kind = CONFIG_K_BOOL,
	 .off = offsetof(struct config_http, read_only_without_auth)},
	{.name = "max_connections", .kind = CONFIG_K_INT,
	 .off = offsetof(struct config_http, max_connections), .min = 1, .max = 1000},
	{.name = "max_per_ip", .kind = CONFIG_K_INT,
	 .off = offsetof(struct config_http, max_per_ip), .min = 0, .max = 1000},
	{.name = "history_interval", .kind = CONFIG_K_INT64,
	 .off = offsetof(struct config_http, history_interval), .min = 100, .max = 3600000,
	 .unit = CONFIG_U_MS},
	{.name = "hosts", .kind = CONFIG_K_CUSTOM, .fn = http__hosts},
	{.name = "users", .kind = CONFIG_K_CUSTOM, .fn = http__users},
	{.name = "tls", .kind = CONFIG_K_CUSTOM, .fn = http__tls},
};
/* clang-format on */

int http_config_parse(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_http **slot = target;
	struct config_http *hc;
	int rc;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return keys_error_type(p, s, " must be a group { port = 8502; ... }");
	if (!(hc = calloc(1, sizeof *hc)) || !(hc->listen = strdup("0.0.0.0")) ||
	    !(hc->realm = strdup("modbridge"))) {
		http_config_free(hc);
		return MB_ENOMEM;
	}
	hc->port = 8502;
	hc->max_connections = 16;
	hc->max_per_ip = 8;
	hc->history_interval = 60000;
	hc->line = config_setting_source_line(s);
	http_config_free(*slot);
	*slot = hc;
	rc = keys_parse(p, s, http__keys, HTTP__N(http__keys), hc);
	if (rc == 0 && hc->nusers == 0 && !hc->read_only_without_auth)
		rc = keys_error_at(p, s, s,
				   " has no users and read_only_without_auth is false: nobody "
				   "could use it; add users = ( { name = ...; ha1 = ...; } )");
	return rc;
}

void http_config_free(struct config_http *c)
{
	if (!c)
		return;
	free(c->listen);
	free(c->realm);
	for (size_t i = 0; i < c->nusers; i++)
		free(c->users[i].name);
	free(c->users);
	for (size_t i = 0; i < c->nhosts; i++)
		free(c->hosts[i]);
	free(c->hosts);
	http_config_free_tls(c);
	free(c);
}

void http_config_free_tls(struct config_http *c)
{
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_cert_pem);
	if (c->tls_key_pem) {
		/* The key does not outlive its use in freed memory. */
		volatile char *k = c->tls_key_pem;
		for (size_t i = 0; k[i]; i++)
			k[i] = 0;
		free(c->tls_key_pem);
	}
	c->tls_cert = c->tls_key = c->tls_cert_pem = c->tls_key_pem = NULL;
}

int http_config_copy_tls(struct config_http *dst, const struct config_http *src)
{
	char **to[] = {&dst->tls_cert, &dst->tls_key, &dst->tls_cert_pem, &dst->tls_key_pem};
	const char *from[] = {src->tls_cert, src->tls_key, src->tls_cert_pem, src->tls_key_pem};
	int rc = 0;

	for (size_t i = 0; i < HTTP__N(to); i++) {
		*to[i] = from[i] ? strdup(from[i]) : NULL;
		if (from[i] && !*to[i])
			rc = MB_ENOMEM;
	}
	return rc;
}

static int http__streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool http_config_same(const struct config_http *a, const struct config_http *b)
{
	if (!a || !b)
		return a == b;
	if (!http__streq(a->listen, b->listen) || a->port != b->port ||
	    !http__streq(a->realm, b->realm) || a->sha256 != b->sha256 ||
	    a->read_only_without_auth != b->read_only_without_auth ||
	    a->max_connections != b->max_connections || a->max_per_ip != b->max_per_ip ||
	    a->history_interval != b->history_interval || a->nusers != b->nusers ||
	    a->nhosts != b->nhosts || !http__streq(a->tls_cert, b->tls_cert) ||
	    !http__streq(a->tls_key, b->tls_key) ||
	    !http__streq(a->tls_cert_pem, b->tls_cert_pem) ||
	    !http__streq(a->tls_key_pem, b->tls_key_pem))
		return false;
	for (size_t i = 0; i < a->nhosts; i++)
		if (strcmp(a->hosts[i], b->hosts[i]) != 0)
			return false;
	for (size_t i = 0; i < a->nusers; i++)
		if (!http__streq(a->users[i].name, b->users[i].name) ||
		    a->users[i].ha1_len != b->users[i].ha1_len ||
		    memcmp(a->users[i].ha1, b->users[i].ha1, a->users[i].ha1_len) != 0)
			return false;
	return true;
}
