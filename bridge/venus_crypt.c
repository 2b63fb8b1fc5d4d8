/* The topic ID newer B2500 firmware uses in the marstek_energy topics
 * (include/codec_venus.h, codec_venus_topic_id_encrypt; docs/protocols/venus.md,
 * "Topic families"): the Bluetooth MAC, as its 12 lower-case hex characters,
 * encrypted with AES-128-CBC under a fixed 16-byte key and a zero IV, PKCS#7
 * padded to one block, and written as 32 lower-case hex digits. Built only
 * with WITH_CRYPTO (OpenSSL's libcrypto); venus_crypt_off.c stands in
 * otherwise. */
#include "codec_venus.h"

#include <string.h>

#include "dl_crypto.h"
#include "log.h"
#include "mb_error.h"

/* The key every such device uses, as the hm2mqtt project records it. */
static const unsigned char codec_venus__key[16] = "!@#$%^&*()_+{}[]";

int codec_venus_topic_id_encrypt(const char *mac, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char iv[16] = {0}, ct[32];
	int n1 = 0, n2 = 0, ok;

	if (!mac || !out || outlen < VENUS_TOPIC_ID_LEN + 1)
		return MB_EINVAL;
	if (!codec_venus_id_valid(mac))
		return MB_EINVAL;
	/* libcrypto is opened by the first topic ID computed, not before
	 * (include/dl.h). */
	char err[300];
	if (dl_crypto_load("venus", err, sizeof err) != 0) {
		log_msg(MBLOG_ERR, "%s", err);
		return MB_EIO;
	}
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		return MB_ENOMEM;
	ok = EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, codec_venus__key, iv) == 1 &&
	     EVP_EncryptUpdate(c, ct, &n1, (const unsigned char *)mac, (int)strlen(mac)) == 1 &&
	     EVP_EncryptFinal_ex(c, ct + n1, &n2) == 1 && n1 + n2 == VENUS_TOPIC_ID_LEN / 2;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		return MB_EPROTO;
	for (int i = 0; i < VENUS_TOPIC_ID_LEN / 2; i++) {
		out[2 * i] = hex[ct[i] >> 4];
		out[2 * i + 1] = hex[ct[i] & 15];
	}
	out[VENUS_TOPIC_ID_LEN] = 0;
	return VENUS_TOPIC_ID_LEN;
}
