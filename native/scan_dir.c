/*
 * One directory listed with every entry's lstat fields in one call, for the walks of a files
 * snapshot (walkLocalTree in src/kinds/files/local-tree.ts; docs/architecture.md, "Performance").
 *
 * Why native: a snapshot walks the source and the stored tree, so 10,000 files cost 20,000
 * lstat calls. Through node:fs each one builds a BigIntStats object with four Date objects
 * (~7 µs here, most of it allocation and GC) for a syscall of ~2.5 µs. Here a directory is
 * read once and each entry is statx'ed relative to the directory's descriptor (no path lookup
 * from the root), and the fields the walk needs come back packed in one ArrayBuffer.
 *
 * JS interface:
 *   scanDir(dir) -> { names, fields, targets } | null
 * names: the entries' names in readdir order ("." and ".." left out), decoded as UTF-8.
 * fields: an ArrayBuffer of names.length × SCAN_FIELDS 8-byte slots; for entry i at i×SCAN_FIELDS:
 *   [0] error (double): 0, or the errno of statx or readlink; then the walk looks at this entry
 *       itself through node:fs (the same error, or the same skip of a vanished entry, as before);
 *       also set for a name that is not valid UTF-8, whose decoded name node:fs cannot find
 *   [1] st_mode, [2] size, [3] uid, [4] gid (doubles)
 *   [5] dev, [6] ino (uint64), [7] mtime, [8] ctime in nanoseconds since the epoch (int64)
 * The values are those libuv's lstat gives node:fs (statx, dev = makedev(major, minor)).
 * targets: an array with, at the index of each symlink, its target (readlink) as a string.
 * null: the directory cannot be opened or read; the walk then lists it through node:fs, which
 * throws (or skips) exactly as it did. Throws TypeError for a non-string or a NUL byte.
 *
 * Synchronous on the calling thread: the walk is (it runs beside rsync, on the other core), and a
 * directory of a few hundred entries is well under a millisecond here. Linux only (statx); on
 * other systems scanDir always returns null, so the addon still builds there.
 */
#define _GNU_SOURCE
#include "age_common.h"

#ifdef __linux__
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define SCAN_FIELDS 9u

typedef struct {
  char *bytes;   /* every name, NUL-terminated, one after the other */
  size_t used;
  size_t size;
  size_t *offsets;
  size_t count;
  size_t capacity;
} names_t;

static void names_free(names_t *n) {
  free(n->bytes);
  free(n->offsets);
}

static bool names_add(names_t *n, const char *name) {
  size_t length = strlen(name) + 1;
  if (n->used + length > n->size) {
    size_t size = n->size == 0 ? 16384 : n->size * 2;
    while (size < n->used + length) size *= 2;
    char *bytes = realloc(n->bytes, size);
    if (bytes == NULL) return false;
    n->bytes = bytes;
    n->size = size;
  }
  if (n->count == n->capacity) {
    size_t capacity = n->capacity == 0 ? 256 : n->capacity * 2;
    size_t *offsets = realloc(n->offsets, capacity * sizeof(size_t));
    if (offsets == NULL) return false;
    n->offsets = offsets;
    n->capacity = capacity;
  }
  memcpy(n->bytes + n->used, name, length);
  n->offsets[n->count++] = n->used;
  n->used += length;
  return true;
}

/* Strict UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF): what decodes back to the same bytes. */
static bool valid_utf8(const unsigned char *s) {
  while (*s != 0) {
    unsigned char c = *s;
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      s++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t i = 1; i <= extra; i++) {
      if ((s[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    s += extra + 1;
  }
  return true;
}

static napi_value type_error(napi_env env, const char *code, const char *message) {
  napi_throw_type_error(env, code, message);
  return NULL;
}

/* Reads every name of the directory open on fd, and closes fd; false (errno set) on failure. */
static bool read_names(int fd, names_t *names) {
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    int saved = errno;
    close(fd);
    errno = saved;
    return false;
  }
  bool ok = true;
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(dir);
    if (entry == NULL) {
      ok = errno == 0;
      break;
    }
    const char *name = entry->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    if (!names_add(names, name)) {
      errno = ENOMEM;
      ok = false;
      break;
    }
  }
  int saved = errno;
  closedir(dir); /* closes fd */
  errno = saved;
  return ok;
}

static int64_t nanoseconds(struct statx_timestamp t) {
  return (int64_t)t.tv_sec * 1000000000 + (int64_t)t.tv_nsec;
}

static napi_value scan_dir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype type;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_string)
    return type_error(env, NULL, "scanDir(dir): dir must be a string");
  size_t length;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &length) != napi_ok) return NULL;
  char *path = malloc(length + 1);
  if (path == NULL) return type_error(env, NULL, "scanDir: out of memory");
  napi_get_value_string_utf8(env, argv[0], path, length + 1, &length);
  if (strlen(path) != length) {
    free(path);
    return type_error(env, "ERR_INVALID_ARG_VALUE", "scanDir(dir): dir must not contain a NUL byte");
  }
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(path);
  napi_value nothing;
  napi_get_null(env, &nothing);
  if (fd < 0) return nothing;
  /* A second descriptor for statx: fdopendir takes the first and closedir closes it. */
  int at = dup(fd);
  if (at < 0) {
    close(fd);
    return nothing;
  }
  names_t names = {0};
  if (!read_names(fd, &names)) {
    close(at);
    names_free(&names);
    return nothing;
  }

  napi_value result = NULL, js_names, js_targets, buffer;
  void *data = NULL;
  bool ok = napi_create_object(env, &result) == napi_ok &&
            napi_create_array_with_length(env, names.count, &js_names) == napi_ok &&
            napi_create_array_with_length(env, names.count, &js_targets) == napi_ok &&
            napi_create_arraybuffer(env, names.count * SCAN_FIELDS * 8u, &data, &buffer) == napi_ok;
  char link[PATH_MAX + 1];
  for (size_t i = 0; ok && i < names.count; i++) {
    const char *name = names.bytes + names.offsets[i];
    double *slot = (double *)data + i * SCAN_FIELDS;
    memset(slot, 0, SCAN_FIELDS * 8u);
    napi_value js_name;
    ok = napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &js_name) == napi_ok &&
         napi_set_element(env, js_names, (uint32_t)i, js_name) == napi_ok;
    if (!ok) break;
    if (!valid_utf8((const unsigned char *)name)) {
      slot[0] = EILSEQ;
      continue;
    }
    struct statx st;
    if (statx(at, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) != 0) {
      slot[0] = errno;
      continue;
    }
    slot[1] = st.stx_mode;
    slot[2] = (double)st.stx_size;
    slot[3] = st.stx_uid;
    slot[4] = st.stx_gid;
    uint64_t dev = makedev(st.stx_dev_major, st.stx_dev_minor);
    uint64_t ino = st.stx_ino;
    int64_t mtime = nanoseconds(st.stx_mtime);
    int64_t ctime = nanoseconds(st.stx_ctime);
    memcpy(&slot[5], &dev, 8);
    memcpy(&slot[6], &ino, 8);
    memcpy(&slot[7], &mtime, 8);
    memcpy(&slot[8], &ctime, 8);
    if (S_ISLNK(st.stx_mode)) {
      ssize_t got = readlinkat(at, name, link, sizeof(link));
      /* Failed, or possibly cut short: node:fs reads this one itself. */
      if (got < 0 || (size_t)got >= sizeof(link) || memchr(link, 0, (size_t)got) != NULL ||
          (link[got] = 0, !valid_utf8((const unsigned char *)link))) {
        slot[0] = got < 0 ? errno : EILSEQ;
        continue;
      }
      napi_value target;
      ok = napi_create_string_utf8(env, link, (size_t)got, &target) == napi_ok &&
           napi_set_element(env, js_targets, (uint32_t)i, target) == napi_ok;
    }
  }
  close(at);
  names_free(&names);
  if (!ok ||
      napi_set_named_property(env, result, "names", js_names) != napi_ok ||
      napi_set_named_property(env, result, "fields", buffer) != napi_ok ||
      napi_set_named_property(env, result, "targets", js_targets) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, NULL, "scanDir: N-API call failed");
    return NULL;
  }
  return result;
}

#else
/* statx is Linux's: elsewhere every directory is listed through node:fs (scanDir returns null). */
static napi_value scan_dir(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value nothing;
  napi_get_null(env, &nothing);
  return nothing;
}
#endif

bool scan_dir_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"scanDir", NULL, scan_dir, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) == napi_ok;
}
