/* An answer of the REST API (bridge/http_internal.h): a JSON document or
 * {"error": ...} with its status, and the strict reading of a request
 * body. Below the server (http.c), the documents (http_api.c) and the
 * exporter settings (http_settings.c), which all answer with them. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "http_internal.h"
#include "json.h"
#include "json_check.h"

void http_answer_take(struct json *j, struct http_answer *a, unsigned status)
{
	a->status = status;
	a->body = json_take(j, &a->len);
}

void http_answer_error(struct http_answer *a, unsigned status, const char *text)
{
	struct json j;
	json_init_buf(&j);
	json_key_str(&j, "{\"error\":", text);
	json_raw(&j, "}");
	http_answer_take(&j, a, status);
}

/* ------------------------------------------------- strict JSON bodies -- */

/* json-c's reader is lenient even with JSON_TOKENER_STRICT (0.16, Debian
 * 12's: single-quoted names, NaN, raw control characters, the last of two
 * equal names kept), and a lenient reader is what lets a browser's
 * text/plain form pass for JSON (docs/user-guide.md, "Strict JSON bodies").
 * So a body is first checked against RFC 8259 (json_check.h); only one that
 * passes is handed to json-c. Objects and arrays nest at most this deep (a
 * write needs 1). */
#define HTTP_ANSWER__MAX_DEPTH 8

struct json_object *http_answer_parse_body(const char *body, size_t len, const char *shape,
					   struct http_answer *a)
{
	struct json_object *doc = NULL;
	char why[300];

	if (!body || !len) {
		http_answer_error(a, 400, shape);
		return NULL;
	}
	if (json_check_strict(body, len, HTTP_ANSWER__MAX_DEPTH, why, sizeof why) != 0) {
		char text[400];
		snprintf(text, sizeof text, "the body is not strict JSON (RFC 8259) %s", why);
		http_answer_error(a, 400, text);
		return NULL;
	}
	struct json_tokener *t = json_tokener_new_ex(HTTP_ANSWER__MAX_DEPTH + 1);
	if (t) {
		json_tokener_set_flags(t, JSON_TOKENER_STRICT);
		doc = json_tokener_parse_ex(t, body, (int)len);
		/* One JSON value and nothing after it but white space:
		 * json-c stops at the end of the first value. */
		size_t end = json_tokener_get_parse_end(t);
		while (end < len && strchr(" \t\r\n", body[end]) && body[end])
			end++;
		if (json_tokener_get_error(t) != json_tokener_success || end != len) {
			json_object_put(doc);
			doc = NULL;
		}
		json_tokener_free(t);
	}
	if (!doc)
		http_answer_error(a, 400, shape);
	return doc;
}
