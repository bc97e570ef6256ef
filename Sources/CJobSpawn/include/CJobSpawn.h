#ifndef CJOBSPAWN_H
#define CJOBSPAWN_H
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

/* The rlimits a job gets, under names Swift imports (glibc's are macros over an enum). */
enum {
    KILN_RLIMIT_CORE = RLIMIT_CORE,
    KILN_RLIMIT_FSIZE = RLIMIT_FSIZE,
    KILN_RLIMIT_AS = RLIMIT_AS,
    KILN_RLIMIT_NPROC = RLIMIT_NPROC,
};

/* One resource limit for the child, soft and hard alike (resource is an RLIMIT_* constant). */
typedef struct {
    int resource;
    unsigned long long value;
} kiln_rlimit;

/* What the child is started with. */
typedef struct {
    const char *_Nonnull path;
    char *_Nullable const *_Nonnull argv;
    char *_Nullable const *_Nonnull envp;
    /* Open `cgroup.procs` files the child writes "0" into (joins) before it execs anything. */
    const int *_Nullable cgroup_fds;
    int cgroup_fd_count;
    const kiln_rlimit *_Nullable limits;
    int limit_count;
    /* The user and group the child becomes (no supplementary groups) after its rlimits and before exec; -1 keeps
     * the caller's. */
    int uid;
    int gid;
    /* A file the child opens read-only as descriptor KILN_FILTER_FD before it becomes `uid` (bubblewrap's
     * `--seccomp 9` reads a syscall filter there); nullable. */
    const char *_Nullable filter_path;
} kiln_spawn_request;

/* Where a child finds the file of kiln_spawn_request.filter_path. */
enum { KILN_FILTER_FD = 9 };

/* A growable byte buffer filled by kiln_run; free `bytes` with kiln_buffer_free. */
typedef struct {
    unsigned char *_Nullable bytes;
    size_t count;
} kiln_buffer;

/* How kiln_run ended. `outcome`: 0 exited (code), 1 killed by `signal`, 2 deadline passed, 3 cancelled,
 * 4 a stream passed its limit, 5 could not start (errno in `error`, `stage` says where). */
typedef struct {
    int outcome;
    int code;
    int signal;
    int error;
    const char *_Nullable stage;
} kiln_run_result;

/* Starts the request's program in a session of its own (in its cgroups, under its rlimits, stdin /dev/null, every
 * other descriptor closed, signals reset) and waits for it: stdout and stderr are collected up to `limit` bytes
 * each, and the whole process group is killed with SIGKILL when `timeout_ms` passes (-1: never), when
 * `cancel_fd` becomes readable, or when a stream passes the limit. Blocks the calling thread. */
void kiln_run(const kiln_spawn_request *_Nonnull request, int timeout_ms, int cancel_fd, size_t limit,
              kiln_buffer *_Nonnull out, kiln_buffer *_Nonnull err, kiln_run_result *_Nonnull result);

/* A process started ahead of a job: already in the job's cgroups (the migration into a cgroup costs a kernel RCU
 * grace period, 10-25 ms, which a job then no longer waits for), waiting for its command on `control_fd`. */
typedef struct {
    pid_t pid;
    int control_fd;
    int report_fd;
    int out_fd;
    int err_fd;
} kiln_parked;

/* Starts the parker program at `parker` (kiln-job-parker, whose main is kiln_parker_main) in a session of its
 * own, with its streams and the open `cgroup_fds`; it joins the cgroups (writes "0" into each) and waits for its
 * command. 0, or -1 with `failure` set. Call it from a thread that outlives the job: the parent-death signal of
 * bubblewrap follows the thread that started it. */
int kiln_park(const char *_Nonnull parker, const int *_Nullable cgroup_fds, int cgroup_fd_count,
              kiln_parked *_Nonnull parked, kiln_run_result *_Nonnull failure);

/* The parker's whole program (see kiln_park). */
int kiln_parker_main(int argc, char *_Nullable *_Nonnull argv);

/* Flags of kiln_send_command. AHEAD: the parker keeps its control socket and passes its own program as
 * descriptor 5 to the command, which is bubblewrap running `/proc/self/fd/5 stub`: a sandbox made ready before
 * its job, whose stub then takes the job's command (kiln_launch with a cwd). */
enum { KILN_COMMAND_AHEAD = 1 };

/* Sends a command to the parked process: the request's program (its cgroup fields are ignored) with its rlimits,
 * and `cwd` (nullable) for a stub to enter. 0, or -errno. The control socket stays open. */
int kiln_send_command(kiln_parked *_Nonnull parked, const kiln_spawn_request *_Nonnull request,
                      const char *_Nullable cwd, int flags);

/* The message kiln_send_command sends, in `message` (free it with kiln_buffer_free): for a stub that reads its
 * command elsewhere (`kiln-job-parker stub-stdin`, a docker sandbox's exec started ahead). 0, or -errno. */
int kiln_encode_command(const kiln_spawn_request *_Nonnull request, const char *_Nullable cwd, int flags,
                        kiln_buffer *_Nonnull message);

/* Sends the request's program (and `cwd`, for a stub) to the parked process, which sets the rlimits and execs
 * it, then waits as kiln_run does. The parked process is used up either way. */
void kiln_launch(kiln_parked *_Nonnull parked, const kiln_spawn_request *_Nonnull request, const char *_Nullable cwd,
                 int timeout_ms, int cancel_fd, size_t limit, kiln_buffer *_Nonnull out, kiln_buffer *_Nonnull err,
                 kiln_run_result *_Nonnull result);

/* Kills and reaps a parked process (and a sandbox it started ahead) that will not be used. */
void kiln_unpark(kiln_parked *_Nonnull parked);

void kiln_buffer_free(kiln_buffer *_Nonnull buffer);

/* An eventfd to cancel a kiln_run with (write 1 to it), or -errno. */
int kiln_cancel_fd(void);
void kiln_cancel(int fd);
void kiln_close(int fd);
#endif
