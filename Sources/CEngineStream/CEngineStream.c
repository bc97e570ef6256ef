#define _GNU_SOURCE
#include "CEngineStream.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Waits until `fd` has `events` before `deadline` (ms of CLOCK_MONOTONIC; -1 never): 0, or -errno. */
static int wait_for(int fd, short events, long long deadline) {
    for (;;) {
        int left = deadline < 0 ? -1 : (int)(deadline - now_ms());
        if (deadline >= 0 && left <= 0) return -ETIMEDOUT;
        struct pollfd entry = {fd, events, 0};
        int ready = poll(&entry, 1, left);
        if (ready > 0) return 0;
        if (ready < 0 && errno != EINTR) return -errno;
    }
}

static long long deadline_of(int timeout_ms) { return timeout_ms < 0 ? -1 : now_ms() + timeout_ms; }

static int send_all(int fd, const void *bytes, size_t length, long long deadline) {
    size_t sent = 0;
    while (sent < length) {
        ssize_t n = send(fd, (const char *)bytes + sent, length - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            sent += (size_t)n;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -errno;
        int waited = wait_for(fd, POLLOUT, deadline);
        if (waited < 0) return waited;
    }
    return 0;
}

int kiln_stream_open(const char *socket_path, const void *request, size_t length, int timeout_ms, int *status) {
    long long deadline = deadline_of(timeout_ms);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof address.sun_path) return -ENAMETOOLONG;
    strcpy(address.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int error = 0;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) error = -errno;
    if (!error) error = send_all(fd, request, length, deadline);
    /* The head is read a byte at a time (once per exec, ahead of its job), so that nothing of the process's
     * streams after it is taken. */
    char head[4096];
    size_t head_length = 0;
    while (!error && (head_length < 4 || memcmp(head + head_length - 4, "\r\n\r\n", 4) != 0)) {
        long long left = deadline - now_ms();
        if (head_length == sizeof head - 1) error = -EPROTO;
        else if (left <= 0) error = -ETIMEDOUT;
        else error = kiln_stream_read_exact(fd, head + head_length++, 1, (int)left);
    }
    if (!error) head[head_length] = 0;
    int code = 0;
    if (!error && (sscanf(head, "HTTP/1.%*d %d", &code) != 1 || code < 100)) error = -EPROTO;
    if (error) {
        close(fd);
        return error;
    }
    *status = code;
    return fd;
}

int kiln_stream_read_exact(int fd, void *buffer, size_t count, int timeout_ms) {
    long long deadline = deadline_of(timeout_ms);
    size_t got = 0;
    while (got < count) {
        ssize_t n = recv(fd, (char *)buffer + got, count - got, MSG_DONTWAIT);
        if (n > 0) got += (size_t)n;
        else if (n == 0) return -EPIPE;
        else if (errno == EAGAIN) {
            int waited = wait_for(fd, POLLIN, deadline);
            if (waited < 0) return waited;
        } else if (errno != EINTR) return -errno;
    }
    return 0;
}

void kiln_stream_exchange(int fd, const void *input, size_t length, int timeout_ms, size_t limit,
                          kiln_stream_bytes *received, kiln_stream_end *end) {
    long long deadline = deadline_of(timeout_ms);
    memset(received, 0, sizeof *received);
    memset(end, 0, sizeof *end);
    int sent = send_all(fd, input, length, deadline);
    if (sent < 0) {
        *end = (kiln_stream_end){sent == -ETIMEDOUT ? 1 : 3, -sent};
        return;
    }
    size_t capacity = 0;
    for (;;) {
        if (received->count == capacity) {
            if (capacity > limit) {
                end->outcome = 2;
                return;
            }
            size_t grown = capacity ? capacity * 2 : 64 << 10;
            unsigned char *bytes = realloc(received->bytes, grown + 1);
            if (!bytes) {
                *end = (kiln_stream_end){3, ENOMEM};
                return;
            }
            received->bytes = bytes, capacity = grown;
        }
        ssize_t n = recv(fd, received->bytes + received->count, capacity - received->count, MSG_DONTWAIT);
        if (n > 0) {
            received->count += (size_t)n;
            if (received->count > limit) {
                end->outcome = 2;
                return;
            }
        } else if (n == 0) {
            return;
        } else if (errno == EAGAIN) {
            int waited = wait_for(fd, POLLIN, deadline);
            if (waited < 0) {
                *end = (kiln_stream_end){waited == -ETIMEDOUT ? 1 : 3, -waited};
                return;
            }
        } else if (errno != EINTR) {
            *end = (kiln_stream_end){3, errno};
            return;
        }
    }
}

void kiln_stream_close(int fd) {
    if (fd >= 0) close(fd);
}
