/* Config generations and the running set of devices (docs/design.md,
 * "Architecture"). Start, --check and a reload (SIGHUP) load a config with
 * one and the same validation, reload_gen_load(), so that --check refuses
 * exactly what start and a reload refuse. A reload keeps every device whose
 * settings, compared key by key through the config's key tables, and map
 * file did not change; a generation is freed when it is no longer current
 * and its last device is gone. */
#ifndef RELOAD_H
#define RELOAD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct reload_gen;
struct reload;
struct config;
struct map;
struct device;
struct router;
struct server;
struct status;

/* Load the config at path and every map its devices name: the config
 * loader's checks, each map's checks and its linter, and whether each
 * device's protocol block fits its map. NULL, with "file:line: reason" in
 * err, when any of them refuses. */
struct reload_gen *reload_gen_load(const char *path, char *err, size_t errlen);
/* The same, with the web settings file read from settings instead
 * (config_load_with): a new version checked before it is put in place. */
struct reload_gen *reload_gen_load_with(const char *path, const char *settings, char *err,
					size_t errlen);
/* reload_gen_load() writes each device's effective timing (timing.h's
 * timing_resolve) into its config, so that a device always sees set values. */
/* Warnings about g, one "file:line: warning: ..." line each, separated by
 * '\n', in buf; returns their number. The config's (an old spelling still
 * read: config.h's warnings), then the timing's: a device whose reads
 * cannot fit in its poll, a max_age below poll (reads between polls wait
 * for the device), a client_wait longer than clients wait. */
size_t reload_gen_warnings(const struct reload_gen *g, char *buf, size_t len);
/* The same warnings logged at warning level, one line each, without the
 * "warning:" that --check prints (the log line carries its level). */
void reload_gen_log_warnings(const struct reload_gen *g);
/* Free a generation that was never handed to reload_start(). */
void reload_gen_free(struct reload_gen *g);
const struct config *reload_gen_config(const struct reload_gen *g);
/* The maps g loaded, in the order the devices first name them. */
size_t reload_gen_nmaps(const struct reload_gen *g);
const struct map *reload_gen_map(const struct reload_gen *g, size_t i);

/* Create the devices of g on loop; g is taken in every case. On failure
 * *out is NULL, the devices already created are closing (run the loop to
 * let them go) and err says why. */
int reload_start(uv_loop_t *loop, struct reload_gen *g, struct reload **out, char *err,
		 size_t errlen);
/* SIGHUP: load the running config's file again. A refused file is logged
 * and the running config stays. Otherwise its devices are installed
 * (unchanged ones are kept, with their link and cache; the log says why each
 * other one is replaced), server gets the new routes, and the new status
 * group is applied to *status (closed, started, or kept with a new interval
 * and device set). */
void reload_again(struct reload *r, struct server *server, struct status **status);

const struct config *reload_config(const struct reload *r);
const struct router *reload_router(const struct reload *r);
/* The `listeners` bound at start (the config's, in its order) and the route
 * table of listener i, current after every reload. */
size_t reload_nlisteners(const struct reload *r);
const struct router *reload_listener_router(const struct reload *r, size_t i);
const char *reload_listener_name(const struct reload *r, size_t i);
struct device *const *reload_devices(const struct reload *r, size_t *n);

/* Close every device and free r; each generation is freed once its last
 * device is. */
void reload_stop(struct reload *r);

#endif
