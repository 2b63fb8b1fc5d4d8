/* modbridge: the daemon. The command line, the Modbus TCP front and the
 * status publisher, signals (SIGTERM/SIGINT stop, SIGHUP reloads, SIGUSR1
 * prints counters) and the privilege drop. Loading a config and its maps,
 * the devices and reloads are reload.c's. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "device.h"
#include "export.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "reload.h"
#include "server.h"
#include "status.h"

#ifndef MB_MAPS_DIRS
#define MB_MAPS_DIRS "/etc/modbridge/maps", "/usr/share/modbridge/maps"
#endif
#define ERRLEN 4096

struct daemon {
	uv_loop_t *loop;
	struct reload *set; /* the config generation and its devices (reload.h) */
	struct server *server;
	struct status *status;
	struct http *http;     /* NULL without an `http` group */
	struct export *export; /* NULL without `mqtt_export` and `influxdb` (export.h) */
	uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
	int stopping;
};

/* ---------------------------------------------------------- signals -- */

static void main__on_close(uv_handle_t *h)
{
	(void)h;
}

static void main__stop(struct daemon *d)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	log_info("stopping");
	if (d->server)
		server_close(d->server);
	d->server = NULL;
	if (d->status)
		status_close(d->status);
	d->status = NULL;
	http_close(d->http);
	d->http = NULL;
	export_close(d->export); /* before the devices it reads */
	d->export = NULL;
	reload_stop(d->set);
	d->set = NULL;
	uv_close((uv_handle_t *)&d->sig_term, main__on_close);
	uv_close((uv_handle_t *)&d->sig_int, main__on_close);
	uv_close((uv_handle_t *)&d->sig_hup, main__on_close);
	uv_close((uv_handle_t *)&d->sig_usr1, main__on_close);
}

static void main__print_counters(struct daemon *d)
{
	size_t ndevs = 0;
	struct device *const *devs = d->set ? reload_devices(d->set, &ndevs) : NULL;
	for (size_t i = 0; i < ndevs; i++) {
		const struct device *dev = devs[i];
		const struct device_stats *s = device_stats(dev);
		log_info(
		    "%s: unit %d link %s requests %llu cache_hits %llu native %llu timeouts %llu"
		    " retries %llu errors %llu dropped %llu last_success %llu last_attempt %llu",
		    device_name(dev), device_unit(dev), device_link_up(dev) ? "up" : "down",
		    (unsigned long long)s->requests, (unsigned long long)s->cache_hits,
		    (unsigned long long)s->native, (unsigned long long)s->timeouts,
		    (unsigned long long)s->retries, (unsigned long long)s->errors,
		    (unsigned long long)s->dropped, (unsigned long long)s->last_success,
		    (unsigned long long)s->last_attempt);
	}
	if (d->server) {
		const struct server_stats *ss = server_stats(d->server);
		log_info("modbus: %zu client connections, accepted %llu requests %llu garbage %llu"
			 " not_reading %llu idle_closed %llu not_allowed %llu over_limit %llu",
			 server_connections(d->server), (unsigned long long)ss->accepted,
			 (unsigned long long)ss->requests, (unsigned long long)ss->garbage,
			 (unsigned long long)ss->not_reading, (unsigned long long)ss->idle_closed,
			 (unsigned long long)ss->not_allowed, (unsigned long long)ss->over_limit);
	}
	export_log_status(d->export);
}

/* A reload that changed the `http` group starts the web server again with
 * it (or stops it); one that did not leaves its connections alone. The
 * server keeps a copy of the group it was started with. */
static void main__http_reload(struct daemon *d)
{
	const struct config_http *want = reload_config(d->set)->http;
	char err[ERRLEN];

	if (d->http && want && http_config_same(http_config(d->http), want))
		return;
	if (!d->http && !want)
		return;
	http_close(d->http);
	d->http = NULL;
	if (want && http_start(d->loop, want, d->set, d->server, &d->http, err, sizeof err) != 0)
		log_err("%s", err);
}

/* GET /api/v1/status shows the running exporters, which a reload may replace:
 * read them through the daemon each time. */
static void main__http_exports(void *ctx, struct json *j)
{
	const struct daemon *d = ctx;
	export_status_json(d->export, j);
}

static void main__on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (signum == SIGHUP) {
		reload_again(d->set, d->server, &d->status);
		main__http_reload(d);
		/* Right after the devices changed: the exporters read them. */
		size_t nd;
		struct device *const *ds = reload_devices(d->set, &nd);
		export_reload(d->loop, &d->export, reload_config(d->set)->export, ds, nd);
	} else if (signum == SIGUSR1)
		main__print_counters(d);
	else
		main__stop(d);
}

/* ------------------------------------------------------- privileges -- */

static int main__drop_privileges(const char *user, char *err, size_t errlen)
{
	if (!user || geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "user \"%s\" does not exist", user);
		return MB_ENOENT;
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		snprintf(err, errlen, "cannot become user \"%s\": %s", user, strerror(errno));
		return MB_EIO;
	}
	if (setuid(0) == 0) { /* must not be able to get root back */
		snprintf(err, errlen, "still able to regain root after dropping to \"%s\"", user);
		return MB_EIO;
	}
	log_info("running as user %s (uid %u)", user, (unsigned)pw->pw_uid);
	return 0;
}

/* --------------------------------------------------------- commands -- */

static void main__usage(FILE *f)
{
	fprintf(f,
		"usage: modbridge -c FILE [-v] [--syslog]   run the bridge in the foreground\n"
		"       modbridge -c FILE --check            validate the config and every map it "
		"uses\n"
		"       modbridge --print-map NAME [--json|--markdown] [-c FILE] [--maps-dir DIR]\n"
		"                                            print a map's register reference\n"
		"       modbridge --version\n");
}

static int main__print_map(const char *name, const char *conf_path, const char *maps_dir,
			   enum map_format fmt)
{
	char err[ERRLEN];
	/* "maps" first: --print-map works from a source tree. Then where
	 * `make install` put them (the Makefile's SYSCONFDIR and PREFIX). */
	const char *defaults[] = {"maps", MB_MAPS_DIRS};
	const char *dirs[16];
	size_t n = 0;
	struct config *c = NULL;
	if (maps_dir)
		dirs[n++] = maps_dir;
	if (conf_path) {
		if (config_load(conf_path, &c, err, sizeof err) != 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		for (size_t i = 0; i < c->nmaps_path && n < 16; i++)
			dirs[n++] = c->maps_path[i];
	} else {
		for (size_t i = 0; i < 3; i++)
			dirs[n++] = defaults[i];
	}
	struct map *m = map_load_named(dirs, n, name, err, sizeof err);
	if (!m) {
		fprintf(stderr, "%s\n", err);
		config_free(c);
		return 1;
	}
	map_print(m, stdout, fmt);
	map_free(m);
	config_free(c);
	return 0;
}

/* --check runs the very validation start and a reload run (reload.h). */
static int main__check(const char *path)
{
	char err[ERRLEN];
	struct reload_gen *g = reload_gen_load(path, err, sizeof err);
	if (!g) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* Warnings do not fail the check: the config runs, but clients may
	 * wait or give up (docs/user-guide.md, "Cache, polling and
	 * coalescing"). */
	if (reload_gen_warnings(g, err, sizeof err) > 0)
		fprintf(stderr, "%s\n", err);
	const struct config *c = reload_gen_config(g);
	size_t nmaps = reload_gen_nmaps(g);
	printf("%s: OK, %zu device%s, %zu map%s:", path, c->ndevices, c->ndevices == 1 ? "" : "s",
	       nmaps, nmaps == 1 ? "" : "s");
	for (size_t i = 0; i < nmaps; i++) {
		const struct map *m = reload_gen_map(g, i);
		printf(" %s (%s, trust %s)", map_name(m), map_protocol(m), map_trust(m));
	}
	printf("\n");
	reload_gen_free(g);
	return 0;
}

static int main__run(const char *path)
{
	char err[ERRLEN];
	struct daemon d;
	memset(&d, 0, sizeof d);
	struct reload_gen *g = reload_gen_load(path, err, sizeof err);
	if (!g) {
		log_err("%s", err);
		return 1;
	}
	for (size_t i = 0; i < reload_gen_nmaps(g); i++) {
		const struct map *m = reload_gen_map(g, i);
		log_info("map %s: protocol %s, trust %s, %zu registers (%s)", map_name(m),
			 map_protocol(m), map_trust(m), map_nregs(m), map_path(m));
	}
	if (reload_gen_warnings(g, err, sizeof err) > 0)
		for (char *line = err, *next; line && *line; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			log_warn("%s", line);
		}
	uv_loop_t loop;
	uv_loop_init(&loop);
	d.loop = &loop;
	int rc = reload_start(&loop, g, &d.set, err, sizeof err);
	if (rc != 0) {
		log_err("%s", err);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	const struct config *conf = reload_config(d.set);
	size_t ndevs;
	struct device *const *devs = reload_devices(d.set, &ndevs);
	uv_signal_t *sigs[] = {&d.sig_term, &d.sig_int, &d.sig_hup, &d.sig_usr1};
	int signums[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
	for (int i = 0; i < 4; i++) {
		uv_signal_init(&loop, sigs[i]);
		sigs[i]->data = &d;
		uv_signal_start(sigs[i], main__on_signal, signums[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	rc = server_start(&loop, conf, reload_router(d.set), &d.server, err, sizeof err);
	http_set_exports(main__http_exports, &d);
	if (rc == 0 && conf->http)
		rc = http_start(&loop, conf->http, d.set, d.server, &d.http, err, sizeof err);
	if (rc == 0)
		rc = main__drop_privileges(conf->user, err, sizeof err);
	if (rc == 0 && conf->status.enabled)
		rc = status_start(&loop, &conf->status, devs, ndevs, &d.status, err, sizeof err);
	if (rc == 0)
		rc = export_start(&loop, conf->export, devs, ndevs, &d.export, err, sizeof err);
	if (rc != 0) {
		log_err("%s", err);
		main__stop(&d);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	log_info("modbridge %s serving %zu device%s", MB_VERSION, ndevs, ndevs == 1 ? "" : "s");
	uv_run(&loop, UV_RUN_DEFAULT);
	/* Let close callbacks run, then make sure nothing was left behind. */
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		log_warn("handles left open at exit");
	log_info("stopped");
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_CHECK = 256,
		OPT_PRINT_MAP,
		OPT_JSON,
		OPT_MARKDOWN,
		OPT_VERSION,
		OPT_SYSLOG,
		OPT_MAPS_DIR
	};
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check", no_argument, NULL, OPT_CHECK},
	    {"print-map", required_argument, NULL, OPT_PRINT_MAP},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"markdown", no_argument, NULL, OPT_MARKDOWN},
	    {"maps-dir", required_argument, NULL, OPT_MAPS_DIR},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {"syslog", no_argument, NULL, OPT_SYSLOG},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *print_map = NULL, *maps_dir = NULL;
	int check = 0, verbose = 0, use_syslog = 0;
	enum map_format fmt = MAP_FMT_TEXT;
	int c;
	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case OPT_CHECK:
			check = 1;
			break;
		case OPT_PRINT_MAP:
			print_map = optarg;
			break;
		case OPT_JSON:
			fmt = MAP_FMT_JSON;
			break;
		case OPT_MARKDOWN:
			fmt = MAP_FMT_MARKDOWN;
			break;
		case OPT_MAPS_DIR:
			maps_dir = optarg;
			break;
		case OPT_SYSLOG:
			use_syslog = 1;
			break;
		case OPT_VERSION:
			printf("modbridge %s\n", MB_VERSION);
			return 0;
		case 'h':
			main__usage(stdout);
			return 0;
		default:
			main__usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "modbridge: unexpected argument \"%s\"\n", argv[optind]);
		main__usage(stderr);
		return 2;
	}
	if (print_map)
		return main__print_map(print_map, conf, maps_dir, fmt);
	if (!conf) {
		fprintf(stderr, "modbridge: no config file (-c FILE)\n");
		main__usage(stderr);
		return 2;
	}
	if (check)
		return main__check(conf);
	log_init(use_syslog, verbose);
	int rc = main__run(conf);
	log_close();
	return rc;
}
