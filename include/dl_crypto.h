/* libcrypto, opened when a Venus B2500's topic ID is first computed from its
 * MAC (include/dl.h). Include this instead of <openssl/evp.h>. On Debian
 * libmosquitto links OpenSSL anyway; on a router built without TLS this
 * keeps libcrypto out of a daemon that never computes a topic ID. */
#ifndef DL_CRYPTO_H
#define DL_CRYPTO_H

#include <openssl/evp.h>

#include "dl.h"

/* Every libcrypto function the daemon calls. */
#define MB_DL_CRYPTO_FUNCS(X)                                                                      \
	X(EVP_CIPHER_CTX_new)                                                                      \
	X(EVP_CIPHER_CTX_free)                                                                     \
	X(EVP_EncryptInit_ex)                                                                      \
	X(EVP_EncryptUpdate)                                                                       \
	X(EVP_EncryptFinal_ex)                                                                     \
	X(EVP_aes_128_cbc)

/* 0, or -1 with "PART: cannot load libcrypto..." in err. */
int dl_crypto_load(const char *part, char *err, size_t errlen);

#if MB_DLOPEN
#define MB_DL_MEMBER(f) __typeof__(&f) f;
struct dl_crypto {
	MB_DL_CRYPTO_FUNCS(MB_DL_MEMBER)
};
#undef MB_DL_MEMBER
extern struct dl_crypto dl_crypto;

#ifndef MB_DL_NO_NAMES
#define EVP_CIPHER_CTX_new (dl_crypto.EVP_CIPHER_CTX_new)
#define EVP_CIPHER_CTX_free (dl_crypto.EVP_CIPHER_CTX_free)
#define EVP_EncryptInit_ex (dl_crypto.EVP_EncryptInit_ex)
#define EVP_EncryptUpdate (dl_crypto.EVP_EncryptUpdate)
#define EVP_EncryptFinal_ex (dl_crypto.EVP_EncryptFinal_ex)
#define EVP_aes_128_cbc (dl_crypto.EVP_aes_128_cbc)
#endif
#endif

#endif
