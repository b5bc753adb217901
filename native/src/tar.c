/* Tar member parsing for layers. Headers are read in place from the decompression buffer; only
 * PAX/GNU metadata records are copied (they own the long names and xattr values of one member). */
#include "tar.h"
#include "util.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define BLOCK 512
/* PAX and GNU long-name records bigger than this are refused: no real layer needs them, and a
 * hostile size must not make us allocate gigabytes. */
#define MAX_META (16u << 20)

struct tar_reader {
  struct layer_stream *s;
  const char *label;
  uint64_t offset;    /* bytes of tar consumed, for messages */
  uint64_t data_left; /* unread data of the current member */
  uint64_t pad_left;
  const char *cur_name;
  char *prev_name; /* last member, to locate a corrupt header */
  /* Metadata records for the member being assembled: the last PAX 'x' record (pax_* point
   * into it) and the last GNU long name and link records, each malloc'd. */
  char *pax_buf, *gnu_name, *gnu_linkname;
  char *pax_path, *pax_linkpath;
  bool has_size, has_uid, has_gid, has_mtime;
  uint64_t size, uid, gid;
  struct timespec mtime;
  struct tar_xattr *xattrs;
  size_t n_xattrs, cap_xattrs;
  bool pax_sparse;       /* GNU.sparse.* seen: refused once the entry's name is known */
  const char *sparse_name; /* GNU.sparse.name (PAX sparse 0.1/1.0 keep the real name there) */
  char name_buf[256 + 1 + 155 + 1]; /* prefix "/" name */
  char link_buf[101];
};

static const char tar_fix[] = "the layer is not a valid tar archive (corrupt or cut short): fetch it again or check how it was made";

const char *tar_short_name(const char *path) {
  static char bufs[2][240];
  static int which;
  char *b = bufs[which ^= 1];
  size_t n = strlen(path);
  if (n < sizeof bufs[0]) return path;
  snprintf(b, sizeof bufs[0], "%.200s...(%zu bytes)", path, n);
  return b;
}

struct tar_reader *tar_reader_new(struct layer_stream *s, const char *label) {
  struct tar_reader *r = xcalloc(1, sizeof *r);
  r->s = s;
  r->label = label;
  r->prev_name = NULL;
  return r;
}

/* Forgets what a PAX 'x' record said: a later one replaces it whole (as in Go, GNU tar, bsdtar
 * and containerd), it is not merged with it. */
static void reset_pax(struct tar_reader *r) {
  r->pax_path = r->pax_linkpath = NULL;
  r->sparse_name = NULL;
  r->has_size = r->has_uid = r->has_gid = r->has_mtime = r->pax_sparse = false;
  r->n_xattrs = 0;
}

static void reset_meta(struct tar_reader *r) {
  free(r->pax_buf);
  free(r->gnu_name);
  free(r->gnu_linkname);
  r->pax_buf = r->gnu_name = r->gnu_linkname = NULL;
  reset_pax(r);
}

void tar_reader_free(struct tar_reader *r) {
  if (!r) return;
  reset_meta(r);
  free(r->xattrs);
  free(r->prev_name);
  free(r);
}

__attribute__((noreturn, format(printf, 2, 3))) static void bad(struct tar_reader *r, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (r->cur_name)
    die_code("EBADTAR", tar_fix, "layer %s: entry '%s': %s", r->label, tar_short_name(r->cur_name), msg);
  if (!r->prev_name)
    die_code("EBADTAR", tar_fix, "layer %s: header at byte %llu (before the first entry): %s", r->label,
             (unsigned long long)r->offset, msg);
  die_code("EBADTAR", tar_fix, "layer %s: header at byte %llu (after entry '%s'): %s", r->label,
           (unsigned long long)r->offset, tar_short_name(r->prev_name), msg);
}

size_t tar_read_data(struct tar_reader *r, size_t max, const uint8_t **p) {
  if (r->data_left == 0) return 0;
  if (max > r->data_left) max = r->data_left;
  size_t n = layer_stream_read(r->s, max, p);
  if (n == 0)
    bad(r, "the archive ends inside this entry's data (%llu bytes missing): truncated, or its size field lies",
        (unsigned long long)r->data_left);
  r->data_left -= n;
  r->offset += n;
  return n;
}

static void skip_rest(struct tar_reader *r) {
  const uint8_t *p;
  while (r->data_left) tar_read_data(r, r->data_left, &p);
  while (r->pad_left) {
    size_t n = layer_stream_read(r->s, r->pad_left, &p);
    if (n == 0) bad(r, "the archive ends inside the padding after this entry's data");
    r->pad_left -= n;
    r->offset += n;
  }
}

static void start_data(struct tar_reader *r, uint64_t size) {
  r->data_left = size;
  r->pad_left = (BLOCK - size % BLOCK) % BLOCK;
}

/* A numeric header field: octal (NUL/space padded) or GNU base-256, where a first byte of 0xff
 * starts a negative number in two's complement (GNU tar, Go and Python write dates before 1970
 * so). Returns NULL, or what is wrong with the field. Parsed the way Go's archive/tar does. */
static const char *parse_num(const uint8_t *f, size_t len, int64_t *out) {
  if (f[0] & 0x80) {
    uint8_t inv = (f[0] & 0x40) ? 0xff : 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
      uint8_t c = f[i] ^ inv;
      if (i == 0) c &= 0x7f;
      if (v >> 55) return "does not fit in 64 bits";
      v = (v << 8) | c;
    }
    *out = inv ? ~(int64_t)v : (int64_t)v;
    return NULL;
  }
  size_t i = 0;
  while (i < len && f[i] == ' ') i++;
  int64_t v = 0;
  for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
    if (v >> 60) return "does not fit in 64 bits";
    v = v * 8 + (f[i] - '0');
  }
  for (; i < len; i++)
    if (f[i] != ' ' && f[i] != 0) return "is not a number";
  *out = v;
  return NULL;
}

/* A field that must hold a number >= 0 (unless a PAX record replaces it: then `overridden`). */
static uint64_t field_unsigned(struct tar_reader *r, const uint8_t *f, size_t len, const char *what, bool overridden) {
  int64_t v = 0;
  const char *err = parse_num(f, len, &v);
  if (overridden) return 0;
  if (err) bad(r, "the %s field %s", what, err);
  if (v < 0) bad(r, "negative %s", what);
  return (uint64_t)v;
}

static void field_str(char *dst, const uint8_t *f, size_t len) {
  size_t n = strnlen((const char *)f, len);
  memcpy(dst, f, n);
  dst[n] = 0;
}

bool tar_header_ok(const uint8_t *h) {
  /* Parsed here rather than with field_num(): garbage in the field is just a bad checksum. */
  uint64_t stored = 0;
  int i = 148;
  while (i < 156 && h[i] == ' ') i++;
  for (; i < 156 && h[i] >= '0' && h[i] <= '7'; i++) stored = stored * 8 + (uint64_t)(h[i] - '0');
  for (; i < 156; i++)
    if (h[i] != ' ' && h[i] != 0) return false;
  uint64_t usum = 0;
  int64_t ssum = 0;
  for (i = 0; i < BLOCK; i++) {
    uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];
    usum += c;
    ssum += (int8_t)c;
  }
  return stored == usum || (int64_t)stored == ssum; /* some old tars summed signed chars */
}

/* Reads a metadata member's data (PAX, GNU long name) into a fresh NUL-terminated buffer. */
static char *read_meta(struct tar_reader *r, uint64_t size, const char *what) {
  if (size > MAX_META) bad(r, "%s record of %llu bytes is larger than the %u MiB allowed", what,
                           (unsigned long long)size, MAX_META >> 20);
  char *buf = xmalloc(size + 1);
  start_data(r, size);
  size_t got = 0;
  const uint8_t *p;
  size_t n;
  while ((n = tar_read_data(r, size - got, &p)) > 0) {
    memcpy(buf + got, p, n);
    got += n;
  }
  buf[size] = 0;
  return buf;
}

static uint64_t pax_uint(struct tar_reader *r, const char *key, const char *v) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || end == v || *end || *v == '-') bad(r, "bad PAX %s '%s'", key, tar_short_name(v));
  return x;
}

static struct timespec pax_time(struct tar_reader *r, const char *v) {
  struct timespec ts = {0, 0};
  char *end;
  errno = 0;
  long long sec = strtoll(v, &end, 10);
  if (errno || end == v) bad(r, "bad PAX mtime '%s'", tar_short_name(v));
  ts.tv_sec = sec;
  if (*end == '.') {
    long ns = 0;
    int digits = 0;
    for (end++; *end >= '0' && *end <= '9'; end++)
      if (digits < 9) { ns = ns * 10 + (*end - '0'); digits++; }
    while (digits++ < 9) ns *= 10;
    /* -1.5 means 1.5 s before the epoch */
    if (v[0] == '-' && ns) { ts.tv_sec--; ns = 1000000000L - ns; }
    ts.tv_nsec = ns;
  }
  if (*end) bad(r, "bad PAX mtime '%s'", tar_short_name(v));
  return ts;
}

/* Records are "LEN key=value\n"; values are binary-safe (xattrs), so the buffer is cut in place. */
static void parse_pax(struct tar_reader *r, char *buf, size_t size) {
  char *p = buf, *end = buf + size;
  while (p < end) {
    if (*p == 0) break; /* some writers pad the record block with NULs */
    size_t len = 0;
    char *q = p;
    while (q < end && *q >= '0' && *q <= '9') {
      len = len * 10 + (size_t)(*q - '0');
      if (len > size) bad(r, "PAX record length larger than its header");
      q++;
    }
    if (q == p || q >= end || *q != ' ' || len > (size_t)(end - p) || len <= (size_t)(q - p) + 1 || p[len - 1] != '\n')
      bad(r, "malformed PAX record");
    char *key = q + 1, *rec_end = p + len - 1;
    char *eq = memchr(key, '=', (size_t)(rec_end - key));
    if (!eq) bad(r, "malformed PAX record (no '=')");
    *eq = 0;
    *rec_end = 0;
    char *val = eq + 1;
    size_t vlen = (size_t)(rec_end - val);
    bool unset = vlen == 0;
    if (!strcmp(key, "path")) r->pax_path = unset ? NULL : val;
    else if (!strcmp(key, "linkpath")) r->pax_linkpath = unset ? NULL : val;
    else if (!strcmp(key, "size")) { r->has_size = !unset; if (!unset) r->size = pax_uint(r, key, val); }
    else if (!strcmp(key, "uid")) { r->has_uid = !unset; if (!unset) r->uid = pax_uint(r, key, val); }
    else if (!strcmp(key, "gid")) { r->has_gid = !unset; if (!unset) r->gid = pax_uint(r, key, val); }
    else if (!strcmp(key, "mtime")) { r->has_mtime = !unset; if (!unset) r->mtime = pax_time(r, val); }
    else if (!strncmp(key, "SCHILY.xattr.", 13) && key[13]) {
      if (r->n_xattrs == r->cap_xattrs)
        r->xattrs = xrealloc(r->xattrs, (r->cap_xattrs = r->cap_xattrs ? r->cap_xattrs * 2 : 8) * sizeof *r->xattrs);
      r->xattrs[r->n_xattrs++] = (struct tar_xattr){key + 13, (const uint8_t *)val, vlen};
    } else if (!strncmp(key, "GNU.sparse.", 11)) {
      r->pax_sparse = true;
      if (!strcmp(key + 11, "name") && !unset) r->sparse_name = val;
    }
    p += len;
  }
}

static bool all_zero(const uint8_t *h) {
  for (int i = 0; i < BLOCK; i++)
    if (h[i]) return false;
  return true;
}

bool tar_next(struct tar_reader *r, struct tar_entry *e) {
  skip_rest(r);
  if (r->cur_name) {
    free(r->prev_name);
    r->prev_name = xstrdup(r->cur_name);
    r->cur_name = NULL;
  }
  reset_meta(r);
  for (;;) {
    const uint8_t *h;
    size_t got = layer_stream_peek(r->s, BLOCK, &h);
    /* Like Go's archive/tar (which writes most layers), a stream that ends on a member boundary
     * without the two zero blocks is complete; truncated compression is caught below us. */
    if (got == 0) {
      if (r->pax_buf || r->gnu_name || r->gnu_linkname) bad(r, "the archive ends after a metadata record, before its entry");
      return false;
    }
    if (got < BLOCK) bad(r, "the archive ends inside a header (truncated)");
    if (all_zero(h)) {
      layer_stream_consume(r->s, BLOCK);
      r->offset += BLOCK;
      return false;
    }
    if (!tar_header_ok(h)) bad(r, "bad header checksum (corrupt archive, or the previous entry's size lies)");
    bool posix = !memcmp(h + 257, "ustar\0", 6);
    char type = (char)h[156];
    /* A metadata record's size is its own; an entry's may come from a PAX record before it. */
    bool meta_type = type == 'x' || type == 'g' || type == 'L' || type == 'K';
    uint64_t size = field_unsigned(r, h + 124, 12, "size", !meta_type && r->has_size);
    struct tar_entry out = {0};
    out.type = type;
    out.mode = (uint32_t)(field_unsigned(r, h + 100, 8, "mode", false) & 07777);
    out.uid = field_unsigned(r, h + 108, 8, "uid", !meta_type && r->has_uid);
    out.gid = field_unsigned(r, h + 116, 8, "gid", !meta_type && r->has_gid);
    int64_t mtime = 0;
    const char *mtime_err = parse_num(h + 136, 12, &mtime);
    if (mtime_err && !meta_type && !r->has_mtime) bad(r, "the mtime field %s", mtime_err);
    out.mtime.tv_sec = (time_t)mtime;
    if (posix && h[345]) {
      field_str(r->name_buf, h + 345, 155);
      size_t n = strlen(r->name_buf);
      r->name_buf[n++] = '/';
      field_str(r->name_buf + n, h, 100);
    } else {
      field_str(r->name_buf, h, 100);
    }
    field_str(r->link_buf, h + 157, 100);
    layer_stream_consume(r->s, BLOCK);
    r->offset += BLOCK;

    switch (type) {
    case 'x':
      /* Only the last of consecutive PAX records counts (as in Go, GNU tar, bsdtar and
       * containerd): the one before is dropped whole, not merged. */
      reset_pax(r);
      free(r->pax_buf);
      r->pax_buf = NULL;
      r->cur_name = r->name_buf;
      r->pax_buf = read_meta(r, size, "PAX");
      parse_pax(r, r->pax_buf, size);
      skip_rest(r);
      r->cur_name = NULL;
      continue;
    case 'g': /* global PAX defaults: ignored, as Go's archive/tar and containerd do */
      start_data(r, size);
      skip_rest(r);
      continue;
    case 'L':
      free(r->gnu_name);
      r->gnu_name = NULL;
      r->gnu_name = read_meta(r, size, "GNU long name");
      skip_rest(r);
      continue;
    case 'K':
      free(r->gnu_linkname);
      r->gnu_linkname = NULL;
      r->gnu_linkname = read_meta(r, size, "GNU long link");
      skip_rest(r);
      continue;
    case 'S':
      r->cur_name = r->name_buf;
      die_code("EUNSUPPORTED", "repack the layer without --sparse", "layer %s: entry '%s': GNU sparse files are not supported",
               r->label, tar_short_name(r->name_buf));
    }

    out.path = r->pax_path ? r->pax_path : r->gnu_name ? r->gnu_name : r->name_buf;
    out.linkpath = r->pax_linkpath ? r->pax_linkpath : r->gnu_linkname ? r->gnu_linkname : r->link_buf;
    r->cur_name = out.path;
    if (r->pax_sparse)
      die_code("EUNSUPPORTED", "repack the layer without --sparse", "layer %s: entry '%s': sparse files are not supported",
               r->label, tar_short_name(r->sparse_name ? r->sparse_name : out.path));
    if (r->has_size) size = r->size;
    if (r->has_uid) out.uid = r->uid;
    if (r->has_gid) out.gid = r->gid;
    if (r->has_mtime) out.mtime = r->mtime;
    if (type == 0 || type == '7') {
      size_t n = strlen(out.path);
      out.type = (type == 0 && n && out.path[n - 1] == '/') ? TAR_DIR : TAR_FILE;
    }
    if (type == 'D') out.type = TAR_DIR; /* GNU dumpdir: a directory plus a listing we ignore */
    /* Types without data have none whatever their size field says (as in GNU tar and Go). */
    bool has_data = out.type != TAR_HARDLINK && out.type != TAR_SYMLINK && out.type != TAR_CHAR &&
                    out.type != TAR_BLOCK && out.type != TAR_DIR && out.type != TAR_FIFO;
    if (type == 'D') has_data = true;
    start_data(r, has_data ? size : 0);
    out.size = out.type == TAR_FILE ? size : 0;
    out.xattrs = r->xattrs;
    out.n_xattrs = r->n_xattrs;
    *e = out;
    return true;
  }
}
