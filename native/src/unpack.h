/* Tree operations shared by `unpack` (whiteouts, replaced directories) and `remove`: they never
 * follow a symlink and never cross into another mount. */
#pragma once
#include <sys/types.h>

/* Removes `name` under dirfd: a file, a symlink (not what it points to) or a whole directory
 * tree. Directories on another mount are left alone and reported as EXDEV. Goes on past
 * failures, then returns 0 or -errno of the first one with *failed set to its path relative to
 * dirfd (malloc'd). A missing `name` is not an error. */
int remove_tree_at(int dirfd, const char *name, char **failed);

/* Names in the directory open at fd as one buffer of "<d_type><name>\0" records (no "." and
 * ".."), read in full before anything in it is removed so deletion never races the cursor.
 * NULL with errno set on failure. */
char *list_dir(int fd, size_t *len_out);

/* chmod of `name` under dirfd that fails (ELOOP/EOPNOTSUPP) instead of following a symlink. */
int chmod_nofollow(int dirfd, const char *name, mode_t mode);

/* Raises the open-file soft limit to the hard one: deep trees hold one fd per level. */
void raise_fd_limit(void);
