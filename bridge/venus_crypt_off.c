/* Built with WITH_CRYPTO=0: no libcrypto, so no encrypted topic ID. A device
 * that needs one is given it in its config (`topic_id`), and the config
 * loader says so (bridge/tr_venus.c). */
#include "codec_venus.h"

#include "mb_error.h"

int codec_venus_topic_id_encrypt(const char *mac, char *out, size_t outlen)
{
	(void)mac;
	if (out && outlen)
		out[0] = 0;
	return MB_EPROTO;
}
