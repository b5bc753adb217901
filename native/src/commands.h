/* One entry point per subcommand; main.c dispatches, each lives in its own file. */
#pragma once
int cmd_run(int argc, char **argv);     /* run.c: one-shot sandbox */
int cmd_start(int argc, char **argv);   /* instance.c: persistent instance (PID 1 of an env) */
int cmd_exec(int argc, char **argv);    /* instance.c: join a running instance */
int cmd_stop(int argc, char **argv);    /* instance.c: stop an instance and everything in it */
int cmd_check(int argc, char **argv);   /* check.c: host probe, JSON with fix-its */
int cmd_arches(int argc, char **argv);  /* arches.c: per arch, native or which qemu (and its binfmt line) */
int cmd_unpack(int argc, char **argv);  /* unpack.c: safe streaming layer extraction */
int cmd_decompress(int argc, char **argv); /* decompress.c: a Dockerfile ADD archive to a plain file */
int cmd_pack(int argc, char **argv);   /* pack.c: a tar of paths, for COPY --from (runs inside the stage's sandbox) */
int cmd_remove(int argc, char **argv);  /* remove.c: rm -rf inside the user namespace */
