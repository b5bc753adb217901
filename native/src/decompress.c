/* Streaming decompression of a layer (zlib inflate, libzstd streaming, or plain) into a 1 MiB
 * buffer. A stream that ends before its compressed end marker is an error, never a short tar. */
#include "decompress.h"
#include "util.h"
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define IN_CAP (256u << 10)
#define OUT_CAP (1u << 20)
#define MAX_PEEK (64u << 10)

struct layer_stream {
  int fd;
  const char *label;
  enum compression kind;
  uint8_t *in;
  size_t in_pos, in_len;
  bool in_eof;
  uint8_t *out;
  size_t out_pos, out_len;
  bool out_eof;
  uint64_t bytes_in;
  z_stream z;
  bool z_member_done;
  ZSTD_DStream *zs;
  size_t zstd_left; /* last ZSTD_decompressStream result: 0 = at a frame boundary */
  stream_progress_fn progress;
  void *progress_ctx;
};

static const char compression_fix[] =
    "the layer may be truncated or corrupt: download it again (its digest no longer matches), "
    "or pass the right --compression";

enum compression parse_compression(const char *s) {
  if (!strcmp(s, "auto")) return COMPRESSION_AUTO;
  if (!strcmp(s, "gzip")) return COMPRESSION_GZIP;
  if (!strcmp(s, "zstd")) return COMPRESSION_ZSTD;
  if (!strcmp(s, "none")) return COMPRESSION_NONE;
  die_code("EUSAGE", "use --compression auto, gzip, zstd or none", "unknown compression '%s'", s);
}

const char *compression_name(enum compression c) {
  switch (c) {
  case COMPRESSION_GZIP: return "gzip";
  case COMPRESSION_ZSTD: return "zstd";
  case COMPRESSION_NONE: return "none";
  default: return "auto";
  }
}

/* One read of compressed input into buf; 0 at EOF. */
static size_t read_some(struct layer_stream *s, uint8_t *buf, size_t cap) {
  if (s->in_eof) return 0;
  for (;;) {
    ssize_t n = read(s->fd, buf, cap);
    if (n < 0) {
      if (errno == EINTR) continue;
      die_with_error("layer %s: reading", s->label);
    }
    if (n == 0) s->in_eof = true;
    s->bytes_in += (uint64_t)n;
    if (s->progress && n > 0) s->progress(s->progress_ctx, s->bytes_in);
    return (size_t)n;
  }
}

/* Refills the input buffer when it is empty; returns the number of new bytes, 0 at EOF. */
static size_t read_input(struct layer_stream *s) {
  if (s->in_pos == s->in_len) s->in_pos = s->in_len = 0;
  size_t n = read_some(s, s->in + s->in_len, IN_CAP - s->in_len);
  s->in_len += n;
  return n;
}

static enum compression sniff(struct layer_stream *s) {
  while (s->in_len < 6 && read_input(s) > 0) {}
  const uint8_t *b = s->in;
  size_t n = s->in_len;
  if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return COMPRESSION_GZIP;
  if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) return COMPRESSION_ZSTD;
  if ((n >= 6 && !memcmp(b, "\xfd" "7zXZ\0", 6)) || (n >= 3 && !memcmp(b, "BZh", 3)))
    die_code("ECOMPRESSION", "recompress the layer with gzip or zstd (OCI layers use tar, tar+gzip or tar+zstd)",
             "layer %s: xz and bzip2 layers are not supported", s->label);
  return COMPRESSION_NONE;
}

struct layer_stream *layer_stream_open(int fd, enum compression c, const char *label,
                                       stream_progress_fn progress, void *progress_ctx) {
  struct layer_stream *s = xcalloc(1, sizeof *s);
  s->fd = fd;
  s->label = label;
  s->in = xmalloc(IN_CAP);
  s->out = xmalloc(OUT_CAP);
  s->progress = progress;
  s->progress_ctx = progress_ctx;
  s->kind = c == COMPRESSION_AUTO ? sniff(s) : c;
  if (s->kind == COMPRESSION_GZIP) {
    /* 16 + MAX_WBITS: gzip framing only, so a zlib or raw stream is reported as corrupt. */
    if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) die_oom();
  } else if (s->kind == COMPRESSION_ZSTD) {
    s->zs = ZSTD_createDStream();
    if (!s->zs) die_oom();
    s->zstd_left = 1; /* an empty input is a truncated stream, not an empty layer */
  }
  return s;
}

void layer_stream_close(struct layer_stream *s) {
  if (!s) return;
  if (s->kind == COMPRESSION_GZIP) inflateEnd(&s->z);
  if (s->zs) ZSTD_freeDStream(s->zs);
  close(s->fd);
  free(s->in);
  free(s->out);
  free(s);
}

enum compression layer_stream_compression(const struct layer_stream *s) { return s->kind; }
uint64_t layer_stream_bytes_in(const struct layer_stream *s) { return s->bytes_in; }

static size_t fill_plain(struct layer_stream *s, uint8_t *dst, size_t room) {
  /* Only the bytes read while sniffing pass through the input buffer. */
  if (s->in_pos == s->in_len) return read_some(s, dst, room);
  size_t n = s->in_len - s->in_pos;
  if (n > room) n = room;
  memcpy(dst, s->in + s->in_pos, n);
  s->in_pos += n;
  return n;
}

static size_t fill_gzip(struct layer_stream *s, uint8_t *dst, size_t room) {
  for (;;) {
    if (s->in_pos == s->in_len && read_input(s) == 0) {
      if (!s->z_member_done)
        die_code("ETRUNCATED", compression_fix, "layer %s: the gzip stream is truncated (it ends after %llu bytes)",
                 s->label, (unsigned long long)s->bytes_in);
      return 0;
    }
    if (s->z_member_done) {
      /* Another member may follow (concatenated gzip); anything else after the end is padding. */
      if (s->in[s->in_pos] != 0x1f) {
        s->in_eof = true;
        s->in_pos = s->in_len;
        return 0;
      }
      if (inflateReset(&s->z) != Z_OK) die("layer %s: inflateReset failed", s->label);
      s->z_member_done = false;
    }
    s->z.next_in = s->in + s->in_pos;
    s->z.avail_in = (uInt)(s->in_len - s->in_pos);
    s->z.next_out = dst;
    s->z.avail_out = (uInt)room;
    int r = inflate(&s->z, Z_NO_FLUSH);
    s->in_pos = s->in_len - s->z.avail_in;
    size_t produced = room - s->z.avail_out;
    if (r == Z_STREAM_END) s->z_member_done = true;
    else if (r != Z_OK && r != Z_BUF_ERROR)
      die_code("ECORRUPT", compression_fix, "layer %s: corrupt gzip data after %llu bytes (%s)", s->label,
               (unsigned long long)s->bytes_in, s->z.msg ? s->z.msg : zError(r));
    if (produced) return produced;
  }
}

static size_t fill_zstd(struct layer_stream *s, uint8_t *dst, size_t room) {
  for (;;) {
    if (s->in_pos == s->in_len && read_input(s) == 0) {
      if (s->zstd_left != 0)
        die_code("ETRUNCATED", compression_fix, "layer %s: the zstd stream is truncated (it ends after %llu bytes)",
                 s->label, (unsigned long long)s->bytes_in);
      return 0;
    }
    ZSTD_inBuffer ib = {s->in, s->in_len, s->in_pos};
    ZSTD_outBuffer ob = {dst, room, 0};
    size_t r = ZSTD_decompressStream(s->zs, &ob, &ib);
    if (ZSTD_isError(r))
      die_code("ECORRUPT", compression_fix, "layer %s: corrupt zstd data after %llu bytes (%s)", s->label,
               (unsigned long long)s->bytes_in, ZSTD_getErrorName(r));
    s->in_pos = ib.pos;
    s->zstd_left = r;
    if (ob.pos) return ob.pos;
  }
}

/* Appends decompressed bytes after out_len; returns how many, 0 at the end of the stream. */
static size_t fill(struct layer_stream *s) {
  if (s->out_eof) return 0;
  if (s->out_pos == s->out_len) s->out_pos = s->out_len = 0;
  else if (s->out_pos > 0 && OUT_CAP - s->out_len < MAX_PEEK) {
    memmove(s->out, s->out + s->out_pos, s->out_len - s->out_pos);
    s->out_len -= s->out_pos;
    s->out_pos = 0;
  }
  uint8_t *dst = s->out + s->out_len;
  size_t room = OUT_CAP - s->out_len, n;
  switch (s->kind) {
  case COMPRESSION_GZIP: n = fill_gzip(s, dst, room); break;
  case COMPRESSION_ZSTD: n = fill_zstd(s, dst, room); break;
  default: n = fill_plain(s, dst, room); break;
  }
  if (n == 0) s->out_eof = true;
  s->out_len += n;
  return n;
}

size_t layer_stream_peek(struct layer_stream *s, size_t want, const uint8_t **p) {
  while (s->out_len - s->out_pos < want && fill(s) > 0) {}
  size_t avail = s->out_len - s->out_pos;
  *p = s->out + s->out_pos;
  return avail < want ? avail : want;
}

size_t layer_stream_read(struct layer_stream *s, size_t max, const uint8_t **p) {
  if (s->out_pos == s->out_len && fill(s) == 0) return 0;
  size_t avail = s->out_len - s->out_pos;
  if (avail > max) avail = max;
  *p = s->out + s->out_pos;
  s->out_pos += avail;
  return avail;
}

void layer_stream_consume(struct layer_stream *s, size_t n) { s->out_pos += n; }

void layer_stream_drain(struct layer_stream *s) {
  s->out_pos = s->out_len;
  while (fill(s) > 0) s->out_pos = s->out_len;
}
