#ifndef KILN_SPAWN_INTERNAL_H
#define KILN_SPAWN_INTERNAL_H
#include "CJobSpawn.h"

/* What a child that failed before exec writes to its report pipe. */
typedef struct {
    int error;
    int stage;
} child_report;

/* Stages of child_report.stage. */
enum { STAGE_SETSID, STAGE_CGROUP, STAGE_RLIMIT, STAGE_DUP2, STAGE_EXECVE, STAGE_COMMAND, STAGE_FILTER, STAGE_USER };

/* The descriptors kiln-job-parker has, by the numbers it is given them: 0-2 the job's streams, the control
 * socket, the report pipe, then one open `cgroup.procs` file per hierarchy to join; in a sandbox made ready
 * ahead, its own program as SELF (the cgroup files are closed by then). */
enum { KILN_PARKER_CONTROL = 3, KILN_PARKER_REPORT = 4, KILN_PARKER_CGROUPS = 5, KILN_PARKER_SELF = 5 };

/* Default dispositions for every signal and an empty mask (async-signal-safe: for children). */
void kiln_reset_signals(void);
const char *kiln_stage_name(int stage);
/* In a child: moves keep[i] to descriptor i (0 <= i < count) and closes every other descriptor; -1 on failure. */
int kiln_arrange_fds(int *keep, int count);
/* In a child: opens `filter_path` (nullable) as KILN_FILTER_FD, then becomes `uid`/`gid` (-1: stays) with no
 * supplementary groups, by raw system calls (glibc's setuid would signal the threads of a vfork parent).
 * 0, or -1 with errno set and `stage` saying which step failed. */
int kiln_open_filter_and_become(const char *filter_path, int uid, int gid, int *stage);
/* In a child: closes every descriptor from `first` on. */
void kiln_close_from(int first);
/* The most descriptors a child keeps: its streams, its pipes and one per cgroup hierarchy it joins. */
enum { KILN_MAX_KEPT_FDS = 16 };
void kiln_fail_start(kiln_run_result *result, int error, const char *stage);
int kiln_make_pipes(int pipes[3][2], int *devnull);
void kiln_wait_for(pid_t pid, int report_r, int out_r, int err_r, int timeout_ms, int cancel_fd, size_t limit,
                   kiln_buffer *out, kiln_buffer *err, kiln_run_result *result);
#endif
