#define _GNU_SOURCE
#include "CJobSpawn.h"
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* 1 when all `n` bytes came, 0 at EOF, -1 on error. */
static int read_full(int fd, void *buffer, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buffer + got, n - got);
        if (r == 0) return 0;
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        got += (size_t)r;
    }
    return 1;
}

/* The descriptors the parker has, by the numbers it is given them: 0-2 the job's streams, then these, then one
 * open `cgroup.procs` file per hierarchy to join. */
enum { PARKED_CONTROL = 3, PARKED_REPORT = 4, PARKED_CGROUPS = 5 };

/* The parker (kiln-job-parker), exec'd by kiln_park: a small program of its own, so that a process waiting for a
 * job never shares the server's memory (a fork of the server would make every page the server writes afterwards
 * a copy-on-write fault). It joins the cgroups (the one slow step, done before any job needs it), reports "R",
 * and waits for the command: u64 length, then i32 argc, i32 envc, i32 limit count, (i32 resource, u64 value) per
 * limit, then path, argv and envp as NUL-terminated strings. It sets the rlimits and execs; EOF on the control
 * socket ends it. argv[1] is the number of cgroup files. */
int kiln_parker_main(int argc, char **argv) {
    child_report report = {0, STAGE_CGROUP};
    int cgroup_fd_count = argc == 2 ? atoi(argv[1]) : -1;
    if (cgroup_fd_count < 0 || cgroup_fd_count > KILN_MAX_KEPT_FDS - PARKED_CGROUPS) {
        report.error = EINVAL;
        goto fail;
    }
    for (int i = 0; i < cgroup_fd_count; i++) {
        if (write(PARKED_CGROUPS + i, "0", 1) != 1) goto fail;
    }
    kiln_close_from(PARKED_CGROUPS);
    if (write(PARKED_REPORT, "R", 1) != 1) _exit(127);

    report.stage = STAGE_COMMAND;
    uint64_t length;
    if (read_full(PARKED_CONTROL, &length, sizeof length) != 1) _exit(0); /* unparked, or the server is gone */
    if (length < 13 || length > (1u << 30)) goto fail;
    char *spec = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (spec == MAP_FAILED || read_full(PARKED_CONTROL, spec, length) != 1 || spec[length - 1] != 0) goto fail;
    int32_t counts[3];
    memcpy(counts, spec, sizeof counts);
    size_t offset = sizeof counts;
    report.stage = STAGE_RLIMIT;
    for (int32_t i = 0; i < counts[2]; i++) {
        int32_t resource;
        uint64_t value;
        if (offset + 12 > length) goto fail;
        memcpy(&resource, spec + offset, 4);
        memcpy(&value, spec + offset + 4, 8);
        offset += 12;
        struct rlimit limit = {(rlim_t)value, (rlim_t)value};
        if (setrlimit(resource, &limit) < 0) goto fail;
    }
    report.stage = STAGE_COMMAND;
    if (counts[0] < 1 || counts[1] < 0 || counts[0] > (1 << 20) || counts[1] > (1 << 20)) goto fail;
    size_t slots = (size_t)counts[0] + (size_t)counts[1] + 2;
    char **vectors = mmap(NULL, slots * sizeof(char *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (vectors == MAP_FAILED) goto fail;
    if (offset >= length) goto fail;
    char *path = spec + offset;
    offset += strlen(path) + 1;
    char **job_argv = vectors, **envp = vectors + counts[0] + 1;
    for (int32_t i = 0; i < counts[0]; i++) {
        if (offset >= length) goto fail;
        job_argv[i] = spec + offset;
        offset += strlen(job_argv[i]) + 1;
    }
    job_argv[counts[0]] = NULL;
    for (int32_t i = 0; i < counts[1]; i++) {
        if (offset >= length) goto fail;
        envp[i] = spec + offset;
        offset += strlen(envp[i]) + 1;
    }
    envp[counts[1]] = NULL;
    close(PARKED_CONTROL);
    if (fcntl(PARKED_REPORT, F_SETFD, FD_CLOEXEC) < 0) goto fail;
    report.stage = STAGE_EXECVE;
    execve(path, job_argv, envp);
fail:
    if (report.error == 0) report.error = errno;
    (void)write(PARKED_REPORT, &report, sizeof report);
    _exit(127);
}

/* Runs in the vfork child of kiln_park: only async-signal-safe calls, never returns. Every descriptor the parker
 * does not need is closed before it execs (and so before its slow cgroup join). */
static void parker_child(const char *parker, char *const *argv, const int *cgroup_fds, int cgroup_fd_count,
                         int control, int report_w, int out_w, int err_w, int devnull) {
    kiln_reset_signals();
    int report_fd = report_w;
    child_report report = {0, STAGE_SETSID};
    if (setsid() < 0) goto fail;
    report.stage = STAGE_DUP2;
    int count = PARKED_CGROUPS + cgroup_fd_count;
    int keep[KILN_MAX_KEPT_FDS];
    if (count > KILN_MAX_KEPT_FDS) goto fail;
    keep[0] = devnull, keep[1] = out_w, keep[2] = err_w, keep[PARKED_CONTROL] = control, keep[PARKED_REPORT] = report_w;
    for (int i = 0; i < cgroup_fd_count; i++) keep[PARKED_CGROUPS + i] = cgroup_fds[i];
    if (kiln_arrange_fds(keep, count) < 0) goto fail;
    report_fd = PARKED_REPORT;
    report.stage = STAGE_EXECVE;
    char *const empty[] = {NULL};
    execve(parker, argv, empty);
fail:
    report.error = errno;
    (void)write(report_fd, &report, sizeof report);
    _exit(127);
}

static size_t append_string(char *message, size_t offset, const char *string) {
    size_t length = strlen(string) + 1;
    memcpy(message + offset, string, length);
    return offset + length;
}

int kiln_park(const char *parker, const int *cgroup_fds, int cgroup_fd_count, kiln_parked *parked,
              kiln_run_result *failure) {
    memset(parked, 0, sizeof *parked);
    memset(failure, 0, sizeof *failure);
    char count_text[16];
    snprintf(count_text, sizeof count_text, "%d", cgroup_fd_count);
    char *const argv[] = {(char *)parker, count_text, NULL};
    int pipes[3][2], devnull, control[2];
    int made = kiln_make_pipes(pipes, &devnull);
    if (made < 0) return kiln_fail_start(failure, -made, "pipe"), -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) < 0) {
        int error = errno;
        for (int i = 0; i < 3; i++) close(pipes[i][0]), close(pipes[i][1]);
        close(devnull);
        return kiln_fail_start(failure, error, "socketpair"), -1;
    }
    /* No handler of this process may run in the child before it resets them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0)
        parker_child(parker, argv, cgroup_fds, cgroup_fd_count, control[1], pipes[2][1], pipes[0][1], pipes[1][1],
                     devnull);
    int fork_error = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(devnull), close(control[1]), close(pipes[0][1]), close(pipes[1][1]), close(pipes[2][1]);
    if (pid < 0) {
        close(control[0]), close(pipes[0][0]), close(pipes[1][0]), close(pipes[2][0]);
        return kiln_fail_start(failure, fork_error, "vfork"), -1;
    }
    char answer[sizeof(child_report)];
    ssize_t got;
    do got = read(pipes[2][0], answer, sizeof answer);
    while (got < 0 && errno == EINTR);
    if (got != 1 || answer[0] != 'R') {
        child_report report = {EIO, STAGE_COMMAND};
        if (got == sizeof report) memcpy(&report, answer, sizeof report);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        close(control[0]), close(pipes[0][0]), close(pipes[1][0]), close(pipes[2][0]);
        return kiln_fail_start(failure, report.error, kiln_stage_name(report.stage)), -1;
    }
    *parked = (kiln_parked){pid, control[0], pipes[2][0], pipes[0][0], pipes[1][0]};
    return 0;
}

void kiln_launch(kiln_parked *parked, const kiln_spawn_request *request, int timeout_ms, int cancel_fd, size_t limit,
                 kiln_buffer *out, kiln_buffer *err, kiln_run_result *result) {
    memset(result, 0, sizeof *result);
    int argc = 0, envc = 0;
    while (request->argv[argc]) argc++;
    while (request->envp[envc]) envc++;
    size_t length = 12 + 12 * (size_t)request->limit_count + strlen(request->path) + 1;
    for (int i = 0; i < argc; i++) length += strlen(request->argv[i]) + 1;
    for (int i = 0; i < envc; i++) length += strlen(request->envp[i]) + 1;
    char *message = malloc(8 + length);
    if (!message) {
        kiln_unpark(parked);
        return kiln_fail_start(result, ENOMEM, "malloc");
    }
    uint64_t size = length;
    int32_t counts[3] = {argc, envc, request->limit_count};
    size_t offset = 0;
    memcpy(message, &size, 8), offset += 8;
    memcpy(message + offset, counts, 12), offset += 12;
    for (int i = 0; i < request->limit_count; i++) {
        int32_t resource = request->limits[i].resource;
        uint64_t value = request->limits[i].value;
        memcpy(message + offset, &resource, 4), memcpy(message + offset + 4, &value, 8), offset += 12;
    }
    offset = append_string(message, offset, request->path);
    for (int i = 0; i < argc; i++) offset = append_string(message, offset, request->argv[i]);
    for (int i = 0; i < envc; i++) offset = append_string(message, offset, request->envp[i]);
    size_t sent = 0;
    while (sent < offset) {
        ssize_t n = send(parked->control_fd, message + sent, offset - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        sent += (size_t)n;
    }
    free(message);
    close(parked->control_fd);
    parked->control_fd = -1;
    /* A child that died meanwhile reports nothing: its report pipe just ends, and it reads as killed. */
    kiln_wait_for(parked->pid, parked->report_fd, parked->out_fd, parked->err_fd, timeout_ms, cancel_fd, limit, out, err,
                  result);
    parked->pid = 0;
}

void kiln_unpark(kiln_parked *parked) {
    if (parked->pid <= 0) return;
    if (parked->control_fd >= 0) close(parked->control_fd);
    kill(parked->pid, SIGKILL);
    int status;
    while (waitpid(parked->pid, &status, 0) < 0 && errno == EINTR) {}
    close(parked->report_fd), close(parked->out_fd), close(parked->err_fd);
    parked->pid = 0;
}
