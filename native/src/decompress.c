/* Streaming decompression of a layer (zlib inflate, libzstd streaming, or plain; liblzma and
 * libbz2 for the xz and bzip2 archives a Dockerfile ADDs, which no OCI layer may be). Compressed
 * layers are decompressed by a second thread into a ring of 1 MiB chunks, so inflating overlaps
 * with writing files. A stream that ends before its compressed end marker is an error, never a
 * short tar. */
#include "decompress.h"
#include "commands.h"
#include "tar.h"
#include "util.h"
#include <bzlib.h>
#include <fcntl.h>
#include <lzma.h>
#include <pthread.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define IN_CAP (256u << 10)
#define OUT_CAP (1u << 20)
#define MAX_PEEK (64u << 10)
#define N_CHUNKS 4

/* A decompressed chunk: data at mem + MAX_PEEK; the room before it takes the unread tail of the
 * previous chunk when a header straddles the two. */
struct chunk {
  uint8_t *mem;
  size_t len;
};

struct layer_stream {
  int fd;
  const char *label;
  enum compression kind;
  uint8_t *in;
  size_t in_pos, in_len;
  bool in_eof;
  /* What the reader consumes: the plain-mode buffer, or the chunk the reader holds. */
  uint8_t *out;
  size_t out_pos, out_len;
  bool out_eof;
  /* Compressed layers: producer thread and ring. chunks[tail] is the reader's while held;
   * `ready` counts filled chunks including that one. */
  bool threaded, holding, produced_eof, stop;
  pthread_t producer;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  struct chunk chunks[N_CHUNKS];
  unsigned head, tail, ready;
  uint64_t bytes_in;
  z_stream z;
  bool z_member_done;
  ZSTD_DStream *zs;
  size_t zstd_left; /* last ZSTD_decompressStream result: 0 = at a frame boundary */
  lzma_stream xz;
  bool xz_done;
  bz_stream bz;
  bool bz_open, bz_member_done;
  stream_progress_fn progress;
  void *progress_ctx;
};

static void *produce(void *arg);

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
  case COMPRESSION_XZ: return "xz";
  case COMPRESSION_BZIP2: return "bzip2";
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

/* Compressions no OCI layer uses, by magic number (as file(1) knows them), so that such a
 * layer is named for what it is instead of failing as a damaged tar. */
static const struct {
  const char *name, *magic;
  size_t len;
  const char *tool; /* decompresses to stdout: "TOOL -dc LAYER | zstd" */
} other_compressions[] = {
    {"xz", "\xfd" "7zXZ\0", 6, "xz"},
    {"bzip2", "BZh", 3, "bzip2"},
    {"lz4", "\x04\x22\x4d\x18", 4, "lz4"},
    {"lz4 (legacy format)", "\x02\x21\x4c\x18", 4, "lz4"},
    {"lzip", "LZIP", 4, "lzip"},
    {"lzop", "\x89LZO\0\r\n\x1a\n", 9, "lzop"},
    {"lzma", "\x5d\0\0", 3, "lzma"},
    {"compress (.Z)", "\x1f\x9d", 2, "uncompress"},
};

static enum compression sniff(struct layer_stream *s, bool archive) {
  while (s->in_len < 512 && read_input(s) > 0) {}
  const uint8_t *b = s->in;
  size_t n = s->in_len;
  if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return COMPRESSION_GZIP;
  if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) return COMPRESSION_ZSTD;
  /* A tar whose first name starts like a magic ("BZh", "LZIP…") is still a tar. */
  if (n >= 512 && tar_header_ok(b)) return COMPRESSION_NONE;
  if (archive && n >= 6 && !memcmp(b, "\xfd" "7zXZ\0", 6)) return COMPRESSION_XZ;
  if (archive && n >= 4 && !memcmp(b, "BZh", 3) && b[3] >= '1' && b[3] <= '9') return COMPRESSION_BZIP2;
  if (archive) return COMPRESSION_NONE; /* anything else is copied as it is */
  for (size_t i = 0; i < N_ELEMENTS(other_compressions); i++) {
    if (n < other_compressions[i].len || memcmp(b, other_compressions[i].magic, other_compressions[i].len)) continue;
    cleanup_free char *fix = xasprintf("recompress it with gzip or zstd, e.g. %s -dc LAYER | zstd -o LAYER.tar.zst "
                                       "(OCI layers are tar, tar+gzip or tar+zstd)", other_compressions[i].tool);
    die_code("ECOMPRESSION", fix, "layer %s: the layer is %s-compressed, which is not supported", s->label,
             other_compressions[i].name);
  }
  return COMPRESSION_NONE;
}

struct layer_stream *layer_stream_open(int fd, enum compression c, const char *label,
                                       stream_progress_fn progress, void *progress_ctx) {
  struct layer_stream *s = xcalloc(1, sizeof *s);
  s->fd = fd;
  s->label = label;
  s->in = xmalloc(IN_CAP);
  s->progress = progress;
  s->progress_ctx = progress_ctx;
  s->kind = c == COMPRESSION_AUTO || c == COMPRESSION_ARCHIVE ? sniff(s, c == COMPRESSION_ARCHIVE) : c;
  if (s->kind == COMPRESSION_GZIP) {
    /* 16 + MAX_WBITS: gzip framing only, so a zlib or raw stream is reported as corrupt. */
    if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) die_oom();
  } else if (s->kind == COMPRESSION_ZSTD) {
    s->zs = ZSTD_createDStream();
    if (!s->zs) die_oom();
    s->zstd_left = 1; /* an empty input is a truncated stream, not an empty layer */
  } else if (s->kind == COMPRESSION_XZ) {
    /* Concatenated .xz streams are one file, as xz -dc reads them; no memory limit beyond xz's own. */
    s->xz = (lzma_stream)LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&s->xz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) die_oom();
  } else if (s->kind == COMPRESSION_BZIP2) {
    if (BZ2_bzDecompressInit(&s->bz, 0, 0) != BZ_OK) die_oom();
    s->bz_open = true;
  }
  if (s->kind == COMPRESSION_NONE) {
    s->out = xmalloc(OUT_CAP);
    return s;
  }
  for (int i = 0; i < N_CHUNKS; i++) s->chunks[i].mem = xmalloc(MAX_PEEK + OUT_CAP);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cond, NULL);
  int r = pthread_create(&s->producer, NULL, produce, s);
  if (r != 0) {
    errno = r;
    die_with_error("starting the decompression thread");
  }
  s->threaded = true;
  return s;
}

void layer_stream_close(struct layer_stream *s) {
  if (!s) return;
  if (s->threaded) {
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->producer, NULL);
    for (int i = 0; i < N_CHUNKS; i++) free(s->chunks[i].mem);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
  } else {
    free(s->out);
  }
  if (s->kind == COMPRESSION_GZIP) inflateEnd(&s->z);
  if (s->zs) ZSTD_freeDStream(s->zs);
  if (s->kind == COMPRESSION_XZ) lzma_end(&s->xz);
  if (s->bz_open) BZ2_bzDecompressEnd(&s->bz);
  close(s->fd);
  free(s->in);
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

static size_t fill_xz(struct layer_stream *s, uint8_t *dst, size_t room) {
  if (s->xz_done) return 0;
  for (;;) {
    bool eof = s->in_pos == s->in_len && read_input(s) == 0;
    s->xz.next_in = s->in + s->in_pos;
    s->xz.avail_in = s->in_len - s->in_pos;
    s->xz.next_out = dst;
    s->xz.avail_out = room;
    lzma_ret r = lzma_code(&s->xz, eof ? LZMA_FINISH : LZMA_RUN);
    s->in_pos = s->in_len - s->xz.avail_in;
    size_t produced = room - s->xz.avail_out;
    if (r == LZMA_STREAM_END) s->xz_done = true;
    else if (eof && r == LZMA_BUF_ERROR)
      die_code("ETRUNCATED", compression_fix, "layer %s: the xz stream is truncated (it ends after %llu bytes)", s->label,
               (unsigned long long)s->bytes_in);
    else if (r != LZMA_OK)
      die_code("ECORRUPT", compression_fix, "layer %s: corrupt xz data after %llu bytes (liblzma error %d)", s->label,
               (unsigned long long)s->bytes_in, (int)r);
    if (produced || s->xz_done) return produced;
  }
}

static size_t fill_bzip2(struct layer_stream *s, uint8_t *dst, size_t room) {
  for (;;) {
    if (s->in_pos == s->in_len && read_input(s) == 0) {
      if (!s->bz_member_done)
        die_code("ETRUNCATED", compression_fix, "layer %s: the bzip2 stream is truncated (it ends after %llu bytes)",
                 s->label, (unsigned long long)s->bytes_in);
      return 0;
    }
    if (s->bz_member_done) {
      /* Another stream may follow (pbzip2 writes several); anything else after the end is padding. */
      if (s->in[s->in_pos] != 'B') {
        s->in_eof = true;
        s->in_pos = s->in_len;
        return 0;
      }
      BZ2_bzDecompressEnd(&s->bz);
      s->bz = (bz_stream){0};
      if (BZ2_bzDecompressInit(&s->bz, 0, 0) != BZ_OK) die_oom();
      s->bz_member_done = false;
    }
    s->bz.next_in = (char *)s->in + s->in_pos;
    s->bz.avail_in = (unsigned)(s->in_len - s->in_pos);
    s->bz.next_out = (char *)dst;
    s->bz.avail_out = (unsigned)room;
    int r = BZ2_bzDecompress(&s->bz);
    s->in_pos = s->in_len - s->bz.avail_in;
    size_t produced = room - s->bz.avail_out;
    if (r == BZ_STREAM_END) s->bz_member_done = true;
    else if (r != BZ_OK)
      die_code("ECORRUPT", compression_fix, "layer %s: corrupt bzip2 data after %llu bytes (libbz2 error %d)", s->label,
               (unsigned long long)s->bytes_in, r);
    if (produced) return produced;
  }
}

/* The producer thread: fills free chunks until the end of the stream (or close). Errors in the
 * stream end the process from here, like any die(). */
static void *produce(void *arg) {
  struct layer_stream *s = arg;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    while (s->ready == N_CHUNKS && !s->stop) pthread_cond_wait(&s->cond, &s->mu);
    struct chunk *c = &s->chunks[s->head];
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    if (stop) return NULL;
    size_t len = 0, n = 1;
    while (len < OUT_CAP && n > 0) {
      uint8_t *dst = c->mem + MAX_PEEK + len;
      switch (s->kind) {
      case COMPRESSION_GZIP: n = fill_gzip(s, dst, OUT_CAP - len); break;
      case COMPRESSION_XZ: n = fill_xz(s, dst, OUT_CAP - len); break;
      case COMPRESSION_BZIP2: n = fill_bzip2(s, dst, OUT_CAP - len); break;
      default: n = fill_zstd(s, dst, OUT_CAP - len); break;
      }
      len += n;
    }
    c->len = len;
    pthread_mutex_lock(&s->mu);
    s->head = (s->head + 1) % N_CHUNKS;
    s->ready++;
    s->produced_eof = n == 0;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (n == 0) return NULL;
  }
}

/* Moves the reader to the next chunk, carrying the unread tail of the current one (shorter
 * than MAX_PEEK) into the room before its data. Returns the new bytes, 0 at the end. */
static size_t next_chunk(struct layer_stream *s) {
  size_t left = s->out_len - s->out_pos;
  pthread_mutex_lock(&s->mu);
  unsigned need = s->holding ? 2 : 1;
  while (s->ready < need && !s->produced_eof) pthread_cond_wait(&s->cond, &s->mu);
  if (s->ready < need) {
    pthread_mutex_unlock(&s->mu);
    return 0;
  }
  pthread_mutex_unlock(&s->mu);
  unsigned next = s->holding ? (s->tail + 1) % N_CHUNKS : s->tail;
  struct chunk *c = &s->chunks[next];
  if (left) memcpy(c->mem + MAX_PEEK - left, s->out + s->out_pos, left);
  if (s->holding) {
    pthread_mutex_lock(&s->mu);
    s->tail = next;
    s->ready--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
  }
  s->holding = true;
  s->out = c->mem;
  s->out_pos = MAX_PEEK - left;
  s->out_len = MAX_PEEK + c->len;
  return c->len;
}

/* Appends decompressed bytes after out_len; returns how many, 0 at the end of the stream. */
static size_t fill(struct layer_stream *s) {
  if (s->out_eof) return 0;
  if (s->threaded) {
    size_t n = next_chunk(s);
    if (n == 0) s->out_eof = true;
    return n;
  }
  if (s->out_pos == s->out_len) s->out_pos = s->out_len = 0;
  else if (s->out_pos > 0 && OUT_CAP - s->out_len < MAX_PEEK) {
    memmove(s->out, s->out + s->out_pos, s->out_len - s->out_pos);
    s->out_len -= s->out_pos;
    s->out_pos = 0;
  }
  size_t n = fill_plain(s, s->out + s->out_len, OUT_CAP - s->out_len);
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

/* `crossroot-helper decompress`: a Dockerfile ADD archive (gzip, zstd, xz, bzip2 or plain, by
 * content as Docker detects it) to a plain file the caller then reads as a tar, or copies as it is
 * when it is none. Runs as the caller, in no namespace: it writes one new file and reads one. */
int cmd_decompress(int argc, char **argv) {
  const char *input = NULL, *output = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc)
      die_code("EUSAGE", "usage: crossroot-helper decompress --input FILE --output FILE [--status-fd N]", "%s needs a value", a);
    if (!strcmp(a, "--input")) input = argv[++i];
    else if (!strcmp(a, "--output")) output = argv[++i];
    else if (!strcmp(a, "--status-fd")) set_status_fd_arg(a, argv[++i]);
    else die_code("EUSAGE", "usage: crossroot-helper decompress --input FILE --output FILE [--status-fd N]", "unknown option '%s'", a);
  }
  if (!input || !output)
    die_code("EUSAGE", "usage: crossroot-helper decompress --input FILE --output FILE [--status-fd N]", "--input and --output are required");
  int in = open(input, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (in < 0) die_code("ENOLAYER", "check the path passed with --input", "cannot open %s: %s", input, strerror(errno));
  /* A new file only: never through a symlink, never over something that is there. */
  int out = open(output, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) die_with_error("creating %s", output);
  struct layer_stream *s = layer_stream_open(in, COMPRESSION_ARCHIVE, input, NULL, NULL);
  uint64_t bytes_out = 0;
  const uint8_t *p;
  size_t n;
  while ((n = layer_stream_read(s, MAX_PEEK, &p)) > 0) {
    if (write_all(out, p, n) < 0) die_with_error("writing %s", output);
    bytes_out += n;
  }
  if (close(out) < 0) die_with_error("writing %s", output);
  status_event("{\"event\":\"done\",\"compression\":\"%s\",\"bytesIn\":%llu,\"bytesOut\":%llu}", compression_name(layer_stream_compression(s)),
               (unsigned long long)layer_stream_bytes_in(s), (unsigned long long)bytes_out);
  layer_stream_close(s);
  return 0;
}
