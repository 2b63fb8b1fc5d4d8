/* The REST API (bridge/http_api.c): its table of routes, the exporter
 * settings' among them, and the cancel of a register write still at its
 * device. What the server (http.c) knows of the API. Private to the web
 * interface. */
#ifndef HTTP_API_H
#define HTTP_API_H

#include <stddef.h>

#include "http_internal.h"

extern const struct http_route http_api_routes[];
extern const size_t http_api_nroutes;

/* Forget a write whose connection went (the device's answer, when it comes,
 * goes nowhere). w may be NULL. */
void http_api_write_cancel(struct http_write *w);

#endif
