/* A layer as a stream of tar bytes: reads a file or pipe, detects gzip/zstd/plain by magic and
 * decompresses into one large buffer that the tar reader consumes in place (no temp copies).
 * COMPRESSION_ARCHIVE also takes xz and bzip2 (Dockerfile ADD archives), never OCI layers. */
#pragma once
#include <stddef.h>
#include <stdint.h>

enum compression { COMPRESSION_AUTO, COMPRESSION_GZIP, COMPRESSION_ZSTD, COMPRESSION_NONE, COMPRESSION_XZ, COMPRESSION_BZIP2, COMPRESSION_ARCHIVE };

enum compression parse_compression(const char *s);
const char *compression_name(enum compression c);

struct layer_stream;

/* Called after each read of compressed input with the total read so far. */
typedef void (*stream_progress_fn)(void *ctx, uint64_t bytes_in);

/* Takes ownership of fd. `label` names the layer in error messages. */
struct layer_stream *layer_stream_open(int fd, enum compression c, const char *label,
                                       stream_progress_fn progress, void *progress_ctx);
void layer_stream_close(struct layer_stream *s);

/* Makes up to `want` bytes (want <= 64 KiB) available contiguously at *p without consuming them.
 * Returns how many are available: fewer than `want` only at the end of the stream. */
size_t layer_stream_peek(struct layer_stream *s, size_t want, const uint8_t **p);
/* Returns a pointer to up to `max` bytes and consumes them; 0 at the end of the stream. */
size_t layer_stream_read(struct layer_stream *s, size_t max, const uint8_t **p);
void layer_stream_consume(struct layer_stream *s, size_t n);
/* Reads the rest of the stream so that a truncated or corrupt compressed tail is still reported. */
void layer_stream_drain(struct layer_stream *s);
enum compression layer_stream_compression(const struct layer_stream *s);
uint64_t layer_stream_bytes_in(const struct layer_stream *s);
