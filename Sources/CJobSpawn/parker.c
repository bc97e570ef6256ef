#define _GNU_SOURCE
#include "CJobSpawn.h"
#include "spawn_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* The parker (kiln-job-parker), exec'd by kiln_park: a small program of its own, so that a process waiting for a
 * job never shares the server's memory (a fork of the server would make every page the server writes afterwards
 * a copy-on-write fault). It joins the cgroups (the one slow step, done before any job needs it), reports "R",
 * and waits for its command (see kiln_send_command for the message). It sets the rlimits and execs; EOF on the
 * control socket ends it. It opens the command's syscall filter and becomes the command's user last (see
 * kiln_open_filter_and_become). With KILN_COMMAND_AHEAD it keeps the control socket and passes its own program as
 * descriptor 5: the command is then bubblewrap running `/proc/self/fd/5 stub`, a sandbox made ready before its
 * job, whose stub waits inside for the job's command. */

extern char **environ;

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

typedef struct {
    int32_t flags;
    int32_t uid;
    int32_t gid;
    const char *cwd;
    const char *path;
    const char *filter;
    char **argv;
    char **envp;
} command;

/* Reads one command from `fd` and sets its rlimits: 1, 0 at EOF, -1 on failure (report says where). */
static int read_command(int fd, command *c, child_report *report) {
    report->stage = STAGE_COMMAND;
    uint64_t length;
    int got = read_full(fd, &length, sizeof length);
    if (got != 1) return got;
    if (length < 27 || length > (1u << 30)) return errno = EINVAL, -1;
    char *spec = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (spec == MAP_FAILED || read_full(fd, spec, length) != 1 || spec[length - 1] != 0) return errno = EIO, -1;
    int32_t counts[6]; /* argc, envc, limits, flags, uid, gid */
    memcpy(counts, spec, sizeof counts);
    size_t offset = sizeof counts;
    c->flags = counts[3], c->uid = counts[4], c->gid = counts[5];
    report->stage = STAGE_RLIMIT;
    for (int32_t i = 0; i < counts[2]; i++) {
        int32_t resource;
        uint64_t value;
        if (offset + 12 > length) return errno = EINVAL, -1;
        memcpy(&resource, spec + offset, 4);
        memcpy(&value, spec + offset + 4, 8);
        offset += 12;
        struct rlimit limit = {(rlim_t)value, (rlim_t)value};
        if (setrlimit(resource, &limit) < 0) return -1;
    }
    report->stage = STAGE_COMMAND;
    if (counts[0] < 1 || counts[1] < 0 || counts[0] > (1 << 20) || counts[1] > (1 << 20)) return errno = EINVAL, -1;
    size_t slots = (size_t)counts[0] + (size_t)counts[1] + 2;
    char **vectors = mmap(NULL, slots * sizeof(char *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (vectors == MAP_FAILED) return -1;
    /* Every string is NUL-terminated and the last byte is NUL, so strlen never runs past the message. */
    const char *strings[3];
    for (int i = 0; i < 3; i++) {
        if (offset >= length) return errno = EINVAL, -1;
        strings[i] = spec + offset;
        offset += strlen(strings[i]) + 1;
    }
    c->cwd = strings[0][0] ? strings[0] : NULL;
    c->path = strings[1];
    c->filter = strings[2][0] ? strings[2] : NULL;
    c->argv = vectors, c->envp = vectors + counts[0] + 1;
    for (int32_t i = 0; i < counts[0] + counts[1]; i++) {
        if (offset >= length) return errno = EINVAL, -1;
        char *string = spec + offset;
        offset += strlen(string) + 1;
        if (i < counts[0]) c->argv[i] = string;
        else c->envp[i - counts[0]] = string;
    }
    c->argv[counts[0]] = NULL, c->envp[counts[1]] = NULL;
    return 1;
}

/* The job's variables, then those of `inherited` whose names the job does not set: what the engine's exec gives
 * a command (the container's variables under the exec's own). NULL when out of memory. */
static char **merged_environment(char **job, char **inherited) {
    size_t count = 0, extra = 0;
    while (job[count]) count++;
    while (inherited && inherited[extra]) extra++;
    char **merged = calloc(count + extra + 1, sizeof(char *));
    if (!merged) return NULL;
    memcpy(merged, job, count * sizeof(char *));
    size_t used = count;
    for (size_t i = 0; i < extra; i++) {
        size_t name = strcspn(inherited[i], "=");
        int set = 0;
        for (size_t j = 0; j < count && !set; j++) set = strncmp(job[j], inherited[i], name) == 0 && job[j][name] == '=';
        if (!set) merged[used++] = inherited[i];
    }
    return merged;
}

/* Inside a sandbox made ready ahead: the job's command arrives on `control`, and the stub enters the job's
 * directory and becomes the compiler. Under bubblewrap (`stub`) the control socket is descriptor 3 and a
 * failure is reported as bubblewrap's own (a message and status 1). In a docker container (`stub-stdin`, an exec
 * started ahead of its job) it is stdin: the stub first writes "K" to stdout (so the builder knows the exec runs
 * before any job depends on it), then "G" once it has the command (so a stub that ended first is told from a
 * job); it takes the container's variables under the job's, as the engine would, and fails as the engine's exec
 * would (127: not found, 126: not runnable). */
static int stub_main(int control, int in_container) {
    if (!in_container) close(KILN_PARKER_SELF);
    if (in_container && write(1, "K", 1) != 1) _exit(1);
    command c;
    child_report report = {0, STAGE_COMMAND};
    int got = read_command(control, &c, &report);
    if (got == 0) _exit(0);
    if (got < 0) {
        dprintf(2, "kiln-job-parker: reading the command: %s\n", strerror(errno));
        _exit(1);
    }
    if (in_container) {
        /* Taken: what the builder reads next is the job's (a stream without this never ran the job). */
        if (write(1, "G", 1) != 1) _exit(1);
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0) _exit(1);
        if (null != 0) close(null);
        char **merged = merged_environment(c.envp, environ);
        if (!merged) _exit(1);
        c.envp = merged;
    } else {
        close(control);
    }
    if (c.cwd && chdir(c.cwd) < 0) {
        dprintf(2, "kiln-job-parker: cannot enter %s: %s\n", c.cwd, strerror(errno));
        _exit(in_container ? 126 : 1);
    }
    environ = c.envp; /* execvp searches the job's PATH, as bubblewrap's execvp did */
    execvp(c.path, c.argv);
    int error = errno;
    dprintf(2, "kiln-job-parker: execvp %s: %s\n", c.path, strerror(error));
    _exit(in_container ? (error == ENOENT ? 127 : 126) : 1);
}

int kiln_parker_main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "stub") == 0) return stub_main(KILN_PARKER_CONTROL, 0);
    if (argc == 2 && strcmp(argv[1], "stub-stdin") == 0) return stub_main(0, 1);
    child_report report = {0, STAGE_CGROUP};
    int cgroup_fd_count = argc == 2 ? atoi(argv[1]) : -1;
    if (cgroup_fd_count < 0 || cgroup_fd_count > KILN_MAX_KEPT_FDS - KILN_PARKER_CGROUPS) {
        report.error = EINVAL;
        goto fail;
    }
    for (int i = 0; i < cgroup_fd_count; i++) {
        if (write(KILN_PARKER_CGROUPS + i, "0", 1) != 1) goto fail;
    }
    kiln_close_from(KILN_PARKER_CGROUPS);
    if (write(KILN_PARKER_REPORT, "R", 1) != 1) _exit(127);
    command c;
    int got = read_command(KILN_PARKER_CONTROL, &c, &report);
    if (got == 0) _exit(0); /* unparked, or the server is gone */
    if (got < 0) goto fail;
    report.stage = STAGE_DUP2;
    if (c.flags & KILN_COMMAND_AHEAD) {
        int self = open("/proc/self/exe", O_RDONLY);
        if (self < 0 || (self != KILN_PARKER_SELF && dup2(self, KILN_PARKER_SELF) < 0)) goto fail;
        if (self != KILN_PARKER_SELF) close(self);
    } else {
        close(KILN_PARKER_CONTROL);
    }
    if (kiln_open_filter_and_become(c.filter, c.uid, c.gid, &report.stage) < 0) goto fail;
    report.stage = STAGE_DUP2;
    if (fcntl(KILN_PARKER_REPORT, F_SETFD, FD_CLOEXEC) < 0) goto fail;
    report.stage = STAGE_EXECVE;
    execve(c.path, c.argv, c.envp);
fail:
    if (report.error == 0) report.error = errno;
    (void)write(KILN_PARKER_REPORT, &report, sizeof report);
    _exit(127);
}
