/* Fuzz target for the config loader (bridge/config.c): the input is a config
 * file, written to a file of its own, loaded and freed. A refused file must
 * say why; a loaded one must hold only values the daemon can use. */
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mb_error.h"
#include "protocol.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static const char *fz_path(void)
{
	static char path[64];
	if (!path[0])
		snprintf(path, sizeof path, "/tmp/fuzz_config.%ld.conf", (long)getpid());
	return path;
}

static void fz_check(const struct config *c)
{
	FZ_CHECK(c->server.port >= 0 && c->server.port <= 65535);
	FZ_CHECK(c->server.listen != NULL);
	FZ_CHECK(c->server.nallow == 0 || c->server.allow != NULL);
	for (size_t i = 0; i < c->nmaps_path; i++)
		FZ_CHECK(c->maps_path[i] != NULL);
	/* retries: -1 (unset) or 0..10 */
	FZ_CHECK(c->defaults.retries >= -1 && c->defaults.retries <= CONFIG_RETRIES_MAX);
	/* A user the loader accepted exists and is not root (start drops to it). */
	if (c->user) {
		const struct passwd *pw = getpwnam(c->user);
		FZ_CHECK(pw != NULL && pw->pw_uid != 0);
	}
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct config_device *d = &c->devices[i];
		FZ_CHECK(d->name != NULL && d->map != NULL);
		FZ_CHECK(d->unit_id >= 1 && d->unit_id <= 247);
		FZ_CHECK(d->retries >= -1 && d->retries <= CONFIG_RETRIES_MAX);
		/* Unit IDs route requests: two devices on one listener may not
		 * share one (each listener is a unit-ID space of its own). */
		FZ_CHECK(d->listener_idx >= 0 && (size_t)d->listener_idx <= c->nlisteners);
		for (size_t j = 0; j < i; j++)
			FZ_CHECK(c->devices[j].unit_id != d->unit_id ||
				 c->devices[j].listener_idx != d->listener_idx);
		/* A protocol block holds the protocol's own struct (when its
		 * table has keys); MQTT exactly where the protocol uses it.
		 * Without a block the map names the protocol, and the check of
		 * the device against its map (reload.c) judges the mqtt group. */
		if (d->proto) {
			FZ_CHECK(protocol_find(d->proto->name) == d->proto);
			FZ_CHECK(d->proto->cfg_size == 0 || d->proto_cfg != NULL);
			FZ_CHECK(d->has_mqtt == !!(d->proto->flags & PROTOCOL_MQTT));
		}
		if (d->has_mqtt) {
			FZ_CHECK(d->mqtt.host != NULL);
			FZ_CHECK(d->mqtt.port >= 1 && d->mqtt.port <= 65535);
			FZ_CHECK(d->mqtt.qos >= 0 && d->mqtt.qos <= 2);
		}
	}
}

/* libconfig 1.5 (Debian 12) leaks a string token when a parse error
 * interrupts it: the scanner's buffer (strbuf_append) or an empty string
 * (libconfig_yylex). Both reproduce with config_read_file and config_destroy
 * alone (corpus: libconfig_scanner_leak*); that is not ours to fix, so
 * LeakSanitizer ignores those two lexer allocation sites and keeps watching
 * everything else. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fz_path();
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);

	char err[4096];
	err[0] = 0;
	struct config *c = NULL;
	int rc = config_load(path, &c, err, sizeof err);
	if (rc != 0) {
		FZ_CHECK(rc < 0 && c == NULL);
		FZ_CHECK(err[0] != 0 && memchr(err, 0, sizeof err) != NULL);
	} else {
		FZ_CHECK(c != NULL);
		fz_check(c);
		config_free(c);
	}
	unlink(path);
	return 0;
}
