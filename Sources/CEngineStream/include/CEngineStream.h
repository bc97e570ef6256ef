#ifndef CENGINESTREAM_H
#define CENGINESTREAM_H
#include <stddef.h>

/* A connection to the Docker engine's unix socket that the engine hands over to a process's streams (an attached
 * exec's `start`, answered `101 UPGRADED`): what libcurl cannot keep open in both directions. Blocking calls,
 * each with a deadline; for a bounded pool's threads, never an event loop. */

/* Connects to `socket_path`, sends `request` (a whole HTTP/1.1 request) and reads the head of the answer.
 * The connected descriptor with `*status` set to the answer's status, or -errno (ETIMEDOUT past the deadline,
 * EPROTO for an answer that is not HTTP). Nothing after the head is read. */
int kiln_stream_open(const char *_Nonnull socket_path, const void *_Nonnull request, size_t length, int timeout_ms,
                     int *_Nonnull status);

/* Reads exactly `count` bytes: 0, or -errno (EPIPE: the stream ended first; ETIMEDOUT). */
int kiln_stream_read_exact(int fd, void *_Nonnull buffer, size_t count, int timeout_ms);

/* What kiln_stream_exchange read, until the stream's end or a limit; free `bytes` with free(). */
typedef struct {
    unsigned char *_Nullable bytes;
    size_t count;
} kiln_stream_bytes;

/* How kiln_stream_exchange ended: 0 the stream ended, 1 the deadline passed, 2 more than `limit` bytes came,
 * 3 a failure (errno in `error`). */
typedef struct {
    int outcome;
    int error;
} kiln_stream_end;

/* Sends `input`, then reads everything the other side sends until it closes the stream. */
void kiln_stream_exchange(int fd, const void *_Nonnull input, size_t length, int timeout_ms, size_t limit,
                          kiln_stream_bytes *_Nonnull received, kiln_stream_end *_Nonnull end);

void kiln_stream_close(int fd);
#endif
