/*
 * bench/fanout's load generator: a native program, so that the client is not the bottleneck.
 *
 *   loadgen sse  PORT PATH_FORMAT COUNT EXPECT SECONDS   N SSE readers on 127.0.0.1:PORT; PATH_FORMAT may
 *                                                        hold one %d (the reader's index, for filters).
 *                                                        Ends when the readers together received EXPECT
 *                                                        changes, or after SECONDS. Prints deliveries,
 *                                                        the time from the first to the last, the rate,
 *                                                        and commit-to-receipt latency p50/p99/max (from
 *                                                        each change's "timestamp", the commit time when
 *                                                        track_commit_timestamp is on).
 *                                    [replay]       with "replay", timing starts at connect (a catch-up from `since`).
 *   loadgen idle PORT PATH COUNT HOLD_SECONDS           N SSE readers that connect, wait until each got its
 *                                                        `event: live`, print "ready", hold for HOLD_SECONDS.
 *   loadgen ws   PORT TABLE COUNT HOLD_SECONDS          N WebSocket connections, one subscription each; as idle.
 *   loadgen chan PORT native|supabase CHANNEL COUNT EXPECT SECONDS
 *                                                        N WebSockets on a named channel: the native protocol's
 *                                                        `subscribe` with a channel, or a Supabase `phx_join` of
 *                                                        realtime:CHANNEL (vsn 1.0.0); "ready" once every socket
 *                                                        was answered; then counts messages whose payload carries
 *                                                        "ts":"<time>" (the sender's clock) until EXPECT or
 *                                                        SECONDS; prints deliveries, rate, latency p50/p99/max.
 *   loadgen rtt  PORT_A PORT_B CHANNEL COUNT SECONDS    ephemeral broadcast round trips between two clients on two
 *                                                        relays: A (on PORT_A) sends an ephemeral `ping` n on CHANNEL
 *                                                        (native protocol), B (on PORT_B) answers each ping it gets
 *                                                        with an ephemeral `pong` n, A times ping to pong; one round
 *                                                        trip at a time, COUNT of them or SECONDS. Prints
 *                                                        deliveries (round trips), rate, RTT p50/p99/max.
 *   loadgen pages PORT PATH COUNT EXPECT SECONDS        N clients at once (a thread each), each catching up from id 0
 *                                                        through PATH's JSON pages (PATH?since=S&limit=1000, one
 *                                                        connection per request, to the last page: has_more false).
 *                                                        Prints the requests, how many clients got EXPECT changes,
 *                                                        the time from the first request to the last answer.
 *   loadgen raw  CONNINFO CHANNEL EXPECT SECONDS WAIT   libpq LISTEN; prints "ready", sleeps WAIT seconds (so that a
 *                                                        backlog queues up), then drains EXPECT notifications and
 *                                                        prints the count, the time and the rate.
 *
 * Output is one line of key=value pairs for the driver script. Loopback only; bounded by count and time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int connect_loopback(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *text, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, text, n);
        if (w <= 0) { perror("write"); exit(1); }
        text += w;
        n -= w;
    }
}

/* "2026-12-02T10:00:00.123456Z" → seconds since the epoch. */
static double parse_timestamp(const char *s) {
    struct tm tm = {0};
    int year, mon, day, hour, min;
    double sec;
    if (sscanf(s, "%d-%d-%dT%d:%d:%lfZ", &year, &mon, &day, &hour, &min, &sec) != 6) return 0;
    tm.tm_year = year - 1900; tm.tm_mon = mon - 1; tm.tm_mday = day; tm.tm_hour = hour; tm.tm_min = min;
    return (double)timegm(&tm) + sec;
}

typedef struct {
    int fd;
    char *buf;
    size_t len, cap;
    int live;
    long changes;
} reader_t;

/* Reads what `r`'s socket has after what `r` holds, growing its buffer first when less than 8 KiB
 * is free; keeps the text NUL-terminated. Returns what read(2) returned. */
static ssize_t read_more(reader_t *r) {
    if (r->cap - r->len < 8192) { r->cap *= 2; r->buf = realloc(r->buf, r->cap); }
    ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len - 1);
    if (got > 0) r->len += got;
    r->buf[r->len] = 0;
    return got;
}

static double *latencies;
static long latency_count, latency_cap;
static long total_changes;
static double first_at, last_at;
static long live_count;

static void record_latency(double ms) {
    if (latency_count == latency_cap) {
        latency_cap = latency_cap ? latency_cap * 2 : 1 << 16;
        latencies = realloc(latencies, latency_cap * sizeof(double));
    }
    latencies[latency_count++] = ms;
}

/* Consumes whole lines of the (chunked) SSE body: counts change events and their latency. Chunk
 * size lines are short hex lines and never start with "id:", "event:" or "data:", so they are
 * skipped; a chunk boundary inside a line is rare enough for a benchmark and only loses a sample. */
static void consume(reader_t *r, int measure) {
    size_t start = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->buf[i] != '\n') continue;
        char *line = r->buf + start;
        size_t n = i - start;
        if (n >= 11 && memcmp(line, "event: live", 11) == 0) { r->live = 1; live_count++; }
        else if (n > 7 && memcmp(line, "data: {", 7) == 0 && memmem(line, n, "\"timestamp\"", 11)) {
            /* A change: pgrelay's events, and the peers' pg_notify payloads, carry a "timestamp"
             * (`"timestamp":"..."` or, as json_build_object writes it, `"timestamp" : "..."`). */
            r->changes++;
            total_changes++;
            double t = now();
            if (first_at == 0) first_at = t;
            last_at = t;
            if (measure) {
                char *ts = memmem(line, n, "\"timestamp\"", 11);
                char *open = ts ? memchr(ts + 11, '"', n - (ts + 11 - line)) : NULL;
                if (open) {
                    double committed = parse_timestamp(open + 1);
                    if (committed > 0) record_latency((t - committed) * 1000);
                }
            }
        }
        start = i + 1;
    }
    memmove(r->buf, r->buf + start, r->len - start);
    r->len -= start;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sends `text` as one masked text frame (mask 0: the payload as is), its length in the fewest bytes. */
static void send_text(int fd, const char *text) {
    size_t m = strlen(text);
    unsigned char frame[600] = {0x81};
    int head = 2;
    if (m < 126) frame[1] = (unsigned char)(0x80 | m);
    else { frame[1] = 0x80 | 126; frame[2] = (unsigned char)(m >> 8); frame[3] = (unsigned char)(m & 0xff); head = 4; }
    memset(frame + head, 0, 4);
    memcpy(frame + head + 4, text, m);
    send_all(fd, (char *)frame, head + 4 + m);
}

/* Upgrades `fd` to a WebSocket on `path` and sends `message`. */
static void open_websocket(int fd, const char *path, const char *message) {
    char request[512];
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path);
    send_all(fd, request, n);
    send_text(fd, message);
}

/* Prints what the readers received: deliveries, the time from the first to the last, the rate,
 * and latency p50/p99/max. */
static void report(void) {
    double span = last_at - first_at;
    qsort(latencies, latency_count, sizeof(double), compare);
    double p50 = latency_count ? latencies[latency_count / 2] : 0;
    double p99 = latency_count ? latencies[(long)(latency_count * 0.99)] : 0;
    double max = latency_count ? latencies[latency_count - 1] : 0;
    printf("deliveries=%ld seconds=%.3f rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", total_changes, span,
           span > 0 ? total_changes / span : 0, p50, p99, max);
}

static reader_t *open_readers(int port, const char *format, int count, int epfd, int ws, const char *table) {
    reader_t *readers = calloc(count, sizeof(reader_t));
    char request[1024], path[512];
    for (int i = 0; i < count; i++) {
        reader_t *r = &readers[i];
        r->fd = connect_loopback(port);
        r->cap = 1 << 14;
        r->buf = malloc(r->cap);
        if (ws) {
            char message[256];
            snprintf(message, sizeof message, "{\"type\":\"subscribe\",\"id\":\"s\",\"table\":\"%s\"}", table);
            open_websocket(r->fd, "/v1/ws", message);
        } else {
            snprintf(path, sizeof path, format, i);
            int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n", path);
            send_all(r->fd, request, n);
        }
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = r};
        epoll_ctl(epfd, EPOLL_CTL_ADD, r->fd, &e);
    }
    return readers;
}

/* Reads what is ready; returns when `done` holds or `seconds` pass. */
static void pump(int epfd, double deadline, int measure, long expect, int ws_count, int count) {
    struct epoll_event events[256];
    while (now() < deadline) {
        if (expect > 0 && total_changes >= expect) return;  /* expect < 0: only the deadline ends it */
        if (expect == 0 && ws_count == 0 && live_count >= count) return;
        int n = epoll_wait(epfd, events, 256, 100);
        for (int i = 0; i < n; i++) {
            reader_t *r = events[i].data.ptr;
            if (read_more(r) <= 0) { fprintf(stderr, "a reader was closed\n"); epoll_ctl(epfd, EPOLL_CTL_DEL, r->fd, NULL); continue; }
            if (ws_count) {
                if (!r->live && memmem(r->buf, r->len, "\"live\"", 6)) { r->live = 1; live_count++; }
                r->len = 0;
            } else {
                consume(r, measure);
            }
        }
        if (ws_count && live_count >= count) return;
    }
}

static int sse(int argc, char **argv) {
    if (argc < 7) return 2;
    int port = atoi(argv[2]), count = atoi(argv[4]);
    long expect = atol(argv[5]);
    double seconds = atof(argv[6]);
    int replay = argc > 7 && strcmp(argv[7], "replay") == 0;
    int epfd = epoll_create1(0);
    double opened = now();
    open_readers(port, argv[3], count, epfd, 0, NULL);
    if (!replay) {
        pump(epfd, now() + 60, 0, 0, 0, count);  /* until every reader is live */
        printf("ready live=%ld\n", live_count);
        fflush(stdout);
    }
    total_changes = 0; first_at = replay ? opened : 0;
    /* 0: no target, read until the time is up. */
    pump(epfd, now() + seconds, 1, expect > 0 ? expect : -1, 0, count);
    report();
    return 0;
}

static int hold(int argc, char **argv, int ws) {
    if (argc < 6) return 2;
    int port = atoi(argv[2]), count = atoi(argv[4]);
    double seconds = atof(argv[5]);
    int epfd = epoll_create1(0);
    open_readers(port, argv[3], count, epfd, ws, argv[3]);
    pump(epfd, now() + 120, 0, 0, ws ? 1 : 0, count);
    printf("ready live=%ld\n", live_count);
    fflush(stdout);
    sleep((unsigned)seconds);
    return 0;
}

/* Counts `"ts":"<time>"` in what a socket received (frames are not parsed: the marker cannot occur
 * in a frame header), keeping the last bytes for a marker split between reads. */
static void count_stamps(reader_t *r, int measure) {
    size_t start = 0;
    char *at;
    while ((at = memmem(r->buf + start, r->len - start, "\"ts\":\"", 6)) != NULL) {
        size_t offset = at - r->buf;
        if (offset + 6 + 27 > r->len) break;  /* the time is not all here yet */
        total_changes++;
        double t = now();
        if (first_at == 0) first_at = t;
        last_at = t;
        if (measure) {
            double sent = parse_timestamp(at + 6);
            if (sent > 0) record_latency((t - sent) * 1000);
        }
        start = offset + 6;
    }
    size_t keep = r->len - start < 64 ? r->len - start : 64;
    memmove(r->buf, r->buf + r->len - keep, keep);
    r->len = keep;
}

static int chan(int argc, char **argv) {
    if (argc < 8) return 2;
    int port = atoi(argv[2]), count = atoi(argv[5]);
    int supabase = strcmp(argv[3], "supabase") == 0;
    const char *channel = argv[4];
    long expect = atol(argv[6]);
    double seconds = atof(argv[7]);
    int epfd = epoll_create1(0);
    reader_t *readers = calloc(count, sizeof(reader_t));
    char message[512];
    if (supabase)
        snprintf(message, sizeof message, "{\"topic\":\"realtime:%s\",\"event\":\"phx_join\",\"payload\":{\"config\":{}},\"ref\":\"1\",\"join_ref\":\"1\"}", channel);
    else
        snprintf(message, sizeof message, "{\"type\":\"subscribe\",\"id\":\"c\",\"channel\":\"%s\"}", channel);
    for (int i = 0; i < count; i++) {
        reader_t *r = &readers[i];
        r->fd = connect_loopback(port);
        r->cap = 1 << 16;
        r->buf = malloc(r->cap);
        open_websocket(r->fd, supabase ? "/realtime/v1/websocket?vsn=1.0.0" : "/v1/ws", message);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = r};
        epoll_ctl(epfd, EPOLL_CTL_ADD, r->fd, &e);
    }
    /* Ready once every socket answered its subscribe or join. */
    const char *answer = supabase ? "\"status\":\"ok\"" : "\"subscribed\"";
    struct epoll_event events[256];
    double deadline = now() + 120;
    while (live_count < count && now() < deadline) {
        int n = epoll_wait(epfd, events, 256, 100);
        for (int i = 0; i < n; i++) {
            reader_t *r = events[i].data.ptr;
            ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len - 1);
            if (got <= 0) { fprintf(stderr, "a socket was closed\n"); epoll_ctl(epfd, EPOLL_CTL_DEL, r->fd, NULL); continue; }
            r->len += got;
            if (!r->live && memmem(r->buf, r->len, answer, strlen(answer))) { r->live = 1; live_count++; }
            if (r->len > r->cap / 2) r->len = 0;
        }
    }
    for (int i = 0; i < count; i++) readers[i].len = 0;
    printf("ready live=%ld\n", live_count);
    fflush(stdout);
    deadline = now() + seconds;
    while (now() < deadline && (expect <= 0 || total_changes < expect)) {
        int n = epoll_wait(epfd, events, 256, 100);
        for (int i = 0; i < n; i++) {
            reader_t *r = events[i].data.ptr;
            if (read_more(r) <= 0) { fprintf(stderr, "a socket was closed\n"); epoll_ctl(epfd, EPOLL_CTL_DEL, r->fd, NULL); continue; }
            count_stamps(r, 1);
        }
    }
    report();
    return 0;
}

static int raw(int argc, char **argv) {
    if (argc < 7) return 2;
    long expect = atol(argv[4]);
    double seconds = atof(argv[5]), wait = atof(argv[6]);
    PGconn *conn = PQconnectdb(argv[2]);
    if (PQstatus(conn) != CONNECTION_OK) { fprintf(stderr, "%s", PQerrorMessage(conn)); return 1; }
    char *quoted = PQescapeIdentifier(conn, argv[3], strlen(argv[3]));
    char sql[512];
    snprintf(sql, sizeof sql, "LISTEN %s", quoted);
    PQclear(PQexec(conn, sql));
    printf("ready\n");
    fflush(stdout);
    usleep((useconds_t)(wait * 1e6));
    long received = 0;
    double start = now(), deadline = start + seconds;
    while (received < expect && now() < deadline) {
        struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
        poll(&p, 1, 100);
        PQconsumeInput(conn);
        PGnotify *n;
        while ((n = PQnotifies(conn)) != NULL) { received++; PQfreemem(n); }
    }
    double span = now() - start;
    printf("deliveries=%ld seconds=%.3f rate=%.0f\n", received, span, span > 0 ? received / span : 0);
    return 0;
}

/* Reads what `fd` has into `r` and returns the number after the first `"event":"EVENT","payload":{"n":`
 * in it (consuming the text up to there), or -1 when there is none yet. */
static long take_numbered(reader_t *r, const char *event) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"event\":\"%s\",\"payload\":{\"n\":", event);
    char *at = memmem(r->buf, r->len, needle, strlen(needle));
    if (!at) {
        size_t keep = r->len < 64 ? r->len : 64;  /* a needle cut in two by a read */
        memmove(r->buf, r->buf + r->len - keep, keep);
        r->len = keep;
        return -1;
    }
    char *end = at + strlen(needle);
    if (memchr(end, '}', r->buf + r->len - end) == NULL) return -1;  /* the number is not all here */
    long n = strtol(end, NULL, 10);
    size_t used = end - r->buf;
    memmove(r->buf, r->buf + used, r->len - used);
    r->len -= used;
    return n;
}

static void fill(reader_t *r) {
    if (read_more(r) <= 0) { fprintf(stderr, "a socket was closed\n"); exit(1); }
}

static int rtt(int argc, char **argv) {
    if (argc < 7) return 2;
    const char *channel = argv[4];
    long count = atol(argv[5]);
    double seconds = atof(argv[6]);
    reader_t a = {.cap = 1 << 16}, b = {.cap = 1 << 16};
    a.buf = malloc(a.cap);
    b.buf = malloc(b.cap);
    char message[512];
    snprintf(message, sizeof message, "{\"type\":\"subscribe\",\"id\":\"c\",\"channel\":\"%s\"}", channel);
    a.fd = connect_loopback(atoi(argv[2]));
    b.fd = connect_loopback(atoi(argv[3]));
    open_websocket(a.fd, "/v1/ws", message);
    open_websocket(b.fd, "/v1/ws", message);
    /* Both live: each socket's subscription answered `live`. */
    reader_t *both[2] = {&a, &b};
    double deadline = now() + 60;
    for (int i = 0; i < 2; i++) {
        while (!memmem(both[i]->buf, both[i]->len, "\"type\":\"live\"", 13)) {
            if (now() > deadline) { fprintf(stderr, "a socket did not go live\n"); return 1; }
            struct pollfd p = {.fd = both[i]->fd, .events = POLLIN};
            if (poll(&p, 1, 100) > 0) fill(both[i]);
        }
        both[i]->len = 0;
    }
    printf("ready\n");
    fflush(stdout);
    deadline = now() + seconds;
    for (long n = 1; n <= count && now() < deadline; n++) {
        char text[256];
        snprintf(text, sizeof text, "{\"type\":\"send\",\"channel\":\"%s\",\"event\":\"ping\",\"payload\":{\"n\":%ld},\"ephemeral\":true}", channel, n);
        double sent = now();
        send_text(a.fd, text);
        int answered = 0;
        while (now() < deadline) {
            struct pollfd p[2] = {{.fd = a.fd, .events = POLLIN}, {.fd = b.fd, .events = POLLIN}};
            if (poll(p, 2, 100) <= 0) continue;
            if (p[1].revents) {
                fill(&b);
                long got;
                while ((got = take_numbered(&b, "ping")) >= 0) {
                    snprintf(text, sizeof text, "{\"type\":\"send\",\"channel\":\"%s\",\"event\":\"pong\",\"payload\":{\"n\":%ld},\"ephemeral\":true}", channel, got);
                    send_text(b.fd, text);
                }
            }
            if (p[0].revents) {
                fill(&a);
                long got;
                while ((got = take_numbered(&a, "pong")) >= 0) if (got == n) answered = 1;
            }
            if (answered) break;
        }
        if (!answered) break;
        double t = now();
        total_changes++;
        if (first_at == 0) first_at = sent;
        last_at = t;
        record_latency((t - sent) * 1000);
    }
    report();
    return 0;
}


/* `loadgen pages`: one client's catch-up, on a thread of its own. */
typedef struct {
    int port;
    const char *path;
    double deadline;
    long changes, requests, failures;
} page_client_t;

static void *page_client(void *arg) {
    page_client_t *c = arg;
    long since = 0;
    size_t cap = 1 << 20;
    char *body = malloc(cap);
    char request[1024];
    while (now() < c->deadline) {
        int fd = connect_loopback(c->port);
        int n = snprintf(request, sizeof request,
                         "GET %s?since=%ld&limit=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", c->path, since);
        send_all(fd, request, n);
        size_t len = 0;
        for (;;) {
            if (cap - len < 65536) { cap *= 2; body = realloc(body, cap); }
            ssize_t got = read(fd, body + len, cap - len - 1);
            if (got <= 0) break;
            len += got;
        }
        close(fd);
        body[len] = 0;
        c->requests++;
        if (strncmp(body, "HTTP/1.1 200", 12) != 0) { c->failures++; break; }
        for (char *at = body; (at = strstr(at, "\"operation\":")) != NULL; at += 12) c->changes++;
        char *next = strstr(body, "\"next_since\":");
        if (!next) { c->failures++; break; }
        since = atol(next + 13);
        if (!strstr(body, "\"has_more\":true")) break;
    }
    free(body);
    return NULL;
}

static int pages(int argc, char **argv) {
    if (argc != 7) return 2;
    int port = atoi(argv[2]), count = atoi(argv[4]);
    long expect = atol(argv[5]);
    double seconds = atof(argv[6]);
    page_client_t *clients = calloc(count, sizeof *clients);
    pthread_t *threads = calloc(count, sizeof *threads);
    double start = now();
    for (int i = 0; i < count; i++) {
        clients[i] = (page_client_t){.port = port, .path = argv[3], .deadline = start + seconds};
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        if (pthread_create(&threads[i], &attr, page_client, &clients[i]) != 0) { perror("pthread_create"); return 1; }
    }
    long requests = 0, failures = 0, complete = 0;
    for (int i = 0; i < count; i++) {
        pthread_join(threads[i], NULL);
        requests += clients[i].requests;
        failures += clients[i].failures;
        if (clients[i].changes == expect) complete++;
    }
    printf("clients=%d requests=%ld failures=%ld complete=%ld seconds=%.3f\n", count, requests, failures, complete, now() - start);
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    int status = 2;
    if (argc > 1 && strcmp(argv[1], "sse") == 0) status = sse(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "idle") == 0) status = hold(argc, argv, 0);
    else if (argc > 1 && strcmp(argv[1], "ws") == 0) status = hold(argc, argv, 1);
    else if (argc > 1 && strcmp(argv[1], "raw") == 0) status = raw(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "chan") == 0) status = chan(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "rtt") == 0) status = rtt(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "pages") == 0) status = pages(argc, argv);
    if (status == 2) fprintf(stderr, "usage: see the comment at the top of loadgen.c\n");
    return status;
}
