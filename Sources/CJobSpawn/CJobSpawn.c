#define _GNU_SOURCE
#include "CJobSpawn.h"
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


/* Where a child failed before exec, in the order the child does things (indexes of child_report.stage). */
static const char *const stages[] = {"setsid", "cgroup join", "setrlimit", "dup2", "execve", "reading the command",
                                     "opening the syscall filter", "becoming the job's user"};

const char *kiln_stage_name(int stage) { return stage >= 0 && stage <= STAGE_USER ? stages[stage] : "start"; }

int kiln_open_filter_and_become(const char *filter_path, int uid, int gid, int *stage) {
    if (filter_path) {
        *stage = STAGE_FILTER;
        int fd = open(filter_path, O_RDONLY);
        if (fd < 0) return -1;
        if (fd != KILN_FILTER_FD) {
            if (dup2(fd, KILN_FILTER_FD) < 0) return -1;
            close(fd);
        }
    }
    *stage = STAGE_USER;
    if (gid >= 0 && (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, gid, gid, gid) < 0)) return -1;
    if (uid >= 0 && syscall(SYS_setresuid, uid, uid, uid) < 0) return -1;
    return 0;
}

void kiln_reset_signals(void) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < _NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) (void)sigaction(s, &dfl, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

int kiln_arrange_fds(int *keep, int count) {
    int floor = count;
    for (int i = 0; i < count; i++) floor = keep[i] >= floor ? keep[i] + 1 : floor;
    for (int i = 0; i < count; i++) {
        if ((keep[i] = fcntl(keep[i], F_DUPFD, floor)) < 0) return -1;
    }
    for (int i = 0; i < count; i++) {
        if (dup2(keep[i], i) < 0) return -1;
    }
    kiln_close_from(count);
    return 0;
}

void kiln_close_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0U) == 0) return;
    /* Without close_range (Linux < 5.9, or a seccomp profile that refuses it): one by one. */
    struct rlimit files;
    int last = getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 65536 ? (int)files.rlim_cur : 65536;
    for (int fd = first; fd < last; fd++) close(fd);
}

/* Runs in the vfork child: only async-signal-safe calls, no allocation, never returns. Every descriptor it does
 * not need is closed before the slow cgroup join: a copy of a file open for writing would make an exec of that
 * file fail meanwhile (ETXTBSY). */
static void child(const kiln_spawn_request *request, int devnull, int out_w, int err_w, int report_w) {
    kiln_reset_signals();
    child_report report = {0, STAGE_SETSID};
    int report_fd = report_w;
    if (setsid() < 0) goto fail;
    report.stage = STAGE_DUP2;
    enum { REPORT = 3, CGROUPS = 4 };
    int count = CGROUPS + request->cgroup_fd_count;
    int keep[KILN_MAX_KEPT_FDS];
    if (count > KILN_MAX_KEPT_FDS) goto fail;
    keep[0] = devnull, keep[1] = out_w, keep[2] = err_w, keep[REPORT] = report_w;
    for (int i = 0; i < request->cgroup_fd_count; i++) keep[CGROUPS + i] = request->cgroup_fds[i];
    if (kiln_arrange_fds(keep, count) < 0) goto fail;
    report_fd = REPORT;
    report.stage = STAGE_CGROUP;
    for (int i = 0; i < request->cgroup_fd_count; i++) {
        if (write(CGROUPS + i, "0", 1) != 1) goto fail;
    }
    kiln_close_from(CGROUPS);
    report.stage = STAGE_RLIMIT;
    for (int i = 0; i < request->limit_count; i++) {
        struct rlimit limit = {(rlim_t)request->limits[i].value, (rlim_t)request->limits[i].value};
        if (setrlimit(request->limits[i].resource, &limit) < 0) goto fail;
    }
    if (kiln_open_filter_and_become(request->filter_path, request->uid, request->gid, &report.stage) < 0) goto fail;
    /* The report pipe closes at exec: its EOF tells the parent that exec worked. */
    report.stage = STAGE_DUP2;
    if (fcntl(REPORT, F_SETFD, FD_CLOEXEC) < 0) goto fail;
    report.stage = STAGE_EXECVE;
    execve(request->path, request->argv, request->envp);
fail:
    report.error = errno;
    (void)write(report_fd, &report, sizeof report);
    _exit(127);
}

static int64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Appends what `fd` has; 0 at EOF, 1 while open, 2 when the buffer passed `limit`. */
static int drain(int fd, kiln_buffer *buffer, size_t limit) {
    unsigned char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n == 0) return 0;
        if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 1 : 0;
        if (buffer->count + (size_t)n > limit) return 2;
        unsigned char *grown = realloc(buffer->bytes, buffer->count + (size_t)n);
        if (!grown) return 2;
        memcpy(grown + buffer->count, chunk, (size_t)n);
        buffer->bytes = grown;
        buffer->count += (size_t)n;
    }
}

void kiln_fail_start(kiln_run_result *result, int error, const char *stage) {
    result->outcome = 5;
    result->error = error;
    result->stage = stage;
}

/* After a kill: waits up to `ms` for the streams to end, discarding what comes. A group's kill does not reach a
 * sandbox's inner processes (a new session, a pid namespace that dies only after its init): they hold the streams
 * until they are gone, so their end says the job's processes are. */
static void await_streams_end(int out_r, int err_r, int open_streams[2], int ms) {
    int64_t until = now_ms() + ms;
    kiln_buffer discarded = {0};
    while (open_streams[0] || open_streams[1]) {
        int64_t left = until - now_ms();
        if (left <= 0) return;
        struct pollfd fds[2] = {{open_streams[0] ? out_r : -1, POLLIN, 0}, {open_streams[1] ? err_r : -1, POLLIN, 0}};
        int ready = poll(fds, 2, (int)left);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return;
        for (int i = 0; i < 2; i++) {
            if (fds[i].revents && drain(i == 0 ? out_r : err_r, &discarded, 0) == 0) open_streams[i] = 0;
        }
    }
}

/* Waits for `pid` (started with its streams on out_r/err_r and `report_r` closing at exec): collects the
 * streams, enforces the deadline, the cancel descriptor and the limit, and reaps it. Closes the descriptors. */
void kiln_wait_for(pid_t pid, int report_r, int out_r, int err_r, int timeout_ms, int cancel_fd, size_t limit,
                     kiln_buffer *out, kiln_buffer *err, kiln_run_result *result) {
    child_report report;
    ssize_t got;
    do got = read(report_r, &report, sizeof report);
    while (got < 0 && errno == EINTR);
    close(report_r);
    if (got == sizeof report) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        close(out_r), close(err_r);
        return kiln_fail_start(result, report.error, kiln_stage_name(report.stage));
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    fcntl(out_r, F_SETFL, O_NONBLOCK);
    fcntl(err_r, F_SETFL, O_NONBLOCK);
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    int open_streams[2] = {1, 1};
    int exited = 0, kill_reason = 0;
    int64_t drain_deadline = -1;
    while (open_streams[0] || open_streams[1] || !exited) {
        struct pollfd fds[4] = {
            {open_streams[0] ? out_r : -1, POLLIN, 0},
            {open_streams[1] ? err_r : -1, POLLIN, 0},
            {exited ? -1 : pidfd, POLLIN, 0},
            {cancel_fd, POLLIN, 0},
        };
        int64_t now = now_ms(), wait = -1;
        if (deadline >= 0) wait = deadline > now ? deadline - now : 0;
        /* After the program exits, its streams get two seconds to end (a process it left may hold them). */
        if (drain_deadline >= 0) wait = (wait < 0 || drain_deadline - now < wait) ? (drain_deadline > now ? drain_deadline - now : 0) : wait;
        int ready = poll(fds, 4, wait > INT32_MAX ? INT32_MAX : (int)wait);
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) {
            if (!exited) kill_reason = 2;
            break;
        }
        if (fds[3].revents) {
            kill_reason = 3;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (!fds[i].revents) continue;
            int state = drain(i == 0 ? out_r : err_r, i == 0 ? out : err, limit);
            if (state == 2) kill_reason = 4;
            if (state == 0) open_streams[i] = 0;
        }
        if (kill_reason) break;
        if (fds[2].revents || pidfd < 0) {
            /* Without a pidfd (never on Linux >= 5.3) the streams' end stands for the exit. */
            if (pidfd >= 0 || (!open_streams[0] && !open_streams[1])) {
                exited = 1;
                drain_deadline = now_ms() + 2000;
            }
        }
    }
    if (kill_reason) {
        kill(-pid, SIGKILL);
        await_streams_end(out_r, err_r, open_streams, 2000);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (pidfd >= 0) close(pidfd);
    close(out_r), close(err_r);
    if (kill_reason) {
        result->outcome = kill_reason;
    } else if (WIFEXITED(status)) {
        result->outcome = 0;
        result->code = WEXITSTATUS(status);
    } else {
        result->outcome = 1;
        result->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
}

/* stdout, stderr and report pipes (all close-on-exec) and /dev/null; -errno on failure, nothing left open. */
int kiln_make_pipes(int pipes[3][2], int *devnull) {
    *devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (*devnull < 0) return -errno;
    for (int i = 0; i < 3; i++) {
        if (pipe2(pipes[i], O_CLOEXEC) < 0) {
            int error = errno;
            for (int j = 0; j < i; j++) close(pipes[j][0]), close(pipes[j][1]);
            close(*devnull);
            return -error;
        }
    }
    return 0;
}

void kiln_run(const kiln_spawn_request *request, int timeout_ms, int cancel_fd, size_t limit, kiln_buffer *out,
              kiln_buffer *err, kiln_run_result *result) {
    memset(result, 0, sizeof *result);
    int pipes[3][2], devnull;
    int made = kiln_make_pipes(pipes, &devnull);
    if (made < 0) return kiln_fail_start(result, -made, "pipe");
    /* No handler of this process may run in the child before it resets them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = vfork();
    if (pid == 0) child(request, devnull, pipes[0][1], pipes[1][1], pipes[2][1]);
    int fork_error = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(devnull), close(pipes[0][1]), close(pipes[1][1]), close(pipes[2][1]);
    if (pid < 0) {
        close(pipes[0][0]), close(pipes[1][0]), close(pipes[2][0]);
        return kiln_fail_start(result, fork_error, "vfork");
    }
    kiln_wait_for(pid, pipes[2][0], pipes[0][0], pipes[1][0], timeout_ms, cancel_fd, limit, out, err, result);
}

void kiln_buffer_free(kiln_buffer *buffer) {
    free(buffer->bytes);
    buffer->bytes = NULL;
    buffer->count = 0;
}

int kiln_cancel_fd(void) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

void kiln_cancel(int fd) {
    uint64_t one = 1;
    (void)write(fd, &one, sizeof one);
}

void kiln_close(int fd) { close(fd); }
