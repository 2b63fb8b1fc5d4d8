/* The exporter settings of the web page (bridge/http_settings.c): the
 * handlers of GET and POST /api/v1/settings, routed by the REST API's table
 * (http_api.c). Private to the web interface. */
#ifndef HTTP_SETTINGS_H
#define HTTP_SETTINGS_H

#include <stddef.h>

struct http_answer;
struct http_view;

/* p: the target's parts under /api/v1/ (the route's). */
void http_settings_get(const struct http_view *v, char *const *p, struct http_answer *a);
void http_settings_post(const struct http_view *v, char *const *p, const char *body, size_t len,
			struct http_answer *a);

#endif
