/* `modbridge --check` refuses what starting refuses: for each case a config
 * (and, where the case is about a map, a map file) is written to the
 * temporary folder and the built binary runs `--check -c FILE`; the test
 * asserts exit status 1 and the "file:line: reason" message. The cases are
 * those that used to pass --check and then fail at start: an unknown `user`,
 * `user = "root"`, TLS files that cannot be read, venus templates the
 * transport cannot fill, and the new `retries` / `retry` keys. A control case
 * passes, so that a refusal cannot come from the rest of the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char out[65536];

/* The devices of every case: one memory device on the scratch map. */
#define MEM_DEV "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; } );\n"
#define PG_DEV                                                                                     \
	"devices = ( { name = \"pg\"; unit_id = 1; map = \"powergo\";\n"                           \
	"  powergo = { app_id = \"053461AD\"; device_id = \"15020115\"; };\n"
#define PG_END " } );\n"

/* Run `modbridge ARG -c path`; returns the exit status, output in out with
 * anything but printable ASCII shown as '?' (it goes into "ok" lines). */
static int run(const char *arg, const char *path)
{
	int rc = h_run_bridge(arg, path, out, sizeof out);
	for (char *o = out; *o; o++)
		if ((unsigned char)*o < 0x20 || (unsigned char)*o > 0x7e)
			*o = *o == '\n' && !o[1] ? '\0' : '?';
	return rc;
}

/* The config file's text: a maps_path line naming the repository's maps and
 * our own folder, then the case's text with every '@' replaced by the
 * temporary folder. */
static const char *write_conf(const char *name, const char *text)
{
	char buf[8192];
	size_t used = (size_t)snprintf(buf, sizeof buf, "maps_path = [ \"%s/maps\", \"%s\" ];\n",
				       h_dir(), h_maps_dir());
	for (const char *t = text; *t && used + 600 < sizeof buf; t++) {
		if (*t == '@')
			used += (size_t)snprintf(buf + used, sizeof buf - used, "%s", h_dir());
		else
			buf[used++] = *t;
	}
	buf[used] = '\0';
	return h_write_file(name, buf);
}

/* --check must refuse `path` with "file:line: " and phrase: at the start of
 * its message, or (for a map that does not load, which the message names
 * after the device's config line) after "device \"name\": ". */
static void refused(const char *what, const char *file, int line, const char *phrase,
		    const char *path)
{
	char want[1024], inner[1100];
	int rc = run("--check", path);
	snprintf(want, sizeof want, "%s:%d: ", file, line);
	snprintf(inner, sizeof inner, "\": %s", want);
	h_ok(rc == 1 && (strncmp(out, want, strlen(want)) == 0 || strstr(out, inner)) &&
		 strstr(out, phrase),
	     "--check refuses %s: exit %d, \"%s...%s\" (%.300s)", what, rc, want, phrase, out);
}

static void config_cases(void)
{
	const char *p;

	p = write_conf("user_unknown.conf", MEM_DEV "user = \"no-such-user-mb\";\n");
	refused("an unknown user", p, 3, "user \"no-such-user-mb\" does not exist", p);

	p = write_conf("user_root.conf", MEM_DEV "\nuser = \"root\";\n");
	refused("user = \"root\"", p, 4, "user \"root\" has uid 0", p);

	p = write_conf("ca_missing.conf",
		       PG_DEV "  mqtt = { host = \"127.0.0.1\";\n"
			      "    tls = { ca_file = \"@/none/ca.pem\"; }; };" PG_END);
	refused("a missing tls.ca_file", p, 5, "devices.[0].mqtt.tls.ca_file", p);
	h_ok(strstr(out, "cannot be read: No such file or directory") != NULL,
	     "the message says why (%.300s)", out);

	/* Starting refuses it the same way, with file:line (it used to name
	 * neither, from libmosquitto). */
	int rc = run(NULL, p);
	char want[1024];
	snprintf(want, sizeof want, "%s:5: devices.[0].mqtt.tls.ca_file", p);
	h_ok(rc == 1 && strstr(out, want), "start refuses it with file:line: exit %d (%.300s)", rc,
	     out);

	h_write_file("ca.pem", "not checked here: libmosquitto reads it when connecting\n");
	p = write_conf("key_dir.conf", PG_DEV
		       "  mqtt = { tls = { ca_file = \"@/ca.pem\"; cert_file = \"@/ca.pem\";\n"
		       "    key_file = \"@\"; }; };" PG_END);
	refused("a tls.key_file that is a folder", p, 5, "key_file", p);
	h_ok(strstr(out, "cannot be read: Is a directory") != NULL, "the message says why (%.300s)",
	     out);

	p = write_conf("status_ca.conf", MEM_DEV "status = { mqtt = {\n"
						 "  tls = { ca_file = \"@/none.pem\"; }; }; };\n");
	refused("a missing status.mqtt.tls.ca_file", p, 4, "status.mqtt.tls.ca_file", p);

	p = write_conf("client_utf8.conf", PG_DEV "  mqtt = { client_id = \"\xc3\"; };" PG_END);
	refused("a client ID that is not UTF-8", p, 4, "must be valid UTF-8", p);

	p = write_conf("retries.conf", MEM_DEV "defaults = {\n  retries = 11; };\n");
	refused("retries = 11", p, 4, "defaults.retries must be 0..10, not 11", p);

	p = write_conf("dev_retries.conf",
		       "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {};\n"
		       "  retries = \"2\"; } );\n");
	refused("a device's retries as a string", p, 3, "must be an integer, not a string", p);

	/* The control: the same kinds of keys, valid. */
	p = write_conf(
	    "ok.conf",
	    "defaults = { retries = 0; };\n"
	    "user = \"nobody\";\n"
	    "status = { mqtt = { tls = { ca_file = \"@/ca.pem\"; }; }; };\n"
	    "devices = (\n"
	    "  { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; retries = 10; },\n"
	    "  { name = \"pg\"; unit_id = 2; map = \"powergo\"; retries = 3;\n"
	    "    powergo = { app_id = \"053461AD\"; device_id = \"15020115\"; };\n"
	    "    mqtt = { tls = { ca_file = \"@/ca.pem\"; cert_file = \"@/ca.pem\";\n"
	    "                     key_file = \"@/ca.pem\"; }; }; } );\n");
	rc = run("--check", p);
	h_ok(rc == 0 && strstr(out, "OK, 2 devices"),
	     "--check passes the valid file: exit %d (%.300s)", rc, out);
}

/* The server group's old name, `modbus`, still passes --check, which says
 * file:line and the spelling to use for it and for `listener = "modbus"`;
 * the new spelling passes without a word. */
static void old_spelling(void)
{
	const char *p =
	    write_conf("old.conf", "  modbus = { listen = \"127.0.0.1\"; port = 1502; };\n"
				   "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\";\n"
				   "  memory = {}; listener = \"modbus\"; } );\n");
	int rc = run("--check", p);
	h_ok(rc == 0 && strstr(out, "OK, 1 device"),
	     "--check passes the old spelling: exit %d (%.300s)", rc, out);
	h_ok(strstr(out, "old.conf:2: warning: the top-level \"modbus\" group is now called "
			 "\"server\"") &&
		 strstr(out, "write server = { ... }"),
	     "--check names the group's line and the spelling to use (%.400s)", out);
	h_ok(strstr(out, "old.conf:4: warning: devices.[0].listener \"modbus\" is the old name of "
			 "the server block's listener: write \"server\"") != NULL,
	     "--check names the listener's line and the name to use (%.400s)", out);

	p = write_conf("new.conf", "server = { listen = \"127.0.0.1\"; port = 1502; };\n"
				   "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\";\n"
				   "  memory = {}; listener = \"server\"; } );\n");
	rc = run("--check", p);
	h_ok(rc == 0 && strstr(out, "OK, 1 device") && !strstr(out, "warning"),
	     "--check passes the new spelling without a warning: exit %d (%.300s)", rc, out);
}

/* Maps: venus templates that tr_venus refuses when it opens, and retry. */
static void map_cases(void)
{
	char dir[600];
	snprintf(dir, sizeof dir, "%s/maps", h_dir());
	const char *mk[] = {"mkdir", "-p", dir, NULL};
	h_run(mk, NULL, 0, 2000);

#define VDEV(map)                                                                                  \
	"devices = ( { name = \"v\"; unit_id = 1; map = \"" map "\";\n"                            \
	"  mqtt = { host = \"127.0.0.1\"; };\n"                                                    \
	"  venus = { type = \"HMG-50\"; id = \"0123456789ab\"; }; } );\n"

	const char *m = h_write_file(
	    "maps/vwrite.conf", "name = \"vwrite\"; protocol = \"venus\"; trust = \"generated\";\n"
				"registers = (\n"
				"  { address = 0; name = \"p\"; key = \"cp\"; access = \"rw\";\n"
				"    write = \"cd=16,cp={value},x={1}\"; }\n"
				");\n");
	const char *p = write_conf("vwrite.conf", VDEV("vwrite"));
	refused("a venus write template with a second placeholder", m, 4,
		"write must use {value} and no other placeholder", p);

	m = h_write_file(
	    "maps/vcmd.conf",
	    "name = \"vcmd\"; protocol = \"venus\"; trust = \"generated\";\n"
	    "registers = (\n"
	    "  { address = 0; name = \"a\"; type = \"uint32\"; access = \"w\"; },\n"
	    "  { address = 2; name = \"b\"; type = \"uint32\"; access = \"w\"; }\n"
	    ");\n"
	    "commands = (\n"
	    "  { name = \"ab\"; address = 0; count = 4; template = \"x={0},y={3}\"; }\n"
	    ");\n");
	p = write_conf("vcmd.conf", VDEV("vcmd"));
	refused("a venus command placeholder beyond its registers", m, 7,
		"template uses {3} but the command covers 2 registers", p);

	m = h_write_file("maps/vnone.conf",
			 "name = \"vnone\"; protocol = \"venus\"; trust = \"generated\";\n"
			 "registers = ( { address = 0; name = \"a\"; access = \"w\"; } );\n"
			 "commands = ( { name = \"a\"; address = 0; count = 1;\n"
			 "  template = \"cd=5\"; } );\n");
	p = write_conf("vnone.conf", VDEV("vnone"));
	refused("a venus command without a placeholder", m, 4, "has no placeholder", p);

	m = h_write_file("maps/retryro.conf",
			 "name = \"retryro\"; protocol = \"memory\"; trust = \"generated\";\n"
			 "registers = ( { address = 0; name = \"a\";\n"
			 "  retry = false; } );\n");
	p = write_conf(
	    "retryro.conf",
	    "devices = ( { name = \"a\"; unit_id = 1; map = \"retryro\"; memory = {}; } );\n");
	refused("retry = false on a read-only register", m, 3,
		"registers.[0].retry = false is only for writable registers", p);
}

int main(void)
{
	h_init("check");
	config_cases();
	old_spelling();
	map_cases();
	return h_done();
}
