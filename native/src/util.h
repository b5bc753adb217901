/* Shared helpers for crossroot-helper: error reporting with fix-its, allocation, fd hygiene.
 * Modelled on bubblewrap's utils.h: die() never returns, every fd we open is CLOEXEC. */
#pragma once
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* Where a JSON status object goes ({"event":"error",...}); -1 when not asked for. */
extern int status_fd;
extern const char *prog_name;

/* Prints "crossroot-helper: MSG" (and the fix-it, if any) to stderr, reports it on status_fd
 * as {"event":"error","code":CODE,...}, and exits with 125 (like podman/docker for "the
 * runtime failed", so it never collides with the child's own exit code). */
__attribute__((noreturn, format(printf, 3, 4)))
void die_code(const char *code, const char *fix, const char *fmt, ...);
/* Same with another exit status, for failures that are the command's rather than the helper's
 * (127 command not found, 126 cannot execute, as shells and podman report them). */
__attribute__((noreturn, format(printf, 4, 5)))
void die_code_status(int exit_status, const char *code, const char *fix, const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
/* Same, appending ": strerror(errno)". */
__attribute__((noreturn, format(printf, 1, 2))) void die_with_error(const char *fmt, ...);
__attribute__((noreturn)) void die_oom(void);

/* s itself when at most max bytes long, else its start and end around "...(N bytes)..." (in one
 * of a few static buffers): for long paths in messages, whose end says the most. */
const char *shorten_middle(const char *s, size_t max);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
__attribute__((format(printf, 1, 2))) char *xasprintf(const char *fmt, ...);

/* Writes all of buf or fails with errno set. */
int write_all(int fd, const void *buf, size_t len);
/* Writes a whole small file (e.g. /proc/self/uid_map). Returns 0 or -errno. */
int write_file_at(int dirfd, const char *path, const char *content);
/* Reads a small file into a NUL-terminated malloc'd buffer; NULL on error (errno set). */
char *read_file_at(int dirfd, const char *path, size_t *len_out);

/* A file descriptor number given on the command line (--status-fd, --keep-fd) that must be
 * open; dies with EUSAGE otherwise. */
int parse_fd_arg(const char *opt, const char *s);
/* --status-fd of the helper's own tools: sets status_fd, CLOEXEC so newuidmap never sees it. */
void set_status_fd_arg(const char *opt, const char *s);

/* Appends a JSON-escaped copy of s to a fixed buffer; used for status-fd events. */
void json_escape(char *dst, size_t dstlen, const char *s);
/* Emits one JSON line on status_fd (no-op when status_fd < 0). */
__attribute__((format(printf, 1, 2))) void status_event(const char *fmt, ...);

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot): with the pid it names one
 * process for good. 0 when the process is gone or a zombie. */
unsigned long long proc_starttime(pid_t pid);

static inline void cleanup_freep(void *p) { free(*(void **)p); }
static inline void cleanup_closep(int *fd) { if (*fd >= 0) { int e = errno; close(*fd); errno = e; } }
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_fd __attribute__((cleanup(cleanup_closep)))
