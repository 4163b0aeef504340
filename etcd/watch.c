/*
 * watch.c — watches: one streaming POST to /v3/watch each, restarted on
 * the next endpoint when it breaks; see etcd.h.
 *
 * Design. libcurl's write callback only buffers the bytes it receives;
 * after curl_multi_socket_action returns, client.c calls
 * cor_etcd_watch_dispatch, which cuts the buffer into lines (lines.c),
 * parses each (json.c) and calls the watch's callback — outside libcurl, so
 * the callback may start requests or cancel watches. A watch remembers the
 * revision after the last event it delivered (next_rev); when its stream
 * ends (member killed, connection reset, the server closing, a line that is
 * not JSON) it tells the caller RETRYING, waits watch_retry_ms (doubling up
 * to 2 s while restarts keep failing) and starts a new stream from next_rev
 * on the client's current endpoint, which the failure moved on. Events
 * older than next_rev are dropped, so a restart never repeats one; etcd
 * never splits a revision's events across two messages (unless asked to
 * fragment, which we do not), so none is lost either.
 *
 * Silence. A member that is paused or cut off keeps its TCP connection
 * looking alive and just sends nothing. With the client's watch_idle_ms
 * set, every watch asks for progress notifications and a stream silent
 * that long is broken like any other. A progress message also moves
 * next_rev up to its revision (etcd sends one only to a watcher that has
 * everything up to it), so a quiet watch restarts near the present.
 *
 * Ends. A stream whose start revision etcd has compacted away answers
 * created, then canceled with compact_revision: the caller gets COMPACTED
 * and must read afresh. Any other cancel, or an error etcd will repeat
 * (invalid argument, permission), ends the watch with ENDED.
 *
 * Freeing. Callbacks may cancel any watch, their own included; while
 * callbacks run (c->dispatching) a cancelled watch is only marked dead and
 * unhooked from libcurl, and freed when the outermost dispatch returns.
 */
#include "client_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE_BYTES (64u << 20)
#define MAX_RETRY_MS 2000

struct cor_etcd_watch {
    cor_etcd_xfer_t x; /* first: the easy handle's private pointer */
    cor_etcd_t *c;
    cor_etcd_watch_cb cb;
    void *arg;
    cor_etcd_watch_options_t opts; /* key and range_end point into keybuf */
    uint8_t *keybuf;
    int64_t next_rev; /* 0: not yet known (a watch "from now" before created) */
    int active;       /* easy handle added to the multi */
    int created_told; /* CREATED delivered */
    int ended;        /* COMPACTED or ENDED delivered: nothing more */
    int dead;         /* cancelled: free at the end of the dispatch */
    char *body;
    char *in; /* bytes received, not yet dispatched */
    size_t in_len, in_cap;
    int overflow;
    cor_etcd_lines_t lines;
    struct event *retry_ev;
    struct event *idle_ev; /* with watch_idle_ms: the stream fell silent */
    int backoff_ms;
    struct cor_etcd_watch *prev, *next;
};

static void watch_free(cor_etcd_watch_t *w)
{
    cor_etcd_t *c = w->c;
    if (w->active)
        curl_multi_remove_handle(c->multi, w->x.easy);
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        c->watches = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    if (w->x.easy != NULL)
        curl_easy_cleanup(w->x.easy);
    if (w->retry_ev != NULL)
        event_free(w->retry_ev);
    if (w->idle_ev != NULL)
        event_free(w->idle_ev);
    cor_etcd_lines_close(&w->lines);
    free(w->body);
    free(w->in);
    free(w->keybuf);
    free(w);
}

static void sweep(cor_etcd_t *c)
{
    cor_etcd_watch_t *w = c->watches;
    while (w != NULL) {
        cor_etcd_watch_t *next = w->next;
        if (w->dead)
            watch_free(w);
        w = next;
    }
}

/* (Re)starts the silence timer: bytes just arrived or a stream began. */
static void idle_arm(cor_etcd_watch_t *w)
{
    if (w->idle_ev == NULL)
        return;
    int ms = w->c->watch_idle_ms;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(w->idle_ev, &tv);
}

static void idle_disarm(cor_etcd_watch_t *w)
{
    if (w->idle_ev != NULL)
        evtimer_del(w->idle_ev);
}

/* Calls the watch's callback; w may be dead afterwards (not freed). */
static void deliver(cor_etcd_watch_t *w, const cor_etcd_watch_update_t *u)
{
    if (w->dead || w->ended)
        return;
    if (u->kind == COR_ETCD_WATCH_COMPACTED || u->kind == COR_ETCD_WATCH_ENDED)
        w->ended = 1;
    w->c->dispatching++;
    w->cb(w->arg, w, u);
    w->c->dispatching--;
}

static void end_watch(cor_etcd_watch_t *w, cor_etcd_watch_kind_t kind, int64_t compact,
                      const cor_error_t *err)
{
    if (w->active) {
        curl_multi_remove_handle(w->c->multi, w->x.easy);
        w->active = 0;
    }
    idle_disarm(w);
    cor_etcd_watch_update_t u = {.kind = kind, .compact_revision = compact, .err = err};
    deliver(w, &u);
}

/* The stream broke: tell the caller and try again later from next_rev. */
static void stream_broken(cor_etcd_watch_t *w, const cor_error_t *err)
{
    if (w->active) {
        curl_multi_remove_handle(w->c->multi, w->x.easy);
        w->active = 0;
    }
    idle_disarm(w);
    cor_etcd_lines_reset(&w->lines);
    w->in_len = 0;
    cor_etcd_watch_update_t u = {.kind = COR_ETCD_WATCH_RETRYING, .err = err};
    deliver(w, &u);
    if (w->dead || w->ended)
        return;
    struct timeval tv = {.tv_sec = w->backoff_ms / 1000, .tv_usec = (w->backoff_ms % 1000) * 1000};
    evtimer_add(w->retry_ev, &tv);
    w->backoff_ms = w->backoff_ms * 2 > MAX_RETRY_MS ? MAX_RETRY_MS : w->backoff_ms * 2;
}

static size_t watch_write_cb(char *data, size_t size, size_t n, void *arg)
{
    cor_etcd_watch_t *w = arg;
    size_t len = size * n;
    if (w->dead)
        return 0;
    if (w->in_len + len > MAX_LINE_BYTES) {
        w->overflow = 1;
        return 0;
    }
    if (w->in_len + len > w->in_cap) {
        size_t cap = w->in_cap ? w->in_cap : 4096;
        while (cap < w->in_len + len)
            cap *= 2;
        char *nb = realloc(w->in, cap);
        if (nb == NULL)
            return 0;
        w->in = nb;
        w->in_cap = cap;
    }
    memcpy(w->in + w->in_len, data, len);
    w->in_len += len;
    return len;
}

/* Starts (or restarts) the stream from next_rev on the current endpoint. */
static int stream_start(cor_etcd_watch_t *w, cor_error_t *err)
{
    cor_etcd_t *c = w->c;
    char *body = cor_etcd_json_watch(&w->opts, w->next_rev, err);
    if (body == NULL)
        return err != NULL ? err->code : COR_EINVAL;
    free(w->body);
    w->body = body;
    char url[512];
    snprintf(url, sizeof(url), "%s/v3/watch", c->eps[c->cur]);
    w->x.ep = c->cur;
    w->in_len = 0;
    w->overflow = 0;
    cor_etcd_lines_reset(&w->lines);
    curl_easy_setopt(w->x.easy, CURLOPT_URL, url);
    curl_easy_setopt(w->x.easy, CURLOPT_POSTFIELDS, w->body);
    curl_easy_setopt(w->x.easy, CURLOPT_POSTFIELDSIZE, (long)strlen(w->body));
    int rc = cor_etcd_xfer_start(c, &w->x, err);
    if (rc == 0) {
        w->active = 1;
        idle_arm(w);
    }
    return rc;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    cor_etcd_watch_t *w = arg;
    if (w->dead || w->ended || w->active)
        return;
    cor_error_t e;
    cor_error_clear(&e);
    if (stream_start(w, &e) != 0) {
        w->c->dispatching++;
        end_watch(w, COR_ETCD_WATCH_ENDED, 0, &e);
        w->c->dispatching--;
        if (w->c->dispatching == 0)
            sweep(w->c);
    }
}

/* Nothing came for watch_idle_ms, not even a progress message: the member
 * is paused or cut off (its connection looks alive), so move on. */
static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
    cor_etcd_watch_t *w = arg;
    if (w->dead || w->ended || !w->active)
        return;
    cor_etcd_t *c = w->c;
    cor_error_t e;
    cor_error_set(&e, COR_ETIMEDOUT, "%s/v3/watch: nothing for %d ms, not even a progress "
                  "message (member paused or cut off?)", c->eps[w->x.ep], c->watch_idle_ms);
    cor_etcd_endpoint_failed(c, w->x.ep);
    c->dispatching++;
    stream_broken(w, &e);
    c->dispatching--;
    if (c->dispatching == 0)
        sweep(c);
}

static int is_permanent(int code)
{
    return code == COR_EINVAL || code == COR_EPERM || code == COR_EAUTH || code == COR_EUNIMPL ||
           code == COR_ENOTFOUND;
}

/* One line of the stream. Returns non-zero to stop reading this stream. */
static int on_line(void *arg, const char *line, size_t len)
{
    cor_etcd_watch_t *w = arg;
    if (w->dead || w->ended || !w->active)
        return 1;
    cor_etcd_t *c = w->c;
    cor_etcd_watch_msg_t msg;
    cor_error_t e;
    cor_error_clear(&e);
    int rc = cor_etcd_json_watch_msg(line, len, &msg, &e);
    if (rc != 0) {
        cor_error_prefix(&e, "%s/v3/watch", c->eps[w->x.ep]);
        cor_etcd_watch_msg_close(&msg);
        if (is_permanent(rc))
            end_watch(w, COR_ETCD_WATCH_ENDED, 0, &e);
        else
            stream_broken(w, &e);
        return 1;
    }
    if (msg.created) {
        w->backoff_ms = c->watch_retry_ms;
        if (w->next_rev == 0)
            w->next_rev = msg.revision + 1;
        if (!w->created_told) {
            w->created_told = 1;
            cor_etcd_watch_update_t u = {.kind = COR_ETCD_WATCH_CREATED, .revision = msg.revision};
            deliver(w, &u);
        }
    }
    if (msg.canceled) {
        if (msg.compact_revision > 0) {
            cor_error_set(&e, COR_EINVAL, "%s/v3/watch: revision %" PRId64 " is compacted (the "
                          "oldest kept is %" PRId64 ")", c->eps[w->x.ep], w->next_rev,
                          msg.compact_revision);
            end_watch(w, COR_ETCD_WATCH_COMPACTED, msg.compact_revision, &e);
        } else {
            cor_error_set(&e, COR_ECANCELLED, "%s/v3/watch: etcd cancelled the watch: %s",
                          c->eps[w->x.ep], msg.cancel_reason[0] ? msg.cancel_reason : "(no reason)");
            end_watch(w, COR_ETCD_WATCH_ENDED, 0, &e);
        }
        cor_etcd_watch_msg_close(&msg);
        return 1;
    }
    /* A progress message (no events, not created): etcd sends these only
     * to a watcher that has been sent everything up to the header's
     * revision, so a restart may begin after it. This keeps a quiet watch
     * from restarting below a compaction it has nothing to fear from. */
    if (!msg.created && msg.n_events == 0 && w->next_rev != 0 && msg.revision >= w->next_rev)
        w->next_rev = msg.revision + 1;
    /* Keep the events at or after next_rev (a restarted stream never sends
     * older ones; this is the guard against a duplicate). */
    size_t kept = 0;
    for (size_t i = 0; i < msg.n_events; i++) {
        if (w->next_rev != 0 && msg.events[i].kv.mod_revision < w->next_rev)
            continue;
        if (kept != i) {
            cor_etcd_event_t t = msg.events[kept];
            msg.events[kept] = msg.events[i];
            msg.events[i] = t;
        }
        kept++;
    }
    if (kept > 0 && !w->dead && !w->ended) {
        int64_t last = msg.events[kept - 1].kv.mod_revision;
        cor_etcd_watch_update_t u = {.kind = COR_ETCD_WATCH_EVENTS, .revision = msg.revision,
                                     .events = msg.events, .n_events = kept};
        if (last + 1 > w->next_rev)
            w->next_rev = last + 1;
        deliver(w, &u);
    }
    cor_etcd_watch_msg_close(&msg);
    return w->dead || w->ended || !w->active;
}

static void dispatch_one(cor_etcd_watch_t *w)
{
    idle_arm(w);
    long status = 0;
    curl_easy_getinfo(w->x.easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return; /* an error body: read whole when the transfer is done */
    /* Take the buffer: callbacks may restart this watch's stream. */
    char *in = w->in;
    size_t n = w->in_len;
    w->in = NULL;
    w->in_len = w->in_cap = 0;
    cor_error_t e;
    cor_error_clear(&e);
    int rc = cor_etcd_lines_feed(&w->lines, in, n, on_line, w, &e);
    free(in);
    if (rc < 0 && !w->dead && !w->ended) {
        cor_error_prefix(&e, "%s/v3/watch", w->c->eps[w->x.ep]);
        stream_broken(w, &e);
    }
}

void cor_etcd_watch_dispatch(cor_etcd_t *c)
{
    c->dispatching++;
    for (cor_etcd_watch_t *w = c->watches; w != NULL; w = w->next)
        if (!w->dead && !w->ended && w->active && w->in_len > 0)
            dispatch_one(w);
    c->dispatching--;
    if (c->dispatching == 0)
        sweep(c);
}

void cor_etcd_watch_done(cor_etcd_t *c, cor_etcd_xfer_t *x, CURLcode res)
{
    cor_etcd_watch_t *w = (cor_etcd_watch_t *)x;
    w->active = 0;
    if (w->dead || w->ended)
        return;
    c->dispatching++;
    const char *ep = c->eps[w->x.ep];
    long status = 0;
    curl_easy_getinfo(w->x.easy, CURLINFO_RESPONSE_CODE, &status);
    cor_error_t e;
    cor_error_clear(&e);
    if (res == CURLE_OK && status != 200) {
        int rc = cor_etcd_json_error(status, w->in, w->in_len, &e);
        cor_error_prefix(&e, "%s/v3/watch", ep);
        if (is_permanent(rc))
            end_watch(w, COR_ETCD_WATCH_ENDED, 0, &e);
        else
            stream_broken(w, &e);
    } else {
        /* The stream ended: the member went away, or the connection broke. */
        cor_etcd_endpoint_failed(c, w->x.ep);
        size_t pending = cor_etcd_lines_pending(&w->lines);
        if (w->overflow)
            cor_error_set(&e, COR_ETOOBIG, "%s/v3/watch: more than %u bytes without a newline",
                          ep, MAX_LINE_BYTES);
        else if (res == CURLE_OK)
            cor_error_set(&e, COR_EUNAVAIL, "%s/v3/watch: the stream ended%s", ep,
                          pending ? " in the middle of a line" : "");
        else
            cor_error_set(&e, COR_EUNAVAIL, "%s/v3/watch: %s%s", ep,
                          w->x.errbuf[0] ? w->x.errbuf : curl_easy_strerror(res),
                          pending ? " (in the middle of a line)" : "");
        stream_broken(w, &e);
    }
    c->dispatching--;
    if (c->dispatching == 0)
        sweep(c);
}

int cor_etcd_watch(cor_etcd_t *c, const cor_etcd_watch_options_t *opts, cor_etcd_watch_cb cb,
                   void *arg, cor_etcd_watch_t **out, cor_error_t *err)
{
    *out = NULL;
    if (opts == NULL || cb == NULL)
        return cor_error_set(err, COR_EINVAL, "etcd watch: no options or no callback");
    /* Checks the options before anything is made. */
    char *probe = cor_etcd_json_watch(opts, opts->start_revision, err);
    if (probe == NULL)
        return err != NULL ? err->code : COR_EINVAL;
    free(probe);
    cor_etcd_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    w->c = c;
    w->cb = cb;
    w->arg = arg;
    w->x.is_watch = 1;
    w->opts = *opts;
    w->next_rev = opts->start_revision;
    w->backoff_ms = c->watch_retry_ms;
    cor_etcd_lines_init(&w->lines, MAX_LINE_BYTES);
    size_t end_len = opts->range_end != NULL ? opts->range_end_len : 0;
    w->keybuf = malloc(opts->key_len + end_len + 1);
    w->x.easy = curl_easy_init();
    w->retry_ev = evtimer_new(c->base, retry_cb, w);
    if (c->watch_idle_ms > 0) {
        w->opts.progress_notify = 1;
        w->idle_ev = evtimer_new(c->base, idle_cb, w);
    }
    /* Linked first, so watch_free can unlink whatever fails below. */
    w->next = c->watches;
    if (c->watches != NULL)
        c->watches->prev = w;
    c->watches = w;
    if (w->keybuf == NULL || w->x.easy == NULL || w->retry_ev == NULL ||
        (c->watch_idle_ms > 0 && w->idle_ev == NULL)) {
        watch_free(w);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    memcpy(w->keybuf, opts->key, opts->key_len);
    w->opts.key = w->keybuf;
    if (opts->range_end != NULL) {
        memcpy(w->keybuf + opts->key_len, opts->range_end, end_len);
        w->opts.range_end = w->keybuf + opts->key_len;
    }
    cor_etcd_easy_common(c, &w->x);
    curl_easy_setopt(w->x.easy, CURLOPT_WRITEFUNCTION, watch_write_cb);
    curl_easy_setopt(w->x.easy, CURLOPT_WRITEDATA, w);
    /* No overall timeout: a watch lasts as long as its caller wants. */
    curl_easy_setopt(w->x.easy, CURLOPT_TCP_KEEPALIVE, 1L);
    int rc = stream_start(w, err);
    if (rc != 0) {
        watch_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void cor_etcd_watch_cancel(cor_etcd_watch_t *w)
{
    if (w == NULL || w->dead)
        return;
    if (w->active) {
        curl_multi_remove_handle(w->c->multi, w->x.easy);
        w->active = 0;
    }
    evtimer_del(w->retry_ev);
    idle_disarm(w);
    w->dead = 1;
    if (w->c->dispatching == 0)
        watch_free(w);
}

int64_t cor_etcd_watch_next_revision(const cor_etcd_watch_t *w)
{
    return w->next_rev;
}

void cor_etcd_watch_free_all(cor_etcd_t *c)
{
    while (c->watches != NULL)
        watch_free(c->watches);
}
