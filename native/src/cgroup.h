/* Memory and pids limits of a sandbox through a delegated cgroup v2 (cgroup.c): the sandbox's
 * own cgroup next to the caller's, entered by PID 1 before it builds the root. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

struct sandbox;

struct sandbox_cgroup {
  char *dir;     /* the sandbox's cgroup directory; NULL when no limits are applied */
  bool fake;     /* CROSSROOT_CGROUP_ROOT: a test tree of plain files, not cgroupfs */
  int parent_fd; /* dir's parent, O_PATH: the caller's root may change (run's pivot_root applies
                  * to every process of the mount namespace, the helper too) before removal */
  int procs_fd;  /* dir/cgroup.procs, opened with the caller's credentials */
  int go[2];     /* the parent writes one byte once the child is in the cgroup */
};

/* Creates the sandbox's cgroup with sb's memory.max / pids.max when the caller's cgroup is
 * delegated; otherwise prints one warning (and a status event) and leaves cg->dir NULL, so the
 * sandbox runs without limits. A no-op when sb asks for no limits. */
void cgroup_prepare(const struct sandbox *sb, struct sandbox_cgroup *cg);
/* Opens an existing sandbox cgroup (an instance's, for exec) so a new child can be moved in. */
void cgroup_join(const char *dir, struct sandbox_cgroup *cg);
/* In the child, first thing: waits until the parent has moved it into the cgroup. */
void cgroup_child_wait(struct sandbox_cgroup *cg);
/* In the parent, right after fork: moves pid into the cgroup, then lets the child go on. A
 * failed move is a warning: the sandbox still runs. */
void cgroup_add(struct sandbox_cgroup *cg, pid_t pid);
/* Closes the fds the parent no longer needs (after cgroup_add, or in a process that did not fork). */
void cgroup_close(struct sandbox_cgroup *cg);
/* Removes a sandbox cgroup once every process in it has exited (retries while the kernel
 * still counts exiting tasks). Missing is fine. */
void cgroup_remove_dir(const char *dir);
/* Whether dir is a cgroup the caller's sandboxes could have made: ROOT/…/crossroot-PID (no "."
 * or ".." parts), owned by the caller, whose parent lies in the caller's delegated subtree (the
 * topmost cgroup above the caller's own that is still the caller's). Checked before an
 * instance's recorded cgroup is joined or removed. */
bool cgroup_is_sandbox_dir(const char *dir);
void cgroup_remove(struct sandbox_cgroup *cg);
