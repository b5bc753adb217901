/* Tar reader over a layer stream: ustar, GNU (long names 'L'/'K') and PAX (path, linkpath, size,
 * uid, gid, mtime, SCHILY.xattr.*). Validates checksums and sizes; malformed input dies with 125. */
#pragma once
#include "decompress.h"
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum tar_type {
  TAR_FILE = '0',
  TAR_HARDLINK = '1',
  TAR_SYMLINK = '2',
  TAR_CHAR = '3',
  TAR_BLOCK = '4',
  TAR_DIR = '5',
  TAR_FIFO = '6',
};

struct tar_xattr {
  const char *name;
  const uint8_t *value;
  size_t len;
};

struct tar_entry {
  char type;            /* one of enum tar_type, or another typeflag the caller skips */
  const char *path;     /* as in the archive, NUL-terminated; valid until the next tar_next() */
  const char *linkpath; /* hardlink/symlink target, "" otherwise */
  uint64_t size;        /* data bytes (0 for every type without data) */
  uint32_t mode;        /* permission bits incl. setuid/setgid/sticky */
  uint64_t uid, gid;
  struct timespec mtime;
  struct tar_xattr *xattrs;
  size_t n_xattrs;
};

struct tar_reader;

struct tar_reader *tar_reader_new(struct layer_stream *s, const char *label);
void tar_reader_free(struct tar_reader *r);
/* Reads the next member's header(s), skipping unread data of the previous one. Returns false at
 * the end of the archive. */
bool tar_next(struct tar_reader *r, struct tar_entry *e);
/* Returns up to `max` bytes of the current member's data; 0 when it has all been read. Dies when
 * the stream ends early. */
size_t tar_read_data(struct tar_reader *r, size_t max, const uint8_t **p);
/* Shortens a name for error messages (very long PAX names). */
const char *tar_short_name(const char *path);

/* True when the 512 bytes at h are a tar header with a valid checksum (compressed data never
 * is: how compression sniffing tells a tar that starts like a magic number from one). */
bool tar_header_ok(const uint8_t *h);
