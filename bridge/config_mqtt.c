/* The mqtt group (include/config_mqtt.h): the same keys wherever one appears
 * (a device's broker, `status`, `mqtt_export`), its TLS files, and the value
 * checks of what MQTT carries as text. Below the config loader and the
 * exporters' groups, which both build on it (docs/design.md, "Config
 * file"). */
#include "config_mqtt.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <mosquitto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mb_error.h"

#define CONFIG_MQTT__N(a) (sizeof(a) / sizeof((a)[0]))

/* --- value checks -------------------------------------------------------- */

/* What MQTT carries as text (topics, user names, client IDs) must be valid
 * UTF-8, or libmosquitto refuses it when the daemon starts. Its own rule, so
 * that --check and start cannot disagree. */
const char *config_mqtt_check_utf8(const char *v)
{
	return mosquitto_validate_utf8(v, (int)strnlen(v, 65536)) == MOSQ_ERR_SUCCESS
		   ? NULL
		   : "must be valid UTF-8 of at most 65535 bytes";
}

/* A topic we publish to or subscribe to literally: no wildcards. */
const char *config_mqtt_check_topic(const char *v)
{
	if (strpbrk(v, "+#"))
		return "must not contain the MQTT wildcards + or #";
	return config_mqtt_check_utf8(v);
}

/* --- the group ----------------------------------------------------------- */

/* clang-format off */
static const struct config_key config_mqtt__tls_keys[] = {
	{.name = "ca_file", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_tls, ca_file)},
	{.name = "cert_file", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_tls, cert_file)},
	{.name = "key_file", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_tls, key_file)},
};
/* clang-format on */

/* libmosquitto opens the TLS files when the daemon starts and refuses to
 * start without them, naming no line; say it here, at the key's line, so
 * that --check refuses it too. The daemon may read them under another user
 * (see `user`), so this proves only that they exist and can be read now. */
static int config_mqtt__tls_file(struct config_parser *p, const config_setting_t *tls,
				 const char *key, const char *file)
{
	const config_setting_t *s = config_setting_get_member(tls, key);
	struct stat st;
	int fd, e = 0;

	if (!file || !s)
		return 0;
	/* Non-blocking: a FIFO named here must not hang the loader. */
	if ((fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		e = errno;
	else if (fstat(fd, &st) != 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	if (e)
		return keys_error_at(p, s, s, " \"%s\" cannot be read: %s", file, strerror(e));
	if (S_ISDIR(st.st_mode))
		return keys_error_at(p, s, s, " \"%s\" cannot be read: %s", file, strerror(EISDIR));
	if (!S_ISREG(st.st_mode))
		return keys_error_at(p, s, s, " \"%s\" is not a regular file", file);
	return 0;
}

static int config_mqtt__tls_done(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_tls *t = target;
	int rc;

	/* A client certificate is useless without its key and vice versa. */
	if (!t->cert_file != !t->key_file)
		return keys_error_at(p, s, s, " needs both cert_file and key_file, or neither");
	if ((rc = config_mqtt__tls_file(p, s, "ca_file", t->ca_file)) != 0 ||
	    (rc = config_mqtt__tls_file(p, s, "cert_file", t->cert_file)) != 0 ||
	    (rc = config_mqtt__tls_file(p, s, "key_file", t->key_file)) != 0)
		return rc;
	return 0;
}

/* clang-format off */
const struct config_key config_mqtt_table[] = {
	{.name = "host", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_mqtt, host)},
	{.name = "port", .kind = CONFIG_K_INT, .off = offsetof(struct config_mqtt, port), .min = 1,
	 .max = 65535},
	{.name = "username", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_mqtt, username), .check = config_mqtt_check_utf8},
	{.name = "password", .kind = CONFIG_K_STRING, .off = offsetof(struct config_mqtt, password)},
	{.name = "client_id", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_mqtt, client_id), .check = config_mqtt_check_utf8},
	/* libmosquitto refuses keepalives under 5 s; MQTT's field is 16 bits. */
	{.name = "keepalive", .kind = CONFIG_K_INT, .off = offsetof(struct config_mqtt, keepalive),
	 .min = 5, .max = 65535, .unit = CONFIG_U_S},
	{.name = "qos", .kind = CONFIG_K_INT, .off = offsetof(struct config_mqtt, qos), .min = 0,
	 .max = 2},
	{.name = "tls", .kind = CONFIG_K_GROUP, .off = offsetof(struct config_mqtt, tls),
	 .sub = config_mqtt__tls_keys, .nsub = CONFIG_MQTT__N(config_mqtt__tls_keys), .fn = config_mqtt__tls_done},
};
/* clang-format on */

static int config_mqtt__defaults(struct config_mqtt *m)
{
	memset(m, 0, sizeof *m);
	m->port = 1883;
	m->keepalive = 60;
	m->qos = 0;
	return (m->host = strdup("127.0.0.1")) ? 0 : MB_ENOMEM;
}

int config_mqtt_done(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_mqtt *m = target;

	m->line = config_setting_source_line(s);
	m->has_tls = config_setting_get_member(s, "tls") != NULL;
	if (!config_setting_get_member(s, "port"))
		m->port = m->has_tls ? 8883 : 1883;
	/* MQTT sends a password only together with a user name. */
	if (m->password && !m->username)
		return keys_error_at(p, s, s, " has a password but no username");
	return 0;
}

int config_mqtt_group(struct config_parser *p, const config_setting_t *s, struct config_mqtt *m)
{
	int rc;

	if ((rc = config_mqtt__defaults(m)) != 0 || !s)
		return rc;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return keys_error_type(p, s, " must be a group { ... }");
	if ((rc = keys_parse(p, s, config_mqtt_table, CONFIG_MQTT_NKEYS, m)) != 0)
		return rc;
	return config_mqtt_done(p, s, m);
}

const struct config_key *config_mqtt_keys(size_t *nkeys)
{
	*nkeys = CONFIG_MQTT_NKEYS;
	return config_mqtt_table;
}
