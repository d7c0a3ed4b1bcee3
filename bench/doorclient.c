/* doorclient: the load generator of `make bench` for the line, Postfix-policy and HTTP doors.
 *
 * Why C, compiled by the bench with the system `cc`: on a 2-CPU machine the client has one
 * core against the server's one. A Python client can pipeline fast enough for the maximum,
 * but it cannot pace requests evenly at tens of thousands a second nor time each answer to a
 * few microseconds: its timers tick in milliseconds, so it would send bursts and measure its
 * own scheduling. This one busy-polls non-blocking sockets (epoll with no timeout) on its
 * own core, so it never sleeps while an answer waits: in `paced` mode every request leaves
 * when it is due (open loop: whatever the answers do) and is timed from that moment to the
 * last byte of its answer; in `max` mode each connection keeps DEPTH requests in flight
 * (DEPTH > 1 pipelines) and sends the next one as soon as an answer is read. A client that
 * sleeps between answers leaves the server idle too (each waits for the other's wake-up),
 * which would measure wake-ups, not the server.
 *
 * usage: doorclient FRAMING HOST PORT REQUESTS CONNECTIONS WARMUP SECONDS max DEPTH
 *        doorclient FRAMING HOST PORT REQUESTS CONNECTIONS WARMUP SECONDS paced RATE LATFILE
 *
 *   FRAMING   line   an answer is one line; "ERR ..." is a refusal
 *             policy an answer is name=value lines and an empty line; success is "action=FILTER ..."
 *             http   HTTP/1.1 with Content-Length; success is status 200
 *   REQUESTS  a file of requests, each a 4-byte little-endian length and its bytes, sent in turn
 *   WARMUP, SECONDS  answers (max) or requests due (paced) in the first WARMUP seconds are not measured
 *   RATE      requests per second in all; each goes to an idle connection when there is one
 *   LATFILE   written with the latency of every measured request, uint64 nanoseconds, in order
 *
 * Prints one JSON line (see bench/doors.py, which reads it); exits 2 on a usage or connect
 * error, 3 when the server closes a connection or answers what the framing cannot read.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 256
#define IN_CAP (1 << 20)
#define OUT_LIMIT (64u << 20)
#define RING (1 << 16)

typedef struct {
    const char *p;
    uint32_t n;
} request_t;

typedef struct {
    int fd;
    char *in;
    size_t in_len;
    char *out;
    size_t out_len, out_off, out_cap;
    uint64_t *due; /* when each outstanding request was due (ns), oldest first */
    size_t head, tail;
} conn_t;

typedef long (*framing_t)(const char *b, size_t n, int *ok);

static request_t *requests;
static size_t n_requests, next_request;
static conn_t conns[MAX_CONNECTIONS];
static int n_conns, epoll_fd;
static uint64_t sent, answered, ok_count, bad_count, measured;
static char first_bad[160];

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(int code, const char *what) {
    fprintf(stderr, "doorclient: %s\n", what);
    exit(code);
}

static long frame_line(const char *b, size_t n, int *ok) {
    const char *nl = memchr(b, '\n', n);
    if (!nl) return 0;
    *ok = nl != b && !(nl - b >= 4 && memcmp(b, "ERR ", 4) == 0);
    return nl - b + 1;
}

static long frame_policy(const char *b, size_t n, int *ok) {
    const char *end = memmem(b, n, "\n\n", 2);
    if (!end) return 0;
    *ok = end - b >= 14 && memcmp(b, "action=FILTER ", 14) == 0;
    return end - b + 2;
}

/* The Content-Length of a header block, -1 when it has none. */
static long content_length(const char *b, size_t n) {
    static const char name[] = "\ncontent-length:";
    size_t k = sizeof name - 1;
    for (size_t i = 0; i + k < n; i++) {
        if (b[i] == '\n' && strncasecmp(b + i, name, k) == 0) return strtol(b + i + k, NULL, 10);
    }
    return -1;
}

static long frame_http(const char *b, size_t n, int *ok) {
    const char *end = memmem(b, n, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - b) + 4;
    long body = content_length(b, head);
    if (body < 0) return -1;
    if (n < head + (size_t)body) return 0;
    *ok = head > 12 && memcmp(b, "HTTP/1.", 7) == 0 && memcmp(b + 9, "200", 3) == 0;
    return (long)(head + (size_t)body);
}

static void load_requests(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die(2, "cannot open the requests file");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) die(2, "cannot read the requests file");
    fclose(f);
    size_t cap = 1024;
    requests = malloc(cap * sizeof *requests);
    for (long off = 0; off + 4 <= size;) {
        uint32_t len = (uint32_t)(unsigned char)data[off] | (uint32_t)(unsigned char)data[off + 1] << 8 |
                       (uint32_t)(unsigned char)data[off + 2] << 16 | (uint32_t)(unsigned char)data[off + 3] << 24;
        off += 4;
        if (len == 0 || off + (long)len > size) die(2, "the requests file is malformed");
        if (n_requests == cap) requests = realloc(requests, (cap *= 2) * sizeof *requests);
        requests[n_requests++] = (request_t){data + off, len};
        off += len;
    }
    if (!n_requests) die(2, "the requests file holds no request");
}

static void connect_all(const char *host, int port) {
    epoll_fd = epoll_create1(0);
    if (epoll_fd < 0) die(2, "epoll_create1 failed");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) die(2, "HOST must be an IPv4 address");
    for (int i = 0; i < n_conns; i++) {
        conn_t *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) die(2, "cannot connect");
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->in = malloc(IN_CAP);
        c->out_cap = 1 << 16;
        c->out = malloc(c->out_cap);
        c->due = malloc(RING * sizeof *c->due);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0) die(2, "epoll_ctl failed");
    }
}

static size_t outstanding(const conn_t *c) { return c->tail - c->head; }

/* Queues the next request on c, due at `due`. */
static void enqueue(conn_t *c, uint64_t due) {
    const request_t *r = &requests[next_request];
    next_request = (next_request + 1) % n_requests;
    if (outstanding(c) == RING) die(3, "more than 65536 requests outstanding on one connection: the server fell behind");
    if (c->out_off && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    while (c->out_len + r->n > c->out_cap) {
        if (c->out_cap >= OUT_LIMIT) die(3, "the server stopped reading requests");
        c->out = realloc(c->out, c->out_cap *= 2);
    }
    memcpy(c->out + c->out_len, r->p, r->n);
    c->out_len += r->n;
    c->due[c->tail++ % RING] = due;
    sent++;
}

static void flush(conn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            die(3, "write failed: the server closed a connection");
        }
        c->out_off += (size_t)w;
    }
}

static void note_bad(const char *b, long len) {
    if (first_bad[0]) return;
    size_t n = (size_t)len < sizeof first_bad - 1 ? (size_t)len : sizeof first_bad - 1;
    for (size_t i = 0; i < n; i++) first_bad[i] = (b[i] >= 32 && b[i] < 127 && b[i] != '"' && b[i] != '\\') ? b[i] : '.';
}

/* Reads what c has and consumes every whole answer; calls on_answer(c, due) for each. Returns answers read. */
static int receive(conn_t *c, framing_t framing, void (*on_answer)(conn_t *, uint64_t, uint64_t), uint64_t t) {
    ssize_t r = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
    if (r == 0) die(3, "the server closed a connection");
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        die(3, "read failed");
    }
    c->in_len += (size_t)r;
    size_t off = 0;
    int count = 0;
    for (;;) {
        int ok = 0;
        long len = framing(c->in + off, c->in_len - off, &ok);
        if (len < 0) die(3, "an answer the framing cannot read (HTTP without Content-Length?)");
        if (len == 0) break;
        if (outstanding(c) == 0) die(3, "an answer to no request");
        answered++;
        if (ok) {
            ok_count++;
        } else {
            bad_count++;
            note_bad(c->in + off, len);
        }
        on_answer(c, c->due[c->head++ % RING], t);
        off += (size_t)len;
        count++;
    }
    if (off == 0 && c->in_len == IN_CAP) die(3, "an answer larger than 1 MiB");
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return count;
}

/* -- max: DEPTH in flight per connection ------------------------------------------------ */

static uint64_t warm_end, run_end;

static void on_answer_max(conn_t *c, uint64_t due, uint64_t t) {
    (void)due;
    if (t >= warm_end && t < run_end) measured++;
    enqueue(c, t);
}

/* Reads every connection with something to read (without waiting) and handles its answers. */
static void receive_ready(framing_t framing, void (*on_answer)(conn_t *, uint64_t, uint64_t)) {
    struct epoll_event events[MAX_CONNECTIONS];
    int n = epoll_wait(epoll_fd, events, MAX_CONNECTIONS, 0);
    if (n <= 0) return;
    uint64_t t = now_ns();
    for (int i = 0; i < n; i++) receive(events[i].data.ptr, framing, on_answer, t);
}

static void flush_all(void) {
    for (int k = 0; k < n_conns; k++)
        if (conns[k].out_off < conns[k].out_len) flush(&conns[k]);
}

static double run_max(framing_t framing, int depth, uint64_t warm, uint64_t seconds) {
    uint64_t start = now_ns();
    warm_end = start + warm;
    run_end = warm_end + seconds;
    for (int i = 0; i < n_conns; i++)
        for (int k = 0; k < depth; k++) enqueue(&conns[i], start);
    while (now_ns() < run_end) {
        flush_all();
        receive_ready(framing, on_answer_max);
    }
    return (double)seconds / 1e9;
}

/* -- paced: open loop at RATE ----------------------------------------------------------- */

static uint64_t *latencies;
static size_t n_latencies, latency_cap;

static void on_answer_paced(conn_t *c, uint64_t due, uint64_t t) {
    (void)c;
    if (due >= warm_end && due < run_end) {
        if (n_latencies < latency_cap) latencies[n_latencies++] = t - due;
        measured++;
    }
}

/* The connection with the fewest requests outstanding, looking from the one after the last used. */
static conn_t *least_busy(void) {
    static int last;
    conn_t *best = NULL;
    for (int k = 1; k <= n_conns; k++) {
        conn_t *c = &conns[(last + k) % n_conns];
        if (!best || outstanding(c) < outstanding(best)) best = c;
        if (outstanding(best) == 0) break;
    }
    last = (int)(best - conns);
    return best;
}

static double run_paced(framing_t framing, double rate, uint64_t warm, uint64_t seconds, uint64_t *unanswered) {
    latency_cap = (size_t)(rate * (double)seconds / 1e9 * 1.05) + 1024;
    latencies = malloc(latency_cap * sizeof *latencies);
    uint64_t start = now_ns() + 1000000;
    warm_end = start + warm;
    run_end = warm_end + seconds;
    double interval = 1e9 / rate;
    uint64_t i = 0;
    for (;;) {
        uint64_t t = now_ns();
        /* Every request due by now leaves now, late ones too (their lateness is in their latency). */
        for (uint64_t due; (due = start + (uint64_t)((double)i * interval)) <= t && due < run_end; i++) {
            conn_t *c = least_busy();
            enqueue(c, due);
            flush(c);
        }
        if (t >= run_end) break;
        flush_all();
        receive_ready(framing, on_answer_paced);
    }
    /* Let the answers to the last requests arrive (at most 2 s). */
    uint64_t give_up = now_ns() + 2000000000ull;
    for (;;) {
        uint64_t left = 0;
        for (int k = 0; k < n_conns; k++) left += outstanding(&conns[k]);
        if (!left || now_ns() > give_up) break;
        flush_all();
        receive_ready(framing, on_answer_paced);
    }
    *unanswered = 0;
    for (int k = 0; k < n_conns; k++)
        for (size_t j = conns[k].head; j != conns[k].tail; j++) {
            uint64_t due = conns[k].due[j % RING];
            if (due >= warm_end && due < run_end) (*unanswered)++;
        }
    return (double)seconds / 1e9;
}

static void write_latencies(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(latencies, sizeof *latencies, n_latencies, f) != n_latencies || fclose(f) != 0)
        die(2, "cannot write the latency file");
}

int main(int argc, char **argv) {
    if (argc < 10) die(2, "usage: FRAMING HOST PORT REQUESTS CONNECTIONS WARMUP SECONDS max DEPTH | paced RATE LATFILE");
    framing_t framing = !strcmp(argv[1], "line")     ? frame_line
                        : !strcmp(argv[1], "policy") ? frame_policy
                        : !strcmp(argv[1], "http")   ? frame_http
                                                     : NULL;
    if (!framing) die(2, "FRAMING must be line, policy or http");
    n_conns = atoi(argv[5]);
    if (n_conns < 1 || n_conns > MAX_CONNECTIONS) die(2, "CONNECTIONS must be 1..256");
    uint64_t warm = (uint64_t)(atof(argv[6]) * 1e9), seconds = (uint64_t)(atof(argv[7]) * 1e9);
    if (seconds == 0) die(2, "SECONDS must be > 0");
    load_requests(argv[4]);
    int paced = !strcmp(argv[8], "paced");
    if (!paced && strcmp(argv[8], "max")) die(2, "mode must be max or paced");
    if (paced && argc < 11) die(2, "paced needs RATE and LATFILE");
    connect_all(argv[2], atoi(argv[3]));
    uint64_t unanswered = 0;
    double elapsed;
    if (paced) {
        double rate = atof(argv[9]);
        if (rate <= 0) die(2, "RATE must be > 0");
        elapsed = run_paced(framing, rate, warm, seconds, &unanswered);
        write_latencies(argv[10]);
    } else {
        int depth = atoi(argv[9]);
        if (depth < 1 || depth > RING) die(2, "DEPTH must be 1..65536");
        elapsed = run_max(framing, depth, warm, seconds);
    }
    printf("{\"sent\": %llu, \"answered\": %llu, \"ok\": %llu, \"bad\": %llu, \"measured\": %llu, "
           "\"seconds\": %.6f, \"unanswered\": %llu, \"first_bad\": \"%s\"}\n",
           (unsigned long long)sent, (unsigned long long)answered, (unsigned long long)ok_count,
           (unsigned long long)bad_count, (unsigned long long)measured, elapsed, (unsigned long long)unanswered,
           first_bad);
    return 0;
}
