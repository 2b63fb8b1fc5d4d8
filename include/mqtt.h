/* MQTT links: libmosquitto driven by the libuv loop (socket watched with a
 * uv_poll_t, mosquitto_loop_misc on a timer, no libmosquitto thread).
 * Devices that name the same broker, port, user and client ID share one link. */
#ifndef MQTT_H
#define MQTT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct mqtt_link;
struct config_mqtt;

/* A message on a subscribed topic. */
typedef void (*mqtt_msg_cb)(void *ctx, const char *topic, const uint8_t *payload, size_t len);
/* The link came up (after (re)connect and (re)subscribe) or went down. */
typedef void (*mqtt_state_cb)(void *ctx, int up);
/* A QoS>0 publish was accepted by the broker (PUBACK/PUBCOMP). */
typedef void (*mqtt_pub_cb)(void *ctx, int mid);

/* Get the shared link for cfg with client ID client_id (created and
 * connecting on first use). Each user holds a reference.
 * will_topic/will_payload: optional last will (status), NULL otherwise. */
struct mqtt_link *mqtt_link_get(uv_loop_t *loop, const struct config_mqtt *cfg,
				const char *client_id, char *err, size_t errlen);
struct mqtt_link *mqtt_link_get_will(uv_loop_t *loop, const struct config_mqtt *cfg,
				     const char *client_id, const char *will_topic,
				     const char *will_payload, char *err, size_t errlen);
/* Subscribe ctx to topic; the link resubscribes after every reconnect.
 * state_cb (may be NULL) reports link up/down to this subscriber. */
int mqtt_link_subscribe(struct mqtt_link *l, const char *topic, int qos, mqtt_msg_cb msg_cb,
			mqtt_state_cb state_cb, void *ctx);
/* Publish. mid (may be NULL) receives the message ID; pub_cb (may be NULL)
 * is called when the broker acknowledged a QoS>0 message. MB_ELINK when down. */
int mqtt_link_publish(struct mqtt_link *l, const char *topic, const void *payload, size_t len,
		      int qos, int retain, int *mid, mqtt_pub_cb pub_cb, void *ctx);
int mqtt_link_is_up(const struct mqtt_link *l);
/* Drop ctx's subscriptions and callbacks and one reference; the last
 * reference disconnects and frees the link (asynchronously). */
void mqtt_link_release(struct mqtt_link *l, void *ctx);

#endif
