/*
 * The age payload STREAM from one file descriptor to another, entirely off the JS thread:
 * encryptFile / decryptFile (src/crypto/file.ts) write or parse the header in JS and hand the
 * payload over to this.
 *
 * Why: through Node streams every MiB is read into a fresh Buffer and sealed into another fresh
 * one, so the kernel's copy and the cipher both write to memory that is not in any cache (and
 * often not even mapped yet), the JS thread wakes up several times per MiB, and the work of two
 * cores does not add up to much more than the age CLI's one. Here each worker thread owns two
 * small buffers that stay in its core's cache for the whole file, and does a whole block: read
 * (in turn), seal or open, write (in turn). With one worker per core, reads, writes and the
 * cipher of different blocks overlap without any hand-off between threads.
 *
 * Order and the last-chunk flag: blocks are numbered as they are read; a block may be written
 * only after every earlier one, so the output is sequential (pipes and /dev/null work). Whether a
 * block is the last is known by reading one byte past it (kept for the next block): the payload's
 * final chunk is the one the input ends in, exactly as the stream implementation decides it.
 *
 * Failures are reported in payload order: when a block fails (I/O error, or a chunk that does not
 * authenticate), it is reported only once every earlier block was written, nothing of it or of any
 * later block is written, and the job stops. A decryption failure is described with the facts the
 * stream implementation uses for its messages (see src/crypto/age/payload-errors.ts).
 *
 * JS interface (TypeError/RangeError on misuse, synchronously):
 *   sealFile(key, inFd, outFd, threads, blockChunks, abortToken) -> Promise<FileResult>
 *   openFile(key, inFd, outFd, threads, blockChunks, abortToken, prefix) -> Promise<FileResult>
 *   createAbortToken() -> token; abort(token): stops a job at its next block.
 * prefix: payload bytes the caller already read past the header (read before inFd's position).
 * FileResult: { outcome, errno, index, finalChunk, flippedAuthenticates, bytesIn, bytesOut }
 *   outcome: "ok" | "read-error" | "write-error" | "aborted" | "auth" | "short-final" |
 *            "empty-payload" | "empty-final" (the last four only when opening).
 */
#define _GNU_SOURCE
#include "age_common.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 16u
#define MAX_BLOCK_CHUNKS 256u

typedef enum {
  OUT_OK,
  OUT_READ_ERROR,
  OUT_WRITE_ERROR,
  OUT_ABORTED,
  OUT_AUTH,
  OUT_SHORT_FINAL,
  OUT_EMPTY_PAYLOAD,
  OUT_EMPTY_FINAL,
  OUT_INTERNAL,
} outcome_t;

static const char *outcome_name(outcome_t outcome) {
  switch (outcome) {
    case OUT_OK: return "ok";
    case OUT_READ_ERROR: return "read-error";
    case OUT_WRITE_ERROR: return "write-error";
    case OUT_ABORTED: return "aborted";
    case OUT_AUTH: return "auth";
    case OUT_SHORT_FINAL: return "short-final";
    case OUT_EMPTY_PAYLOAD: return "empty-payload";
    case OUT_EMPTY_FINAL: return "empty-final";
    default: return "internal";
  }
}

/* Shared by a job and the JS object that can abort it; freed by whichever lets go last. */
typedef struct {
  uint32_t magic;
  atomic_bool aborted;
  atomic_int refs;
} abort_token_t;

/* Tells our tokens from any other external value handed in. */
#define TOKEN_MAGIC 0x61676521u

static void token_release(abort_token_t *token) {
  if (token != NULL && atomic_fetch_sub(&token->refs, 1) == 1) free(token);
}

/* What one block came to; decided by its worker, published when it is the block's turn. */
typedef struct {
  outcome_t outcome;
  int err;
  uint64_t index;
  bool final_chunk;
  bool flipped;
} verdict_t;

typedef struct {
  op_t op;
  uint8_t key[KEY_SIZE];
  int in_fd;
  int out_fd;
  size_t block_chunks;
  unsigned threads;
  pthread_t tids[MAX_THREADS];
  unsigned started;
  abort_token_t *token;

  /* Reading, in turn (read_mu). */
  pthread_mutex_t read_mu;
  uint64_t next_seq;
  uint64_t next_counter;
  bool read_done;
  uint8_t carry;
  bool has_carry;
  uint8_t *prefix;
  size_t prefix_length;
  size_t prefix_offset;
  uint64_t bytes_in;

  /* Writing, in turn (write_mu): block write_seq is the next to be written or to fail. */
  pthread_mutex_t write_mu;
  pthread_cond_t write_cv;
  uint64_t write_seq;
  bool stopped;
  uint64_t bytes_out;
  verdict_t verdict;

  atomic_uint running;
  napi_threadsafe_function tsfn;
  napi_deferred deferred;
} file_job_t;

typedef struct {
  uint64_t seq;
  uint64_t counter;
  size_t length;
  bool final;
  int read_err;
} block_t;

static void stop_job(file_job_t *job, const verdict_t *verdict);

/* ---- I/O ---------------------------------------------------------------------------------- */

/* Waits until fd is ready; Node may hand over non-blocking descriptors (pipes, stdio). */
static void wait_ready(int fd, short events) {
  struct pollfd p = {fd, events, 0};
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

/* Reads up to n bytes; returns the count (0 at end of input) or -1 with errno set. */
static ssize_t read_some(int fd, uint8_t *buf, size_t n) {
  for (;;) {
    ssize_t r = read(fd, buf, n);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_ready(fd, POLLIN);
      continue;
    }
    return -1;
  }
}

static int write_all(int fd, const uint8_t *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w > 0) {
      buf += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wait_ready(fd, POLLOUT);
      continue;
    }
    return w < 0 ? errno : EIO;
  }
  return 0;
}

/*
 * The input's next bytes, up to want: first the byte read ahead for the previous block, then the
 * caller's prefix, then the file. Stops early only at end of input or on an error.
 */
static size_t fill(file_job_t *job, uint8_t *buf, size_t want, int *err) {
  size_t n = 0;
  if (job->has_carry && want > 0) {
    buf[n++] = job->carry;
    job->has_carry = false;
  }
  if (job->prefix_offset < job->prefix_length && n < want) {
    size_t available = job->prefix_length - job->prefix_offset;
    size_t take = available < want - n ? available : want - n;
    memcpy(buf + n, job->prefix + job->prefix_offset, take);
    job->prefix_offset += take;
    n += take;
  }
  while (n < want) {
    ssize_t r = read_some(job->in_fd, buf + n, want - n);
    if (r < 0) {
      *err = errno;
      break;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  return n;
}

/*
 * Takes the next block of the input (buf holds capacity + 1 bytes: one more is read to learn
 * whether anything follows). False when there is nothing left to take.
 */
static bool read_block(file_job_t *job, uint8_t *buf, size_t capacity, block_t *block) {
  pthread_mutex_lock(&job->read_mu);
  if (job->read_done) {
    pthread_mutex_unlock(&job->read_mu);
    return false;
  }
  if (atomic_load(&job->token->aborted)) {
    pthread_mutex_unlock(&job->read_mu);
    verdict_t verdict = {OUT_ABORTED, 0, 0, false, false};
    stop_job(job, &verdict);
    return false;
  }
  int err = 0;
  size_t n = fill(job, buf, capacity + 1, &err);
  block->seq = job->next_seq++;
  block->counter = job->next_counter;
  block->read_err = err;
  if (err == 0 && n == capacity + 1) {
    job->carry = buf[capacity];
    job->has_carry = true;
    n = capacity;
    block->final = false;
  } else {
    block->final = true;
    job->read_done = true;
  }
  block->length = n;
  size_t unit = job->op == OP_SEAL ? CHUNK_SIZE : ENCRYPTED_CHUNK_SIZE;
  job->next_counter += (n + unit - 1) / unit;
  job->bytes_in += n;
  pthread_mutex_unlock(&job->read_mu);
  return true;
}

/* ---- cipher ------------------------------------------------------------------------------- */

static size_t seal_block(EVP_CIPHER_CTX *ctx, const block_t *block, const uint8_t *in,
                         uint8_t *out, verdict_t *verdict) {
  size_t length = block->length;
  /* Only a final block can be empty (a non-final one ends with a byte read ahead), and only
   * the first: an empty payload is one empty final chunk. */
  size_t chunks = length == 0 ? 1 : (length + CHUNK_SIZE - 1) / CHUNK_SIZE;
  size_t written = 0;
  uint8_t nonce[NONCE_SIZE];
  for (size_t i = 0; i < chunks; i++) {
    size_t size = length - i * CHUNK_SIZE < CHUNK_SIZE ? length - i * CHUNK_SIZE : CHUNK_SIZE;
    int n = 0;
    age_set_nonce(nonce, block->counter + i, block->final && i == chunks - 1);
    if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, -1) != 1 ||
        EVP_CipherUpdate(ctx, out + written, &n, in + i * CHUNK_SIZE, (int)size) != 1 ||
        (size_t)n != size || EVP_CipherFinal_ex(ctx, out + written + size, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_SIZE, out + written + size) != 1) {
      verdict->outcome = OUT_INTERNAL;
      return 0;
    }
    written += size + TAG_SIZE;
  }
  return written;
}

/* Whether one encrypted chunk authenticates as chunk `counter` with the given last flag. */
static bool open_chunk(EVP_CIPHER_CTX *ctx, uint64_t counter, bool last, const uint8_t *in,
                       size_t size, uint8_t *out) {
  uint8_t nonce[NONCE_SIZE];
  uint8_t tag[TAG_SIZE];
  size_t text = size - TAG_SIZE;
  int n = 0;
  age_set_nonce(nonce, counter, last);
  memcpy(tag, in + text, TAG_SIZE);
  bool ok = EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, -1) == 1 &&
            EVP_CipherUpdate(ctx, out, &n, in, (int)text) == 1 && (size_t)n == text &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_SIZE, tag) == 1 &&
            EVP_CipherFinal_ex(ctx, out + text, &n) == 1;
  if (!ok) OPENSSL_cleanse(out, text);
  return ok;
}

/*
 * Opens every chunk of a block in order, stopping at the first problem, with the same rules and
 * order of checks as the stream implementation (src/crypto/decrypt.ts).
 */
static size_t open_block(EVP_CIPHER_CTX *ctx, const block_t *block, const uint8_t *in,
                         uint8_t *out, verdict_t *verdict) {
  size_t length = block->length;
  if (length == 0) {
    /* Only possible for a first, final block: nothing after the payload nonce. */
    verdict->outcome = OUT_EMPTY_PAYLOAD;
    return 0;
  }
  size_t chunks = (length + ENCRYPTED_CHUNK_SIZE - 1) / ENCRYPTED_CHUNK_SIZE;
  size_t written = 0;
  for (size_t i = 0; i < chunks; i++) {
    size_t offset = i * ENCRYPTED_CHUNK_SIZE;
    size_t size = length - offset < ENCRYPTED_CHUNK_SIZE ? length - offset : ENCRYPTED_CHUNK_SIZE;
    bool last = block->final && i == chunks - 1;
    uint64_t index = block->counter + i;
    verdict->index = index;
    verdict->final_chunk = last;
    if (size < TAG_SIZE) {
      verdict->outcome = OUT_SHORT_FINAL;
      return 0;
    }
    if (!open_chunk(ctx, index, last, in + offset, size, out + written)) {
      /* Why it failed: a full chunk that opens with the other flag was cut at or followed by a
       * chunk boundary (see the stream implementation's explainFailure). */
      verdict->outcome = OUT_AUTH;
      verdict->flipped = size == ENCRYPTED_CHUNK_SIZE &&
                         open_chunk(ctx, index, !last, in + offset, size, out + written);
      OPENSSL_cleanse(out + written, size - TAG_SIZE);
      return 0;
    }
    written += size - TAG_SIZE;
    if (last && size == TAG_SIZE && index > 0) {
      verdict->outcome = OUT_EMPTY_FINAL;
      return 0;
    }
  }
  return written;
}

/* ---- workers ------------------------------------------------------------------------------ */

/* Waits for block seq's turn; false if the job stopped meanwhile (an earlier block failed). */
static bool await_turn(file_job_t *job, uint64_t seq) {
  pthread_mutex_lock(&job->write_mu);
  while (job->write_seq != seq && !job->stopped) pthread_cond_wait(&job->write_cv, &job->write_mu);
  bool turn = !job->stopped;
  pthread_mutex_unlock(&job->write_mu);
  return turn;
}

/* Ends the job with a verdict (the first one published wins), waking every waiting worker. */
static void stop_job(file_job_t *job, const verdict_t *verdict) {
  pthread_mutex_lock(&job->write_mu);
  if (!job->stopped) {
    job->stopped = true;
    job->verdict = *verdict;
  }
  pthread_cond_broadcast(&job->write_cv);
  pthread_mutex_unlock(&job->write_mu);
  /* No worker may start another block. */
  pthread_mutex_lock(&job->read_mu);
  job->read_done = true;
  pthread_mutex_unlock(&job->read_mu);
}

static void finish_worker(file_job_t *job) {
  if (atomic_fetch_sub(&job->running, 1) == 1)
    napi_call_threadsafe_function(job->tsfn, NULL, napi_tsfn_nonblocking);
}

static void *worker(void *arg) {
  file_job_t *job = arg;
  bool seal = job->op == OP_SEAL;
  size_t in_capacity = job->block_chunks * (seal ? CHUNK_SIZE : ENCRYPTED_CHUNK_SIZE);
  size_t out_capacity = job->block_chunks * (seal ? ENCRYPTED_CHUNK_SIZE : CHUNK_SIZE);
  uint8_t *in = malloc(in_capacity + 1);
  uint8_t *out = malloc(out_capacity);
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (in == NULL || out == NULL || ctx == NULL ||
      EVP_CipherInit_ex(ctx, age_cipher(), NULL, job->key, NULL, seal ? 1 : 0) != 1) {
    verdict_t verdict = {OUT_INTERNAL, 0, 0, false, false};
    stop_job(job, &verdict);
  } else {
    block_t block;
    while (read_block(job, in, in_capacity, &block)) {
      verdict_t verdict = {OUT_OK, 0, 0, false, false};
      size_t produced = 0;
      if (block.read_err != 0) {
        verdict.outcome = OUT_READ_ERROR;
        verdict.err = block.read_err;
      } else {
        produced = seal ? seal_block(ctx, &block, in, out, &verdict)
                        : open_block(ctx, &block, in, out, &verdict);
      }
      if (!await_turn(job, block.seq)) break;
      if (verdict.outcome == OUT_OK && atomic_load(&job->token->aborted))
        verdict.outcome = OUT_ABORTED;
      if (verdict.outcome == OUT_OK) {
        int err = write_all(job->out_fd, out, produced);
        if (err != 0) {
          verdict.outcome = OUT_WRITE_ERROR;
          verdict.err = err;
        }
      }
      if (verdict.outcome != OUT_OK) {
        stop_job(job, &verdict);
        break;
      }
      pthread_mutex_lock(&job->write_mu);
      job->bytes_out += produced;
      job->write_seq++;
      pthread_cond_broadcast(&job->write_cv);
      pthread_mutex_unlock(&job->write_mu);
    }
  }
  if (in != NULL) OPENSSL_cleanse(in, in_capacity + 1);
  if (out != NULL) OPENSSL_cleanse(out, out_capacity);
  free(in);
  free(out);
  EVP_CIPHER_CTX_free(ctx);
  finish_worker(job);
  return NULL;
}

/* ---- N-API glue --------------------------------------------------------------------------- */

static void free_job(file_job_t *job) {
  OPENSSL_cleanse(job->key, KEY_SIZE);
  if (job->prefix != NULL) OPENSSL_cleanse(job->prefix, job->prefix_length);
  free(job->prefix);
  token_release(job->token);
  pthread_mutex_destroy(&job->read_mu);
  pthread_mutex_destroy(&job->write_mu);
  pthread_cond_destroy(&job->write_cv);
  free(job);
}

static void set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value v;
  if (napi_create_double(env, value, &v) == napi_ok) napi_set_named_property(env, object, name, v);
}

static void set_bool(napi_env env, napi_value object, const char *name, bool value) {
  napi_value v;
  if (napi_get_boolean(env, value, &v) == napi_ok) napi_set_named_property(env, object, name, v);
}

/* On the JS thread once every worker has returned: settles the promise and frees the job. */
static void complete(napi_env env, napi_value js_callback, void *context, void *data) {
  (void)js_callback;
  (void)data;
  file_job_t *job = context;
  for (unsigned i = 0; i < job->started; i++) pthread_join(job->tids[i], NULL);
  if (env != NULL) {
    napi_value result, outcome;
    /* Neither stopped nor failed: every block was written, the last one with the final chunk. */
    const verdict_t *v = &job->verdict;
    napi_create_object(env, &result);
    napi_create_string_utf8(env, outcome_name(job->stopped ? v->outcome : OUT_OK), NAPI_AUTO_LENGTH,
                            &outcome);
    napi_set_named_property(env, result, "outcome", outcome);
    set_number(env, result, "errno", v->err);
    set_number(env, result, "index", (double)v->index);
    set_bool(env, result, "finalChunk", v->final_chunk);
    set_bool(env, result, "flippedAuthenticates", v->flipped);
    set_number(env, result, "bytesIn", (double)job->bytes_in);
    set_number(env, result, "bytesOut", (double)job->bytes_out);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_release_threadsafe_function(job->tsfn, napi_tsfn_release);
  free_job(job);
}

static bool get_int(napi_env env, napi_value value, int64_t min, int64_t max, int64_t *out,
                    const char *message) {
  if (napi_get_value_int64(env, value, out) != napi_ok || *out < min || *out > max) {
    napi_throw_range_error(env, NULL, message);
    return false;
  }
  return true;
}

static void token_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  token_release(data);
}

static napi_value create_abort_token(napi_env env, napi_callback_info info) {
  (void)info;
  abort_token_t *token = calloc(1, sizeof(*token));
  napi_value external;
  if (token == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  token->magic = TOKEN_MAGIC;
  atomic_init(&token->aborted, false);
  atomic_init(&token->refs, 1);
  if (napi_create_external(env, token, token_finalize, NULL, &external) != napi_ok) {
    free(token);
    napi_throw_error(env, NULL, "age_file: cannot create an abort token");
    return NULL;
  }
  return external;
}

static abort_token_t *get_token(napi_env env, napi_value value) {
  napi_valuetype type;
  void *data = NULL;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, value, &data) != napi_ok || data == NULL ||
      ((abort_token_t *)data)->magic != TOKEN_MAGIC) {
    napi_throw_type_error(env, NULL, "expected an abort token from createAbortToken()");
    return NULL;
  }
  return data;
}

static napi_value abort_job(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) {
    napi_throw_type_error(env, NULL, "expected (token)");
    return NULL;
  }
  abort_token_t *token = get_token(env, argv[0]);
  if (token != NULL) atomic_store(&token->aborted, true);
  return NULL;
}

static napi_value run_file(napi_env env, napi_callback_info info, op_t op) {
  size_t argc = 7;
  napi_value argv[7];
  size_t expected = op == OP_SEAL ? 6 : 7;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != expected) {
    napi_throw_type_error(env, NULL,
                          op == OP_SEAL
                              ? "expected (key, inFd, outFd, threads, blockChunks, abortToken)"
                              : "expected (key, inFd, outFd, threads, blockChunks, abortToken, prefix)");
    return NULL;
  }
  bool is_typed = false;
  napi_typedarray_type type;
  size_t key_length = 0;
  void *key = NULL;
  if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &key_length, &key, NULL, NULL) != napi_ok ||
      type != napi_uint8_array || key_length != KEY_SIZE) {
    napi_throw_type_error(env, NULL, "key must be a 32-byte Uint8Array");
    return NULL;
  }
  int64_t in_fd, out_fd, threads, block_chunks;
  if (!get_int(env, argv[1], 0, INT32_MAX, &in_fd, "inFd must be a file descriptor") ||
      !get_int(env, argv[2], 0, INT32_MAX, &out_fd, "outFd must be a file descriptor") ||
      !get_int(env, argv[3], 1, MAX_THREADS, &threads, "threads must be 1 to 16") ||
      !get_int(env, argv[4], 1, MAX_BLOCK_CHUNKS, &block_chunks, "blockChunks must be 1 to 256"))
    return NULL;
  abort_token_t *token = get_token(env, argv[5]);
  if (token == NULL) return NULL;
  uint8_t *prefix_data = NULL;
  size_t prefix_length = 0;
  if (op == OP_OPEN) {
    void *raw = NULL;
    if (napi_is_typedarray(env, argv[6], &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, argv[6], &type, &prefix_length, &raw, NULL, NULL) !=
            napi_ok ||
        type != napi_uint8_array) {
      napi_throw_type_error(env, NULL, "prefix must be a Uint8Array");
      return NULL;
    }
    prefix_data = raw;
  }

  file_job_t *job = calloc(1, sizeof(*job));
  if (job == NULL || (prefix_length > 0 && (job->prefix = malloc(prefix_length)) == NULL)) {
    free(job);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  job->op = op;
  memcpy(job->key, key, KEY_SIZE);
  job->in_fd = (int)in_fd;
  job->out_fd = (int)out_fd;
  job->threads = (unsigned)threads;
  job->block_chunks = (size_t)block_chunks;
  atomic_fetch_add(&token->refs, 1);
  job->token = token;
  if (prefix_length > 0) memcpy(job->prefix, prefix_data, prefix_length);
  job->prefix_length = prefix_length;
  pthread_mutex_init(&job->read_mu, NULL);
  pthread_mutex_init(&job->write_mu, NULL);
  pthread_cond_init(&job->write_cv, NULL);
#ifdef POSIX_FADV_SEQUENTIAL
  /* The kernel reads further ahead for a file read front to back; advisory only. */
  posix_fadvise(job->in_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif

  napi_value promise, name;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "age_file", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, job, complete,
                                      &job->tsfn) != napi_ok) {
    free_job(job);
    napi_throw_error(env, NULL, "age_file: cannot set up the job");
    return NULL;
  }
  atomic_init(&job->running, job->threads);
  for (unsigned i = 0; i < job->threads; i++) {
    if (pthread_create(&job->tids[i], NULL, worker, job) != 0) {
      /* The workers already started finish the job alone; the missing ones count as done. */
      unsigned missing = job->threads - i;
      if (i == 0) {
        verdict_t verdict = {OUT_INTERNAL, EAGAIN, 0, false, false};
        stop_job(job, &verdict);
      }
      if (atomic_fetch_sub(&job->running, missing) == missing)
        napi_call_threadsafe_function(job->tsfn, NULL, napi_tsfn_nonblocking);
      break;
    }
    job->started++;
  }
  return promise;
}

static napi_value seal_file(napi_env env, napi_callback_info info) {
  return run_file(env, info, OP_SEAL);
}

static napi_value open_file(napi_env env, napi_callback_info info) {
  return run_file(env, info, OP_OPEN);
}

bool age_file_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sealFile", NULL, seal_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openFile", NULL, open_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"createAbortToken", NULL, create_abort_token, NULL, NULL, NULL, napi_enumerable, NULL},
      {"abort", NULL, abort_job, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok;
}
