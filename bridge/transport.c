/* The real env of the transports (transport.h): the device model's calls
 * for transports, the loop's clock and the real links. A test points
 * transport_env at an env of its own (include/transport_test.h). */
#include "transport.h"

#include "device.h"
#include "link_mqtt.h"
#include "link_tcp.h"
#include "transport_test.h"

static const struct link_mqtt_ops transport__mqtt = {
    .get = link_mqtt_get,
    .subscribe = link_mqtt_subscribe,
    .limit = link_mqtt_limit,
    .publish = link_mqtt_publish,
    .is_up = link_mqtt_is_up,
    .release = link_mqtt_release,
    .name = link_mqtt_name,
};

static const struct link_tcp_ops transport__tcp = {
    .open = link_tcp_open,
    .write = link_tcp_write,
    .is_up = link_tcp_is_up,
    .healthy = link_tcp_healthy,
    .drop = link_tcp_drop,
    .peer = link_tcp_peer,
    .close = link_tcp_close,
};

const struct transport_env transport_env_real = {
    .txn_done = device_txn_done,
    .cache_store = device_cache_store,
    .cache_unavailable = device_cache_unavailable,
    .link_changed = device_link_changed,
    .link_changed_quiet = device_link_changed_quiet,
    .refresh_later = device_refresh_later,
    .count_drop = device_count_drop,
    .now = uv_now,
    .mqtt = &transport__mqtt,
    .tcp = &transport__tcp,
};

const struct transport_env *transport_env = &transport_env_real;
