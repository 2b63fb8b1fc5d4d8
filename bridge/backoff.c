/* The reconnect back-off policy shared by every link (include/backoff.h). */
#include "backoff.h"

void backoff_init(struct backoff *b, uint64_t min_ms, uint64_t max_ms)
{
	if (min_ms == 0 && max_ms == 0) {
		min_ms = BACKOFF_MIN_MS;
		max_ms = BACKOFF_MAX_MS;
	}
	if (min_ms == 0)
		min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	b->min_ms = min_ms;
	b->max_ms = max_ms;
	b->next_ms = min_ms;
}

uint64_t backoff_next(struct backoff *b)
{
	uint64_t wait = b->next_ms;
	/* Compared before doubling, so that a large max_ms cannot overflow. */
	b->next_ms = b->next_ms > b->max_ms / 2 ? b->max_ms : b->next_ms * 2;
	return wait;
}

uint64_t backoff_peek(const struct backoff *b)
{
	return b->next_ms;
}

void backoff_reset(struct backoff *b)
{
	b->next_ms = b->min_ms;
}
