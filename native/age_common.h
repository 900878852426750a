/*
 * What the batch API (age_stream.c) and the file API (age_file.c) of the addon share: the age
 * payload's constants (C2SP age spec, "Payload"), the STREAM nonce and the cipher handle; and the
 * registration of every source's functions on the one module (hash_files.c and scan_dir.c
 * included).
 */
#ifndef AGE_COMMON_H
#define AGE_COMMON_H

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#define CHUNK_SIZE 65536u
#define TAG_SIZE 16u
#define ENCRYPTED_CHUNK_SIZE (CHUNK_SIZE + TAG_SIZE)
#define KEY_SIZE 32u
#define NONCE_SIZE 12u
/* Chunk counters come from JS numbers: keep them exact (2^53 chunks is 2^69 bytes). */
#define MAX_COUNTER 9007199254740991.0

typedef enum { OP_SEAL, OP_OPEN } op_t;

/* ChaCha20-Poly1305 from node's OpenSSL, fetched once (thread-safe). */
const EVP_CIPHER *age_cipher(void);

/* Spec "Payload": nonce = 11-byte big-endian chunk counter || last-chunk flag. */
void age_set_nonce(uint8_t nonce[NONCE_SIZE], uint64_t counter, bool last);

/* Registers the file API's functions (age_file.c) on the addon's exports. */
bool age_file_register(napi_env env, napi_value exports);

/* Registers hashFiles (hash_files.c): SHA-256 of many small files on the thread pool. */
bool hash_files_register(napi_env env, napi_value exports);

/* Registers scanDir (scan_dir.c): one directory with every entry's lstat fields. */
bool scan_dir_register(napi_env env, napi_value exports);

#endif
