/* MQTT links: libmosquitto driven by the libuv loop (socket watched with a
 * uv_poll_t, mosquitto_loop_misc on a timer, no libmosquitto thread).
 * Devices that name the same broker, port, user and client ID share one link. */
#ifndef LINK_MQTT_H
#define LINK_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct link_mqtt;
struct config_mqtt;

/* A message on a subscribed topic. */
typedef void (*link_mqtt_msg_cb)(void *ctx, const char *topic, const uint8_t *payload, size_t len);
/* The link came up (after (re)connect and (re)subscribe) or went down. */
typedef void (*link_mqtt_state_cb)(void *ctx, int up);
/* A QoS>0 publish was accepted by the broker (PUBACK/PUBCOMP). */
typedef void (*link_mqtt_pub_cb)(void *ctx, int mid);

/* The largest message (payload bytes) a subscriber gets unless it sets a
 * smaller limit with link_mqtt_limit(). A link declares to an MQTT v5 broker a
 * Maximum Packet Size of its subscribers' largest limit plus the topic and
 * header overhead, so that the broker never sends it anything larger (see
 * "MQTT links" in docs/user-guide.md). */
#define LINK_MQTT_MAX_MESSAGE (64u * 1024u)
/* Outgoing bound per link: publishes libmosquitto holds that are not yet
 * written to the socket (QoS 0) or not yet acknowledged (QoS 1 and 2), in
 * number and in payload bytes. Over either, link_mqtt_publish() refuses with
 * MB_ELINK until the broker catches up. */
#define LINK_MQTT_OUT_MAX_MSGS 256
#define LINK_MQTT_OUT_MAX_BYTES (1024u * 1024u)

/* Get the shared link for cfg with client ID client_id (created and
 * connecting on first use). Each user holds a reference.
 * will_topic/will_payload: optional last will (status), NULL otherwise. */
struct link_mqtt *link_mqtt_get(uv_loop_t *loop, const struct config_mqtt *cfg,
				const char *client_id, char *err, size_t errlen);
struct link_mqtt *link_mqtt_get_will(uv_loop_t *loop, const struct config_mqtt *cfg,
				     const char *client_id, const char *will_topic,
				     const char *will_payload, char *err, size_t errlen);
/* Subscribe ctx to topic; the link resubscribes after every reconnect.
 * state_cb (may be NULL) reports link up/down to this subscriber. */
int link_mqtt_subscribe(struct link_mqtt *l, const char *topic, int qos, link_mqtt_msg_cb msg_cb,
			link_mqtt_state_cb state_cb, void *ctx);
/* Publish. mid (may be NULL) receives the message ID; pub_cb (may be NULL)
 * is called when the broker accepted a QoS>0 message (a PUBACK/PUBCOMP
 * without an error reason). MB_ELINK when down, or when the outgoing bound
 * (LINK_MQTT_OUT_MAX_MSGS, LINK_MQTT_OUT_MAX_BYTES) is reached. */
int link_mqtt_publish(struct link_mqtt *l, const char *topic, const void *payload, size_t len,
		      int qos, int retain, int *mid, link_mqtt_pub_cb pub_cb, void *ctx);
bool link_mqtt_is_up(const struct link_mqtt *l);
/* "host:port (client ID)", for messages (never credentials). */
const char *link_mqtt_name(const struct link_mqtt *l);
/* Accept at most max_len payload bytes (capped at LINK_MQTT_MAX_MESSAGE) in ctx's
 * subscriptions on l (made before this call; LINK_MQTT_MAX_MESSAGE otherwise). A
 * longer message never reaches msg_cb: the link passes it to drop_cb (may be NULL), for the
 * protocol to count and log. Call it right after link_mqtt_subscribe(), so
 * that the limit is part of the next CONNECT. MB_ENOENT: no subscription. */
int link_mqtt_limit(struct link_mqtt *l, void *ctx, size_t max_len, link_mqtt_msg_cb drop_cb);
/* Drop ctx's subscriptions and callbacks and one reference; the last
 * reference disconnects and frees the link (asynchronously). */
void link_mqtt_release(struct link_mqtt *l, void *ctx);

#endif
