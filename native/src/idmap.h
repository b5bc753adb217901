/* User namespace entry and uid/gid maps: a single-id map written by ourselves, or a full
 * subordinate range through the setuid newuidmap/newgidmap (the only privileged step, done by
 * the system's own tools). Used by run/start/check and by unpack. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

enum idmap_mode { IDMAP_AUTO, IDMAP_SINGLE, IDMAP_FULL };

/* unshare(CLONE_NEWUSER | extra_clone_flags) and write the maps:
 *   FULL   = the caller's /etc/subuid,/etc/subgid range (inside: 0 = caller, 1..N = subordinate
 *            ids), nested in the keeper's namespace (keeper.c) or through newuidmap/newgidmap;
 *   SINGLE = caller -> 0 only (setgroups deny);
 *   AUTO   = FULL when a range exists and newuidmap works, else SINGLE.
 * Afterwards the caller is uid/gid 0 in the new namespace and no_new_privs is set (it cannot be
 * set earlier: the setuid newuidmap would not gain its privilege under it).
 * Returns the mode used; dies with a fix-it on failure (EPERM -> sysctl/AppArmor hint). */
enum idmap_mode enter_userns(enum idmap_mode mode, int extra_clone_flags);

/* unshare(CLONE_NEWUSER | extra_clone_flags) and have a forked child, which stays in the current
 * user namespace and holds CAP_SETUID/CAP_SETGID there, write the new namespace's maps (lines
 * "inside outside count", outside in the current namespace's ids). The caller's /proc must show
 * its own pid namespace. Returns 0, or -errno when unshare failed (nothing changed then). */
int unshare_mapped(int extra_clone_flags, const char *uid_map, const char *gid_map);

/* For tools that may also run without a user namespace (unpack, remove: `--idmap none`):
 * enters one as `idmap` says, or for "none" only sets no_new_privs. Returns true when a
 * namespace was entered, with the mode used in *mode_out. */
bool enter_userns_unless_none(const char *idmap, enum idmap_mode *mode_out);

/* "auto" / "single" / "full" -> mode; dies on anything else. */
enum idmap_mode parse_idmap_mode(const char *s);
const char *idmap_mode_name(enum idmap_mode mode);

/* The caller's range in /etc/subuid or /etc/subgid (matched by user name or numeric id).
 * Returns false when there is none. */
bool subid_range(const char *file, uid_t id, unsigned long *start, unsigned long *count);

/* Full path of newuidmap / newgidmap, or NULL when not installed. */
const char *find_newidmap(const char *name);

/* Why user namespaces are refused on this host, as a fix-it (sysctl or AppArmor). */
const char *userns_fix(void);

/* enter_userns() without the keeper: newuidmap/newgidmap (or a single map) every time. */
enum idmap_mode enter_userns_direct(enum idmap_mode mode, int extra_clone_flags);

/* keeper.c: moves the caller into the keeper's user namespace, which maps 0 = caller and
 * 1..uids / 1..gids = the subordinate ranges (starting the keeper when none runs). False when
 * there is none to be had; then the caller maps itself. CROSSROOT_NO_KEEPER=1 always maps directly. */
bool keeper_join(unsigned long uids, unsigned long gids);
