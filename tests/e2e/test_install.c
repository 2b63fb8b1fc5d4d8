/* What `make install` and the service files under init/ deliver: the
 * installed tree, the scripts (sh -n, shellcheck when present, and the procd
 * script run against stubbed procd/uci functions), the systemd unit's
 * hardening keys and the avahi service file. */
#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUTLEN 65536

static char inst__out[OUTLEN];

/* Whole file into a NUL-terminated buffer (caller frees), or NULL. */
static char *inst__slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	size_t k;
	while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (n + 1 == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

/* Are the two files byte for byte the same? */
static int inst__same(const char *a, const char *b)
{
	size_t la, lb;
	char *x = inst__slurp(a, &la), *y = inst__slurp(b, &lb);
	int same = x && y && la == lb && memcmp(x, y, la) == 0;
	free(x);
	free(y);
	return same;
}

/* Does [s, s+n) contain needle? (memmem is a GNU extension.) */
static int inst__has(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, needle, k) == 0)
			return 1;
	return 0;
}

static int inst__executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static int inst__have(const char *prog)
{
	const char *argv[] = {"sh", "-c", "command -v \"$0\" >/dev/null 2>&1", prog, NULL};
	return h_run(argv, NULL, 0, 5000) == 0;
}

/* The value of `key=` in a systemd unit (last one wins for this check), or
 * NULL. Written into a static buffer. */
static const char *inst__unit_value(const char *text, const char *key)
{
	static char val[512];
	const char *found = NULL;
	size_t klen = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			found = p + klen + 1;
	}
	if (!found)
		return NULL;
	size_t n = strcspn(found, "\n");
	if (n >= sizeof val)
		n = sizeof val - 1;
	memcpy(val, found, n);
	val[n] = 0;
	return val;
}

/* A small well-formedness check: tags nest and close, attributes quoted,
 * comments and declarations terminated. Returns NULL or what is wrong. */
static const char *inst__xml_problem(const char *s)
{
	static char why[160];
	char stack[32][64];
	int depth = 0, roots = 0;
	const char *p = s;
	while ((p = strchr(p, '<')) != NULL) {
		if (strncmp(p, "<!--", 4) == 0) {
			const char *e = strstr(p + 4, "-->");
			if (!e)
				return "unterminated comment";
			p = e + 3;
			continue;
		}
		const char *e = strchr(p, '>');
		if (!e)
			return "unterminated tag";
		if (p[1] == '?' || p[1] == '!') {
			p = e + 1;
			continue;
		}
		int closing = p[1] == '/';
		const char *n = p + 1 + closing;
		size_t nl =
		    strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:.");
		if (nl == 0 || nl >= 64)
			return "bad tag name";
		int quotes = 0;
		for (const char *q = n + nl; q < e; q++)
			quotes += *q == '"';
		if (quotes % 2)
			return "unbalanced quotes in a tag";
		int selfclose = e[-1] == '/';
		if (closing) {
			if (depth == 0 || strlen(stack[depth - 1]) != nl ||
			    strncmp(stack[depth - 1], n, nl) != 0) {
				snprintf(why, sizeof why, "</%.*s> closes nothing open", (int)nl,
					 n);
				return why;
			}
			depth--;
		} else if (!selfclose) {
			if (depth == 32)
				return "nested too deep";
			if (depth == 0)
				roots++;
			memcpy(stack[depth], n, nl);
			stack[depth][nl] = 0;
			depth++;
		}
		p = e + 1;
	}
	if (depth) {
		snprintf(why, sizeof why, "<%s> not closed", stack[depth - 1]);
		return why;
	}
	return roots == 1 ? NULL : "not exactly one root element";
}

/* The man pages: installed unchanged under share/man, their title line
 * naming the version the installed binary reports, and, where groff is
 * present, formatted without a warning. */
static void inst__man(const char *dest)
{
	static const struct {
		const char *src, *dst;
	} pages[] = {
	    {"docs/man/modbridge.8", "usr/share/man/man8/modbridge.8"},
	    {"docs/man/modbridge.conf.5", "usr/share/man/man5/modbridge.conf.5"},
	};
	char path[1024], want[160], ver[128];
	int groff = inst__have("groff");

	snprintf(path, sizeof path, "%s/usr/bin/modbridge", dest);
	const char *argv[] = {path, "--version", NULL};
	int rc = h_run(argv, ver, sizeof ver, 10000);
	ver[strcspn(ver, "\n")] = 0;
	/* "modbridge X.Y.Z (features)": the features are not the man page's. */
	if (strchr(ver, ' '))
		strchr(ver, ' ')[1 + strcspn(strchr(ver, ' ') + 1, " ")] = 0;
	/* .TH NAME SECTION DATE "modbridge X.Y.Z" ... */
	snprintf(want, sizeof want, "\"%s\"", rc == 0 ? ver : "modbridge ?");
	for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
		snprintf(path, sizeof path, "%s/%s", dest, pages[i].dst);
		h_ok(inst__same(pages[i].src, path), "%s installed unchanged as %s", pages[i].src,
		     pages[i].dst);
		char *t = inst__slurp(pages[i].src, NULL);
		const char *th = t ? strstr(t, "\n.TH ") : NULL;
		size_t thlen = th ? strcspn(th + 1, "\n") : 0;
		h_ok(th && inst__has(th + 1, thlen, want),
		     "%s: .TH names %s (the binary's --version)", pages[i].src, want);
		free(t);
		if (!groff)
			continue;
		const char *gr[] = {"groff", "-man", "-ww", "-z", pages[i].src, NULL};
		rc = h_run(gr, inst__out, sizeof inst__out, 20000);
		if (!h_ok(rc == 0 && inst__out[0] == 0,
			  "groff -man -ww formats %s without warnings", pages[i].src))
			h_note("%s", inst__out);
	}
	if (!groff)
		h_note("groff not installed: man page formatting not checked");
}

static void inst__tree(const char *dest)
{
	char path[1024], src[1024];
	const char *build = getenv("MB_BUILD");
	char buildarg[512];
	snprintf(buildarg, sizeof buildarg, "BUILD=%s", build && *build ? build : "build");
	char destarg[512];
	snprintf(destarg, sizeof destarg, "DESTDIR=%s", dest);
	const char *argv[] = {"make", "-s", "install", destarg, buildarg, NULL};
	int rc = h_run(argv, inst__out, sizeof inst__out, 120000);
	if (!h_ok(rc == 0, "make install DESTDIR=... exits 0 (got %d)", rc))
		h_note("%s", inst__out);

	/* Another PREFIX at install time rebuilds the daemon with it (a dry
	 * run: the compile commands make would run name the new map path). */
	const char *dry[] = {"make", "-n", "install", destarg, buildarg, "PREFIX=/opt/mbx", NULL};
	rc = h_run(dry, inst__out, sizeof inst__out, 60000);
	h_ok(rc == 0 && strstr(inst__out, "-c -o ") &&
		 strstr(inst__out, "/opt/mbx/share/modbridge/maps"),
	     "make install PREFIX=/opt/mbx after a plain build recompiles with that prefix");

	snprintf(path, sizeof path, "%s/usr/bin/modbridge", dest);
	h_ok(inst__executable(path), "usr/bin/modbridge is an executable file");
	const char *ver[] = {path, "--version", NULL};
	rc = h_run(ver, inst__out, sizeof inst__out, 10000);
	h_ok(rc == 0 && strncmp(inst__out, "modbridge ", 10) == 0,
	     "installed binary runs: --version says \"%.40s\"", inst__out);

	/* Every shipped map, installed unchanged. */
	DIR *d = opendir("maps");
	int nmaps = 0, missing = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".conf") != 0)
			continue;
		nmaps++;
		snprintf(src, sizeof src, "maps/%s", de->d_name);
		snprintf(path, sizeof path, "%s/usr/share/modbridge/maps/%s", dest, de->d_name);
		if (!inst__same(src, path)) {
			missing++;
			h_note("map %s not installed as %s", src, path);
		}
	}
	if (d)
		closedir(d);
	h_ok(nmaps > 0, "the tree ships maps (%d maps/*.conf)", nmaps);
	h_ok(nmaps > 0 && missing == 0,
	     "every maps/*.conf is in usr/share/modbridge/maps (%d missing)", missing);

	snprintf(path, sizeof path, "%s/etc/modbridge/modbridge.conf.example", dest);
	h_ok(inst__same("init/modbridge.conf.example", path),
	     "etc/modbridge/modbridge.conf.example installed unchanged");

	inst__man(dest);

	/* The installed binary accepts the installed example with the installed
	 * maps: the example names /usr/share/modbridge/maps, so point maps_path
	 * into DESTDIR instead. */
	char *ex = inst__slurp("init/modbridge.conf.example", NULL);
	snprintf(src, sizeof src, "%s/check.conf", h_dir());
	FILE *f = fopen(src, "w");
	if (ex && f) {
		for (char *line = strtok(ex, "\n"); line; line = strtok(NULL, "\n")) {
			if (strncmp(line + strspn(line, " \t"), "maps_path", 9) != 0)
				fprintf(f, "%s\n", line);
		}
		fprintf(f, "maps_path = [ \"%s/usr/share/modbridge/maps\" ];\n", dest);
	}
	if (f)
		fclose(f);
	free(ex);
	snprintf(path, sizeof path, "%s/usr/bin/modbridge", dest);
	const char *chk[] = {path, "--check", "-c", src, NULL};
	rc = h_run(chk, inst__out, sizeof inst__out, 20000);
	if (!h_ok(rc == 0 && strstr(inst__out, "OK"),
		  "installed binary --check accepts the example "
		  "config with the installed maps"))
		h_note("%s", inst__out);
}

static void inst__scripts(void)
{
	const char *scripts[] = {"init/openwrt/modbridge/files/modbridge.init", "tests/demo.sh",
				 "init/cross.sh", "init/deb-check.sh"};
	int sc = inst__have("shellcheck");
	for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
		const char *argv[] = {"sh", "-n", scripts[i], NULL};
		int rc = access(scripts[i], R_OK) == 0
			     ? h_run(argv, inst__out, sizeof inst__out, 10000)
			     : -1;
		h_ok(rc == 0, "sh -n %s (%s)", scripts[i], rc == 0 ? "ok" : inst__out);
		if (!sc)
			continue;
		/* The procd script states its dialect (ash) in a directive. */
		const char *sca[] = {"shellcheck", "-x", scripts[i], NULL};
		rc = h_run(sca, inst__out, sizeof inst__out, 60000);
		if (!h_ok(rc == 0, "shellcheck %s", scripts[i]))
			h_note("%s", inst__out);
	}
	if (!sc)
		h_note("shellcheck not installed: skipped (apt-get install shellcheck)");
}

static void inst__files(void)
{
	char *t = inst__slurp("init/systemd/modbridge.service", NULL);
	h_ok(t != NULL, "init/systemd/modbridge.service exists");
	static const struct {
		const char *key, *value;
	} keys[] = {
	    {"Type", "notify"},
	    {"NotifyAccess", "main"},
	    {"WatchdogSec", "30s"},
	    {"User", "modbridge"},
	    {"ConditionPathExists", "/etc/modbridge/modbridge.conf"},
	    {"ExecStart", "/usr/bin/modbridge -c /etc/modbridge/modbridge.conf"},
	    {"ExecReload", "/bin/kill -HUP $MAINPID"},
	    {"AmbientCapabilities", "CAP_NET_BIND_SERVICE"},
	    {"CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"},
	    {"NoNewPrivileges", "yes"},
	    {"ProtectSystem", "strict"},
	    {"ProtectHome", "yes"},
	    {"PrivateTmp", "yes"},
	    {"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
	    {"Restart", "on-failure"},
	    {"WantedBy", "multi-user.target"},
	    {"SupplementaryGroups", "dialout"},
	    {"DevicePolicy", "closed"},
	};
	for (size_t i = 0; t && i < sizeof keys / sizeof *keys; i++) {
		const char *v = inst__unit_value(t, keys[i].key);
		h_ok(v && strcmp(v, keys[i].value) == 0, "systemd unit: %s=%s (got %s)",
		     keys[i].key, keys[i].value, v ? v : "nothing");
	}
	/* Serial adapters: the real /dev (replugged adapters appear), the
	 * device cgroup opened for the serial classes only. */
	h_ok(t && !strstr(t, "\nPrivateDevices=yes") &&
		 strstr(t, "\nDeviceAllow=char-ttyUSB rw\n") &&
		 strstr(t, "\nDeviceAllow=char-ttyACM rw\n") &&
		 strstr(t, "\nDeviceAllow=char-ttyS rw\n"),
	     "systemd unit: no PrivateDevices (no serial port there), DeviceAllow for ttyUSB, "
	     "ttyACM, ttyS");
	free(t);
	if (inst__have("systemd-analyze")) {
		/* Only the binary and the man pages may be missing here. */
		const char *argv[] = {"systemd-analyze", "verify", "init/systemd/modbridge.service",
				      NULL};
		h_run(argv, inst__out, sizeof inst__out, 30000);
		int other = 0;
		for (char *l = inst__out; l && *l;
		     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			char line[512];
			size_t n = strcspn(l, "\n");
			snprintf(line, sizeof line, "%.*s", (int)n, l);
			if (n && !strstr(line, "/usr/bin/modbridge is not executable") &&
			    !strstr(line, "modbridge(8)") && !strstr(line, "modbridge.conf(5)")) {
				h_note("%s", line);
				other = 1;
			}
		}
		h_ok(!other,
		     "systemd-analyze verify: nothing but the uninstalled binary and man pages");
	} else
		h_ok(1, "systemd-analyze verify # SKIP not installed");

	t = inst__slurp("init/avahi/modbridge.service", NULL);
	const char *why = t ? inst__xml_problem(t) : "missing";
	h_ok(why == NULL, "avahi service file is well-formed XML (%s)", why ? why : "ok");
	h_ok(t && strstr(t, "<type>_modbus._tcp</type>") && strstr(t, "<type>_mbap._tcp</type>"),
	     "avahi announces _modbus._tcp and _mbap._tcp");
	h_ok(t && strstr(t, "<port>502</port>"), "avahi announces port 502");
	h_ok(t && !strstr(t, "<type>_http._tcp</type>"),
	     "avahi does not announce a web interface the example config does not have");
	free(t);
	if (inst__have("xmllint")) {
		const char *argv[] = {"xmllint", "--noout", "init/avahi/modbridge.service", NULL};
		int rc = h_run(argv, inst__out, sizeof inst__out, 10000);
		h_ok(rc == 0, "xmllint accepts the avahi file");
	}

	t = inst__slurp("init/openwrt/modbridge/Makefile", NULL);
	h_ok(t && strstr(t, "include $(TOPDIR)/rules.mk") && strstr(t, "PKG_NAME:=modbridge") &&
		 strstr(t, "BuildPackage,modbridge-ssl") &&
		 strstr(t, "BuildPackage,modbridge-nossl"),
	     "OpenWrt package Makefile (in a directory named modbridge): rules.mk, PKG_NAME, "
	     "both variants");
	h_ok(t && strstr(t, "PKG_SOURCE:=$(PKG_NAME)-$(PKG_VERSION).tar.gz") &&
		 strstr(t, "PKG_HASH:=") && !strstr(t, "Build/Prepare"),
	     "OpenWrt package builds from PKG_SOURCE with PKG_HASH (no copy from the tree)");
	h_ok(t && strstr(t, "PROVIDES:=modbridge") &&
		 strstr(t, "USERID:=modbridge:modbridge:dialout=20"),
	     "OpenWrt package: the variants provide modbridge; a dedicated user in dialout");
	h_ok(t && strstr(t, "PKG_BUILD_PARALLEL:=1") && strstr(t, "\t\tWERROR= \\\n") &&
		 strstr(t, "$(MAKE) $(PKG_JOBS) -C"),
	     "OpenWrt package: parallel build, warnings not errors");
	/* A LAN-facing daemon asks for PIE: OpenWrt's default ("Regular")
	 * builds only the packages that ask as position-independent. */
	h_ok(t && strstr(t, "\nPKG_ASLR_PIE_REGULAR:=1\n") && !strstr(t, "PKG_ASLR_PIE:=0"),
	     "OpenWrt package: position-independent under the default ASLR choice");
	h_ok(t && strstr(t, "URL:=https://") && strstr(t, "PKG_MAINTAINER:=") &&
		 strstr(strstr(t, "PKG_MAINTAINER:="), "@") &&
		 strstr(t, "PKG_SOURCE_URL:=https://") && !strstr(t, ".invalid"),
	     "OpenWrt package: URL, a maintainer with an address, a download URL");
	/* Config.in's switches, each in PKG_CONFIG_DEPENDS and used. */
	char *ci = inst__slurp("init/openwrt/modbridge/Config.in", NULL);
	const char *opts[] = {"MODBRIDGE_HTTP", "MODBRIDGE_INFLUXDB", "MODBRIDGE_MODBUS"};
	int cfg_ok = ci && t && strstr(t, "source \"$(SOURCE)/Config.in\"");
	for (size_t i = 0; cfg_ok && i < 3; i++) {
		char a[64], b[64];
		snprintf(a, sizeof a, "config %s\n", opts[i]);
		snprintf(b, sizeof b, "\tCONFIG_%s", opts[i]);
		cfg_ok = strstr(ci, a) && strstr(t, b) && !strstr(t, "MODBRIDGE_WITH_");
	}
	h_ok(cfg_ok, "OpenWrt package: Config.in's optional parts, in PKG_CONFIG_DEPENDS");
	free(ci);
	/* Each variant's TLS: -nossl names no library that brings one. */
	const char *ssl = t ? strstr(t, "define Package/modbridge-ssl\n") : NULL;
	const char *nossl = t ? strstr(t, "define Package/modbridge-nossl\n") : NULL;
	char sslb[1024] = "", nosslb[1024] = "";
	if (ssl && strstr(ssl, "endef"))
		snprintf(sslb, sizeof sslb, "%.*s", (int)(strstr(ssl, "endef") - ssl), ssl);
	if (nossl && strstr(nossl, "endef"))
		snprintf(nosslb, sizeof nosslb, "%.*s", (int)(strstr(nossl, "endef") - nossl),
			 nossl);
	h_ok(strstr(sslb, ":libmicrohttpd-ssl") && strstr(nosslb, ":libmicrohttpd-no-ssl") &&
		 !strstr(nosslb, "libcurl") && !strstr(t, "+libmicrohttpd ") &&
		 strstr(t, "$(if $(filter ssl,$(BUILD_VARIANT))"),
	     "OpenWrt package: libmicrohttpd-ssl / -no-ssl per variant; no libcurl (its TLS) and "
	     "no InfluxDB exporter in -nossl");
	h_ok(t && strstr(t, "./files/modbridge.hotplug $(1)/etc/hotplug.d/tty/30-modbridge"),
	     "OpenWrt package: the tty hotplug script is installed");
	h_ok(t && strstr(t, "+libuv") && strstr(t, "+libconfig") &&
		 strstr(t, "+libmosquitto-ssl") && strstr(t, "+libmosquitto-nossl"),
	     "OpenWrt package depends on libuv, libconfig, libmosquitto (ssl and nossl variants)");
	h_ok(t && strstr(t, "/etc/modbridge/\n") && strstr(t, "/etc/config/modbridge\n") &&
		 strstr(t, "/usr/share/modbridge/maps"),
	     "OpenWrt package: conffiles and maps directory");
	free(t);
	t = inst__slurp("init/openwrt/modbridge/files/modbridge.config", NULL);
	h_ok(t && strstr(t, "config modbridge 'main'") && strstr(t, "option enabled '0'") &&
		 strstr(t, "option user 'modbridge'") && strstr(t, "config device "),
	     "UCI file: section main (disabled, user modbridge) and a device section");
	free(t);
}

/* `make dist`: the same bytes twice, the tree under modbridge-VERSION/, the
 * OpenWrt package Makefile (which carries the hash) left out; `make
 * openwrt-hash` and `make dist-check` on a copy of that Makefile: the hash
 * written is the tarball's, and a wrong one is caught. */
static void inst__dist(void)
{
	char a[512], b[512], mk[512], tb[600], sum1[128], sum2[128];
	const char *git[] = {"git", "rev-parse", "--is-inside-work-tree", NULL};
	if (h_run(git, NULL, 0, 10000) != 0) {
		h_ok(1, "make dist # SKIP not a git checkout (dist takes the files git tracks)");
		return;
	}
	snprintf(a, sizeof a, "DIST_DIR=%s/dist1", h_dir());
	snprintf(b, sizeof b, "DIST_DIR=%s/dist2", h_dir());
	const char *d1[] = {"make", "-s", "dist", a, NULL};
	const char *d2[] = {"make", "-s", "dist", b, NULL};
	int rc1 = h_run(d1, inst__out, sizeof inst__out, 60000);
	int rc2 = h_run(d2, inst__out, sizeof inst__out, 60000);
	const char *v[] = {h_bin("modbridge"), "--version", NULL};
	char ver[64] = "";
	h_run(v, ver, sizeof ver, 10000);
	const char *version = strchr(ver, ' ') ? strchr(ver, ' ') + 1 : "?";
	ver[strcspn(ver, "\n")] = '\0';
	if (strchr(ver, ' ')) /* the version, not the features after it */
		strchr(ver, ' ')[1 + strcspn(strchr(ver, ' ') + 1, " ")] = '\0';
	snprintf(tb, sizeof tb, "%s/dist1/modbridge-%s.tar.gz", h_dir(), version);
	const char *s1[] = {"sh", "-c", "sha256sum \"$0\" | cut -c1-64", tb, NULL};
	h_run(s1, sum1, sizeof sum1, 10000);
	snprintf(tb, sizeof tb, "%s/dist2/modbridge-%s.tar.gz", h_dir(), version);
	const char *s2[] = {"sh", "-c", "sha256sum \"$0\" | cut -c1-64", tb, NULL};
	h_run(s2, sum2, sizeof sum2, 10000);
	h_ok(rc1 == 0 && rc2 == 0 && strlen(sum1) >= 64 && strcmp(sum1, sum2) == 0,
	     "make dist twice: the same tarball (sha256 %.64s)", sum1);
	const char *ls[] = {"tar", "-tzf", tb, NULL};
	h_run(ls, inst__out, sizeof inst__out, 10000);
	char want[128];
	snprintf(want, sizeof want, "modbridge-%s/bridge/main.c", version);
	h_ok(strstr(inst__out, want) && strstr(inst__out, "/debian/rules") &&
		 strstr(inst__out, "/init/openwrt/modbridge/files/modbridge.init") &&
		 !strstr(inst__out, "/init/openwrt/modbridge/Makefile"),
	     "the tarball holds the tree (debian/ too) under modbridge-%s/, not the OpenWrt "
	     "package Makefile",
	     version);

	snprintf(mk, sizeof mk, "%s/openwrt.mk", h_dir());
	const char *cp[] = {"cp", "init/openwrt/modbridge/Makefile", mk, NULL};
	h_run(cp, NULL, 0, 5000);
	char mkarg[600];
	snprintf(mkarg, sizeof mkarg, "OPENWRT_PKG_MK=%s", mk);
	const char *hash[] = {"make", "-s", "openwrt-hash", a, mkarg, NULL};
	int rc = h_run(hash, inst__out, sizeof inst__out, 60000);
	char *t = inst__slurp(mk, NULL);
	snprintf(want, sizeof want, "\nPKG_HASH:=%.64s\n", sum1);
	h_ok(rc == 0 && t && strstr(t, want), "make openwrt-hash writes the tarball's sha256");
	free(t);
	const char *chk[] = {"make", "-s", "dist-check", a, mkarg, NULL};
	rc = h_run(chk, inst__out, sizeof inst__out, 60000);
	h_ok(rc == 0 && strstr(inst__out, "PKG_HASH matches"), "make dist-check: they agree");
	const char *spoil[] = {"sed", "-i", "s/^PKG_HASH:=./PKG_HASH:=x/", mk, NULL};
	h_run(spoil, NULL, 0, 5000);
	rc = h_run(chk, inst__out, sizeof inst__out, 60000);
	h_ok(rc != 0 && strstr(inst__out, "run make openwrt-hash"),
	     "make dist-check: a PKG_HASH that is not the tarball's fails");
}

/* debian/: what `make deb` builds from (CI builds, installs and purges the
 * package with make deb-check). */
static void inst__debian(void)
{
	char *c = inst__slurp("debian/control", NULL);
	h_ok(c && strstr(c, "debhelper-compat (= 13)") && strstr(c, "Package: modbridge") &&
		 strstr(c, "dh-sequence-installsysusers") && !strstr(c, "adduser"),
	     "debian/control: debhelper compat 13, package modbridge, the user from sysusers.d "
	     "(not adduser)");
	/* Build-Depends: what the build needs, none of the test toolchain. */
	const char *bd = c ? strstr(c, "Build-Depends:") : NULL;
	char bds[1024] = "";
	if (bd && strstr(bd, "\nStandards-Version"))
		snprintf(bds, sizeof bds, "%.*s", (int)(strstr(bd, "\nStandards-Version") - bd),
			 bd);
	const char *tools[] = {"mosquitto,", "mosquitto\n", "mbpoll",	 "socat",
			       "faketime",   "cmocka",	    "shellcheck"};
	int clean = bds[0] != '\0';
	for (size_t i = 0; i < sizeof tools / sizeof *tools; i++)
		clean = clean && !strstr(bds, tools[i]);
	h_ok(clean && strstr(bds, "libmodbus-dev") && strstr(bds, "libmicrohttpd-dev"),
	     "debian/control: Build-Depends has the libraries, not the test toolchain");
	h_ok(c && strstr(c, "Maintainer: ") && !strstr(c, "@localhost") && !strstr(c, ".invalid"),
	     "debian/control: a maintainer address lintian takes (not bogus-mail-host)");
	free(c);
	char *mk = inst__slurp("init/deb.mk", NULL);
	h_ok(mk && !strstr(mk, "deps EXTRA_DEB_PKGS") && strstr(mk, "dpkg-checkbuilddeps") &&
		 strstr(mk, "apt-get build-dep"),
	     "make deb installs only the Build-Depends (dpkg-checkbuilddeps, apt-get build-dep)");
	free(mk);
	char *su = inst__slurp("debian/modbridge.sysusers", NULL);
	h_ok(su && strstr(su, "\nu modbridge - ") && strstr(su, "\nm modbridge dialout\n"),
	     "debian/modbridge.sysusers: the user modbridge, a member of dialout");
	free(su);
	char *docs = inst__slurp("debian/modbridge.docs", NULL);
	h_ok(docs && strstr(docs, "docs/user-guide.md\n") && strstr(docs, "docs/evcc.md\n") &&
		 strstr(docs, "docs/home-assistant.md\n"),
	     "debian/modbridge.docs: the user, evcc and Home Assistant guides");
	free(docs);
	char *rules = inst__slurp("debian/rules", NULL);
	h_ok(rules && strstr(rules, "rm -f debian/modbridge/etc/modbridge/modbridge.conf.example"),
	     "debian/rules: the example is not a conffile in /etc (it is in the examples)");
	free(rules);
	h_ok(inst__executable("debian/rules"), "debian/rules is executable");
	h_ok(inst__same("debian/modbridge.service", "init/systemd/modbridge.service"),
	     "debian/modbridge.service is the unit in init/systemd");
	h_ok(access("debian/modbridge.postinst", F_OK) != 0,
	     "no postinst of our own: debhelper's snippets create the user and enable the unit");
	const char *v[] = {h_bin("modbridge"), "--version", NULL};
	char ver[64] = "", want[96];
	h_run(v, ver, sizeof ver, 10000);
	ver[strcspn(ver, "\n")] = '\0';
	if (strchr(ver, ' ')) /* the version, not the features after it */
		strchr(ver, ' ')[1 + strcspn(strchr(ver, ' ') + 1, " ")] = '\0';
	snprintf(want, sizeof want, "modbridge (%s) ",
		 strchr(ver, ' ') ? strchr(ver, ' ') + 1 : "?");
	char *ch = inst__slurp("debian/changelog", NULL);
	h_ok(ch && strncmp(ch, want, strlen(want)) == 0,
	     "debian/changelog's version is the binary's (%s)", want);
	free(ch);
}

/* A daemon without the optional parts (docs/user-guide.md, "Building a
 * smaller daemon"), built into its own BUILD folder: it says so in
 * --version, links none of their libraries, and refuses a config that uses
 * one of them by file:line, while a plain config passes --check. */
static void inst__slim(void)
{
	char build[512], bin[600], buildarg[600];
	snprintf(build, sizeof build, "%s/slim", h_dir());
	snprintf(bin, sizeof bin, "%s/modbridge", build);
	snprintf(buildarg, sizeof buildarg, "BUILD=%s", build);
	const char *mk[] = {"make",	     "-s",	    "-j2",
			    buildarg,	     "WITH_HTTP=0", "WITH_INFLUXDB=0",
			    "WITH_MODBUS=0", bin,	    NULL};
	int rc = h_run(mk, inst__out, sizeof inst__out, 300000);
	if (!h_ok(rc == 0 && inst__executable(bin),
		  "make WITH_HTTP=0 WITH_INFLUXDB=0 WITH_MODBUS=0 builds a slim daemon")) {
		h_note("%s", inst__out);
		return;
	}
	const char *ver[] = {bin, "--version", NULL};
	rc = h_run(ver, inst__out, sizeof inst__out, 10000);
	inst__out[strcspn(inst__out, "\n")] = '\0';
	h_ok(rc == 0 && strncmp(inst__out, "modbridge ", 10) == 0 && !strstr(inst__out, "http") &&
		 !strstr(inst__out, "influxdb") && !strstr(inst__out, "modbus"),
	     "the slim daemon's --version lists no optional part: \"%s\"", inst__out);
	const char *full[] = {h_bin("modbridge"), "--version", NULL};
	rc = h_run(full, inst__out, sizeof inst__out, 10000);
	h_ok(rc == 0 && strstr(inst__out, " (http, influxdb, modbus)\n"),
	     "the full daemon's --version lists them: %.60s", inst__out);

	const char *ldd[] = {"ldd", bin, NULL};
	rc = h_run(ldd, inst__out, sizeof inst__out, 10000);
	h_ok(rc == 0 && strstr(inst__out, "libuv") && !strstr(inst__out, "libmicrohttpd") &&
		 !strstr(inst__out, "libcurl") && !strstr(inst__out, "libmodbus") &&
		 !strstr(inst__out, "libjson-c"),
	     "ldd: libuv, but no libmicrohttpd, libcurl, libmodbus, json-c");

	static const struct {
		const char *name, *text, *want;
	} bad[] = {
	    {"slim-http.conf",
	     "server = { port = 1502; };\n"
	     "http = { port = 8502; };\n",
	     "slim-http.conf:2: this modbridge was built without the web interface (WITH_HTTP=0): "
	     "remove the http group"},
	    {"slim-influx.conf",
	     "server = { port = 1502; };\n\n"
	     "influxdb = { url = \"http://127.0.0.1:8086\"; database = \"energy\"; };\n",
	     "slim-influx.conf:3: this modbridge was built without the InfluxDB exporter "
	     "(WITH_INFLUXDB=0): remove the influxdb group"},
	    {"slim-modbus.conf",
	     "devices = (\n"
	     "  { name = \"meter\"; unit_id = 1; map = \"sdm630\";\n"
	     "    modbus = { device = \"/dev/ttyUSB0\"; slave = 1; }; }\n"
	     ");\n",
	     "slim-modbus.conf:3: this modbridge was built without the modbus protocol "
	     "(WITH_MODBUS=0): remove the modbus block"},
	    /* A map whose protocol is modbus, on a device that would simulate it. */
	    {"slim-map.conf",
	     "maps_path = [ \"maps\" ];\n"
	     "devices = ( { name = \"meter\"; unit_id = 1; map = \"sdm630\"; memory = {}; } );\n",
	     "maps/sdm630.conf:"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *conf = h_write_file(bad[i].name, bad[i].text);
		const char *chk[] = {bin, "--check", "-c", conf, NULL};
		rc = h_run(chk, inst__out, sizeof inst__out, 10000);
		int named = strstr(inst__out, bad[i].want) != NULL;
		if (i == 3)
			named = named &&
				strstr(inst__out, "without the modbus protocol (WITH_MODBUS=0)");
		if (!h_ok(rc != 0 && named, "slim --check refuses %s: %s", bad[i].name,
			  bad[i].want))
			h_note("%s", inst__out);
	}
	const char *plain = h_write_file(
	    "slim-plain.conf", "maps_path = [ \"maps\" ];\n"
			       "devices = ( { name = \"m1\"; unit_id = 1; map = \"scratch\"; "
			       "memory = {}; } );\n");
	const char *chk[] = {bin, "--check", "-c", plain, NULL};
	rc = h_run(chk, inst__out, sizeof inst__out, 10000);
	if (!h_ok(rc == 0, "slim --check accepts a config without them"))
		h_note("%s", inst__out);
}

int main(void)
{
	h_init("install");
	inst__tree(h_path("root"));
	inst__scripts();
	inst__dist();
	inst__debian();
	inst__files();
	inst__slim();
	return h_done();
}
