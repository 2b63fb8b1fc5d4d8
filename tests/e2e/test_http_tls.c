/* HTTPS: `http.tls = { cert; key; }` with a self-signed certificate the test
 * makes with openssl. curl verifying against that certificate (--cacert)
 * logs in and writes; curl trusting only the system's CAs refuses the
 * server; plain HTTP to the port gets no answer. A reload (SIGHUP) with a
 * new certificate serves the new one. `--check` names file:line for a
 * missing file, a file that is not PEM, a missing key and an encrypted key;
 * a key that does not fit the certificate stops the start with a message. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* HA1 = MD5("admin:modbridge:secret") */
#define HA1 "74b5ba04a8aa06dd55aa3fc4e8c0307e"

static int mport, hport;

/* A self-signed certificate for 127.0.0.1 into NAME.crt and NAME.key. */
static int make_cert(const char *name)
{
	char crt[600], key[600], out[4096];
	snprintf(crt, sizeof crt, "%s/%s.crt", h_dir(), name);
	snprintf(key, sizeof key, "%s/%s.key", h_dir(), name);
	const char *argv[] = {"openssl",
			      "req",
			      "-x509",
			      "-newkey",
			      "ec",
			      "-pkeyopt",
			      "ec_paramgen_curve:prime256v1",
			      "-nodes",
			      "-keyout",
			      key,
			      "-out",
			      crt,
			      "-days",
			      "2",
			      "-subj",
			      "/CN=127.0.0.1",
			      "-addext",
			      "subjectAltName=IP:127.0.0.1",
			      NULL};
	return h_run(argv, out, sizeof out, 30000);
}

/* curl with args; the HTTP status curl reports ("000" when it got none), or
 * -1. *exit: curl's exit status. */
static int curl(const char *const extra[], const char *url, int *exit_status, char *body,
		size_t cap)
{
	char code[4200];
	const char *outf = h_path("curl.out");
	*exit_status =
	    h_curl(&(struct h_curl){.url = url, .extra = extra, .out = outf}, code, sizeof code);
	h_read_file(outf, body, cap);
	return atoi(code);
}

static const char *config(const char *file, const char *tls)
{
	char text[2048];
	snprintf(text, sizeof text,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"scratch\"; unit_id = 1; map = \"scratch\"; memory = { }; "
		 "} );\n"
		 "http = { listen = \"127.0.0.1\"; port = %d;\n"
		 "  users = ( { name = \"admin\"; ha1 = \"" HA1 "\"; } );\n"
		 "  %s\n"
		 "};\n",
		 mport, h_maps_dir(), hport, tls);
	return h_write_file(file, text);
}

static void check_refuses(const char *name, const char *tls, const char *want1, const char *want2)
{
	char out[4096], file[64], where[128];
	snprintf(file, sizeof file, "%s.conf", name);
	int rc = h_run_bridge("--check", config(file, tls), out, sizeof out);
	snprintf(where, sizeof where, "%s:%s", file, want1);
	h_ok(rc == 1 && strstr(out, where) && strstr(out, want2),
	     "--check refuses %s: \"%s ... %s\" (exit %d: %s)", name, where, want2, rc, out);
}

int main(void)
{
	h_init("http_tls");
	mport = h_free_port();
	hport = h_free_port();
	if (!h_ok(make_cert("one") == 0 && make_cert("two") == 0,
		  "openssl made two self-signed certificates"))
		return h_done();

	char tls[1024], url[128], plain[128], body[8192], cacert[700];
	int ex = 0, st;
	snprintf(tls, sizeof tls, "tls = { cert = \"%s/one.crt\"; key = \"%s/one.key\"; };",
		 h_dir(), h_dir());
	const char *conf = config("tls.conf", tls);
	pid_t b = h_bridge_start(conf, mport, "tls.log");
	if (!h_ok(b > 0 && h_wait_port(hport, 10000) == 0, "bridge with http.tls started"))
		return h_done();
	h_ok(h_wait_lines(h_path("tls.log"), "HTTPS with the certificate", 1, 10000),
	     "the log says HTTPS is on");
	snprintf(url, sizeof url, "https://127.0.0.1:%d/api/v1/status", hport);
	snprintf(plain, sizeof plain, "http://127.0.0.1:%d/api/v1/status", hport);
	snprintf(cacert, sizeof cacert, "%s/one.crt", h_dir());

	const char *verified[] = {"--cacert", cacert, "--digest", "-u", "admin:secret", NULL};
	st = curl(verified, url, &ex, body, sizeof body);
	h_ok(st == 200 && strstr(body, "\"version\""),
	     "curl --cacert one.crt --digest: 200 over HTTPS (exit %d)", ex);
	const char *nologin[] = {"--cacert", cacert, NULL};
	h_ok(curl(nologin, url, &ex, body, sizeof body) == 401,
	     "over HTTPS without credentials: 401 (Digest still applies)");
	const char *system_ca[] = {"--digest", "-u", "admin:secret", NULL};
	st = curl(system_ca, url, &ex, body, sizeof body);
	h_ok(st == 0 && ex == 60,
	     "curl trusting only the system's CAs refuses the certificate (exit %d, status %d)", ex,
	     st);
	st = curl(system_ca, plain, &ex, body, sizeof body);
	h_ok(st != 200 && st != 401, "plain HTTP to the HTTPS port gets no answer (status %d)", st);

	char wurl[160];
	snprintf(wurl, sizeof wurl,
		 "https://127.0.0.1:%d/api/v1/devices/scratch/registers/setpoint", hport);
	const char *write[] = {"--cacert",
			       cacert,
			       "--digest",
			       "-u",
			       "admin:secret",
			       "-H",
			       "Content-Type: application/json",
			       "--data-binary",
			       "{\"value\":42}",
			       NULL};
	uint16_t v = 0;
	modbus_t *mb = h_modbus(mport, 1);
	st = curl(write, wurl, &ex, body, sizeof body);
	int rd = mb ? h_read_retry(mb, 30, 1, &v) : -1;
	h_ok(st == 200 && rd == 0 && v == 42,
	     "a write over HTTPS reaches the register (%s; setpoint %u)", body, v);
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}

	/* A reload with the second certificate: the listener starts again
	 * with it. */
	snprintf(tls, sizeof tls, "tls = { cert = \"%s/two.crt\"; key = \"%s/two.key\"; };",
		 h_dir(), h_dir());
	config("tls.conf", tls);
	h_signal(b, SIGHUP);
	h_ok(h_wait_lines(h_path("tls.log"), "reloaded:", 1, 10000) &&
		 h_wait_lines(h_path("tls.log"), "listening on 127.0.0.1 port", 2, 10000),
	     "a reload with a new certificate restarts the listener");
	st = curl(verified, url, &ex, body, sizeof body);
	h_ok(st == 0 && ex == 60, "the old certificate no longer verifies (exit %d)", ex);
	snprintf(cacert, sizeof cacert, "%s/two.crt", h_dir());
	st = curl(verified, url, &ex, body, sizeof body);
	h_ok(st == 200, "curl --cacert two.crt: 200 (exit %d)", ex);
	h_ok(h_bridge_stop(b) == 0, "bridge exits 0");

	/* --check. */
	snprintf(tls, sizeof tls, "tls = { cert = \"%s/none.crt\"; key = \"%s/one.key\"; };",
		 h_dir(), h_dir());
	check_refuses("missing", tls, "6", "http.tls.cert: cannot open");
	snprintf(tls, sizeof tls, "tls = { cert = \"%s\"; key = \"%s/one.key\"; };",
		 h_path("tls.conf"), h_dir());
	check_refuses("notpem", tls, "6", "not PEM");
	snprintf(tls, sizeof tls, "tls = { cert = \"%s/one.crt\"; };", h_dir());
	check_refuses("nokey", tls, "6", "http.tls.key is missing");
	snprintf(tls, sizeof tls, "tls = { cert = \"%s/one.key\"; key = \"%s/one.crt\"; };",
		 h_dir(), h_dir());
	check_refuses("swapped", tls, "6", "PEM certificate");
	char enc[700], out[4096];
	snprintf(enc, sizeof enc, "%s/enc.key", h_dir());
	char one_key[700];
	snprintf(one_key, sizeof one_key, "%s/one.key", h_dir());
	const char *encrypt[] = {"openssl", "pkey",    "-in",	   one_key,	"-out",
				 enc,	    "-aes256", "-passout", "pass:abcd", NULL};
	h_run(encrypt, out, sizeof out, 30000);
	snprintf(tls, sizeof tls, "tls = { cert = \"%s/one.crt\"; key = \"%s\"; };", h_dir(), enc);
	check_refuses("encrypted", tls, "6", "encrypted");

	/* A key that is not the certificate's: --check and the start say so. */
	snprintf(tls, sizeof tls, "tls = { cert = \"%s/one.crt\"; key = \"%s/two.key\"; };",
		 h_dir(), h_dir());
	check_refuses("mismatch", tls, "6", "the key does not fit the certificate");
	int rc = h_run_bridge(NULL, h_path("mismatch.conf"), out, sizeof out);
	h_ok(rc == 1 && strstr(out, "mismatch.conf:6") && strstr(out, "does not fit"),
	     "so does the start (exit %d: %.300s)", rc, out);
	return h_done();
}
