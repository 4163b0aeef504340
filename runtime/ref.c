/*
 * ref.c — object references (cor/runtime.h, ref_int.h): making, locating,
 * copying, encoding them so they travel inside messages, and choosing the
 * transport peer for their location.
 *
 * A ref's holds count its user and every asynchronous call in flight
 * through it (a call may have to follow the object after a move), so the
 * last of them frees it.
 */
#include "runtime_int.h"
#include "ref_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    return (s != NULL && s[0] != '\0') ? strdup(s) : NULL;
}

/* Sets the chain whose client parts calls through ref run (copied), once,
 * before the ref is shared. */
static int set_chain(cor_ref_t *ref, const char *chain)
{
    ref->dm_chain = dup_or_null(chain);
    return chain != NULL && chain[0] != '\0' && ref->dm_chain == NULL ? COR_ENOMEM : 0;
}

cor_ref_t *cor_ref_new(cor_runtime_t *rt, const cor_object_id_t *id, const char *class_name,
                       const char *dm_chain)
{
    cor_ref_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->rt = rt;
    r->id = *id;
    cor_object_id_format(id, r->idstr);
    r->class_name = strdup(class_name != NULL ? class_name : "");
    if (r->class_name == NULL) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    atomic_init(&r->holds, 1);
    if (set_chain(r, dm_chain) != 0) {
        cor_ref_free(r);
        return NULL;
    }
    return r;
}

static int valid_tcp_addr(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (colon == NULL || colon == a || colon[1] == '\0')
        return 0;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    long port = strtol(colon + 1, NULL, 10);
    return port > 0 && port < 65536 && strlen(a) < COR_ADDR_MAX;
}

int cor_ref_set_location(cor_ref_t *ref, const char *tcp_addr, const char *unix_path,
                         const char *host_id, uint64_t epoch, cor_error_t *err)
{
    if (tcp_addr != NULL && tcp_addr[0] != '\0' && !valid_tcp_addr(tcp_addr))
        return cor_error_set(err, COR_EINVAL, "'%s' is not a host:port address", tcp_addr);
    if (unix_path != NULL && strlen(unix_path) >= 100)
        return cor_error_set(err, COR_EINVAL, "unix socket path is longer than 99 bytes");
    char *t = dup_or_null(tcp_addr), *u = dup_or_null(unix_path), *h = dup_or_null(host_id);
    if ((tcp_addr && tcp_addr[0] && !t) || (unix_path && unix_path[0] && !u) ||
        (host_id && host_id[0] && !h)) {
        free(t);
        free(u);
        free(h);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&ref->lock);
    free(ref->tcp_addr);
    free(ref->unix_path);
    free(ref->host_id);
    ref->tcp_addr = t;
    ref->unix_path = u;
    ref->host_id = h;
    ref->epoch = epoch;
    ref->peer = NULL;
    pthread_mutex_unlock(&ref->lock);
    return 0;
}

void cor_ref_location(const cor_ref_t *ref, char *tcp_addr, size_t len, uint64_t *epoch)
{
    cor_ref_t *r = (cor_ref_t *)ref; /* lock is not part of the value */
    pthread_mutex_lock(&r->lock);
    snprintf(tcp_addr, len, "%s", r->tcp_addr != NULL ? r->tcp_addr : "");
    if (epoch != NULL)
        *epoch = r->epoch;
    pthread_mutex_unlock(&r->lock);
}

void cor_ref_set_deadline(cor_ref_t *ref, int deadline_ms)
{
    ref->deadline_ms = deadline_ms > 0 ? deadline_ms : 0;
}

const cor_object_id_t *cor_ref_id(const cor_ref_t *ref)
{
    return &ref->id;
}

const char *cor_ref_class(const cor_ref_t *ref)
{
    return ref->class_name;
}

cor_runtime_t *cor_ref_runtime(const cor_ref_t *ref)
{
    return ref->rt;
}

cor_ref_t *cor_ref_dup(const cor_ref_t *ref)
{
    cor_ref_t *r = cor_ref_new(ref->rt, &ref->id, ref->class_name, ref->dm_chain);
    if (r == NULL)
        return NULL;
    cor_ref_t *src = (cor_ref_t *)ref; /* lock is not part of the value */
    pthread_mutex_lock(&src->lock);
    int rc = cor_ref_set_location(r, src->tcp_addr, src->unix_path, src->host_id, src->epoch, NULL);
    pthread_mutex_unlock(&src->lock);
    if (rc != 0) {
        cor_ref_free(r);
        return NULL;
    }
    r->deadline_ms = ref->deadline_ms;
    return r;
}

void cor_ref_free(cor_ref_t *ref)
{
    /* An async call in flight keeps the ref (to follow a move) until it
     * completes; the last of the holders frees it. */
    if (ref == NULL || atomic_fetch_sub(&ref->holds, 1) != 1)
        return;
    free(ref->dm_chain);
    cor_dm_stack_free(ref->dm);
    free(ref->class_name);
    free(ref->tcp_addr);
    free(ref->unix_path);
    free(ref->host_id);
    pthread_mutex_destroy(&ref->lock);
    free(ref);
}

int cor_ref_encode(const cor_ref_t *ref, uint8_t **buf, size_t *len, cor_error_t *err)
{
    cor_ref_t *r = (cor_ref_t *)ref;
    Cor__ObjectRef m = COR__OBJECT_REF__INIT;
    m.id.data = r->id.b;
    m.id.len = sizeof(r->id.b);
    m.class_name = r->class_name;
    pthread_mutex_lock(&r->lock);
    m.tcp_address = r->tcp_addr ? r->tcp_addr : (char *)"";
    m.unix_path = r->unix_path ? r->unix_path : (char *)"";
    m.host_id = r->host_id ? r->host_id : (char *)"";
    m.epoch = r->epoch;
    m.dm_chain = r->dm_chain ? r->dm_chain : (char *)"";
    size_t n = cor__object_ref__get_packed_size(&m);
    uint8_t *b = malloc(n ? n : 1);
    if (b != NULL)
        cor__object_ref__pack(&m, b);
    pthread_mutex_unlock(&r->lock);
    if (b == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    *buf = b;
    *len = n;
    return 0;
}

int cor_ref_decode(cor_runtime_t *rt, const uint8_t *buf, size_t len, cor_ref_t **out,
                   cor_error_t *err)
{
    Cor__ObjectRef *m = cor__object_ref__unpack(NULL, len, buf);
    if (m == NULL)
        return cor_error_set(err, COR_EINVAL, "malformed object reference: not a cor.ObjectRef");
    int rc = 0;
    cor_object_id_t id;
    if (cor_object_id_from_bytes(m->id.data, m->id.len, &id) != 0 || cor_object_id_is_nil(&id)) {
        rc = cor_error_set(err, COR_EINVAL, "malformed object reference: bad object id");
        goto out;
    }
    cor_ref_t *r = cor_ref_new(rt, &id, m->class_name, m->dm_chain);
    if (r == NULL) {
        rc = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto out;
    }
    rc = cor_ref_set_location(r, m->tcp_address, m->unix_path, m->host_id, m->epoch, err);
    if (rc != 0) {
        cor_error_prefix(err, "malformed object reference");
        cor_ref_free(r);
        goto out;
    }
    *out = r;
out:
    cor__object_ref__free_unpacked(m, NULL);
    return rc;
}

cor_peer_t *cor_runtime_peer(cor_runtime_t *rt, const char *tcp_addr, const char *unix_path,
                             const char *host_id)
{
    if (unix_path != NULL && unix_path[0] != '\0' && host_id != NULL &&
        strcmp(host_id, rt->host_id) == 0) {
        char target[COR_ADDR_MAX + 8];
        snprintf(target, sizeof(target), "unix:%s", unix_path);
        return cor_client_peer(rt->client, target);
    }
    if (tcp_addr != NULL && tcp_addr[0] != '\0')
        return cor_client_peer(rt->client, tcp_addr);
    return NULL;
}

cor_peer_t *cor_ref_peer(cor_ref_t *ref)
{
    pthread_mutex_lock(&ref->lock);
    cor_peer_t *p = ref->peer;
    if (p == NULL)
        p = ref->peer = cor_runtime_peer(ref->rt, ref->tcp_addr, ref->unix_path, ref->host_id);
    pthread_mutex_unlock(&ref->lock);
    return p;
}

uint64_t cor_ref_epoch(cor_ref_t *ref)
{
    return atomic_load(&ref->epoch);
}

int cor_ref_deadline(const cor_ref_t *ref)
{
    return ref->deadline_ms > 0 ? ref->deadline_ms : ref->rt->opts.default_deadline_ms;
}

int cor_ref_client_stack(cor_ref_t *ref, cor_dm_stack_t **out, cor_error_t *err)
{
    /* Made once and never changed after: read without the lock then. */
    if (atomic_load_explicit(&ref->dm_ready, memory_order_acquire)) {
        *out = ref->dm;
        return 0;
    }
    pthread_mutex_lock(&ref->lock);
    int rc = 0;
    if (!ref->dm_ready) {
        rc = cor_dm_stack_new(ref->dm_chain, 0, &ref->dm, err);
        if (rc == 0)
            atomic_store_explicit(&ref->dm_ready, 1, memory_order_release);
        else
            cor_error_prefix(err, "dm chain");
    }
    *out = ref->dm;
    pthread_mutex_unlock(&ref->lock);
    return rc;
}

int cor_ref_follow(cor_ref_t *ref, const cor_redirect_t *moved, const char *answered_by)
{
    if (moved == NULL || moved->epoch == 0)
        return 0;
    pthread_mutex_lock(&ref->lock);
    int news = moved->epoch > ref->epoch;
    pthread_mutex_unlock(&ref->lock);
    if (news) {
        cor_error_t err;
        return cor_ref_set_location(ref, moved->to, NULL, NULL, moved->epoch, &err) == 0;
    }
    /* Not news: another call already followed it. Resend if that put the
     * ref somewhere other than the place that just answered. */
    cor_peer_t *p = cor_ref_peer(ref);
    return p != NULL && strcmp(cor_peer_target(p), answered_by) != 0;
}
