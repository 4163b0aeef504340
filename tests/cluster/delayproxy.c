/*
 * delayproxy.c — cor-delayproxy, a TCP proxy that makes a link slow, for
 * the cluster tests (tests/cluster/lib.sh puts one in front of a kernel to
 * play an edge or mobile host; netem is not available here).
 *
 *   cor-delayproxy --listen HOST:PORT --to HOST:PORT [--delay-ms N] [--control PATH]
 *
 * Every connection accepted on --listen is paired with a new connection to
 * --to. Bytes read on either side reach the other side N ms later (a
 * one-way delay, so a round trip through the proxy gains 2N), in order.
 * Prints one line when listening (port 0 picks one):
 *
 *   ready listen=127.0.0.1:40123
 *
 * Design: each direction of a pair keeps the bytes it has read but not yet
 * forwarded in one evbuffer, and a FIFO of marks (due time, length) that
 * cuts it into the chunks read; an evtimer fires when the oldest mark is
 * due and moves every due chunk to the other side's output. Marks are
 * taken in read order and flushed only from the head, so order holds even
 * when the delay changes. Backpressure: a side stops being read while its
 * direction holds more than 4 MiB (queued plus unsent output) and resumes
 * below half that, so a fast sender cannot grow the proxy without bound.
 *
 * Half-close: EOF on one side is passed on, after the bytes before it,
 * as shutdown(SHUT_WR) on the other; the pair is freed when both
 * directions have ended. An error (a reset, a failed connect to --to)
 * closes both sides at once, dropping what was queued.
 *
 * Control without a restart: SIGHUP re-reads the --control file, lines of
 * `delay_ms=N` and `cut=0|1` (`#` comments; a bad file is reported and
 * changes nothing). cut=1 holds: nothing is forwarded (connections stay
 * open, reading continues up to the backpressure limit, new connections
 * are accepted) — to TCP a stall, like a partition that drops packets.
 * cut=0 releases what was held, in order. The new delay applies to bytes
 * read from then on. Each change is logged as `control: delay_ms=N cut=C`
 * on stderr.
 *
 * SIGTERM/SIGINT close every connection and exit 0, freeing everything.
 * Exit 2 on bad usage, 1 if it cannot listen.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#define BACKLOG_MAX (4u << 20) /* per direction, queued + unsent */
#define MAX_DELAY_MS 600000L

typedef struct mark {
    struct mark *next;
    uint64_t due_us; /* CLOCK_MONOTONIC */
    size_t len;
} mark_t;

struct pair;

/* One direction of a pair: bytes read on src, queued, written to dst. */
typedef struct dir {
    struct pair *p;
    struct bufferevent *src, *dst;
    struct evbuffer *held; /* read, not yet due (or cut) */
    mark_t *head, *tail;
    struct event *timer;
    int eof;      /* src said EOF: no more marks will come */
    int shut;     /* EOF passed on to dst */
    int throttled; /* src reading disabled by backpressure */
} dir_t;

typedef struct pair {
    struct proxy *px;
    struct pair *prev, *next;
    struct bufferevent *client, *server;
    int connected; /* server side's connect finished */
    dir_t up;      /* client -> server */
    dir_t down;    /* server -> client */
    unsigned long id;
} pair_t;

typedef struct proxy {
    struct event_base *base;
    struct evconnlistener *listener;
    struct sockaddr_storage to;
    int to_len;
    long delay_ms;
    int cut;
    const char *control;
    pair_t *pairs;
    unsigned long n_accepted;
    uint64_t bytes;
    struct event *sig[3];
} proxy_t;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: cor-delayproxy --listen HOST:PORT --to HOST:PORT [--delay-ms N]\n"
               "                      [--control PATH]\n");
}

/* ---------------- pairs ---------------- */

static void dir_close(dir_t *d)
{
    while (d->head != NULL) {
        mark_t *m = d->head;
        d->head = m->next;
        free(m);
    }
    d->tail = NULL;
    if (d->timer != NULL)
        event_free(d->timer);
    if (d->held != NULL)
        evbuffer_free(d->held);
}

/* Unlinks and frees p and both its sockets (queued bytes are dropped). */
static void pair_free(pair_t *p)
{
    proxy_t *px = p->px;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        px->pairs = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    dir_close(&p->up);
    dir_close(&p->down);
    if (p->client != NULL)
        bufferevent_free(p->client);
    if (p->server != NULL)
        bufferevent_free(p->server);
    free(p);
}

static size_t backlog(const dir_t *d)
{
    return evbuffer_get_length(d->held) + evbuffer_get_length(bufferevent_get_output(d->dst));
}

/* Stops or resumes reading d's source so that its backlog stays bounded. */
static void throttle(dir_t *d)
{
    size_t b = backlog(d);
    if (!d->throttled && b > BACKLOG_MAX) {
        bufferevent_disable(d->src, EV_READ);
        d->throttled = 1;
    } else if (d->throttled && b <= BACKLOG_MAX / 2) {
        d->throttled = 0;
        if (!d->eof)
            bufferevent_enable(d->src, EV_READ);
    }
}

/* Once d's source has ended and everything before the end has been
 * written, passes the EOF on; frees the pair when both directions are
 * done. Returns 1 if the pair was freed. */
static int maybe_shut(dir_t *d)
{
    pair_t *p = d->p;
    if (!d->eof || d->shut || d->head != NULL || !p->connected ||
        evbuffer_get_length(bufferevent_get_output(d->dst)) != 0)
        return 0;
    d->shut = 1;
    shutdown(bufferevent_getfd(d->dst), SHUT_WR);
    if (p->up.shut && p->down.shut) {
        pair_free(p);
        return 1;
    }
    return 0;
}

/* Moves every due chunk to the destination and arms the timer for the
 * next one. Does nothing while the proxy is cut. Returns 1 if the pair
 * was freed. */
static int flush(dir_t *d)
{
    if (d->p->px->cut)
        return 0;
    uint64_t now = now_us();
    struct evbuffer *out = bufferevent_get_output(d->dst);
    while (d->head != NULL && d->head->due_us <= now) {
        mark_t *m = d->head;
        evbuffer_remove_buffer(d->held, out, m->len);
        d->p->px->bytes += m->len;
        d->head = m->next;
        if (d->head == NULL)
            d->tail = NULL;
        free(m);
    }
    if (d->head != NULL) {
        uint64_t wait = d->head->due_us - now;
        struct timeval tv = {.tv_sec = (time_t)(wait / 1000000u),
                             .tv_usec = (suseconds_t)(wait % 1000000u)};
        evtimer_add(d->timer, &tv);
    }
    throttle(d);
    return maybe_shut(d);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    flush(arg);
}

static dir_t *dir_from(pair_t *p, struct bufferevent *src)
{
    return src == p->client ? &p->up : &p->down;
}

static dir_t *dir_to(pair_t *p, struct bufferevent *dst)
{
    return dst == p->client ? &p->down : &p->up;
}

/* Queues what src has read as one chunk due delay_ms from now. Returns 1
 * if the pair was freed. */
static int take(pair_t *p, struct bufferevent *src)
{
    dir_t *d = dir_from(p, src);
    struct evbuffer *in = bufferevent_get_input(src);
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return 0;
    mark_t *m = malloc(sizeof(*m));
    if (m == NULL) {
        fprintf(stderr, "cor-delayproxy: out of memory: closing connection %lu\n", p->id);
        pair_free(p);
        return 1;
    }
    m->next = NULL;
    m->len = n;
    m->due_us = now_us() + (uint64_t)p->px->delay_ms * 1000u;
    evbuffer_add_buffer(d->held, in);
    int was_empty = d->head == NULL;
    if (d->tail != NULL)
        d->tail->next = m;
    else
        d->head = m;
    d->tail = m;
    throttle(d);
    return was_empty ? flush(d) : 0;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    take(arg, bev);
}

/* The destination's output drained (to the low watermark, 0): resume a
 * throttled source, pass on a pending EOF. */
static void on_write(struct bufferevent *bev, void *arg)
{
    pair_t *p = arg;
    dir_t *d = dir_to(p, bev);
    throttle(d);
    maybe_shut(d);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    pair_t *p = arg;
    if (what & BEV_EVENT_CONNECTED) {
        p->connected = 1;
        if (maybe_shut(&p->up))
            return;
        maybe_shut(&p->down);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        int e = EVUTIL_SOCKET_ERROR();
        if (bev == p->server && !p->connected)
            fprintf(stderr, "cor-delayproxy: connection %lu: cannot connect to the target: %s\n",
                    p->id, evutil_socket_error_to_string(e));
        pair_free(p);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        dir_t *d = dir_from(p, bev);
        d->eof = 1;
        bufferevent_disable(bev, EV_READ);
        /* Bytes read with the EOF are queued before it. */
        if (take(p, bev) == 0)
            maybe_shut(d);
    }
}

static int dir_init(dir_t *d, pair_t *p, struct bufferevent *src, struct bufferevent *dst)
{
    d->p = p;
    d->src = src;
    d->dst = dst;
    d->held = evbuffer_new();
    d->timer = evtimer_new(p->px->base, on_timer, d);
    return d->held != NULL && d->timer != NULL ? 0 : -1;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int slen,
                      void *arg)
{
    proxy_t *px = arg;
    pair_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        evutil_closesocket(fd);
        return;
    }
    p->px = px;
    p->id = ++px->n_accepted;
    p->next = px->pairs;
    if (px->pairs != NULL)
        px->pairs->prev = p;
    px->pairs = p;
    p->client = bufferevent_socket_new(px->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (p->client == NULL)
        evutil_closesocket(fd);
    p->server = bufferevent_socket_new(px->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (p->client == NULL || p->server == NULL || dir_init(&p->up, p, p->client, p->server) != 0 ||
        dir_init(&p->down, p, p->server, p->client) != 0) {
        fprintf(stderr, "cor-delayproxy: out of memory: refusing a connection\n");
        pair_free(p);
        return;
    }
    bufferevent_setcb(p->client, on_read, on_write, on_event, p);
    bufferevent_setcb(p->server, on_read, on_write, on_event, p);
    /* Failure is reported through on_event (ERROR) or here at once. */
    if (bufferevent_socket_connect(p->server, (struct sockaddr *)&px->to, px->to_len) != 0) {
        fprintf(stderr, "cor-delayproxy: connection %lu: cannot connect to the target\n", p->id);
        pair_free(p);
        return;
    }
    bufferevent_enable(p->client, EV_READ | EV_WRITE);
    bufferevent_enable(p->server, EV_READ | EV_WRITE);
}

/* ---------------- control ---------------- */

/* Reads px->control; applies it only if every line is good. */
static void reload(proxy_t *px)
{
    if (px->control == NULL) {
        fprintf(stderr, "cor-delayproxy: SIGHUP without --control: nothing to re-read\n");
        return;
    }
    FILE *f = fopen(px->control, "r");
    if (f == NULL) {
        fprintf(stderr, "cor-delayproxy: control %s: %s (settings unchanged)\n", px->control,
                strerror(errno));
        return;
    }
    long delay = px->delay_ms;
    int cut = px->cut, ok = 1, lineno = 0;
    char line[256];
    while (ok && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        line[strcspn(line, "#\r\n")] = '\0';
        char key[32];
        long v;
        char extra;
        if (strspn(line, " \t") == strlen(line))
            continue;
        if (sscanf(line, " %31[a-z_] = %ld %c", key, &v, &extra) != 2) {
            ok = 0;
        } else if (strcmp(key, "delay_ms") == 0 && v >= 0 && v <= MAX_DELAY_MS) {
            delay = v;
        } else if (strcmp(key, "cut") == 0 && (v == 0 || v == 1)) {
            cut = (int)v;
        } else {
            ok = 0;
        }
        if (!ok)
            fprintf(stderr,
                    "cor-delayproxy: control %s:%d: expected delay_ms=0..%ld or cut=0|1, "
                    "got '%s' (settings unchanged)\n",
                    px->control, lineno, MAX_DELAY_MS, line);
    }
    fclose(f);
    if (!ok)
        return;
    int released = px->cut && !cut;
    px->delay_ms = delay;
    px->cut = cut;
    fprintf(stderr, "cor-delayproxy: control: delay_ms=%ld cut=%d\n", delay, cut);
    if (released) {
        /* flush may free a pair: take the next one first. */
        for (pair_t *p = px->pairs, *next; p != NULL; p = next) {
            next = p->next;
            if (flush(&p->up) == 0)
                flush(&p->down);
        }
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    proxy_t *px = arg;
    if (sig == SIGHUP) {
        reload(px);
        return;
    }
    event_base_loopbreak(px->base);
}

/* ---------------- main ---------------- */

/* IPv4 "a.b.c.d:port" or IPv6 "[addr]:port", port 0..65535 (0 only makes
 * sense for --listen; connecting to it fails at once, which is reported). */
static int parse_addr(const char *flag, const char *v, struct sockaddr_storage *ss, int *len)
{
    memset(ss, 0, sizeof(*ss));
    const char *colon = strrchr(v, ':');
    char host[INET6_ADDRSTRLEN + 2];
    char *end = NULL;
    long port = -1;
    int ok = 0;
    if (colon != NULL && colon[1] != '\0' && (size_t)(colon - v) < sizeof(host)) {
        port = strtol(colon + 1, &end, 10);
        snprintf(host, sizeof(host), "%.*s", (int)(colon - v), v);
    }
    if (end != NULL && *end == '\0' && port >= 0 && port <= 65535) {
        size_t hl = strlen(host);
        if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
            host[hl - 1] = '\0';
            ok = inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1;
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((uint16_t)port);
            *len = (int)sizeof(*s6);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
            ok = inet_pton(AF_INET, host, &s4->sin_addr) == 1;
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)port);
            *len = (int)sizeof(*s4);
        }
    }
    if (!ok) {
        fprintf(stderr, "cor-delayproxy: %s must be IP:PORT (e.g. 127.0.0.1:7801), not '%s'\n",
                flag, v);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    proxy_t px;
    memset(&px, 0, sizeof(px));
    const char *listen_s = NULL, *to_s = NULL;
    int rv = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cor-delayproxy: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--listen") == 0) {
            listen_s = v;
        } else if (strcmp(a, "--to") == 0) {
            to_s = v;
        } else if (strcmp(a, "--control") == 0) {
            px.control = v;
        } else if (strcmp(a, "--delay-ms") == 0) {
            char *end;
            errno = 0;
            px.delay_ms = strtol(v, &end, 10);
            if (v[0] == '\0' || *end != '\0' || errno != 0 || px.delay_ms < 0 ||
                px.delay_ms > MAX_DELAY_MS) {
                fprintf(stderr, "cor-delayproxy: --delay-ms must be an integer in 0..%ld, not '%s'\n",
                        MAX_DELAY_MS, v);
                return 2;
            }
        } else {
            fprintf(stderr, "cor-delayproxy: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (listen_s == NULL || to_s == NULL) {
        fprintf(stderr, "cor-delayproxy: --listen and --to are required\n");
        usage(stderr);
        return 2;
    }
    struct sockaddr_storage lss;
    int llen;
    if (parse_addr("--listen", listen_s, &lss, &llen) != 0 ||
        parse_addr("--to", to_s, &px.to, &px.to_len) != 0)
        return 2;

    rv = 1;
    signal(SIGPIPE, SIG_IGN);
    px.base = event_base_new();
    if (px.base == NULL) {
        fprintf(stderr, "cor-delayproxy: cannot make an event base\n");
        return 1;
    }
    px.listener = evconnlistener_new_bind(px.base, on_accept, &px,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
                                          (struct sockaddr *)&lss, llen);
    if (px.listener == NULL) {
        fprintf(stderr, "cor-delayproxy: cannot listen on %s: %s\n", listen_s, strerror(errno));
        goto out;
    }
    const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        px.sig[i] = evsignal_new(px.base, sigs[i], on_signal, &px);
        if (px.sig[i] == NULL || evsignal_add(px.sig[i], NULL) != 0) {
            fprintf(stderr, "cor-delayproxy: cannot handle signal %d\n", sigs[i]);
            goto out;
        }
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    getsockname(evconnlistener_get_fd(px.listener), (struct sockaddr *)&bound, &blen);
    if (bound.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&bound;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        port = ntohs(s6->sin6_port);
        printf("ready listen=[%s]:%d\n", host, port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&bound;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        port = ntohs(s4->sin_port);
        printf("ready listen=%s:%d\n", host, port);
    }
    fflush(stdout);
    event_base_dispatch(px.base);
    fprintf(stderr, "cor-delayproxy: exiting: %lu connections served, %llu bytes forwarded\n",
            px.n_accepted, (unsigned long long)px.bytes);
    rv = 0;
out:
    while (px.pairs != NULL)
        pair_free(px.pairs);
    for (int i = 0; i < 3; i++)
        if (px.sig[i] != NULL)
            event_free(px.sig[i]);
    if (px.listener != NULL)
        evconnlistener_free(px.listener);
    event_base_free(px.base);
    return rv;
}
