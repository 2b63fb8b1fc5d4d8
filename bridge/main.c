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
#include "notify.h"
#include "protocol.h"
#include "reload.h"
#include "server.h"
#include "status.h"

#ifndef MB_MAPS_DIRS
#define MB_MAPS_DIRS "/etc/modbridge/maps", "/usr/share/modbridge/maps"
#endif
#ifndef MB_SYSCONFDIR
#define MB_SYSCONFDIR "/etc"
#endif
/* Where the daemon and --check look without -c (the Makefile's SYSCONFDIR). */
#define MB_DEFAULT_CONFIG MB_SYSCONFDIR "/modbridge/modbridge.conf"
#define ERRLEN 4096

/* What the command line says over the config file. */
struct cmdline {
	const char *listen; /* --listen ADDR, or NULL */
	int port;	    /* --port N, or 0 */
	int level;	    /* -v / -q: an enum log_level, or -1 (the config's log_level) */
};

struct daemon {
	uv_loop_t *loop;
	struct reload *set; /* the config generation and its devices (reload.h) */
	struct server *server;
	/* The servers of the config's `listeners`, in its order (reload.h) */
	struct server **lservers;
	size_t nlservers;
	struct status *status;
	struct http *http;     /* NULL without an `http` group */
	struct export *export; /* NULL without `mqtt_export` and `influxdb` (export.h) */
	uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
	struct notify *notify; /* the service manager, or NULL (notify.h) */
	const struct cmdline *cmd;
	int stopping;
};

/* The log level: -v/-q win, then the config's log_level, then info. */
static void main__log_level(const struct cmdline *cmd, const struct config *c)
{
	if (cmd->level >= 0)
		log_set_level((enum log_level)cmd->level);
	else
		log_set_level(c->log_level ? (enum log_level)(c->log_level - 1) : MBLOG_INFO);
}

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
	notify_send(d->notify, "STOPPING=1");
	notify_close(d->notify);
	d->notify = NULL;
	if (d->server)
		server_close(d->server);
	d->server = NULL;
	for (size_t i = 0; i < d->nlservers; i++)
		server_close(d->lservers[i]);
	free(d->lservers);
	d->lservers = NULL;
	d->nlservers = 0;
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

/* The counters of the server block's listener ("modbus") or of one of
 * `listeners` ("listener vpp2"): what and name say which. */
static void main__log_server(const char *what, const char *name, const struct server *s)
{
	const struct server_stats *ss = server_stats(s);
	log_info("%s%s: %zu client connections, accepted %llu requests %llu garbage %llu"
		 " not_reading %llu idle_closed %llu not_allowed %llu over_limit %llu"
		 " write_refused %llu",
		 what, name, server_connections(s), (unsigned long long)ss->accepted,
		 (unsigned long long)ss->requests, (unsigned long long)ss->garbage,
		 (unsigned long long)ss->not_reading, (unsigned long long)ss->idle_closed,
		 (unsigned long long)ss->not_allowed, (unsigned long long)ss->over_limit,
		 (unsigned long long)ss->write_refused);
}

static void main__print_counters(struct daemon *d)
{
	size_t ndevs = 0;
	struct device *const *devs = d->set ? reload_devices(d->set, &ndevs) : NULL;
	for (size_t i = 0; i < ndevs; i++) {
		const struct device *dev = devs[i];
		const struct device_stats *s = device_stats(dev);
		enum device_health h = device_health(dev);
		log_info(
		    "%s: unit %d link %s requests %llu cache_hits %llu native %llu timeouts %llu"
		    " retries %llu errors %llu dropped %llu bad_values %llu last_success %llu"
		    " last_attempt %llu pass_blocks %llu health %s since %llu last_answer %llu",
		    device_name(dev), device_unit(dev), device_link_up(dev) ? "up" : "down",
		    (unsigned long long)s->requests, (unsigned long long)s->cache_hits,
		    (unsigned long long)s->native, (unsigned long long)s->timeouts,
		    (unsigned long long)s->retries, (unsigned long long)s->errors,
		    (unsigned long long)s->dropped, (unsigned long long)s->bad_values,
		    (unsigned long long)s->last_success, (unsigned long long)s->last_attempt,
		    (unsigned long long)s->pass_blocks, device_health_name(h),
		    (unsigned long long)(h == DEVICE_HEALTH_NOT_ANSWERING ? s->silent_since : 0),
		    (unsigned long long)s->last_answer);
	}
	if (d->server)
		main__log_server("modbus", "", d->server);
	for (size_t i = 0; i < d->nlservers; i++)
		main__log_server("listener ", reload_listener_name(d->set, i), d->lservers[i]);
	export_log_status(d->export);
}

/* After a reload: every listener of `listeners` takes its new route table
 * and the server block's access lists; its connections stay open. */
static void main__listeners_reload(struct daemon *d)
{
	const struct config *conf = reload_config(d->set);
	for (size_t i = 0; i < d->nlservers; i++) {
		server_set_router(d->lservers[i], reload_listener_router(d->set, i));
		if (server_set_access(d->lservers[i], conf) != 0)
			log_err("reload: out of memory for server.allow and write_allow: the "
				"old lists stay");
	}
}

/* Open the listeners of `listeners` (the server block's is opened apart,
 * with --listen/--port). */
static int main__listeners_start(struct daemon *d, const struct config *conf, char *err,
				 size_t errlen)
{
	size_t n = reload_nlisteners(d->set);
	if (!n)
		return 0;
	if (!(d->lservers = calloc(n, sizeof *d->lservers))) {
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct config one = *conf;
		one.server.listen = conf->listeners[i].listen;
		one.server.port = conf->listeners[i].port;
		int rc = server_start(d->loop, &one, reload_listener_router(d->set, i),
				      &d->lservers[i], err, errlen);
		if (rc != 0)
			return rc;
		d->nlservers = i + 1;
		log_info("listener %s: %s port %d", conf->listeners[i].name,
			 conf->listeners[i].listen, server_port(d->lservers[i]));
	}
	return 0;
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

/* GET /api/v1/status: each listener of `listeners` (bound at start, in the
 * config's order), its port and its own counters, as the server block's. */
static void main__http_listeners(void *ctx, struct json *j)
{
	const struct daemon *d = ctx;
	json_raw(j, "[");
	for (size_t i = 0; i < d->nlservers; i++) {
		const struct server_stats *s = server_stats(d->lservers[i]);
		json_key_str(j, i ? ",{\"name\":" : "{\"name\":", reload_listener_name(d->set, i));
		json_printf(j,
			    ",\"port\":%d,\"connections\":%zu,\"accepted\":%llu,\"requests\":%llu"
			    ",\"exceptions\":%llu,\"garbage\":%llu,\"not_reading\":%llu"
			    ",\"idle_closed\":%llu,\"not_allowed\":%llu,\"over_limit\":%llu"
			    ",\"write_refused\":%llu}",
			    server_port(d->lservers[i]), server_connections(d->lservers[i]),
			    (unsigned long long)s->accepted, (unsigned long long)s->requests,
			    (unsigned long long)s->exceptions, (unsigned long long)s->garbage,
			    (unsigned long long)s->not_reading, (unsigned long long)s->idle_closed,
			    (unsigned long long)s->not_allowed, (unsigned long long)s->over_limit,
			    (unsigned long long)s->write_refused);
	}
	json_raw(j, "]");
}

/* GET /api/v1/status shows the running exporters, which a reload may replace:
 * read them through the daemon each time. */
static void main__http_exports(void *ctx, struct json *j)
{
	const struct daemon *d = ctx;
	export_status_json(d->export, j);
}

/* A settings file saved from the web page is applied by the reload SIGHUP
 * runs (main__on_signal), after the answer went out. */
static void main__http_reload_req(void *ctx)
{
	(void)ctx;
	raise(SIGHUP);
}

static void main__on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (signum == SIGHUP) {
		notify_reloading(d->notify);
		reload_again(d->set, d->server, &d->status);
		main__listeners_reload(d);
		main__http_reload(d);
		/* Right after the devices changed: the exporters read them. */
		size_t nd;
		struct device *const *ds = reload_devices(d->set, &nd);
		export_reload(d->loop, &d->export, reload_config(d->set)->export, ds, nd);
		/* a refused reload keeps the running config, and its level */
		main__log_level(d->cmd, reload_config(d->set));
		notify_send(d->notify, "READY=1");
	} else if (signum == SIGUSR1)
		main__print_counters(d);
	else
		main__stop(d);
}

/* ------------------------------------------------------- privileges -- */

/* The process's groups by name, for the log: "modbridge, dialout". */
static void main__group_names(char *buf, size_t len)
{
	gid_t g[64];
	int n = getgroups(64, g);
	size_t at = 0;
	buf[0] = '\0';
	gid_t first = getegid();
	for (int i = -1; i < n && at < len; i++) {
		if (i >= 0 && g[i] == first)
			continue;
		gid_t id = i < 0 ? first : g[i];
		struct group *gr = getgrgid(id);
		int w = gr ? snprintf(buf + at, len - at, "%s%s", at ? ", " : "", gr->gr_name)
			   : snprintf(buf + at, len - at, "%s%u", at ? ", " : "", (unsigned)id);
		if (w < 0)
			break;
		at += (size_t)w;
	}
}

static int main__drop_privileges(const char *user, char *err, size_t errlen)
{
	if (!user || geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "user \"%s\" does not exist", user);
		return MB_ENOENT;
	}
	/* The user's supplementary groups are kept, not cleared: a serial
	 * adapter is reached through its group (dialout), and a port that is
	 * unplugged and back is opened again after the drop. */
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		snprintf(err, errlen, "cannot become user \"%s\": %s", user, strerror(errno));
		return MB_EIO;
	}
	if (setuid(0) == 0) { /* must not be able to get root back */
		snprintf(err, errlen, "still able to regain root after dropping to \"%s\"", user);
		return MB_EIO;
	}
	char groups[256];
	main__group_names(groups, sizeof groups);
	log_info("running as user %s (uid %u, groups %s)", user, (unsigned)pw->pw_uid, groups);
	return 0;
}

/* --------------------------------------------------------- commands -- */

/* The optional parts built in (the Makefile's WITH_*), for --version:
 * " (http, influxdb, modbus)", or "" when none is. */
static const char *main__features(void)
{
	static char buf[64];
	const char *on[] = {MB_WITH_HTTP ? "http" : NULL, MB_WITH_INFLUXDB ? "influxdb" : NULL,
			    MB_WITH_MODBUS ? "modbus" : NULL};
	size_t used = 0;
	for (size_t i = 0; i < sizeof on / sizeof on[0]; i++)
		if (on[i])
			used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s",
						 used ? ", " : " (", on[i]);
	if (used)
		snprintf(buf + used, sizeof buf - used, ")");
	return buf;
}

static void main__usage(FILE *f)
{
	fprintf(f,
		"usage: modbridge [-c FILE] [-v|-q] [--syslog] [--listen ADDR] [--port N]\n"
		"                                            run the bridge in the foreground\n"
		"       modbridge [-c FILE] --check          validate the config and every map it "
		"uses\n"
		"       modbridge --print-map NAME [--json|--markdown] [-c FILE] [--maps-dir DIR]\n"
		"                                            print a map's register reference\n"
		"       modbridge --version\n"
		"FILE defaults to " MB_DEFAULT_CONFIG ". Besides the Modbus TCP listener\n"
		"(`server` group) and the `devices`, the config may turn on the web interface\n"
		"and REST API (`http`), the MQTT export of every value (`mqtt_export`) and\n"
		"InfluxDB points (`influxdb`); see modbridge.conf(5).\n");
}

/* --check: the faces besides Modbus TCP that the config turns on (the
 * `http`, `mqtt_export` and `influxdb` groups), or that none is. */
static void main__check_faces(const struct config *c)
{
	const struct config_export *e = c->export;
	int any = 0;
	if (c->http) {
		printf("; http on %s:%d (%zu user%s%s)",
		       c->http->listen ? c->http->listen : "0.0.0.0", c->http->port,
		       c->http->nusers, c->http->nusers == 1 ? "" : "s",
		       c->http->read_only_without_auth ? ", reads without authentication" : "");
		any = 1;
	}
	if (e && e->mqtt.enabled) {
		printf("; mqtt_export to %s:%d, topics %s/<device>, every %d s",
		       e->mqtt.mqtt.host ? e->mqtt.mqtt.host : "127.0.0.1", e->mqtt.mqtt.port,
		       e->mqtt.prefix ? e->mqtt.prefix : "modbridge/values", e->mqtt.interval);
		any = 1;
	}
	if (e && e->influx.enabled) {
		printf("; influxdb v%d to %s, every %d s", e->influx.version,
		       e->influx.url ? e->influx.url : "?", e->influx.interval);
		any = 1;
	}
	if (!any)
		printf("; no http, mqtt_export or influxdb group: Modbus TCP only");
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
/* The protocol of map `name` among g's maps ("" when g has none of it). */
static const char *main__map_protocol(const struct reload_gen *g, const char *name)
{
	for (size_t i = 0; i < reload_gen_nmaps(g); i++) {
		const struct map *m = reload_gen_map(g, i);
		if (strcmp(map_name(m), name) == 0)
			return map_protocol(m);
	}
	return "";
}

/* An error report of one or more lines, each escaped as the log escapes it
 * (log_escape): --check says what start would log, byte for byte. */
static void main__print_err(const char *text)
{
	char line[4 * 1024 + 1];
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		log_escape(line, sizeof line, p, n);
		fprintf(stderr, "%s\n", line);
		p += n;
		if (*p)
			p++;
	}
}

static int main__check(const char *path)
{
	char err[ERRLEN];
	struct reload_gen *g = reload_gen_load(path, err, sizeof err);
	if (!g) {
		main__print_err(err);
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
	/* A memory block on another protocol's map simulates that device: say
	 * so, as nothing will reach a real one (docs/user-guide.md, "memory"). */
	const char *sep = "; simulated in memory, no device behind:";
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct config_device *d = &c->devices[i];
		if (d->proto && (d->proto->flags & PROTOCOL_VIRTUAL) &&
		    strcmp(d->proto->name, main__map_protocol(g, d->map)) != 0) {
			printf("%s %s", sep, d->name);
			sep = ",";
		}
	}
	main__check_faces(c);
	printf("\n");
	reload_gen_free(g);
	return 0;
}

static int main__run(const char *path, const struct cmdline *cmd)
{
	char err[ERRLEN];
	struct daemon d;
	memset(&d, 0, sizeof d);
	d.cmd = cmd;
	struct reload_gen *g = reload_gen_load(path, err, sizeof err);
	if (!g) {
		log_text(MBLOG_ERR, err); /* a lint report: a line per problem */
		return 1;
	}
	main__log_level(cmd, reload_gen_config(g));
	for (size_t i = 0; i < reload_gen_nmaps(g); i++) {
		const struct map *m = reload_gen_map(g, i);
		log_info("map %s: protocol %s, trust %s, %zu registers (%s)", map_name(m),
			 map_protocol(m), map_trust(m), map_nregs(m), map_path(m));
	}
	reload_gen_log_warnings(g);
	uv_loop_t loop;
	uv_loop_init(&loop);
	d.loop = &loop;
	d.notify = notify_open(&loop);
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
	/* --listen/--port: the listener only; a reload compares the file with
	 * itself and leaves the listener alone (reload.c). */
	struct config listener = *conf;
	if (cmd->listen)
		listener.server.listen = (char *)cmd->listen;
	if (cmd->port)
		listener.server.port = cmd->port;
	rc = server_start(&loop, &listener, reload_router(d.set), &d.server, err, sizeof err);
	if (rc == 0)
		rc = main__listeners_start(&d, conf, err, sizeof err);
	http_set_exports(main__http_exports, &d);
	http_set_reload(main__http_reload_req, &d);
	http_set_listeners(main__http_listeners, &d);
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
	/* Ready once the listener accepts: a unit ordered after this one
	 * finds the port open. */
	char ready[128];
	snprintf(ready, sizeof ready, "READY=1\nSTATUS=serving %zu device%s", ndevs,
		 ndevs == 1 ? "" : "s");
	notify_send(d.notify, ready);
	notify_follow(d.notify, d.set);
	if (notify_watchdog_ms(d.notify))
		log_debug("watchdog: pinging every %lu ms", notify_watchdog_ms(d.notify));
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
		OPT_MAPS_DIR,
		OPT_LISTEN,
		OPT_PORT
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
	    {"quiet", no_argument, NULL, 'q'},
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"port", required_argument, NULL, OPT_PORT},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *print_map = NULL, *maps_dir = NULL;
	int check = 0, use_syslog = 0;
	struct cmdline cmd = {.listen = NULL, .port = 0, .level = -1};
	enum map_format fmt = MAP_FMT_TEXT;
	int c;
	while ((c = getopt_long(argc, argv, "c:vqh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'v':
			cmd.level = MBLOG_DEBUG;
			break;
		case 'q':
			cmd.level = MBLOG_WARN;
			break;
		case OPT_LISTEN: {
			struct sockaddr_in6 a6;
			struct sockaddr_in a4;
			if (uv_ip4_addr(optarg, 0, &a4) != 0 && uv_ip6_addr(optarg, 0, &a6) != 0) {
				fprintf(stderr,
					"modbridge: --listen \"%s\": not an IPv4 or IPv6 address\n",
					optarg);
				return 2;
			}
			cmd.listen = optarg;
			break;
		}
		case OPT_PORT: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || v < 1 || v > 65535) {
				fprintf(stderr, "modbridge: --port \"%s\": must be 1..65535\n",
					optarg);
				return 2;
			}
			cmd.port = (int)v;
			break;
		}
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
			printf("modbridge %s%s\n", MB_VERSION, main__features());
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
	if (!conf)
		conf = MB_DEFAULT_CONFIG;
	if (check)
		return main__check(conf);
	log_init(use_syslog, cmd.level == MBLOG_DEBUG);
	int rc = main__run(conf, &cmd);
	log_close();
	return rc;
}
