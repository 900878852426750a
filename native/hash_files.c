/*
 * SHA-256 of many small files on the libuv thread pool, for a files snapshot's manifest
 * (hashLocalFiles in src/kinds/files/local-tree.ts).
 *
 * Why native: a snapshot of 10,000 small files costs 10,000 × (open, read, close, sha256), not
 * bytes. In JS those run one after the other on the event-loop thread (through fs/promises each
 * syscall would cost a thread-pool round trip several times its own price), so one core works
 * and the other idles. Here one call takes a whole batch and splits it into as many contiguous
 * ranges as the pool has threads; each range runs as one work item, with one read buffer and one
 * digest context reused for all of its files.
 *
 * JS interface:
 *   hashFiles(root, paths, sizes) -> Promise<Buffer>
 * Hashes each `root + "/" + paths[i]` and resolves with paths.length × 32 bytes: the digests in
 * input order. sizes[i] is the size the file was scanned at; the semantics are those of
 * hashSmallFileSync: open with O_NOFOLLOW, read sizes[i] + 1 bytes, and only if that did not
 * return exactly sizes[i] bytes (the file grew or shrank since) read on to end of file, so the
 * digest is of every byte the file holds when it is read.
 * Misuse (types, paths.length !== sizes.length, a size that is not a non-negative safe integer)
 * throws TypeError synchronously. A NUL byte in root or a path rejects with a TypeError whose code
 * is ERR_INVALID_ARG_VALUE (as node:fs does). An open or read error rejects with an Error like
 * node:fs's: message `ENOENT: no such file or directory, open '<path>'`, with code, errno
 * (negative, libuv's), syscall and path; it is the failing file that comes first in input order.
 */
#define _GNU_SOURCE
#include "age_common.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define DIGEST_SIZE 32u
/* hashSmallFileSync's buffer: the largest "small" file (1 MiB) plus the byte that proves EOF. */
#define MAX_BUFFER (1024u * 1024u + 1u)
/* Reading on after a size change uses at least this much, not a few bytes at a time. */
#define MIN_BUFFER (64u * 1024u)
/* libuv's own bounds for UV_THREADPOOL_SIZE. */
#define DEFAULT_POOL 4u
#define MAX_POOL 1024u

typedef struct batch batch_t;

/* One contiguous range of the batch, hashed by one work item. */
typedef struct {
  batch_t *batch;
  napi_async_work work;
  size_t start;
  size_t end;
  /* The range's first failing file (SIZE_MAX: none), its errno and the failed call. */
  size_t failed;
  int error;
  const char *syscall;
} item_t;

struct batch {
  char *root;
  size_t root_length;
  /* The relative paths, NUL-terminated, back to back; path i starts at names + offsets[i]. */
  char *names;
  size_t *offsets;
  uint64_t *sizes;
  size_t count;
  uint8_t *digests;
  /* The lowest failing index any item has found: items stop once they are past it. */
  atomic_size_t first_failure;
  napi_deferred deferred;
  /* Items not completed yet; only touched on the JS thread. */
  size_t pending;
  size_t item_count;
  item_t items[];
};

static const EVP_MD *sha256 = NULL;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/* Fetched once: the legacy EVP_sha256() handle is looked up again on every EVP_DigestInit_ex. */
static void fetch_sha256(void) {
  EVP_MD *fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
  sha256 = fetched != NULL ? fetched : EVP_sha256();
}

static void free_batch(batch_t *b) {
  if (b == NULL) return;
  free(b->root);
  free(b->names);
  free(b->offsets);
  free(b->sizes);
  free(b->digests);
  free(b);
}

/* The pool's thread count as libuv sizes it: UV_THREADPOOL_SIZE, default 4, within 1..1024. */
static size_t pool_size(void) {
  const char *value = getenv("UV_THREADPOOL_SIZE");
  if (value == NULL || *value == '\0') return DEFAULT_POOL;
  unsigned long parsed = strtoul(value, NULL, 10);
  if (parsed == 0) return 1;
  return parsed > MAX_POOL ? MAX_POOL : (size_t)parsed;
}

static void fail(item_t *item, size_t index, int error, const char *syscall) {
  item->failed = index;
  item->error = error;
  item->syscall = syscall;
  size_t seen = atomic_load(&item->batch->first_failure);
  while (index < seen &&
         !atomic_compare_exchange_weak(&item->batch->first_failure, &seen, index)) {
  }
}

static ssize_t read_retrying(int fd, uint8_t *buffer, size_t length) {
  ssize_t got;
  do {
    got = read(fd, buffer, length);
  } while (got < 0 && errno == EINTR);
  return got;
}

/*
 * Hashes one open file into digest; returns 0 or the errno of the failed read (a digest call
 * failing, which OpenSSL's SHA-256 does not do short of memory corruption, counts as EIO).
 */
static int hash_fd(int fd, uint64_t size, uint8_t *buffer, size_t capacity, EVP_MD_CTX *ctx,
                   uint8_t *digest) {
  if (EVP_DigestInit_ex(ctx, sha256, NULL) != 1) return EIO;
  size_t want = size < capacity ? (size_t)size + 1 : capacity;
  ssize_t got = read_retrying(fd, buffer, want);
  if (got < 0) return errno;
  if (EVP_DigestUpdate(ctx, buffer, (size_t)got) != 1) return EIO;
  /* Exactly `size` bytes when size + 1 were asked for is end of file; anything else reads on. */
  if (!((uint64_t)got == size && size < want)) {
    while ((got = read_retrying(fd, buffer, capacity)) > 0)
      if (EVP_DigestUpdate(ctx, buffer, (size_t)got) != 1) return EIO;
    if (got < 0) return errno;
  }
  return EVP_DigestFinal_ex(ctx, digest, NULL) == 1 ? 0 : EIO;
}

static void execute_item(napi_env env, void *data) {
  (void)env;
  item_t *item = data;
  batch_t *b = item->batch;
  size_t capacity = MIN_BUFFER, longest = 0;
  for (size_t i = item->start; i < item->end; i++) {
    if (b->sizes[i] + 1 > capacity)
      capacity = b->sizes[i] >= MAX_BUFFER ? MAX_BUFFER : (size_t)b->sizes[i] + 1;
    size_t length = b->offsets[i + 1] - b->offsets[i] - 1;
    if (length > longest) longest = length;
  }
  uint8_t *buffer = malloc(capacity);
  char *path = malloc(b->root_length + longest + 2);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (buffer == NULL || path == NULL || ctx == NULL) {
    fail(item, item->start, ENOMEM, "malloc");
  } else {
    memcpy(path, b->root, b->root_length);
    path[b->root_length] = '/';
    for (size_t i = item->start; i < item->end; i++) {
      /* An earlier file failed already: it is the one reported, the rest is wasted work. */
      if (atomic_load_explicit(&b->first_failure, memory_order_relaxed) < i) break;
      const char *name = b->names + b->offsets[i];
      memcpy(path + b->root_length + 1, name, b->offsets[i + 1] - b->offsets[i]);
      int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        fail(item, i, errno, "open");
        break;
      }
      int error = hash_fd(fd, b->sizes[i], buffer, capacity, ctx, b->digests + i * DIGEST_SIZE);
      close(fd);
      if (error != 0) {
        fail(item, i, error, "read");
        break;
      }
    }
  }
  EVP_MD_CTX_free(ctx);
  free(path);
  free(buffer);
}

static napi_value string_value(napi_env env, const char *text) {
  napi_value value = NULL;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value);
  return value;
}

/* An Error as node:fs builds it: `CODE: description, syscall 'path'`, code, errno, syscall, path */
static napi_value errno_error(napi_env env, int error, const char *syscall, const char *path) {
  int uv_code = uv_translate_sys_error(error);
  const char *code = uv_err_name(uv_code);
  const char *description = uv_strerror(uv_code);
  size_t length = strlen(code) + strlen(description) + strlen(syscall) + strlen(path) + 16;
  char *message = malloc(length);
  napi_value result = NULL, errno_value = NULL;
  if (message == NULL) return NULL;
  snprintf(message, length, "%s: %s, %s '%s'", code, description, syscall, path);
  napi_create_error(env, string_value(env, code), string_value(env, message), &result);
  free(message);
  napi_create_int32(env, uv_code, &errno_value);
  napi_set_named_property(env, result, "errno", errno_value);
  napi_set_named_property(env, result, "syscall", string_value(env, syscall));
  napi_set_named_property(env, result, "path", string_value(env, path));
  return result;
}

static void settle(napi_env env, batch_t *b) {
  napi_value value = NULL;
  item_t *failed = NULL;
  /* Ranges are in input order: the first item that failed holds the first failing file. */
  for (size_t i = 0; i < b->item_count && failed == NULL; i++)
    if (b->items[i].failed != SIZE_MAX) failed = &b->items[i];
  if (failed != NULL) {
    const char *name = b->names + b->offsets[failed->failed];
    size_t length = b->root_length + strlen(name) + 2;
    char *path = malloc(length);
    if (path != NULL) snprintf(path, length, "%s/%s", b->root, name);
    value = path == NULL ? NULL : errno_error(env, failed->error, failed->syscall, path);
    free(path);
    if (value == NULL)
      napi_create_error(env, NULL, string_value(env, "hashFiles: out of memory"), &value);
    napi_reject_deferred(env, b->deferred, value);
  } else if (napi_create_buffer_copy(env, b->count * DIGEST_SIZE, b->digests, NULL, &value) ==
             napi_ok) {
    napi_resolve_deferred(env, b->deferred, value);
  } else {
    napi_create_error(env, NULL, string_value(env, "hashFiles: cannot create the result"), &value);
    napi_reject_deferred(env, b->deferred, value);
  }
  free_batch(b);
}

static void complete_item(napi_env env, napi_status status, void *data) {
  item_t *item = data;
  batch_t *b = item->batch;
  napi_delete_async_work(env, item->work);
  /* Not run (only if N-API cancels it): report it as the range's first file failing. */
  if (status != napi_ok && item->failed == SIZE_MAX) fail(item, item->start, ECANCELED, "hash");
  if (--b->pending == 0) settle(env, b);
}

/* ---- Arguments ------------------------------------------------------------------------- */

/*
 * Copies a JS string (UTF-8) to *out (malloc'd, NUL-terminated) and its length to *length.
 * *has_nul tells whether it holds a NUL (which no path can). Throws TypeError if not a string.
 */
static bool copy_string(napi_env env, napi_value value, char **out, size_t *length, bool *has_nul,
                        const char *what) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    napi_throw_type_error(env, NULL, what);
    return false;
  }
  size_t size = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &size) != napi_ok ||
      (*out = malloc(size + 1)) == NULL ||
      napi_get_value_string_utf8(env, value, *out, size + 1, &size) != napi_ok) {
    napi_throw_error(env, NULL, "hashFiles: cannot read a string argument");
    return false;
  }
  *length = size;
  *has_nul = strlen(*out) != size;
  return true;
}

static bool array_length(napi_env env, napi_value value, uint32_t *length) {
  bool is_array = false;
  return napi_is_array(env, value, &is_array) == napi_ok && is_array &&
         napi_get_array_length(env, value, length) == napi_ok;
}

/* No path holds a NUL (parse_args); else the index of the first that does, ROOT_NUL for root. */
#define NO_NUL SIZE_MAX
#define ROOT_NUL (SIZE_MAX - 1)

/*
 * Reads (root, paths, sizes) into a new batch with room for its work items. Throws (and returns
 * NULL) on misuse; *nul is set to which path holds a NUL byte, if any (see NO_NUL).
 */
static batch_t *parse_args(napi_env env, napi_callback_info info, size_t *nul) {
  size_t argc = 3;
  napi_value argv[3];
  uint32_t count = 0, sizes_count = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 ||
      !array_length(env, argv[1], &count) || !array_length(env, argv[2], &sizes_count) ||
      count != sizes_count) {
    napi_throw_type_error(env, NULL,
                          "expected (root: string, paths: string[], sizes: number[]) with as "
                          "many sizes as paths");
    return NULL;
  }
  size_t items = pool_size();
  if (items > count) items = count;
  batch_t *b = calloc(1, sizeof(batch_t) + items * sizeof(item_t));
  if (b == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  b->count = count;
  b->item_count = items;
  bool has_nul = false;
  if (!copy_string(env, argv[0], &b->root, &b->root_length, &has_nul, "root must be a string"))
    goto fail;
  *nul = has_nul ? ROOT_NUL : NO_NUL;
  size_t names_capacity = (size_t)count * 32 + 1, names_length = 0;
  b->names = malloc(names_capacity);
  b->offsets = malloc(((size_t)count + 1) * sizeof(size_t));
  b->sizes = malloc((count > 0 ? count : 1) * sizeof(uint64_t));
  b->digests = malloc((count > 0 ? count : 1) * DIGEST_SIZE);
  if (b->names == NULL || b->offsets == NULL || b->sizes == NULL || b->digests == NULL) goto oom;
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    double size = -1;
    if (napi_get_element(env, argv[2], i, &element) != napi_ok ||
        napi_get_value_double(env, element, &size) != napi_ok ||
        !(size >= 0 && size <= MAX_COUNTER) || size != (double)(uint64_t)size) {
      napi_throw_type_error(env, NULL, "sizes must hold non-negative safe integers");
      goto fail;
    }
    b->sizes[i] = (uint64_t)size;
    char *name = NULL;
    size_t length = 0;
    if (napi_get_element(env, argv[1], i, &element) != napi_ok ||
        !copy_string(env, element, &name, &length, &has_nul, "paths must hold strings")) {
      free(name);
      goto fail;
    }
    if (has_nul && *nul == NO_NUL) *nul = i;
    if (names_length + length + 1 > names_capacity) {
      while (names_length + length + 1 > names_capacity) names_capacity *= 2;
      char *grown = realloc(b->names, names_capacity);
      if (grown == NULL) {
        free(name);
        goto oom;
      }
      b->names = grown;
    }
    memcpy(b->names + names_length, name, length + 1);
    free(name);
    b->offsets[i] = names_length;
    names_length += length + 1;
  }
  b->offsets[count] = names_length;
  return b;
oom:
  napi_throw_error(env, NULL, "out of memory");
fail:
  free_batch(b);
  return NULL;
}

/* Appends `length` bytes of text to out, each NUL written as \x00 (as node prints it). */
static char *append_escaped(char *out, const char *text, size_t length) {
  for (size_t i = 0; i < length; i++) {
    if (text[i] != '\0') {
      *out++ = text[i];
    } else {
      memcpy(out, "\\x00", 4);
      out += 4;
    }
  }
  return out;
}

/* A TypeError like node:fs's for a path holding a NUL byte (`nul` as parse_args sets it). */
static napi_value nul_error(napi_env env, const batch_t *b, size_t nul) {
  static const char prefix[] =
      "The argument 'path' must be a string without null bytes. Received '";
  const char *name = nul == ROOT_NUL ? "" : b->names + b->offsets[nul];
  size_t name_length = nul == ROOT_NUL ? 0 : b->offsets[nul + 1] - b->offsets[nul] - 1;
  char *message = malloc(sizeof(prefix) + 4 * (b->root_length + 1 + name_length) + 2);
  napi_value value = NULL;
  if (message != NULL) {
    char *end = stpcpy(message, prefix);
    end = append_escaped(end, b->root, b->root_length);
    if (nul != ROOT_NUL) {
      *end++ = '/';
      end = append_escaped(end, name, name_length);
    }
    strcpy(end, "'");
  }
  napi_create_type_error(env, string_value(env, "ERR_INVALID_ARG_VALUE"),
                         string_value(env, message != NULL ? message : prefix), &value);
  free(message);
  return value;
}

static napi_value hash_files(napi_env env, napi_callback_info info) {
  size_t nul = NO_NUL;
  batch_t *b = parse_args(env, info, &nul);
  napi_value promise = NULL, name = NULL, value = NULL;
  if (b == NULL) return NULL;
  if (napi_create_promise(env, &b->deferred, &promise) != napi_ok) {
    free_batch(b);
    napi_throw_error(env, NULL, "hashFiles: cannot create a promise");
    return NULL;
  }
  if (nul != NO_NUL || b->count == 0) {
    if (nul != NO_NUL) {
      napi_reject_deferred(env, b->deferred, nul_error(env, b, nul));
    } else {
      void *data = NULL;
      napi_create_buffer(env, 0, &data, &value);
      napi_resolve_deferred(env, b->deferred, value);
    }
    free_batch(b);
    return promise;
  }
  pthread_once(&sha256_once, fetch_sha256);
  napi_create_string_utf8(env, "hashFiles", NAPI_AUTO_LENGTH, &name);
  /* Equal numbers of files per range: small files cost per file, not per byte. */
  for (size_t i = 0; i < b->item_count; i++) {
    item_t *item = &b->items[i];
    item->batch = b;
    item->start = b->count * i / b->item_count;
    item->end = b->count * (i + 1) / b->item_count;
    item->failed = SIZE_MAX;
  }
  atomic_init(&b->first_failure, SIZE_MAX);
  b->pending = b->item_count;
  for (size_t i = 0; i < b->item_count; i++) {
    item_t *item = &b->items[i];
    if (napi_create_async_work(env, NULL, name, execute_item, complete_item, item, &item->work) !=
            napi_ok ||
        napi_queue_async_work(env, item->work) != napi_ok) {
      /* Only if N-API itself fails: the ranges not queued count as failed and settle now. */
      if (item->work != NULL) napi_delete_async_work(env, item->work);
      for (size_t j = i; j < b->item_count; j++)
        fail(&b->items[j], b->items[j].start, EAGAIN, "queue");
      b->pending -= b->item_count - i;
      if (b->pending == 0) settle(env, b);
      break;
    }
  }
  return promise;
}

bool hash_files_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"hashFiles", NULL, hash_files, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok;
}
