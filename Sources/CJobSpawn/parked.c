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
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The server's side of a parked process: starting kiln-job-parker (parker.c), sending it its command, waiting. */

/* Runs in the vfork child of kiln_park: only async-signal-safe calls, never returns. Every descriptor the parker
 * does not need is closed before it execs (and so before its slow cgroup join). */
static void parker_child(const char *parker, char *const *argv, const int *cgroup_fds, int cgroup_fd_count,
                         int control, int report_w, int out_w, int err_w, int devnull) {
    kiln_reset_signals();
    int report_fd = report_w;
    child_report report = {0, STAGE_SETSID};
    if (setsid() < 0) goto fail;
    report.stage = STAGE_DUP2;
    int count = KILN_PARKER_CGROUPS + cgroup_fd_count;
    int keep[KILN_MAX_KEPT_FDS];
    if (count > KILN_MAX_KEPT_FDS) goto fail;
    keep[0] = devnull, keep[1] = out_w, keep[2] = err_w, keep[KILN_PARKER_CONTROL] = control, keep[KILN_PARKER_REPORT] = report_w;
    for (int i = 0; i < cgroup_fd_count; i++) keep[KILN_PARKER_CGROUPS + i] = cgroup_fds[i];
    if (kiln_arrange_fds(keep, count) < 0) goto fail;
    report_fd = KILN_PARKER_REPORT;
    report.stage = STAGE_EXECVE;
    char *const empty[] = {NULL};
    execve(parker, argv, empty);
fail:
    report.error = errno;
    (void)write(report_fd, &report, sizeof report);
    _exit(127);
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

static size_t append_string(char *message, size_t offset, const char *string) {
    size_t length = strlen(string) + 1;
    memcpy(message + offset, string, length);
    return offset + length;
}

int kiln_encode_command(const kiln_spawn_request *request, const char *cwd, int flags, kiln_buffer *message) {
    memset(message, 0, sizeof *message);
    int argc = 0, envc = 0;
    while (request->argv[argc]) argc++;
    while (request->envp[envc]) envc++;
    cwd = cwd ? cwd : "";
    const char *filter = request->filter_path ? request->filter_path : "";
    size_t length = 24 + 12 * (size_t)request->limit_count + strlen(cwd) + 1 + strlen(request->path) + 1 + strlen(filter) + 1;
    for (int i = 0; i < argc; i++) length += strlen(request->argv[i]) + 1;
    for (int i = 0; i < envc; i++) length += strlen(request->envp[i]) + 1;
    char *bytes = malloc(8 + length);
    if (!bytes) return -ENOMEM;
    uint64_t size = length;
    int32_t counts[6] = {argc, envc, request->limit_count, flags, request->uid, request->gid};
    size_t offset = 0;
    memcpy(bytes, &size, 8), offset += 8;
    memcpy(bytes + offset, counts, 24), offset += 24;
    for (int i = 0; i < request->limit_count; i++) {
        int32_t resource = request->limits[i].resource;
        uint64_t value = request->limits[i].value;
        memcpy(bytes + offset, &resource, 4), memcpy(bytes + offset + 4, &value, 8), offset += 12;
    }
    offset = append_string(bytes, offset, cwd);
    offset = append_string(bytes, offset, request->path);
    offset = append_string(bytes, offset, filter);
    for (int i = 0; i < argc; i++) offset = append_string(bytes, offset, request->argv[i]);
    for (int i = 0; i < envc; i++) offset = append_string(bytes, offset, request->envp[i]);
    *message = (kiln_buffer){(unsigned char *)bytes, offset};
    return 0;
}

int kiln_send_command(kiln_parked *parked, const kiln_spawn_request *request, const char *cwd, int flags) {
    if (parked->control_fd < 0) return -EPIPE;
    kiln_buffer message;
    int encoded = kiln_encode_command(request, cwd, flags, &message);
    if (encoded < 0) return encoded;
    size_t sent = 0;
    int error = 0;
    while (sent < message.count) {
        ssize_t n = send(parked->control_fd, message.bytes + sent, message.count - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            error = n < 0 ? errno : EPIPE;
            break;
        }
        sent += (size_t)n;
    }
    kiln_buffer_free(&message);
    return -error;
}

void kiln_launch(kiln_parked *parked, const kiln_spawn_request *request, const char *cwd, int timeout_ms,
                 int cancel_fd, size_t limit, kiln_buffer *out, kiln_buffer *err, kiln_run_result *result) {
    memset(result, 0, sizeof *result);
    /* A process that died meanwhile reports nothing: its report pipe just ends, and it reads as killed. */
    (void)kiln_send_command(parked, request, cwd, 0);
    close(parked->control_fd);
    parked->control_fd = -1;
    kiln_wait_for(parked->pid, parked->report_fd, parked->out_fd, parked->err_fd, timeout_ms, cancel_fd, limit, out, err,
                  result);
    parked->pid = 0;
}

void kiln_unpark(kiln_parked *parked) {
    if (parked->pid <= 0) return;
    if (parked->control_fd >= 0) close(parked->control_fd);
    /* Its whole session: a sandbox made ready ahead is bubblewrap and the stub below it. */
    kill(-parked->pid, SIGKILL);
    kill(parked->pid, SIGKILL);
    int status;
    while (waitpid(parked->pid, &status, 0) < 0 && errno == EINTR) {}
    close(parked->report_fd), close(parked->out_fd), close(parked->err_fd);
    parked->pid = 0;
}
