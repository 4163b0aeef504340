/*
 * client.c — the etcd client's engine: libcurl's multi interface on the
 * caller's libevent loop, unary requests, endpoint failover and the _sync
 * helpers; see etcd.h.
 *
 * The multi handle tells us, through CURLMOPT_SOCKETFUNCTION, which
 * sockets to watch for what, and through CURLMOPT_TIMERFUNCTION when to
 * call it back; each becomes a libevent event that calls
 * curl_multi_socket_action. After every such call (never inside libcurl's
 * own callbacks) we hand buffered watch data to its callbacks (watch.c)
 * and complete the transfers libcurl reports done, so user callbacks may
 * start or cancel anything.
 *
 * A unary request is one easy handle and its JSON body. When it fails to
 * connect it moves to the next endpoint and tries again, once per
 * endpoint; a read (range, keepalive) also moves on when the connection
 * broke or timed out after sending, or when etcd answered UNAVAILABLE (no
 * leader). A write that may have reached etcd is not sent twice: it fails
 * with COR_EUNAVAIL or COR_ETIMEDOUT saying so. libcurl keeps connections
 * open between requests (its connection cache in the multi), so steady
 * traffic costs no handshakes.
 */
#include "client_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPLY_BYTES (64u << 20)

typedef struct cor_etcd_req {
    cor_etcd_xfer_t x; /* first: the easy handle's private pointer */
    cor_etcd_t *c;
    cor_etcd_kind_t kind;
    int idempotent; /* may go to another endpoint after it was sent */
    size_t tries;   /* endpoints tried so far */
    char *body;
    char *resp;
    size_t resp_len, resp_cap;
    int too_big;
    cor_etcd_done_cb cb;
    void *arg;
    struct cor_etcd_req *prev, *next;
} req_t;

typedef struct sockev {
    struct event *ev;
    cor_etcd_t *c;
} sockev_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* ---- libcurl on libevent ---- */

static void process_done(cor_etcd_t *c);

static void after_action(cor_etcd_t *c)
{
    cor_etcd_watch_dispatch(c);
    process_done(c);
}

static void sock_ev_cb(evutil_socket_t fd, short what, void *arg)
{
    cor_etcd_t *c = arg;
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    after_action(c);
}

static void timer_ev_cb(evutil_socket_t fd, short what, void *arg)
{
    cor_etcd_t *c = arg;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    after_action(c);
}

static int multi_sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    cor_etcd_t *c = userp;
    sockev_t *se = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (se != NULL) {
            event_free(se->ev);
            free(se);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) |
                         EV_PERSIST);
    if (se == NULL) {
        se = calloc(1, sizeof(*se));
        if (se == NULL)
            return -1;
        se->c = c;
        se->ev = event_new(c->base, s, kind, sock_ev_cb, c);
        if (se->ev == NULL) {
            free(se);
            return -1;
        }
        curl_multi_assign(c->multi, s, se);
    } else {
        event_del(se->ev);
        event_assign(se->ev, c->base, s, kind, sock_ev_cb, c);
    }
    event_add(se->ev, NULL);
    return 0;
}

static int multi_timer_cb(CURLM *m, long ms, void *userp)
{
    cor_etcd_t *c = userp;
    if (ms < 0) {
        evtimer_del(c->timer);
    } else {
        struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
        evtimer_add(c->timer, &tv);
    }
    return 0;
}

/* ---- Endpoints ---- */

void cor_etcd_endpoint_failed(cor_etcd_t *c, size_t ep)
{
    if (c->cur == ep)
        c->cur = (ep + 1) % c->n_eps;
}

const char *cor_etcd_endpoint(const cor_etcd_t *c)
{
    return c->eps[c->cur];
}

int cor_etcd_never_sent(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY;
}

static int parse_endpoints(cor_etcd_t *c, const char *list, cor_error_t *err)
{
    if (list == NULL || *list == '\0')
        return cor_error_set(err, COR_EINVAL, "etcd: no endpoints given");
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    c->eps = calloc(n, sizeof(*c->eps));
    if (c->eps == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    const char *p = list;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        while (p < end && *p == ' ')
            p++;
        size_t len = (size_t)(end - p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '/'))
            len--;
        int scheme = (len > 7 && strncmp(p, "http://", 7) == 0) ||
                     (len > 8 && strncmp(p, "https://", 8) == 0);
        int clean = 1;
        for (size_t k = 0; k < len; k++)
            if ((unsigned char)p[k] <= ' ' || p[k] == '?' || p[k] == '#')
                clean = 0;
        if (!scheme || !clean)
            return cor_error_set(err, COR_EINVAL, "etcd: endpoint %zu '%.*s' is not an "
                                 "http:// or https:// URL", i + 1, (int)len, p);
        if ((c->eps[i] = strndup(p, len)) == NULL)
            return cor_error_set(err, COR_ENOMEM, "out of memory");
        c->n_eps = i + 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* ---- The client ---- */

int cor_etcd_new(struct event_base *base, const cor_etcd_options_t *opts, cor_etcd_t **out,
                 cor_error_t *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != 0)
        return cor_error_set(err, COR_EINTERNAL, "etcd: curl_global_init failed");
    if (base == NULL)
        return cor_error_set(err, COR_EINVAL, "etcd: no event base");
    cor_etcd_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    c->base = base;
    c->request_timeout_ms = opts->request_timeout_ms > 0 ? opts->request_timeout_ms : 5000;
    c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 1000;
    c->watch_retry_ms = opts->watch_retry_ms > 0 ? opts->watch_retry_ms : 100;
    c->watch_idle_ms = opts->watch_idle_ms > 0 ? opts->watch_idle_ms : 0;
    int rc = parse_endpoints(c, opts->endpoints, err);
    if (rc != 0)
        goto fail;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, timer_ev_cb, c);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h = c->headers ? curl_slist_append(c->headers, "Expect:") : NULL;
    if (h != NULL)
        c->headers = h;
    if (c->multi == NULL || c->timer == NULL || h == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "etcd: could not make the curl multi handle");
        goto fail;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, multi_sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    *out = c;
    return 0;
fail:
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    if (c->timer != NULL)
        event_free(c->timer);
    curl_slist_free_all(c->headers);
    for (size_t i = 0; i < c->n_eps; i++)
        free(c->eps[i]);
    free(c->eps);
    free(c);
    return rc;
}

static void req_finish(req_t *r, int rc, cor_etcd_reply_t *reply, const cor_error_t *err);

void cor_etcd_free(cor_etcd_t *c)
{
    if (c == NULL)
        return;
    while (c->reqs != NULL) {
        req_t *r = c->reqs;
        curl_multi_remove_handle(c->multi, r->x.easy);
        cor_error_t e;
        cor_error_set(&e, COR_ECANCELLED, "etcd %s: the client was freed", cor_etcd_path(r->kind));
        req_finish(r, COR_ECANCELLED, NULL, &e);
    }
    cor_etcd_watch_free_all(c);
    curl_multi_cleanup(c->multi);
    event_free(c->timer);
    curl_slist_free_all(c->headers);
    for (size_t i = 0; i < c->n_eps; i++)
        free(c->eps[i]);
    free(c->eps);
    free(c);
}

void cor_etcd_easy_common(cor_etcd_t *c, cor_etcd_xfer_t *x)
{
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
}

int cor_etcd_xfer_start(cor_etcd_t *c, cor_etcd_xfer_t *x, cor_error_t *err)
{
    x->errbuf[0] = '\0';
    CURLMcode mc = curl_multi_add_handle(c->multi, x->easy);
    if (mc != CURLM_OK)
        return cor_error_set(err, COR_EINTERNAL, "etcd: curl_multi_add_handle: %s",
                             curl_multi_strerror(mc));
    return 0;
}

/* ---- Unary requests ---- */

static size_t req_write_cb(char *data, size_t size, size_t n, void *arg)
{
    req_t *r = arg;
    size_t len = size * n;
    if (r->resp_len + len > MAX_REPLY_BYTES) {
        r->too_big = 1;
        return 0; /* aborts the transfer */
    }
    if (r->resp_len + len + 1 > r->resp_cap) {
        size_t cap = r->resp_cap ? r->resp_cap : 1024;
        while (cap < r->resp_len + len + 1)
            cap *= 2;
        char *nb = realloc(r->resp, cap);
        if (nb == NULL)
            return 0;
        r->resp = nb;
        r->resp_cap = cap;
    }
    memcpy(r->resp + r->resp_len, data, len);
    r->resp_len += len;
    r->resp[r->resp_len] = '\0';
    return len;
}

/* Points r at endpoint ep and hands it to libcurl. */
static int req_send(req_t *r, size_t ep, cor_error_t *err)
{
    cor_etcd_t *c = r->c;
    char url[512];
    snprintf(url, sizeof(url), "%s%s", c->eps[ep], cor_etcd_path(r->kind));
    r->x.ep = ep;
    r->tries++;
    r->resp_len = 0;
    r->too_big = 0;
    curl_easy_setopt(r->x.easy, CURLOPT_URL, url);
    return cor_etcd_xfer_start(c, &r->x, err);
}

static void req_free(req_t *r)
{
    if (r->x.easy != NULL)
        curl_easy_cleanup(r->x.easy);
    free(r->body);
    free(r->resp);
    free(r);
}

/* Unlinks r, frees it and then calls its callback (which may do anything
 * but free the client). */
static void req_finish(req_t *r, int rc, cor_etcd_reply_t *reply, const cor_error_t *err)
{
    cor_etcd_t *c = r->c;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    cor_etcd_done_cb cb = r->cb;
    void *arg = r->arg;
    req_free(r);
    cb(arg, rc, reply, rc != 0 ? err : NULL);
}

static void req_done(cor_etcd_t *c, req_t *r, CURLcode res)
{
    cor_error_t e;
    cor_error_clear(&e);
    const char *ep = c->eps[r->x.ep];
    const char *path = cor_etcd_path(r->kind);
    long status = 0;
    curl_easy_getinfo(r->x.easy, CURLINFO_RESPONSE_CODE, &status);
    int rc, retry = 0;
    if (res == CURLE_OK && status == 200) {
        cor_etcd_reply_t *reply;
        rc = cor_etcd_json_reply(r->kind, r->resp, r->resp_len, &reply, &e);
        if (rc == 0) {
            req_finish(r, 0, reply, NULL);
            return;
        }
        cor_error_prefix(&e, "%s", ep);
    } else if (res == CURLE_OK) {
        rc = cor_etcd_json_error(status, r->resp, r->resp_len, &e);
        cor_error_prefix(&e, "%s%s", ep, path);
        retry = rc == COR_EUNAVAIL && r->idempotent;
    } else if (r->too_big) {
        rc = cor_error_set(&e, COR_ETOOBIG, "%s%s: reply longer than %u bytes", ep, path,
                           MAX_REPLY_BYTES);
    } else {
        cor_etcd_endpoint_failed(c, r->x.ep);
        int sent = !cor_etcd_never_sent(res);
        rc = res == CURLE_OPERATION_TIMEDOUT ? COR_ETIMEDOUT : COR_EUNAVAIL;
        cor_error_set(&e, rc, "%s%s: %s%s", ep, path,
                      r->x.errbuf[0] ? r->x.errbuf : curl_easy_strerror(res),
                      sent && !r->idempotent ? " (the request was sent: it may have been applied)"
                                             : "");
        retry = !sent || r->idempotent;
    }
    if (retry && r->tries < c->n_eps) {
        cor_error_t e2;
        if (req_send(r, (r->x.ep + 1) % c->n_eps, &e2) == 0)
            return;
        rc = e2.code;
        e = e2;
    } else if (retry && c->n_eps > 1) {
        cor_error_prefix(&e, "all %zu etcd endpoints failed; the last", c->n_eps);
    }
    req_finish(r, rc, NULL, &e);
}

static void process_done(cor_etcd_t *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode res = m->data.result;
        cor_etcd_xfer_t *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(c->multi, easy);
        if (x->is_watch)
            cor_etcd_watch_done(c, x, res);
        else
            req_done(c, (req_t *)x, res);
    }
}

/* Takes body (freed on failure too). */
static int submit(cor_etcd_t *c, cor_etcd_kind_t kind, int idempotent, char *body,
                  cor_etcd_done_cb cb, void *arg, cor_error_t *err)
{
    if (body == NULL)
        return err != NULL ? err->code : COR_EINVAL;
    if (cb == NULL) {
        free(body);
        return cor_error_set(err, COR_EINVAL, "etcd %s: no completion callback",
                             cor_etcd_path(kind));
    }
    req_t *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->x.easy = curl_easy_init()) == NULL) {
        free(r);
        free(body);
        return cor_error_set(err, COR_ENOMEM, "etcd: out of memory");
    }
    r->c = c;
    r->kind = kind;
    r->idempotent = idempotent;
    r->body = body;
    r->cb = cb;
    r->arg = arg;
    cor_etcd_easy_common(c, &r->x);
    curl_easy_setopt(r->x.easy, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(r->x.easy, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    curl_easy_setopt(r->x.easy, CURLOPT_WRITEFUNCTION, req_write_cb);
    curl_easy_setopt(r->x.easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->x.easy, CURLOPT_TIMEOUT_MS, (long)c->request_timeout_ms);
    int rc = req_send(r, c->cur, err);
    if (rc != 0) {
        req_free(r);
        return rc;
    }
    r->next = c->reqs;
    if (c->reqs != NULL)
        c->reqs->prev = r;
    c->reqs = r;
    return 0;
}

int cor_etcd_kv(cor_etcd_t *c, const cor_etcd_op_t *op, cor_etcd_done_cb cb, void *arg,
                cor_error_t *err)
{
    if (op == NULL)
        return cor_error_set(err, COR_EINVAL, "etcd: no op");
    return submit(c, op->kind, op->kind == COR_ETCD_RANGE, cor_etcd_json_op(op, err), cb, arg,
                  err);
}

int cor_etcd_txn(cor_etcd_t *c, const cor_etcd_txn_t *txn, cor_etcd_done_cb cb, void *arg,
                 cor_error_t *err)
{
    if (txn == NULL)
        return cor_error_set(err, COR_EINVAL, "etcd: no txn");
    /* A txn of reads only may be retried anywhere. */
    int reads_only = 1;
    for (size_t i = 0; i < txn->n_success && txn->success != NULL; i++)
        reads_only &= txn->success[i].kind == COR_ETCD_RANGE;
    for (size_t i = 0; i < txn->n_failure && txn->failure != NULL; i++)
        reads_only &= txn->failure[i].kind == COR_ETCD_RANGE;
    return submit(c, COR_ETCD_TXN, reads_only, cor_etcd_json_txn(txn, err), cb, arg, err);
}

int cor_etcd_compact(cor_etcd_t *c, int64_t revision, cor_etcd_done_cb cb, void *arg,
                     cor_error_t *err)
{
    return submit(c, COR_ETCD_COMPACT, 0, cor_etcd_json_number(COR_ETCD_COMPACT, revision, err),
                  cb, arg, err);
}

int cor_etcd_lease_grant(cor_etcd_t *c, int64_t ttl, cor_etcd_done_cb cb, void *arg,
                         cor_error_t *err)
{
    return submit(c, COR_ETCD_LEASE_GRANT, 0,
                  cor_etcd_json_number(COR_ETCD_LEASE_GRANT, ttl, err), cb, arg, err);
}

int cor_etcd_lease_keepalive(cor_etcd_t *c, int64_t id, cor_etcd_done_cb cb, void *arg,
                             cor_error_t *err)
{
    return submit(c, COR_ETCD_LEASE_KEEPALIVE, 1,
                  cor_etcd_json_number(COR_ETCD_LEASE_KEEPALIVE, id, err), cb, arg, err);
}

int cor_etcd_lease_revoke(cor_etcd_t *c, int64_t id, cor_etcd_done_cb cb, void *arg,
                          cor_error_t *err)
{
    return submit(c, COR_ETCD_LEASE_REVOKE, 0,
                  cor_etcd_json_number(COR_ETCD_LEASE_REVOKE, id, err), cb, arg, err);
}

/* ---- Synchronous helpers ---- */

typedef struct sync_state {
    int done, rc;
    cor_etcd_reply_t *reply;
    cor_error_t *err;
} sync_state_t;

static void sync_cb(void *arg, int rc, cor_etcd_reply_t *reply, const cor_error_t *err)
{
    sync_state_t *s = arg;
    s->done = 1;
    s->rc = rc;
    s->reply = reply;
    if (rc != 0 && s->err != NULL && err != NULL)
        *s->err = *err;
}

/* Runs the loop until s is done; rc is what started the request. */
static int sync_wait(cor_etcd_t *c, sync_state_t *s, int rc, cor_etcd_reply_t **reply)
{
    if (reply != NULL)
        *reply = NULL;
    if (rc != 0)
        return rc;
    while (!s->done) {
        if (event_base_loop(c->base, EVLOOP_ONCE) != 0 && !s->done) {
            /* Nothing left to wait for: cannot happen while the request
             * is in flight, but never spin. */
            return cor_error_set(s->err, COR_EINTERNAL, "etcd: the event loop ran dry before "
                                 "the request completed");
        }
    }
    if (reply != NULL)
        *reply = s->reply;
    else
        cor_etcd_reply_free(s->reply);
    return s->rc;
}

int cor_etcd_kv_sync(cor_etcd_t *c, const cor_etcd_op_t *op, cor_etcd_reply_t **reply,
                     cor_error_t *err)
{
    sync_state_t s = {.err = err};
    return sync_wait(c, &s, cor_etcd_kv(c, op, sync_cb, &s, err), reply);
}

int cor_etcd_txn_sync(cor_etcd_t *c, const cor_etcd_txn_t *txn, cor_etcd_reply_t **reply,
                      cor_error_t *err)
{
    sync_state_t s = {.err = err};
    return sync_wait(c, &s, cor_etcd_txn(c, txn, sync_cb, &s, err), reply);
}

int cor_etcd_compact_sync(cor_etcd_t *c, int64_t revision, cor_error_t *err)
{
    sync_state_t s = {.err = err};
    return sync_wait(c, &s, cor_etcd_compact(c, revision, sync_cb, &s, err), NULL);
}

int cor_etcd_lease_grant_sync(cor_etcd_t *c, int64_t ttl, int64_t *id, cor_error_t *err)
{
    sync_state_t s = {.err = err};
    cor_etcd_reply_t *r;
    int rc = sync_wait(c, &s, cor_etcd_lease_grant(c, ttl, sync_cb, &s, err), &r);
    if (rc == 0)
        *id = r->lease_id;
    cor_etcd_reply_free(r);
    return rc;
}

int cor_etcd_lease_keepalive_sync(cor_etcd_t *c, int64_t id, int64_t *ttl, cor_error_t *err)
{
    sync_state_t s = {.err = err};
    cor_etcd_reply_t *r;
    int rc = sync_wait(c, &s, cor_etcd_lease_keepalive(c, id, sync_cb, &s, err), &r);
    if (rc == 0 && ttl != NULL)
        *ttl = r->ttl;
    cor_etcd_reply_free(r);
    return rc;
}

int cor_etcd_lease_revoke_sync(cor_etcd_t *c, int64_t id, cor_error_t *err)
{
    sync_state_t s = {.err = err};
    return sync_wait(c, &s, cor_etcd_lease_revoke(c, id, sync_cb, &s, err), NULL);
}
