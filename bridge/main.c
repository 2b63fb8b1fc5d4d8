/* modbridge: the daemon. Command line, loading the config and its maps,
 * creating devices and the Modbus TCP front, signals (SIGTERM/SIGINT stop,
 * SIGHUP reloads, SIGUSR1 prints counters) and the privilege drop. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "device.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "server.h"
#include "status.h"

#define ERRLEN 4096

/* Maps loaded for one config, each with a fingerprint of its file so that a
 * reload can tell an unchanged map from an edited one. */
struct loaded_map {
	char *name;
	struct map *map;
	uint64_t hash;
};

/* A config and the maps it uses. Devices keep the generation they were
 * created from alive (a reload keeps unchanged devices), so it is freed when
 * it is no longer current and its last device is gone. */
struct generation {
	struct config *conf;
	struct loaded_map *maps;
	size_t nmaps;
	size_t refs; /* devices from this generation, +1 while current */
};

struct daemon {
	uv_loop_t *loop;
	struct generation *gen;
	struct device **devs; /* by index of gen->conf->devices */
	struct generation **dev_gen;
	size_t ndevs;
	struct router router;
	struct server *server;
	struct status *status;
	uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
	int stopping;
};

/* ------------------------------------------------------------- maps -- */

static uint64_t main__file_hash(const char *path)
{
	/* FNV-1a over the file: a change of any byte makes the map "new". */
	uint64_t h = 1469598103934665603ull;
	FILE *f = fopen(path, "rb");
	int c;
	if (!f)
		return 0;
	while ((c = getc(f)) != EOF)
		h = (h ^ (uint64_t)(unsigned char)c) * 1099511628211ull;
	fclose(f);
	return h;
}

static void main__gen_free(struct generation *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nmaps; i++) {
		map_free(g->maps[i].map);
		free(g->maps[i].name);
	}
	free(g->maps);
	config_free(g->conf);
	free(g);
}

static void main__gen_unref(void *arg)
{
	struct generation *g = arg;
	if (--g->refs == 0)
		main__gen_free(g);
}

static const struct loaded_map *main__gen_map(const struct generation *g, const char *name)
{
	for (size_t i = 0; i < g->nmaps; i++)
		if (strcmp(g->maps[i].name, name) == 0)
			return &g->maps[i];
	return NULL;
}

/* Load a config and every map its devices name; check that each device's
 * protocol block fits its map. With lint, the map linter must pass too. */
static struct generation *main__gen_load(const char *path, int lint, char *err, size_t errlen)
{
	struct generation *g = calloc(1, sizeof *g);
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (config_load(path, &g->conf, err, errlen) != 0) {
		free(g);
		return NULL;
	}
	struct config *c = g->conf;
	g->maps = calloc(c->ndevices ? c->ndevices : 1, sizeof *g->maps);
	if (!g->maps)
		goto fail;
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct config_device *d = &c->devices[i];
		const struct loaded_map *lm = main__gen_map(g, d->map);
		if (!lm) {
			char merr[1024];
			struct map *m = map_load_named((const char *const *)c->maps_path,
						       c->nmaps_path, d->map, merr, sizeof merr);
			if (!m) {
				snprintf(err, errlen, "%s:%d: device \"%s\": %s", c->path, d->line,
					 d->name, merr);
				goto fail;
			}
			struct loaded_map *nl = &g->maps[g->nmaps++];
			nl->map = m;
			nl->name = strdup(d->map);
			nl->hash = main__file_hash(map_path(m));
			if (!nl->name)
				goto fail;
			if (lint) {
				char lerr[ERRLEN];
				if (map_lint(m, lerr, sizeof lerr) > 0) {
					snprintf(err, errlen, "%s", lerr);
					goto fail;
				}
			}
			lm = nl;
		}
		const char *mp = map_protocol(lm->map);
		if (d->proto == PROTO_NONE && strcmp(mp, "memory") != 0) {
			snprintf(
			    err, errlen,
			    "%s:%d: device \"%s\": map \"%s\" speaks %s; add a %s = { ... } block"
			    " (or memory = {} to simulate it)",
			    c->path, d->line, d->name, d->map, mp, mp);
			goto fail;
		}
		if (d->proto != PROTO_NONE && d->proto != PROTO_MEMORY &&
		    strcmp(config_proto_name(d->proto), mp) != 0) {
			snprintf(
			    err, errlen,
			    "%s:%d: device \"%s\" has a %s block but map \"%s\" is for protocol %s",
			    c->path, d->line, d->name, config_proto_name(d->proto), d->map, mp);
			goto fail;
		}
	}
	g->refs = 1;
	return g;
fail:
	main__gen_free(g);
	return NULL;
}

/* ---------------------------------------------------------- devices -- */

static int main__str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int main__mqtt_eq(const struct config_mqtt *a, const struct config_mqtt *b)
{
	return main__str_eq(a->host, b->host) && a->port == b->port &&
	       main__str_eq(a->username, b->username) && main__str_eq(a->password, b->password) &&
	       main__str_eq(a->client_id, b->client_id) && a->keepalive == b->keepalive &&
	       a->qos == b->qos && a->has_tls == b->has_tls &&
	       main__str_eq(a->tls.ca_file, b->tls.ca_file) &&
	       main__str_eq(a->tls.cert_file, b->tls.cert_file) &&
	       main__str_eq(a->tls.key_file, b->tls.key_file);
}

/* Would a device from `a` (old config) behave exactly as one from `b`? */
static int main__device_same(const struct config *ca, const struct config_device *a, uint64_t amap,
			     const struct config *cb, const struct config_device *b, uint64_t bmap)
{
	return amap == bmap && main__str_eq(a->name, b->name) && a->unit_id == b->unit_id &&
	       main__str_eq(a->map, b->map) && a->read_only == b->read_only &&
	       a->timeout == b->timeout && a->max_age == b->max_age && a->poll == b->poll &&
	       a->min_interval == b->min_interval && a->retries == b->retries &&
	       a->proto == b->proto && a->has_mqtt == b->has_mqtt &&
	       (!a->has_mqtt || main__mqtt_eq(&a->mqtt, &b->mqtt)) &&
	       main__str_eq(a->powergo.app_id, b->powergo.app_id) &&
	       main__str_eq(a->powergo.device_id, b->powergo.device_id) &&
	       main__str_eq(a->powergo.request_topic, b->powergo.request_topic) &&
	       main__str_eq(a->powergo.response_topic, b->powergo.response_topic) &&
	       main__str_eq(a->venus.type, b->venus.type) &&
	       main__str_eq(a->venus.id, b->venus.id) &&
	       main__str_eq(a->venus.prefix, b->venus.prefix) &&
	       main__str_eq(a->solarman.host, b->solarman.host) &&
	       a->solarman.port == b->solarman.port && a->solarman.serial == b->solarman.serial &&
	       a->solarman.slave == b->solarman.slave &&
	       ca->defaults.timeout == cb->defaults.timeout &&
	       ca->defaults.max_age == cb->defaults.max_age &&
	       ca->defaults.poll == cb->defaults.poll &&
	       ca->defaults.min_interval == cb->defaults.min_interval &&
	       ca->defaults.retries == cb->defaults.retries;
}

/* Create the devices of generation g, reusing those of the old set whose
 * settings did not change. On failure nothing of the old set is touched. */
static int main__devices_build(struct daemon *d, struct generation *g, struct device ***out_devs,
			       struct generation ***out_gen, char *err, size_t errlen)
{
	struct config *c = g->conf;
	size_t n = c->ndevices;
	struct device **devs = calloc(n ? n : 1, sizeof *devs);
	struct generation **gens = calloc(n ? n : 1, sizeof *gens);
	char *reused = calloc(d->ndevs ? d->ndevs : 1, 1);
	if (!devs || !gens || !reused) {
		free(devs);
		free(gens);
		free(reused);
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct config_device *cd = &c->devices[i];
		const struct loaded_map *lm = main__gen_map(g, cd->map);
		for (size_t k = 0; k < d->ndevs; k++) {
			if (reused[k] || !d->devs[k])
				continue;
			struct generation *og = d->dev_gen[k];
			const struct config_device *od = device_config(d->devs[k]);
			const struct loaded_map *olm = main__gen_map(og, od->map);
			if (main__device_same(og->conf, od, olm ? olm->hash : 0, c, cd, lm->hash)) {
				reused[k] = 1;
				devs[i] = d->devs[k];
				gens[i] = og;
				break;
			}
		}
		if (devs[i])
			continue;
		int rc = device_create(d->loop, c, cd, lm->map, &devs[i], err, errlen);
		if (rc != 0) {
			for (size_t j = 0; j < i; j++) {
				if (gens[j] == g) /* new ones only */
					device_close(devs[j]);
			}
			free(devs);
			free(gens);
			free(reused);
			return rc;
		}
		gens[i] = g;
		g->refs++;
		device_set_close_hook(devs[i], main__gen_unref, g);
	}
	/* Close the old devices that were not carried over. */
	for (size_t k = 0; k < d->ndevs; k++)
		if (!reused[k] && d->devs[k])
			device_close(d->devs[k]);
	free(reused);
	*out_devs = devs;
	*out_gen = gens;
	return 0;
}

static void main__route(struct daemon *d)
{
	memset(&d->router, 0, sizeof d->router);
	for (size_t i = 0; i < d->ndevs; i++)
		d->router.unit[device_unit(d->devs[i])] = d->devs[i];
}

static int main__install(struct daemon *d, struct generation *g, char *err, size_t errlen)
{
	struct device **devs;
	struct generation **gens;
	int rc = main__devices_build(d, g, &devs, &gens, err, errlen);
	if (rc != 0)
		return rc;
	free(d->devs);
	free(d->dev_gen);
	d->devs = devs;
	d->dev_gen = gens;
	d->ndevs = g->conf->ndevices;
	struct generation *old = d->gen;
	d->gen = g;
	if (old)
		main__gen_unref(old);
	main__route(d);
	return 0;
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
	if (d->server)
		server_close(d->server);
	d->server = NULL;
	if (d->status)
		status_close(d->status);
	d->status = NULL;
	for (size_t i = 0; i < d->ndevs; i++)
		device_close(d->devs[i]);
	free(d->devs);
	free(d->dev_gen);
	d->devs = NULL;
	d->dev_gen = NULL;
	d->ndevs = 0;
	if (d->gen)
		main__gen_unref(d->gen);
	d->gen = NULL;
	uv_close((uv_handle_t *)&d->sig_term, main__on_close);
	uv_close((uv_handle_t *)&d->sig_int, main__on_close);
	uv_close((uv_handle_t *)&d->sig_hup, main__on_close);
	uv_close((uv_handle_t *)&d->sig_usr1, main__on_close);
}

static void main__print_counters(struct daemon *d)
{
	for (size_t i = 0; i < d->ndevs; i++) {
		const struct device *dev = d->devs[i];
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
}

/* Give the memory that parsing the config and the maps used back to the
 * system. libconfig builds a tree of every setting, several times the size of
 * what is kept; glibc returns only the top of its heap on its own, and the
 * maps' register tables, allocated while the tree was alive, sit above the
 * hole it leaves. musl and other allocators return free pages themselves. */
static void main__release_heap(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Apply the new config's status group. The status module copies what it
 * keeps, so it never points into a generation a reload may free; a new
 * prefix or broker needs a new link (its last will names the prefix), a new
 * interval only a new timer. Called after the devices were installed;
 * `same_link` was judged while the old config was certainly alive. */
static void main__status_reload(struct daemon *d, const struct config_status *ns, int same_link)
{
	char err[ERRLEN];
	if (d->status && (!ns->enabled || !same_link)) {
		status_close(d->status);
		d->status = NULL;
	}
	if (!ns->enabled)
		return;
	if (d->status) {
		status_set_interval(d->status, ns->interval);
		status_set_devices(d->status, d->devs, d->ndevs);
		return;
	}
	if (status_start(d->loop, ns, d->devs, d->ndevs, &d->status, err, sizeof err) != 0) {
		log_err("status: %s", err);
		d->status = NULL;
	}
}

static void main__reload(struct daemon *d)
{
	char err[ERRLEN];
	const char *path = d->gen->conf->path;
	log_info("reloading %s", path);
	struct generation *g = main__gen_load(path, 1, err, sizeof err);
	if (!g) {
		log_err("reload refused, keeping the running config: %s", err);
		return;
	}
	const struct config *oc = d->gen->conf, *nc = g->conf;
	if (!main__str_eq(oc->modbus.listen, nc->modbus.listen) ||
	    oc->modbus.port != nc->modbus.port)
		log_warn("modbus.listen/port changed: restart modbridge to apply");
	int status_same_link = oc->status.enabled && nc->status.enabled &&
			       main__str_eq(oc->status.prefix, nc->status.prefix) &&
			       main__mqtt_eq(&oc->status.mqtt, &nc->status.mqtt);
	if (main__install(d, g, err, sizeof err) != 0) {
		log_err("reload refused, keeping the running config: %s", err);
		main__gen_free(g);
		return;
	}
	server_set_router(d->server, &d->router);
	main__status_reload(d, &g->conf->status, status_same_link);
	log_info("reloaded: %zu devices", d->ndevs);
	main__release_heap();
}

static void main__on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (signum == SIGHUP)
		main__reload(d);
	else if (signum == SIGUSR1)
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
	const char *defaults[] = {"maps", "/etc/modbridge/maps", "/usr/share/modbridge/maps"};
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

static int main__check(const char *path)
{
	char err[ERRLEN];
	struct generation *g = main__gen_load(path, 1, err, sizeof err);
	if (!g) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%s: OK, %zu device%s, %zu map%s:", path, g->conf->ndevices,
	       g->conf->ndevices == 1 ? "" : "s", g->nmaps, g->nmaps == 1 ? "" : "s");
	for (size_t i = 0; i < g->nmaps; i++)
		printf(" %s (%s, trust %s)", g->maps[i].name, map_protocol(g->maps[i].map),
		       map_trust(g->maps[i].map));
	printf("\n");
	main__gen_free(g);
	return 0;
}

static int main__run(const char *path)
{
	char err[ERRLEN];
	struct daemon d;
	memset(&d, 0, sizeof d);
	/* Maps must lint clean to run, not only under --check: overlapping
	 * registers, for one, would make lookups miss. */
	struct generation *g = main__gen_load(path, 1, err, sizeof err);
	if (!g) {
		log_err("%s", err);
		return 1;
	}
	uv_loop_t loop;
	uv_loop_init(&loop);
	d.loop = &loop;
	int rc = main__install(&d, g, err, sizeof err);
	if (rc != 0) {
		log_err("%s", err);
		main__gen_free(g);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	for (size_t i = 0; i < g->nmaps; i++)
		log_info("map %s: protocol %s, trust %s, %zu registers (%s)", g->maps[i].name,
			 map_protocol(g->maps[i].map), map_trust(g->maps[i].map),
			 map_nregs(g->maps[i].map), map_path(g->maps[i].map));
	uv_signal_t *sigs[] = {&d.sig_term, &d.sig_int, &d.sig_hup, &d.sig_usr1};
	int signums[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
	for (int i = 0; i < 4; i++) {
		uv_signal_init(&loop, sigs[i]);
		sigs[i]->data = &d;
		uv_signal_start(sigs[i], main__on_signal, signums[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	rc = server_start(&loop, g->conf, &d.router, &d.server, err, sizeof err);
	if (rc == 0)
		rc = main__drop_privileges(g->conf->user, err, sizeof err);
	if (rc == 0 && g->conf->status.enabled)
		rc = status_start(&loop, &g->conf->status, d.devs, d.ndevs, &d.status, err,
				  sizeof err);
	if (rc != 0) {
		log_err("%s", err);
		main__stop(&d);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	log_info("modbridge %s serving %zu device%s", MB_VERSION, d.ndevs, d.ndevs == 1 ? "" : "s");
	main__release_heap();
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
