/* The embedded documents (the web page, the API page, the OpenAPI document)
 * are held gzip-compressed (bridge/web/embed.sh) and served by what the
 * request's Accept-Encoding takes (bridge/http_asset.c): a client that
 * takes gzip gets the compressed bytes with Content-Encoding: gzip, one that
 * does not (curl without --compressed) the file as it is in bridge/web/;
 * both with Vary: Accept-Encoding and the caching headers of every answer,
 * for GET and HEAD. zlib is opened only when the inflated form is first
 * asked for; without zlib that client gets a 406 that says what to do.
 * The page in a browser is test_web_page's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "harness.h"

#if MB_WITH_HTTP
static int hport;

/* The value of header name in the head curl wrote to path ("" if none). */
static void header(const char *path, const char *name, char *v, size_t n)
{
	char head[8192];
	size_t len = strlen(name);
	v[0] = '\0';
	h_read_file(path, head, sizeof head);
	for (char *save = NULL, *l = strtok_r(head, "\r\n", &save); l;
	     l = strtok_r(NULL, "\r\n", &save))
		if (strncasecmp(l, name, len) == 0 && l[len] == ':') {
			l += len + 1;
			l += strspn(l, " ");
			snprintf(v, n, "%s", l);
		}
}

/* One request for path with the Accept-Encoding ae (NULL: none; "curl":
 * curl's --compressed, which decodes what came), GET or HEAD (curl --head,
 * which reads no body): the status; the body in h_path("body"), the head
 * in h_path("head"). */
static int get(const char *path, const char *ae, int head)
{
	char url[256], hdr[128], out[64];
	const char *headers[] = {hdr, NULL}, *extra[3] = {NULL};
	size_t n = 0;
	int curl = ae && strcmp(ae, "curl") == 0;
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", hport, path);
	/* "Name;" is how curl sends a header with an empty value. */
	snprintf(hdr, sizeof hdr, ae && *ae ? "Accept-Encoding: %s" : "Accept-Encoding;", ae);
	if (curl)
		extra[n++] = "--compressed";
	if (head)
		extra[n++] = "--head";
	struct h_curl c = {.url = url,
			   .userpass = "admin:secret",
			   .headers = ae && !curl ? headers : NULL,
			   .extra = extra,
			   .out = h_path("body"),
			   .dump_headers = h_path("head")};
	if (h_curl(&c, out, sizeof out) != 0)
		return -1;
	return atoi(out);
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Do the files hold the same bytes? */
static int same_file(const char *a, const char *b)
{
	static char x[1 << 17], y[1 << 17];
	long na = file_size(a), nb = file_size(b);
	if (na < 0 || na != nb || na >= (long)sizeof x)
		return 0;
	return h_read_file(a, x, sizeof x) == (size_t)na &&
	       h_read_file(b, y, sizeof y) == (size_t)nb && memcmp(x, y, (size_t)na) == 0;
}

static void document(pid_t br, const char *path, const char *file, const char *type)
{
	char v[256], len[32];
	const char *src = h_repo_file(file);
	long size = file_size(src);

	/* curl without --compressed: no Accept-Encoding, the file itself. */
	h_ok(get(path, NULL, 0) == 200 && same_file(h_path("body"), src),
	     "%s without Accept-Encoding: the bytes of %s", path, file);
	header(h_path("head"), "Content-Encoding", v, sizeof v);
	h_ok(v[0] == '\0', "%s: no Content-Encoding (\"%s\")", path, v);
	header(h_path("head"), "Vary", v, sizeof v);
	h_ok(strcasecmp(v, "Accept-Encoding") == 0, "%s: Vary: Accept-Encoding (\"%s\")", path, v);
	header(h_path("head"), "Content-Type", v, sizeof v);
	h_ok(strcmp(v, type) == 0, "%s: Content-Type %s (\"%s\")", path, type, v);
	header(h_path("head"), "Cache-Control", v, sizeof v);
	h_ok(strcmp(v, "no-store") == 0, "%s: Cache-Control: no-store, as every answer", path);
	h_ok(h_mapped(br, "libz.so") == 1, "%s: zlib is mapped once it inflated", path);

	/* curl --compressed: gzip, decoded by curl to the same bytes. */
	h_ok(get(path, "curl", 0) == 200 && same_file(h_path("body"), src),
	     "%s with curl --compressed: %s once decoded", path, file);
	header(h_path("head"), "Content-Encoding", v, sizeof v);
	h_ok(strcmp(v, "gzip") == 0, "%s: Content-Encoding: gzip (\"%s\")", path, v);
	header(h_path("head"), "Vary", v, sizeof v);
	h_ok(strcasecmp(v, "Accept-Encoding") == 0, "%s: and Vary: Accept-Encoding", path);

	/* Accept-Encoding: gzip, not decoded: a gzip member, smaller. */
	char gz[4] = "";
	h_ok(get(path, "gzip", 0) == 200, "%s: Accept-Encoding: gzip answered", path);
	long zsize = file_size(h_path("body"));
	h_read_file(h_path("body"), gz, sizeof gz);
	h_ok((unsigned char)gz[0] == 0x1f && (unsigned char)gz[1] == 0x8b && zsize > 0 &&
		 zsize < size / 2,
	     "%s: the gzip bytes (%ld of %ld)", path, zsize, size);
	header(h_path("head"), "Content-Length", len, sizeof len);
	h_ok(atol(len) == zsize, "%s: Content-Length %s is theirs", path, len);

	/* HEAD: the head of each form. */
	h_ok(get(path, NULL, 1) == 200, "%s: HEAD without Accept-Encoding", path);
	header(h_path("head"), "Content-Length", len, sizeof len);
	header(h_path("head"), "Content-Encoding", v, sizeof v);
	h_ok(atol(len) == size && v[0] == '\0', "%s: HEAD: the file's length %s", path, len);
	h_ok(get(path, "gzip", 1) == 200, "%s: HEAD with gzip", path);
	header(h_path("head"), "Content-Length", len, sizeof len);
	header(h_path("head"), "Content-Encoding", v, sizeof v);
	h_ok(atol(len) == zsize && strcmp(v, "gzip") == 0,
	     "%s: HEAD with gzip: Content-Encoding: gzip, Content-Length %s", path, len);
}

/* What takes gzip and what does not (RFC 9110, 12.5.3): the encoding each
 * Accept-Encoding gets for the page. */
static void negotiation(void)
{
	static const struct {
		const char *ae;
		int gzip;
	} cases[] = {
	    {"gzip", 1},
	    {"GZip", 1},
	    {"x-gzip", 1},
	    {"deflate, gzip;q=0.5, br", 1},
	    {"*", 1},
	    {"br;q=1.0, *;q=0.1", 1},
	    {"gzip;q=0", 0},
	    {"gzip; q=0.000", 0},
	    {"gzip;q=0, *", 0},
	    {"*;q=0", 0},
	    {"identity", 0},
	    {"deflate, br", 0},
	    {"gzip;q=abc", 0},
	    {"gzipx", 0},
	    {"", 0},
	};
	char v[64];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int st = get("/", cases[i].ae, 0);
		header(h_path("head"), "Content-Encoding", v, sizeof v);
		int gz = strcmp(v, "gzip") == 0;
		h_ok(st == 200 && gz == cases[i].gzip &&
			 (gz || same_file(h_path("body"), h_repo_file("bridge/web/index.html"))),
		     "Accept-Encoding \"%s\": %s", cases[i].ae,
		     cases[i].gzip ? "gzip" : "the page uncompressed");
	}
}

int main(void)
{
	h_init("http_gzip");
	int mport = h_free_port();
	hport = h_free_port();
	pid_t br = h_bridge_start(h_http_conf("gzip.conf", mport, hport, NULL), mport, "br.log");
	h_ok(br > 0 && h_wait_port(hport, 5000) == 0, "a bridge with the web interface");

	/* A browser's request first: zlib is not needed for it. */
	h_ok(get("/", "gzip, deflate, br", 0) == 200, "a browser's request for the page");
	h_ok(h_mapped(br, "libz.so") == 0, "zlib is not mapped while every client takes gzip");
	document(br, "/", "bridge/web/index.html", "text/html; charset=utf-8");
	document(br, "/api/v1/", "bridge/web/api.html", "text/html; charset=utf-8");
	document(br, "/api/v1/openapi.json", "bridge/web/openapi.json", "application/json");
	negotiation();
	h_ok(h_bridge_stop(br) == 0, "the bridge stops cleanly");

	/* Without a usable zlib (an empty file stands for it on the library
	 * path): gzip is still served, the others are told what to do. */
	char lib[600];
	snprintf(lib, sizeof lib, "%s/nolib", h_dir());
	mkdir(lib, 0755);
	h_write_file("nolib/libz.so.1", "");
	setenv("LD_LIBRARY_PATH", lib, 1);
	br = h_bridge_start(h_http_conf("nozlib.conf", mport, hport, NULL), mport, "nozlib.log");
	unsetenv("LD_LIBRARY_PATH");
	h_ok(br > 0 && h_wait_port(hport, 5000) == 0, "a bridge that cannot load zlib");
	h_ok(get("/", "curl", 0) == 200 &&
		 same_file(h_path("body"), h_repo_file("bridge/web/index.html")),
	     "without zlib: a client that takes gzip gets the page");
	h_ok(get("/", NULL, 0) == 406, "without zlib: a client that takes none gets 406");
	char body[1024];
	h_read_file(h_path("body"), body, sizeof body);
	h_ok(strstr(body, "Accept-Encoding: gzip") && strstr(body, "zlib"),
	     "which says how to get the page: %s", body);
	h_ok(h_wait_lines(h_path("nozlib.log"), "cannot load libz.so.1", 1, 5000),
	     "and the log says why, once");
	h_ok(get("/", NULL, 0) == 406 && h_count_lines(h_path("nozlib.log"), "cannot load") == 1,
	     "a second such request is not logged again");
	h_ok(h_bridge_stop(br) == 0, "the bridge stops cleanly");
	return h_done();
}
#else
int main(void)
{
	h_init("http_gzip");
	h_ok(1, "built without the web interface (WITH_HTTP=0): nothing to test");
	return h_done();
}
#endif
