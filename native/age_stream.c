/*
 * age v1 payload STREAM (C2SP age spec, "Payload") in batches, for Node through N-API.
 *
 * Why native: node:crypto allocates a fresh output buffer and a new cipher object per 64 KiB
 * chunk, which costs more than the ChaCha20-Poly1305 itself. Here one call seals or opens many
 * consecutive chunks straight from the caller's input pieces into the caller's output buffer,
 * reusing one EVP_CIPHER_CTX (only the nonce is re-initialised per chunk).
 *
 * OpenSSL is the copy inside the `node` binary, which exports its symbols: the addon is not
 * linked against libcrypto, so the symbols resolve to node's own OpenSSL at load time and no
 * second OpenSSL can ever be mixed in. N-API version 8 keeps one build loadable by Node 20 and 24.
 *
 * JS interface (all throw TypeError/RangeError on misuse, synchronously, also the async ones;
 * never on authentication failure):
 *   seal(key, counter, final, pieces, output) -> bytes written to output
 *   open(key, counter, final, pieces, output) -> number of leading chunks that authenticated
 *   sealAsync / openAsync: the same on the libuv thread pool, returning a Promise of that number.
 *   tuneAllocator(mmapThreshold, trimThreshold): glibc malloc settings, see tune_allocator below.
 *   sealFile / openFile / createAbortToken / abort: whole files on worker threads (age_file.c).
 *   hashFiles: SHA-256 of a batch of small files on the thread pool (hash_files.c).
 * key: 32-byte payload key. counter: index of the first chunk (integer, 0 <= counter < 2^53).
 * final: whether the last chunk of this batch is the final chunk of the payload (last flag).
 * pieces: array of Uint8Array whose concatenation is the input (never copied or concatenated).
 * Plaintext chunks are 64 KiB, ciphertext chunks 64 KiB + 16; only a final batch may end with a
 * shorter chunk, and only a final batch of no plaintext seals one empty chunk.
 * open: plaintext of chunk i goes to output[i * 64 KiB]; on the first chunk that does not
 * authenticate it stops, zeroes that chunk's output range and returns its index.
 */
#include "age_common.h"
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* Enough for any batch the streams build; bounds the stack arrays of the async path. */
#define MAX_PIECES 1024u

typedef struct {
  const uint8_t *data;
  size_t length;
} piece_t;

/* A cursor over the input pieces: the stream's view of their concatenation. */
typedef struct {
  const piece_t *pieces;
  size_t count;
  size_t index;
  size_t offset;
} cursor_t;

typedef struct {
  op_t op;
  uint8_t key[KEY_SIZE];
  uint64_t counter;
  bool final;
  piece_t *pieces;
  size_t piece_count;
  size_t input_length;
  uint8_t *output;
  size_t output_length;
  /* Result: bytes written (seal) or chunks authenticated (open); error != NULL on failure. */
  size_t result;
  const char *error;
} job_t;

/*
 * The cipher, fetched from the default provider once: EVP_CipherInit_ex with the legacy
 * EVP_chacha20_poly1305() handle fetches it again (name map lookups, locks) on every call.
 */
static const EVP_CIPHER *chacha = NULL;
static pthread_once_t chacha_once = PTHREAD_ONCE_INIT;

static void fetch_cipher(void) {
  EVP_CIPHER *fetched = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
  chacha = fetched != NULL ? fetched : EVP_chacha20_poly1305();
}

const EVP_CIPHER *age_cipher(void) {
  pthread_once(&chacha_once, fetch_cipher);
  return chacha;
}

void age_set_nonce(uint8_t nonce[NONCE_SIZE], uint64_t counter, bool last) {
  /* 11-byte big-endian counter (the top 3 bytes are always zero here) || last-chunk flag. */
  nonce[0] = nonce[1] = nonce[2] = 0;
  for (int i = 10; i >= 3; i--) {
    nonce[i] = (uint8_t)(counter & 0xff);
    counter >>= 8;
  }
  nonce[11] = last ? 0x01 : 0x00;
}

/*
 * The next contiguous span of at most n input bytes: *data and the returned length. Advances the
 * cursor past it. Returns 0 only if the input is exhausted, which validate() rules out.
 */
static size_t cursor_next(cursor_t *cur, size_t n, const uint8_t **data) {
  while (cur->index < cur->count && cur->offset == cur->pieces[cur->index].length) {
    cur->index++;
    cur->offset = 0;
  }
  if (cur->index == cur->count) return 0;
  const piece_t *p = &cur->pieces[cur->index];
  size_t available = p->length - cur->offset;
  size_t take = available < n ? available : n;
  *data = p->data + cur->offset;
  cur->offset += take;
  return take;
}

/* Feeds the next n input bytes to the cipher, writing the same number of bytes to out. */
static bool cursor_update(EVP_CIPHER_CTX *ctx, cursor_t *cur, size_t n, uint8_t *out) {
  while (n > 0) {
    const uint8_t *data;
    size_t take = cursor_next(cur, n, &data);
    int written = 0;
    if (take == 0) return false;
    if (EVP_CipherUpdate(ctx, out, &written, data, (int)take) != 1) return false;
    if ((size_t)written != take) return false;
    out += take;
    n -= take;
  }
  return true;
}

/* Copies the next n input bytes (a tag, which may straddle pieces). */
static bool cursor_copy(cursor_t *cur, size_t n, uint8_t *out) {
  while (n > 0) {
    const uint8_t *data;
    size_t take = cursor_next(cur, n, &data);
    if (take == 0) return false;
    memcpy(out, data, take);
    out += take;
    n -= take;
  }
  return true;
}

static size_t chunk_count(size_t input_length, size_t chunk, bool final, bool seal) {
  if (input_length == 0) return seal && final ? 1 : 0;
  return (input_length + chunk - 1) / chunk;
}

/* Checks sizes; returns an error message or NULL. Runs on the JS thread, before any work. */
static const char *validate(const job_t *job) {
  size_t unit = job->op == OP_SEAL ? CHUNK_SIZE : ENCRYPTED_CHUNK_SIZE;
  size_t n = chunk_count(job->input_length, unit, job->final, job->op == OP_SEAL);
  if (!job->final && job->input_length % unit != 0)
    return "a batch that is not final must hold whole chunks only";
  if (job->op == OP_OPEN && n > 0) {
    size_t last = job->input_length - (n - 1) * unit;
    if (last < TAG_SIZE) return "the last chunk is shorter than its tag";
  }
  if ((double)job->counter + (double)n > MAX_COUNTER) return "STREAM chunk counter overflow";
  size_t needed =
      job->op == OP_SEAL ? job->input_length + n * TAG_SIZE : job->input_length - n * TAG_SIZE;
  if (job->output_length < needed) return "the output buffer is too small for this batch";
  return NULL;
}

static void run_job(job_t *job) {
  bool seal = job->op == OP_SEAL;
  size_t unit = seal ? CHUNK_SIZE : ENCRYPTED_CHUNK_SIZE;
  size_t n = chunk_count(job->input_length, unit, job->final, seal);
  cursor_t cur = {job->pieces, job->piece_count, 0, 0};
  uint8_t nonce[NONCE_SIZE];
  uint8_t tag[TAG_SIZE];
  uint8_t *out = job->output;
  size_t remaining = job->input_length;
  job->result = 0;
  if (n == 0) return;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL || EVP_CipherInit_ex(ctx, age_cipher(), NULL, job->key, NULL, seal ? 1 : 0) != 1) {
    job->error = "cannot initialise ChaCha20-Poly1305";
    EVP_CIPHER_CTX_free(ctx);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    size_t in_size = remaining < unit ? remaining : unit;
    size_t text_size = seal ? in_size : in_size - TAG_SIZE;
    int final_len = 0;
    age_set_nonce(nonce, job->counter + i, job->final && i == n - 1);
    /* Same cipher and key: re-initialising with only the nonce resets the Poly1305 state. */
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, -1) != 1) {
      job->error = "cannot set the ChaCha20-Poly1305 nonce";
      break;
    }
    if (seal) {
      if (!cursor_update(ctx, &cur, text_size, out) ||
          EVP_CipherFinal_ex(ctx, out + text_size, &final_len) != 1 ||
          EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_SIZE, out + text_size) != 1) {
        job->error = "ChaCha20-Poly1305 encryption failed";
        break;
      }
      out += text_size + TAG_SIZE;
      job->result += text_size + TAG_SIZE;
    } else {
      bool ok = cursor_update(ctx, &cur, text_size, out) && cursor_copy(&cur, TAG_SIZE, tag) &&
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_SIZE, tag) == 1 &&
                EVP_CipherFinal_ex(ctx, out + text_size, &final_len) == 1;
      if (!ok) {
        /* Not authentic: none of this chunk's bytes may reach the caller. */
        OPENSSL_cleanse(out, text_size);
        break;
      }
      out += text_size;
      job->result++;
    }
    remaining -= in_size;
  }
  EVP_CIPHER_CTX_free(ctx);
}

/* ---- N-API glue ------------------------------------------------------------------------- */

#define CHECK(env, call)                                                                       \
  do {                                                                                         \
    if ((call) != napi_ok) {                                                                   \
      napi_throw_error((env), NULL, "age_stream: N-API call failed: " #call);                 \
      return false;                                                                            \
    }                                                                                          \
  } while (0)

static bool get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length,
                      const char *what) {
  bool is_typed = false;
  CHECK(env, napi_is_typedarray(env, value, &is_typed));
  if (!is_typed) {
    napi_throw_type_error(env, NULL, what);
    return false;
  }
  napi_typedarray_type type;
  void *raw = NULL;
  CHECK(env, napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, what);
    return false;
  }
  *data = (uint8_t *)raw;
  return true;
}

/*
 * Reads the five arguments into job (pieces array allocated; caller frees) and, if refs is not
 * NULL, creates a reference to every buffer so they outlive an asynchronous call.
 */
static bool parse_args(napi_env env, napi_callback_info info, op_t op, job_t *job,
                       napi_ref *refs, size_t *ref_count) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 5) {
    napi_throw_type_error(env, NULL, "expected (key, counter, final, pieces, output)");
    return false;
  }
  memset(job, 0, sizeof(*job));
  job->op = op;
  uint8_t *key = NULL;
  size_t key_length = 0;
  if (!get_bytes(env, argv[0], &key, &key_length, "key must be a Uint8Array")) return false;
  if (key_length != KEY_SIZE) {
    napi_throw_range_error(env, NULL, "key must be 32 bytes");
    return false;
  }
  memcpy(job->key, key, KEY_SIZE);
  double counter = 0;
  /* The range test comes first and also rejects NaN, so the cast below is always defined. */
  if (napi_get_value_double(env, argv[1], &counter) != napi_ok ||
      !(counter >= 0 && counter <= MAX_COUNTER) || counter != (double)(uint64_t)counter) {
    napi_throw_range_error(env, NULL, "counter must be a safe non-negative integer");
    return false;
  }
  job->counter = (uint64_t)counter;
  CHECK(env, napi_get_value_bool(env, argv[2], &job->final));
  bool is_array = false;
  CHECK(env, napi_is_array(env, argv[3], &is_array));
  uint32_t count = 0;
  if (is_array) CHECK(env, napi_get_array_length(env, argv[3], &count));
  if (!is_array || count > MAX_PIECES) {
    napi_throw_type_error(env, NULL, "pieces must be an array of at most 1024 Uint8Arrays");
    return false;
  }
  job->pieces = calloc(count > 0 ? count : 1, sizeof(piece_t));
  if (job->pieces == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return false;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    uint8_t *data = NULL;
    size_t length = 0;
    CHECK(env, napi_get_element(env, argv[3], i, &element));
    if (!get_bytes(env, element, &data, &length, "pieces must hold Uint8Arrays only")) return false;
    if (length == 0) continue;
    job->pieces[job->piece_count].data = data;
    job->pieces[job->piece_count].length = length;
    job->piece_count++;
    job->input_length += length;
    if (refs != NULL) CHECK(env, napi_create_reference(env, element, 1, &refs[(*ref_count)++]));
  }
  if (!get_bytes(env, argv[4], &job->output, &job->output_length, "output must be a Uint8Array"))
    return false;
  if (refs != NULL) CHECK(env, napi_create_reference(env, argv[4], 1, &refs[(*ref_count)++]));
  const char *invalid = validate(job);
  if (invalid != NULL) {
    napi_throw_range_error(env, NULL, invalid);
    return false;
  }
  return true;
}

static napi_value run_sync(napi_env env, napi_callback_info info, op_t op) {
  job_t job = {0};
  napi_value result = NULL;
  if (parse_args(env, info, op, &job, NULL, NULL)) {
    run_job(&job);
    if (job.error != NULL) {
      napi_throw_error(env, NULL, job.error);
    } else {
      napi_create_double(env, (double)job.result, &result);
    }
  }
  OPENSSL_cleanse(job.key, KEY_SIZE);
  free(job.pieces);
  return result;
}

static napi_value seal_sync(napi_env env, napi_callback_info info) {
  return run_sync(env, info, OP_SEAL);
}

static napi_value open_sync(napi_env env, napi_callback_info info) {
  return run_sync(env, info, OP_OPEN);
}

typedef struct {
  job_t job;
  napi_async_work work;
  napi_deferred deferred;
  napi_ref refs[MAX_PIECES + 1];
  size_t ref_count;
} async_job_t;

static void free_async(napi_env env, async_job_t *a) {
  for (size_t i = 0; i < a->ref_count; i++) napi_delete_reference(env, a->refs[i]);
  OPENSSL_cleanse(a->job.key, KEY_SIZE);
  free(a->job.pieces);
  free(a);
}

static void execute_async(napi_env env, void *data) {
  (void)env;
  run_job(&((async_job_t *)data)->job);
}

static void complete_async(napi_env env, napi_status status, void *data) {
  async_job_t *a = data;
  napi_value value;
  if (status != napi_ok || a->job.error != NULL) {
    napi_value message;
    const char *text = a->job.error != NULL ? a->job.error : "age_stream: async work cancelled";
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &value);
    napi_reject_deferred(env, a->deferred, value);
  } else {
    napi_create_double(env, (double)a->job.result, &value);
    napi_resolve_deferred(env, a->deferred, value);
  }
  napi_delete_async_work(env, a->work);
  free_async(env, a);
}

static napi_value run_async(napi_env env, napi_callback_info info, op_t op) {
  async_job_t *a = calloc(1, sizeof(async_job_t));
  napi_value promise = NULL;
  napi_value name;
  if (a == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (!parse_args(env, info, op, &a->job, a->refs, &a->ref_count) ||
      napi_create_string_utf8(env, "age_stream", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_promise(env, &a->deferred, &promise) != napi_ok) {
    free_async(env, a);
    return NULL;
  }
  if (napi_create_async_work(env, NULL, name, execute_async, complete_async, a, &a->work) !=
          napi_ok ||
      napi_queue_async_work(env, a->work) != napi_ok) {
    /* Only if N-API itself fails: the promise is dropped and the caller gets a throw instead. */
    if (a->work != NULL) napi_delete_async_work(env, a->work);
    free_async(env, a);
    napi_throw_error(env, NULL, "age_stream: cannot queue async work");
    return NULL;
  }
  return promise;
}

static napi_value seal_async(napi_env env, napi_callback_info info) {
  return run_async(env, info, OP_SEAL);
}

static napi_value open_async(napi_env env, napi_callback_info info) {
  return run_async(env, info, OP_OPEN);
}

/*
 * tuneAllocator(mmapThreshold, trimThreshold) -> whether it applied (glibc only).
 * Every batch allocates a fresh 1 MiB output buffer (and fs streams a fresh 1 MiB read buffer).
 * With glibc's defaults those come from mmap or from heap memory that free() soon trims back to
 * the kernel, so each one is page-faulted and zeroed again: perf showed clear_page taking 25 % of
 * the CPU time of encrypting 1 GiB, more than Poly1305. A fixed mmap threshold above the buffer
 * size and a trim threshold of a few tens of MiB let freed buffers be reused as they are.
 */
static napi_value tune_allocator(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_value result;
  int64_t mmap_threshold = 0, trim_threshold = 0;
  bool applied = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_int64(env, argv[0], &mmap_threshold) != napi_ok ||
      napi_get_value_int64(env, argv[1], &trim_threshold) != napi_ok || mmap_threshold <= 0 ||
      trim_threshold <= 0 || mmap_threshold > (1 << 30) || trim_threshold > (1 << 30)) {
    napi_throw_type_error(env, NULL, "expected (mmapThreshold, trimThreshold) in bytes");
    return NULL;
  }
#ifdef __GLIBC__
  applied = mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) == 1 &&
            mallopt(M_TRIM_THRESHOLD, (int)trim_threshold) == 1;
#endif
  napi_get_boolean(env, applied, &result);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
      {"seal", NULL, seal_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, open_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealAsync", NULL, seal_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openAsync", NULL, open_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tuneAllocator", NULL, tune_allocator, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok ||
      !age_file_register(env, exports) || !hash_files_register(env, exports) ||
      !scan_dir_register(env, exports))
    return NULL;
  return exports;
}
