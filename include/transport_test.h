/* Testing a transport: the one way (HACKING.md, "Testing a transport").
 *
 * A test reaches a transport through its table below and opens it as the
 * daemon does: through the device model (device_create_ops()), or, to
 * script the device model too, by calling ops->open() itself. What the
 * transport calls outside itself comes through its env (transport.h,
 * struct transport_env): the test copies transport_env_real, replaces what
 * it fakes (a link that records publishes and hands over messages, the
 * clock, the device model's calls for transports) and points transport_env
 * at the copy before the transport opens. Whatever the transport keeps to
 * itself and a test must see is read through the hooks below, one small
 * set per transport; nothing else of a transport is reached from a test.
 *
 * The hooks are compiled into every build (the tests link the daemon's own
 * objects, so that what is tested is what ships) and cost the daemon
 * nothing: each is a function of its own section, and the daemon is linked
 * with --gc-sections, which drops what it never calls (Makefile). */
#ifndef TRANSPORT_TEST_H
#define TRANSPORT_TEST_H

#include <stdbool.h>
#include <stddef.h>

#include "transport.h"

/* The transports (each also reachable as protocol_find(name)->ops). */
extern const struct transport_ops transport_memory;
extern const struct transport_ops transport_powergo;
extern const struct transport_ops transport_venus;
extern const struct transport_ops transport_solarman;
extern const struct transport_ops transport_modbus;
extern const struct transport_ops transport_site;

/* The env of the daemon; transport_env points here unless a test moved it. */
extern const struct transport_env transport_env_real;

/* --- solarman (bridge/tr_solarman.c) ------------------------------------- */

/* The transaction in flight, or NULL. */
struct txn *tr_solarman_test_txn(void *state);
/* The sequence byte of its latest attempt: the one an answer must bear. */
uint8_t tr_solarman_test_seq(void *state);

/* --- venus (bridge/tr_venus.c) ------------------------------------------- */

struct tr_venus_test_view {
	struct txn *txn;   /* in flight, or NULL */
	bool idle;	   /* waiting for nothing */
	bool awaits_ack;   /* a write waits for its ret= or for the dump that confirms it */
	size_t nghosts;	   /* writes given up on whose ret= may still come ... */
	size_t max_ghosts; /* ... of at most this many */
	size_t nexpect;	   /* unacknowledged written values the next dump is compared with ... */
	size_t max_expect; /* ... of at most this many */
	size_t npairs;	   /* pairs of a reply still parsed: 0 once its message is handled */
	size_t cmd_max;	   /* a command published is shorter than this */
	size_t nqueries;   /* read commands: cd=1 and each other the map's registers name */
};

void tr_venus_test_view(void *state, struct tr_venus_test_view *out);
/* Could a ret= that names no command be another command's (a ghost of
 * another write lives)? Expires ghosts as the transport itself does. */
bool tr_venus_test_ack_suspect(void *state);

#endif
