/* Harness for black-box tests: starts the real binary, a real mosquitto and the
 * simulators on free loopback ports, and reports "ok - ..." / "not ok - ...".
 * Everything it starts is stopped at exit; files live in a temporary folder. */
#ifndef HARNESS_H
#define HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <modbus.h>

/* Call first. Creates the temporary folder and the at-exit cleanup. */
void h_init(const char *suite);
/* Report one check; returns cond. */
int h_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the summary; returns the exit status for main(). */
int h_done(void);
/* Print a diagnostic line ("# ...") that the runner ignores. */
void h_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The file's last lines (at most 40) as notes: what a failure leaves behind. */
void h_note_tail(const char *path, int lines);

/* 1 when the test runs in its long form (MB_SOAK=1, as `make soak` runs
 * it): statistical loops (a minute at a client's pace, hundreds of reads
 * over a lossy link, many restarts) run long there; `make test` runs a short
 * form that still meets the fault each loop exists for. */
int h_soak(void);

/* The temporary folder and a path inside it. */
const char *h_dir(void);
const char *h_path(const char *name); /* static buffer rotation: valid for 8 calls */
/* Path of a built binary: h_bin("modbridge"), h_bin("tests/sim/sim_powergo"). */
const char *h_bin(const char *rel);
/* A repository file by its path from the repository root: as given when the
 * test runs from the root (as tests/run.sh does), else found above the test
 * binary (build/<dir>/tests/<kind>/). Four static buffers in rotation. */
const char *h_repo_file(const char *rel);
/* Absolute path of the repository's maps/ folder. */
const char *h_maps_dir(void);

int h_free_port(void);
/* Wait until something accepts on 127.0.0.1:port or [::1]:port. */
int h_wait_port(int port, int timeout_ms);
uint64_t h_now_ms(void);
void h_sleep_ms(int ms);

/* Start argv[0] with stdout+stderr to h_path(logname). Returns the pid. */
pid_t h_spawn(const char *const argv[], const char *logname);
/* SIGTERM, wait up to timeout_ms (then SIGKILL); returns the exit status as
 * from waitpid's WEXITSTATUS, 128+signal when killed, -1 on error. */
int h_stop(pid_t pid, int timeout_ms);
/* kill(pid, sig) for a process the test started, refusing pid <= 0: a
 * bridge that failed to start is -1 here, and kill(-1, sig) as root would
 * signal every process on the machine (other suites, the shell running
 * them). Returns kill's result, or -1 with a diagnostic line. */
int h_signal(pid_t pid, int sig);
/* Wait for a process the test started to exit by itself, at most
 * timeout_ms (then SIGKILL): its exit status as h_stop gives it, or -1 when
 * it had to be killed or cannot be waited for. */
int h_wait_exit(pid_t pid, int timeout_ms);
/* Is pid still running? */
int h_alive(pid_t pid);
/* Run a command to completion (bounded by timeout_ms), capturing its stdout
 * and stderr into out (NUL-terminated). Returns its exit status or -1. */
int h_run(const char *const argv[], char *out, size_t outlen, int timeout_ms);
/* Headless chromium, kept off the network and quiet, with its profile in
 * the test's folder, on url with one or two extra arguments (a2 may be
 * NULL): the action, --dump-dom or --screenshot=FILE --window-size=...
 * Virtual time runs the page's fetches and its first rendering before the
 * DOM is taken, with no wall-clock sleep in the test. h_run's result. */
int h_chromium(const char *url, const char *a1, const char *a2, char *out, size_t outlen);

/* One curl request, as the HTTP tests make them. Fields left 0 or NULL are
 * not sent. */
struct h_curl {
	const char *url;
	const char *method;	    /* -X METHOD */
	const char *userpass;	    /* --digest -u USER:PASSWORD */
	const char *body;	    /* --data-binary (with "@FILE", the file's bytes) */
	const char *const *headers; /* -H each (NULL-terminated); a body goes as
				     * application/json unless one is a Content-Type */
	const char *const *extra;   /* more arguments before the URL (NULL-terminated) */
	const char *out;	    /* -o: where the answer's body goes (NULL: /dev/null) */
	const char *dump_headers;   /* -D: where its head goes */
	const char *write_out;	    /* -w (NULL: "%{http_code}"; "": none) */
	int max_time;		    /* --max-time, s (0: 20) */
	int verbose;		    /* -v: curl's trace, the headers it sent, on stderr */
};
/* curl's argument list for c into argv (cap entries, NULL-terminated): the
 * number of arguments, or -1 (with a note) when they do not fit. */
int h_curl_args(const struct h_curl *c, const char **argv, size_t cap);
/* Run it to completion (bounded: max_time and 5 s more), curl's stdout and
 * stderr in out (with the default write_out, the HTTP status, "000" when
 * none came). c->out is removed first, so that a body found after the run
 * is this request's. curl's exit status, or -1. */
int h_curl(const struct h_curl *c, char *out, size_t outlen);
/* Start it and return at once (h_spawn): the pid, or -1. */
pid_t h_curl_spawn(const struct h_curl *c, const char *logname);
/* The file's bytes into buf, NUL-terminated (at most len - 1 of them; ""
 * when it cannot be read): how many. */
size_t h_read_file(const char *path, char *buf, size_t len);

/* A real mosquitto on a free loopback port. Returns the pid, sets *port. */
pid_t h_broker_start(int *port);
/* The same broker port again (after h_stop), for restart tests. */
pid_t h_broker_restart(int port);

/* Write config text to h_path(name) and return the path. */
const char *h_write_file(const char *name, const char *text);
/* HA1 of the user "admin" with the password "secret" in the realm
 * "modbridge": MD5("admin:modbridge:secret"). */
#define H_HA1 "74b5ba04a8aa06dd55aa3fc4e8c0307e"
/* The configuration the HTTP tests start from, written to h_path(name):
 * Modbus on 127.0.0.1:mport with one memory device "scratch" (unit 10,
 * the repository's maps), the HTTP API on 127.0.0.1:hport with the Digest
 * user admin:secret, then the text in extra (NULL: none). Its path, or
 * NULL. */
const char *h_http_conf(const char *name, int mport, int hport, const char *extra);
/* A real InfluxDB 1.x (Debian's influxd) on 127.0.0.1:http_port (its RPC
 * on rpc_port), its files in h_dir()/influx/, reporting, monitoring and
 * logs off; with auth, the HTTP API wants a user (the first one made must
 * be an admin). Waits up to timeout_ms until it listens: the pid, or -1
 * (with a note). The same ports again restart it on the same data. */
pid_t h_influxd_start(int http_port, int rpc_port, int auth, int timeout_ms);
/* The start of a configuration into buf (as snprintf: how many bytes):
 * the Modbus server on 127.0.0.1:mport, the repository's maps, and
 * "devices = (" for the caller to list its devices after. */
int h_conf_head(char *buf, size_t len, int mport);
/* A configuration file name in h_dir(): the Modbus server on
 * 127.0.0.1:mport, the repository's maps, one memory device (unit 1, map
 * scratch) and extra (more groups, or ""). Its path. */
const char *h_mem_conf(const char *name, int mport, const char *extra);
/* Is a file whose name contains needle mapped into pid? 1 yes, 0 no, -1
 * when /proc/PID/maps cannot be read. */
int h_mapped(pid_t pid, const char *needle);
/* Start build/modbridge -c <config> (under valgrind when VALGRIND=1) and wait
 * until it listens on port (IPv4 or IPv6 loopback). Returns the pid or -1 (after reporting why). */
pid_t h_bridge_start(const char *config_path, int port, const char *logname);
/* Start build/modbridge with exactly the arguments in args (NULL-terminated;
 * under valgrind when VALGRIND=1), output to h_path(logname), and return at
 * once: the pid, or -1. For tests of the command line itself. */
pid_t h_bridge_spawn(const char *const args[], const char *logname);
/* The command that starts the daemon, for a test that runs it under a
 * wrapper of its own: valgrind and its options when VALGRIND=1 (an error
 * or a leak exits 99), then build/modbridge, into argv (room for at least
 * 7). How many entries. */
int h_bridge_argv(const char **argv);
/* Stop the bridge; under valgrind, also checks that it reported no error or
 * leak. Returns 0 when it exited cleanly. */
int h_bridge_stop(pid_t pid);

/* The first line of the file, without its line end, into buf ("" when the
 * file cannot be read or is empty); 1 when a line was read. */
int h_first_line(const char *path, char *buf, size_t len);
/* Does the file contain needle? */
int h_file_contains(const char *path, const char *needle);
/* Lines of the file that contain needle (0 when it cannot be read). */
int h_count_lines(const char *path, const char *needle);
/* Lines of the file that are exactly `text` (without their line end). */
int h_count_exact(const char *path, const char *text);
/* FC03 of n registers at addr into out, again every 100 ms (at most 5 s)
 * while the bridge answers 0A (its device link not up yet): 0, or the
 * exception (errno) of the last try. */
int h_read_retry(modbus_t *mb, int addr, int n, uint16_t *out);
/* Wait (bounded) until at least `atleast` lines contain needle; 1 if so. */
int h_wait_lines(const char *path, const char *needle, int atleast, int timeout_ms);

/* Publish payload to topic on the test broker 127.0.0.1:port with
 * mosquitto_pub (QoS 1). 0 on success. */
int h_mqtt_pub(int port, const char *topic, const char *payload);
/* Tell a simulator something over its control topic and wait until its log
 * (log_path) has one more line containing echo. The publish is repeated
 * until timeout_ms, for a broker that is still restarting; simulator
 * commands are settings, so a repeat does no harm. 1 when the echo came. */
int h_sim_tell(int port, const char *topic, const char *payload, const char *log_path,
	       const char *echo, int timeout_ms);

/* Start tests/sim/sim_powergo for device dev on the test broker
 * 127.0.0.1:broker_port, with the extra arguments in extra (NULL-terminated;
 * NULL for none), its output to logname. Waits up to 5 s until it has
 * subscribed (a note if not); the pid, or -1. */
pid_t h_sim_powergo(int broker_port, const char *dev, const char *logname,
		    const char *const extra[]);

/* Start tests/sim/sim_fleet answering `devices` devices from first_id on
 * the test broker 127.0.0.1:broker_port, its output to logname, and wait
 * up to 10 s until it has subscribed (*subscribed 1 then, else 0 and a
 * note): the pid, or -1. */
pid_t h_sim_fleet(int broker_port, uint32_t first_id, int devices, const char *logname,
		  int *subscribed);

/* 1 when a socket can be bound to ::1 here: IPv6 tests skip where not. */
int h_ipv6_loopback(void);

/* Send all n bytes to a socket (no SIGPIPE); 0, or -1 when it failed. */
int h_send_all(int fd, const void *p, size_t n);
/* Receive exactly n bytes before h_now_ms() reaches end_ms: 1; 0 when the
 * peer closed or reset; -1 on timeout or error. */
int h_recv_exact(int fd, uint8_t *p, size_t n, uint64_t end_ms);
/* Receive one Modbus TCP ADU into buf within timeout_ms: its length; 0 when
 * the peer closed; -1 on timeout or a header that is not Modbus TCP (protocol
 * ID not 0, length under 2 or over 254, or more than cap bytes). */
int h_recv_adu(int fd, uint8_t *buf, size_t cap, int timeout_ms);

/* A raw TCP client: a socket connected to the loopback address of family
 * (AF_INET: 127.0.0.1, AF_INET6: ::1) on port, with TCP_NODELAY and 3 s
 * send/receive timeouts, or -1. */
int h_connect(int family, int port);

/* Run `modbridge [arg] -c config` to completion (60 s at most), its output in
 * out; under VALGRIND=1 inside valgrind, so that an error or a leak on the
 * way makes the exit status 99, which no caller expects. The exit status,
 * or -1. */
int h_run_bridge(const char *arg, const char *config, char *out, size_t outlen);

/* A field of /proc/<pid>/status in KiB ("VmRSS", "VmHWM"), or -1. */
long h_proc_kib(pid_t pid, const char *field);
/* A device's counter (key: "dropped", "retries", ...) as the bridge logs it
 * on SIGUSR1 ("NAME: unit U link up ... KEY N ..."): sends the signal,
 * waits (bounded) for the new line in log and returns the value, or -1. */
long long h_dev_counter(pid_t bridge, const char *log, const char *name, const char *key);

/* A libmodbus TCP client on 127.0.0.1:port, unit ID set, 5 s timeout. */
modbus_t *h_modbus(int port, int unit);

#endif
