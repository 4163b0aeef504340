/*
 * social_class.c — implementation of the social User class.
 *
 * Each user object keeps its profile, up to SOCIAL_MAX_POSTS posts in a
 * ring (the oldest is dropped when a new one arrives at the cap), and the
 * users it follows: for each, the serialized ref as given to Follow (saved
 * with the state) and the ref decoded once, bound to the runtime, with a
 * short deadline (cached until unfollowed or the object is destroyed).
 *
 * Timeline is the one method that calls other objects: it asks every
 * followee for its newest posts through the generated proxy
 * (social_user_posts), merges them with the user's own posts, newest first,
 * and cuts the list at the limit. A followee that fails (deleted,
 * unreachable, too slow) is listed in the reply's `unavailable` with its
 * error; the rest of the timeline is still returned.
 *
 * Why Timeline cannot deadlock. The call graph is one level deep: Timeline
 * calls only Posts, and Posts calls nothing, so no call ever comes back to
 * the caller. That alone is not enough when calls hold per-object slots:
 * if alice and bob follow each other and both run Timeline at once, a
 * runtime that serialized calls per object would have alice's slot held
 * while waiting for bob's and bob's while waiting for alice's. So the class
 * is COR_CLASS_CONCURRENT and locks its own state with a mutex that is
 * never held across an outgoing call: Timeline copies what it needs (its
 * own posts, and a counted reference to each followee entry) under the
 * lock, releases it, then calls out. Posts only takes the lock briefly.
 * The remaining hazard is the host's threads, not locks: a synchronous
 * call out of a method occupies the thread that runs the method (see
 * README.md).
 *
 * Because calls run concurrently, replies never point into the object
 * state (another call may change it before the reply is packed): every
 * string and array in a reply is copied into call memory (cor_ctx_alloc).
 *
 * Post timestamps are microseconds of the wall clock, forced strictly
 * increasing within the process, so posts made one after another in a
 * process never tie; across processes, ties are broken by author id and
 * then post id.
 */
#include "social_class.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "social/social.cor.h"

#define CLASS_NAME "social.User"

typedef struct post {
    uint64_t id;
    int64_t ts_us;
    char *text; /* malloc'd, 1..SOCIAL_MAX_POST_BYTES bytes */
} post_t;

/* One followed user. Shared between the object and Timelines in flight,
 * so counted: the object holds one reference while it follows the user. */
typedef struct followee {
    atomic_int refs;
    cor_object_id_t id;
    char idstr[COR_OBJECT_ID_STRLEN + 1];
    uint8_t *ref_bytes; /* as given to Follow */
    size_t ref_len;
    cor_ref_t *ref; /* decoded; thread-safe to call through */
} followee_t;

struct social_obj {
    pthread_mutex_t lock; /* guards everything below */
    char *display_name;   /* malloc'd, never NULL */
    char *bio;
    uint64_t last_post_id;
    post_t *posts; /* ring: posts[(head + i) % cap] is the i-th oldest */
    size_t head, n, cap;
    followee_t **fol; /* in follow order */
    size_t n_fol, cap_fol;
};

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* Checks that s[0..n) is well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF). */
static int valid_utf8(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (s[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* Checks a text field: UTF-8, at most max bytes, non-empty if required. */
static int check_text(const char *what, const char *s, size_t max, int required,
                      cor_error_t *err)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (required && n == 0)
        return cor_error_set(err, COR_EINVAL, "%s is empty", what);
    if (n > max)
        return cor_error_set(err, COR_EINVAL, "%s is %zu bytes, over the %zu-byte limit", what, n,
                             max);
    if (!valid_utf8(s != NULL ? s : "", n))
        return cor_error_set(err, COR_EINVAL, "%s is not valid UTF-8", what);
    return 0;
}

static int ctx_fail(cor_ctx_t *ctx, const cor_error_t *e)
{
    return cor_ctx_error(ctx, e->code, "%s", e->msg);
}

/* A timestamp in µs, greater than any this process handed out before. */
static int64_t next_timestamp(void)
{
    static _Atomic int64_t last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    int64_t prev = atomic_load(&last);
    for (;;) {
        int64_t t = now > prev ? now : prev + 1;
        if (atomic_compare_exchange_weak(&last, &prev, t))
            return t;
    }
}

static void followee_release(followee_t *f)
{
    if (f == NULL || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    cor_ref_free(f->ref);
    free(f->ref_bytes);
    free(f);
}

/* Decodes and checks a serialized ref to a User; on success *out is a new
 * followee with one reference. COR_EINVAL (not a ref, not a User) or
 * COR_ENOMEM, with err set. */
static int followee_new(cor_runtime_t *rt, const uint8_t *buf, size_t len, followee_t **out,
                        cor_error_t *err)
{
    if (len == 0)
        return cor_error_set(err, COR_EINVAL, "user_ref is empty");
    cor_ref_t *ref = NULL;
    cor_error_t derr;
    int rc = cor_ref_decode(rt, buf, len, &ref, &derr);
    if (rc != 0)
        return cor_error_set(err, rc, "user_ref is not a serialized object reference: %s",
                             derr.msg);
    if (strcmp(cor_ref_class(ref), CLASS_NAME) != 0) {
        rc = cor_error_set(err, COR_EINVAL, "user_ref names a '%.64s' object, not a " CLASS_NAME,
                           cor_ref_class(ref));
        cor_ref_free(ref);
        return rc;
    }
    followee_t *f = calloc(1, sizeof(*f));
    uint8_t *b = malloc(len);
    if (f == NULL || b == NULL) {
        free(f);
        free(b);
        cor_ref_free(ref);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    memcpy(b, buf, len);
    atomic_init(&f->refs, 1);
    f->id = *cor_ref_id(ref);
    cor_object_id_format(&f->id, f->idstr);
    f->ref_bytes = b;
    f->ref_len = len;
    f->ref = ref;
    cor_ref_set_deadline(ref, SOCIAL_FOLLOWEE_DEADLINE_MS);
    *out = f;
    return 0;
}

/* Index of the followee with id, or -1. Lock held. */
static long find_followee(const social_obj_t *u, const cor_object_id_t *id)
{
    for (size_t i = 0; i < u->n_fol; i++)
        if (cor_object_id_equal(&u->fol[i]->id, id))
            return (long)i;
    return -1;
}

/* The i-th oldest post. Lock held. */
static post_t *post_at(const social_obj_t *u, size_t i)
{
    return &u->posts[(u->head + i) % u->cap];
}

/* Appends a post (taking text), dropping the oldest at the cap. 0 or
 * COR_ENOMEM (text not taken). Lock held. */
static int add_post(social_obj_t *u, uint64_t id, int64_t ts, char *text)
{
    if (u->n == SOCIAL_MAX_POSTS) {
        post_t *p = post_at(u, 0); /* the oldest: its slot takes the new one */
        free(p->text);
        *p = (post_t){.id = id, .ts_us = ts, .text = text};
        u->head = (u->head + 1) % u->cap;
        return 0;
    }
    if (u->n == u->cap) { /* still growing: head is 0 */
        size_t cap = u->cap ? u->cap * 2 : 16;
        if (cap > SOCIAL_MAX_POSTS)
            cap = SOCIAL_MAX_POSTS;
        post_t *np = realloc(u->posts, cap * sizeof(*np));
        if (np == NULL)
            return COR_ENOMEM;
        u->posts = np;
        u->cap = cap;
    }
    u->posts[(u->head + u->n) % u->cap] = (post_t){.id = id, .ts_us = ts, .text = text};
    u->n++;
    return 0;
}

/* Copies the newest min(limit, n) posts into call memory, newest first.
 * 0 or COR_ENOMEM. Lock held. */
static int copy_posts(cor_ctx_t *ctx, const social_obj_t *u, size_t limit, Social__Post ***out,
                      size_t *n_out)
{
    size_t n = u->n < limit ? u->n : limit;
    *out = NULL;
    *n_out = 0;
    if (n == 0)
        return 0;
    Social__Post **ptrs = cor_ctx_alloc(ctx, n * sizeof(*ptrs));
    Social__Post *ps = cor_ctx_alloc(ctx, n * sizeof(*ps));
    if (ptrs == NULL || ps == NULL)
        return COR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const post_t *p = post_at(u, u->n - 1 - i);
        social__post__init(&ps[i]);
        ps[i].post_id = p->id;
        ps[i].timestamp_us = p->ts_us;
        ps[i].text = cor_ctx_strdup(ctx, p->text);
        if (ps[i].text == NULL)
            return COR_ENOMEM;
        ptrs[i] = &ps[i];
    }
    *out = ptrs;
    *n_out = n;
    return 0;
}

static int check_limit(cor_ctx_t *ctx, uint32_t limit, size_t *out)
{
    if (limit > SOCIAL_MAX_LIMIT)
        return cor_ctx_error(ctx, COR_EINVAL, "limit %u is over the maximum of %u", limit,
                             SOCIAL_MAX_LIMIT);
    *out = limit ? limit : SOCIAL_DEFAULT_LIMIT;
    return 0;
}

static char *own_id(cor_ctx_t *ctx)
{
    char *s = cor_ctx_alloc(ctx, COR_OBJECT_ID_STRLEN + 1);
    if (s != NULL)
        cor_object_id_format(cor_ctx_object_id(ctx), s);
    return s;
}

/* ------------------------------------------------------------------ */
/* methods                                                             */

/* Sets both fields, or neither (on error). */
static int set_profile(social_obj_t *u, const char *name, const char *bio, cor_error_t *err)
{
    int rc;
    if ((rc = check_text("display_name", name, SOCIAL_MAX_NAME_BYTES, 0, err)) != 0 ||
        (rc = check_text("bio", bio, SOCIAL_MAX_BIO_BYTES, 0, err)) != 0)
        return rc;
    char *n = strdup(name != NULL ? name : ""), *b = strdup(bio != NULL ? bio : "");
    if (n == NULL || b == NULL) {
        free(n);
        free(b);
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&u->lock);
    char *on = u->display_name, *ob = u->bio;
    u->display_name = n;
    u->bio = b;
    pthread_mutex_unlock(&u->lock);
    free(on);
    free(ob);
    return 0;
}

static int su_set_profile(void *self, cor_ctx_t *ctx, const Social__SetProfileRequest *req,
                          Social__SetProfileReply *reply)
{
    cor_error_t e;
    return set_profile(self, req->display_name, req->bio, &e) != 0 ? ctx_fail(ctx, &e) : 0;
}

static int su_get_profile(void *self, cor_ctx_t *ctx, const Social__GetProfileRequest *req,
                          Social__Profile *reply)
{
    social_obj_t *u = self;
    reply->user_id = own_id(ctx);
    pthread_mutex_lock(&u->lock);
    reply->display_name = cor_ctx_strdup(ctx, u->display_name);
    reply->bio = cor_ctx_strdup(ctx, u->bio);
    reply->posts = (uint32_t)u->n;
    reply->following = (uint32_t)u->n_fol;
    pthread_mutex_unlock(&u->lock);
    if (reply->user_id == NULL || reply->display_name == NULL || reply->bio == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    return 0;
}

static int su_post(void *self, cor_ctx_t *ctx, const Social__PostRequest *req,
                   Social__PostReply *reply)
{
    social_obj_t *u = self;
    cor_error_t e;
    if (check_text("post text", req->text, SOCIAL_MAX_POST_BYTES, 1, &e) != 0)
        return ctx_fail(ctx, &e);
    char *t = strdup(req->text);
    if (t == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    pthread_mutex_lock(&u->lock);
    uint64_t id = u->last_post_id + 1;
    int64_t ts = next_timestamp();
    int rc = add_post(u, id, ts, t);
    if (rc == 0)
        u->last_post_id = id;
    pthread_mutex_unlock(&u->lock);
    if (rc != 0) {
        free(t);
        return cor_ctx_error(ctx, rc, "out of memory storing a post");
    }
    reply->post_id = id;
    reply->timestamp_us = ts;
    return 0;
}

static int su_posts(void *self, cor_ctx_t *ctx, const Social__PostsRequest *req,
                    Social__PostsReply *reply)
{
    social_obj_t *u = self;
    size_t limit = SOCIAL_DEFAULT_LIMIT;
    int rc = check_limit(ctx, req->limit, &limit);
    if (rc != 0)
        return rc;
    reply->author_id = own_id(ctx);
    pthread_mutex_lock(&u->lock);
    reply->author_name = cor_ctx_strdup(ctx, u->display_name);
    rc = copy_posts(ctx, u, limit, &reply->posts, &reply->n_posts);
    pthread_mutex_unlock(&u->lock);
    if (rc != 0 || reply->author_id == NULL || reply->author_name == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    return 0;
}

static int su_follow(void *self, cor_ctx_t *ctx, const Social__FollowRequest *req,
                     Social__FollowReply *reply)
{
    social_obj_t *u = self;
    followee_t *f = NULL;
    cor_error_t e;
    if (followee_new(cor_ctx_runtime(ctx), req->user_ref.data, req->user_ref.len, &f, &e) != 0)
        return ctx_fail(ctx, &e);
    if (cor_object_id_equal(&f->id, cor_ctx_object_id(ctx))) {
        followee_release(f);
        return cor_ctx_error(ctx, COR_EINVAL, "a user cannot follow itself");
    }
    followee_t *old = NULL;
    int rc = 0;
    pthread_mutex_lock(&u->lock);
    long i = find_followee(u, &f->id);
    if (i >= 0) {
        /* Already followed: keep the newer ref (its location may be). */
        old = u->fol[i];
        u->fol[i] = f;
        f = NULL;
    } else if (u->n_fol >= SOCIAL_MAX_FOLLOWING) {
        rc = COR_ETOOBIG;
    } else {
        if (u->n_fol == u->cap_fol) {
            size_t cap = u->cap_fol ? u->cap_fol * 2 : 8;
            followee_t **nf = realloc(u->fol, cap * sizeof(*nf));
            if (nf == NULL)
                rc = COR_ENOMEM;
            else
                u->fol = nf, u->cap_fol = cap;
        }
        if (rc == 0) {
            u->fol[u->n_fol++] = f;
            f = NULL;
            reply->added = 1;
        }
    }
    reply->following = (uint32_t)u->n_fol;
    pthread_mutex_unlock(&u->lock);
    followee_release(old); /* outside the lock: may free a ref */
    followee_release(f);
    if (rc == COR_ETOOBIG)
        return cor_ctx_error(ctx, rc, "already following the maximum of %u users",
                             SOCIAL_MAX_FOLLOWING);
    if (rc != 0)
        return cor_ctx_error(ctx, rc, "out of memory");
    return 0;
}

static int su_unfollow(void *self, cor_ctx_t *ctx, const Social__UnfollowRequest *req,
                       Social__UnfollowReply *reply)
{
    social_obj_t *u = self;
    cor_object_id_t id;
    if (req->user_ref.len > 0) {
        cor_ref_t *r = NULL;
        cor_error_t e;
        if (cor_ref_decode(cor_ctx_runtime(ctx), req->user_ref.data, req->user_ref.len, &r, &e) != 0)
            return cor_ctx_error(ctx, COR_EINVAL, "user_ref is not a serialized object reference: %s",
                                 e.msg);
        id = *cor_ref_id(r);
        cor_ref_free(r);
    } else if (req->user_id != NULL && req->user_id[0] != '\0') {
        if (cor_object_id_parse(req->user_id, &id) != 0)
            return cor_ctx_error(ctx, COR_EINVAL, "user_id '%.40s' is not 32 hex digits",
                                 req->user_id);
    } else {
        return cor_ctx_error(ctx, COR_EINVAL, "give user_ref or user_id");
    }
    followee_t *gone = NULL;
    pthread_mutex_lock(&u->lock);
    long i = find_followee(u, &id);
    if (i >= 0) {
        gone = u->fol[i];
        memmove(&u->fol[i], &u->fol[i + 1], (u->n_fol - (size_t)i - 1) * sizeof(u->fol[0]));
        u->n_fol--;
        reply->removed = 1;
    }
    pthread_mutex_unlock(&u->lock);
    followee_release(gone);
    return 0;
}

static int su_following(void *self, cor_ctx_t *ctx, const Social__FollowingRequest *req,
                        Social__FollowingReply *reply)
{
    social_obj_t *u = self;
    int rc = 0;
    pthread_mutex_lock(&u->lock);
    size_t n = u->n_fol;
    if (n > 0) {
        Social__Followee **ptrs = cor_ctx_alloc(ctx, n * sizeof(*ptrs));
        Social__Followee *fs = cor_ctx_alloc(ctx, n * sizeof(*fs));
        if (ptrs == NULL || fs == NULL)
            rc = COR_ENOMEM;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            const followee_t *f = u->fol[i];
            social__followee__init(&fs[i]);
            fs[i].user_id = cor_ctx_strdup(ctx, f->idstr);
            fs[i].user_ref.data = cor_ctx_alloc(ctx, f->ref_len);
            if (fs[i].user_id == NULL || fs[i].user_ref.data == NULL) {
                rc = COR_ENOMEM;
                break;
            }
            memcpy(fs[i].user_ref.data, f->ref_bytes, f->ref_len);
            fs[i].user_ref.len = f->ref_len;
            ptrs[i] = &fs[i];
        }
        if (rc == 0) {
            reply->followees = ptrs;
            reply->n_followees = n;
        }
    }
    pthread_mutex_unlock(&u->lock);
    return rc != 0 ? cor_ctx_error(ctx, rc, "out of memory") : 0;
}

/* Timeline's growing list of entries (the entries themselves live in call
 * memory; this array of pointers is malloc'd). */
typedef struct entry_list {
    Social__TimelineEntry **v;
    size_t n, cap;
} entry_list_t;

static int list_add(cor_ctx_t *ctx, entry_list_t *l, const char *author_id,
                    const char *author_name, const Social__Post *p)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        Social__TimelineEntry **nv = realloc(l->v, cap * sizeof(*nv));
        if (nv == NULL)
            return COR_ENOMEM;
        l->v = nv;
        l->cap = cap;
    }
    Social__TimelineEntry *e = cor_ctx_alloc(ctx, sizeof(*e));
    if (e == NULL)
        return COR_ENOMEM;
    social__timeline_entry__init(e);
    e->author_id = (char *)author_id; /* already call memory */
    e->author_name = (char *)author_name;
    e->post_id = p->post_id;
    e->timestamp_us = p->timestamp_us;
    e->text = (char *)p->text;
    l->v[l->n++] = e;
    return 0;
}

/* Newest first; ties broken by author id, then newest post id. */
static int cmp_entry(const void *a, const void *b)
{
    const Social__TimelineEntry *x = *(Social__TimelineEntry *const *)a;
    const Social__TimelineEntry *y = *(Social__TimelineEntry *const *)b;
    if (x->timestamp_us != y->timestamp_us)
        return x->timestamp_us > y->timestamp_us ? -1 : 1;
    int c = strcmp(x->author_id, y->author_id);
    if (c != 0)
        return c;
    return x->post_id > y->post_id ? -1 : x->post_id < y->post_id ? 1 : 0;
}

/* One followee's newest posts into the list, copied into call memory.
 * 0; COR_ENOMEM; or the call's error in *call_err (then nothing added). */
static int gather_followee(cor_ctx_t *ctx, followee_t *f, uint32_t limit, entry_list_t *l,
                           cor_error_t *call_err)
{
    Social__PostsRequest req = SOCIAL__POSTS_REQUEST__INIT;
    req.limit = limit;
    Social__PostsReply *rep = NULL;
    int rc = social_user_posts(f->ref, &req, &rep, call_err);
    if (rc != 0)
        return rc;
    char *name = cor_ctx_strdup(ctx, rep->author_name != NULL ? rep->author_name : "");
    rc = name == NULL ? COR_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < rep->n_posts && i < limit; i++) {
        Social__Post p = *rep->posts[i];
        p.text = cor_ctx_strdup(ctx, p.text != NULL ? p.text : "");
        rc = p.text == NULL ? COR_ENOMEM : list_add(ctx, l, f->idstr, name, &p);
    }
    social__posts_reply__free_unpacked(rep, NULL);
    if (rc != 0)
        cor_error_set(call_err, rc, "out of memory");
    return rc;
}

static int su_timeline(void *self, cor_ctx_t *ctx, const Social__TimelineRequest *req,
                       Social__TimelineReply *reply)
{
    social_obj_t *u = self;
    size_t limit = SOCIAL_DEFAULT_LIMIT;
    int rc = check_limit(ctx, req->limit, &limit);
    if (rc != 0)
        return rc;
    entry_list_t l = {0};
    followee_t **snap = NULL;
    size_t n_snap = 0;
    Social__Post **own = NULL;
    size_t n_own = 0;
    char *me = own_id(ctx), *my_name = NULL;
    if (me == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");

    /* 1. Under the lock: copy own posts, take a reference to each followee. */
    pthread_mutex_lock(&u->lock);
    my_name = cor_ctx_strdup(ctx, u->display_name);
    rc = my_name == NULL ? COR_ENOMEM : copy_posts(ctx, u, limit, &own, &n_own);
    if (rc == 0 && u->n_fol > 0) {
        snap = malloc(u->n_fol * sizeof(*snap));
        if (snap == NULL)
            rc = COR_ENOMEM;
        for (size_t i = 0; rc == 0 && i < u->n_fol; i++) {
            atomic_fetch_add(&u->fol[i]->refs, 1);
            snap[n_snap++] = u->fol[i];
        }
    }
    pthread_mutex_unlock(&u->lock);
    for (size_t i = 0; rc == 0 && i < n_own; i++)
        rc = list_add(ctx, &l, me, my_name, own[i]);
    if (rc != 0)
        goto out;

    /* 2. Without the lock: ask every followee. A failure is reported per
     * followee, not for the whole timeline. */
    if (n_snap > 0) {
        reply->unavailable = cor_ctx_alloc(ctx, n_snap * sizeof(char *));
        reply->unavailable_why = cor_ctx_alloc(ctx, n_snap * sizeof(char *));
        if (reply->unavailable == NULL || reply->unavailable_why == NULL) {
            rc = COR_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n_snap; i++) {
        followee_t *f = snap[i];
        if (cor_object_id_equal(&f->id, cor_ctx_object_id(ctx)))
            continue; /* only from a loaded state; own posts are in already */
        cor_error_t ce;
        cor_error_clear(&ce);
        int crc = gather_followee(ctx, f, (uint32_t)limit, &l, &ce);
        if (crc == COR_ENOMEM) {
            rc = crc;
            goto out;
        }
        if (crc != 0) {
            size_t k = reply->n_unavailable;
            reply->unavailable[k] = cor_ctx_strdup(ctx, f->idstr);
            reply->unavailable_why[k] = cor_ctx_strdup(ctx, ce.msg);
            if (reply->unavailable[k] == NULL || reply->unavailable_why[k] == NULL) {
                rc = COR_ENOMEM;
                goto out;
            }
            reply->n_unavailable = reply->n_unavailable_why = k + 1;
        }
    }

    /* 3. Merge: newest first, cut at the limit. */
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(l.v[0]), cmp_entry);
    size_t n = l.n < limit ? l.n : limit;
    if (n > 0) {
        reply->entries = cor_ctx_alloc(ctx, n * sizeof(*reply->entries));
        if (reply->entries == NULL) {
            rc = COR_ENOMEM;
            goto out;
        }
        memcpy(reply->entries, l.v, n * sizeof(*reply->entries));
        reply->n_entries = n;
    }
out:
    for (size_t i = 0; i < n_snap; i++)
        followee_release(snap[i]);
    free(snap);
    free(l.v);
    if (rc != 0) {
        reply->n_entries = reply->n_unavailable = reply->n_unavailable_why = 0;
        return cor_ctx_error(ctx, rc, "out of memory building the timeline");
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* lifecycle and state                                                 */

static social_obj_t *obj_new(void)
{
    social_obj_t *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->display_name = strdup("");
    u->bio = strdup("");
    if (u->display_name == NULL || u->bio == NULL) {
        free(u->display_name);
        free(u->bio);
        free(u);
        return NULL;
    }
    pthread_mutex_init(&u->lock, NULL);
    return u;
}

void social_obj_free(social_obj_t *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->n; i++)
        free(post_at(u, i)->text);
    free(u->posts);
    for (size_t i = 0; i < u->n_fol; i++)
        followee_release(u->fol[i]);
    free(u->fol);
    free(u->display_name);
    free(u->bio);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

int social_state_pack(social_obj_t *u, uint8_t **buf, size_t *len, cor_error_t *err)
{
    int rv = 0;
    pthread_mutex_lock(&u->lock);
    Social__UserState st = SOCIAL__USER_STATE__INIT;
    Social__Post *ps = calloc(u->n ? u->n : 1, sizeof(*ps));
    Social__Post **pp = calloc(u->n ? u->n : 1, sizeof(*pp));
    ProtobufCBinaryData *fs = calloc(u->n_fol ? u->n_fol : 1, sizeof(*fs));
    uint8_t *b = NULL;
    if (ps == NULL || pp == NULL || fs == NULL) {
        rv = cor_error_set(err, COR_ENOMEM, "out of memory saving a user");
        goto out;
    }
    st.display_name = u->display_name;
    st.bio = u->bio;
    st.last_post_id = u->last_post_id;
    for (size_t i = 0; i < u->n; i++) {
        const post_t *p = post_at(u, i);
        social__post__init(&ps[i]);
        ps[i].post_id = p->id;
        ps[i].timestamp_us = p->ts_us;
        ps[i].text = p->text;
        pp[i] = &ps[i];
    }
    st.posts = pp;
    st.n_posts = u->n;
    for (size_t i = 0; i < u->n_fol; i++) {
        fs[i].data = u->fol[i]->ref_bytes;
        fs[i].len = u->fol[i]->ref_len;
    }
    st.followees = fs;
    st.n_followees = u->n_fol;
    size_t n = social__user_state__get_packed_size(&st);
    b = malloc(n ? n : 1);
    if (b == NULL) {
        rv = cor_error_set(err, COR_ENOMEM, "out of memory saving %zu bytes of state", n);
        goto out;
    }
    social__user_state__pack(&st, b);
    *buf = b;
    *len = n;
out:
    pthread_mutex_unlock(&u->lock);
    free(fs);
    free(pp);
    free(ps);
    return rv;
}

int social_state_unpack(cor_runtime_t *rt, const uint8_t *buf, size_t len, social_obj_t **out,
                        cor_error_t *err)
{
    int rv = 0;
    social_obj_t *u = NULL;
    Social__UserState *st = social__user_state__unpack(NULL, len, buf);
    if (st == NULL)
        return cor_error_set(err, COR_EINVAL, "saved state is not a social.UserState");
    if (st->n_posts > SOCIAL_MAX_POSTS) {
        rv = cor_error_set(err, COR_EINVAL, "saved state holds %zu posts, over the limit of %u",
                           st->n_posts, SOCIAL_MAX_POSTS);
        goto fail;
    }
    if (st->n_followees > SOCIAL_MAX_FOLLOWING) {
        rv = cor_error_set(err, COR_EINVAL,
                           "saved state follows %zu users, over the limit of %u",
                           st->n_followees, SOCIAL_MAX_FOLLOWING);
        goto fail;
    }
    u = obj_new();
    if (u == NULL) {
        rv = cor_error_set(err, COR_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rv = set_profile(u, st->display_name, st->bio, err)) != 0) {
        cor_error_prefix(err, "saved state");
        goto fail;
    }
    uint64_t prev = 0;
    for (size_t i = 0; i < st->n_posts; i++) {
        const Social__Post *p = st->posts[i];
        char what[48];
        snprintf(what, sizeof(what), "saved post %zu's text", i);
        if ((rv = check_text(what, p->text, SOCIAL_MAX_POST_BYTES, 1, err)) != 0)
            goto fail;
        if (p->post_id <= prev || p->post_id > st->last_post_id) {
            rv = cor_error_set(err, COR_EINVAL,
                               "saved post %zu has id %llu: ids must increase and be at most "
                               "last_post_id %llu",
                               i, (unsigned long long)p->post_id,
                               (unsigned long long)st->last_post_id);
            goto fail;
        }
        prev = p->post_id;
        char *t = strdup(p->text);
        if (t == NULL || add_post(u, p->post_id, p->timestamp_us, t) != 0) {
            free(t);
            rv = cor_error_set(err, COR_ENOMEM, "out of memory loading posts");
            goto fail;
        }
    }
    u->last_post_id = st->last_post_id;
    if (st->n_followees > 0 && (u->fol = calloc(st->n_followees, sizeof(*u->fol))) == NULL) {
        rv = cor_error_set(err, COR_ENOMEM, "out of memory loading followees");
        goto fail;
    }
    u->cap_fol = st->n_followees;
    for (size_t i = 0; i < st->n_followees; i++) {
        followee_t *f = NULL;
        if ((rv = followee_new(rt, st->followees[i].data, st->followees[i].len, &f, err)) != 0) {
            cor_error_prefix(err, "saved followee %zu", i);
            goto fail;
        }
        if (find_followee(u, &f->id) >= 0) {
            rv = cor_error_set(err, COR_EINVAL, "saved state follows user %s twice", f->idstr);
            followee_release(f);
            goto fail;
        }
        u->fol[u->n_fol++] = f;
    }
    social__user_state__free_unpacked(st, NULL);
    *out = u;
    return 0;
fail:
    social_obj_free(u);
    social__user_state__free_unpacked(st, NULL);
    return rv;
}

static int su_create(cor_ctx_t *ctx, const uint8_t *args, size_t args_len, void **self)
{
    social_obj_t *u = obj_new();
    if (u == NULL)
        return cor_ctx_error(ctx, COR_ENOMEM, "out of memory");
    if (args_len > 0) {
        Social__UserArgs *a = social__user_args__unpack(NULL, args_len, args);
        if (a == NULL) {
            social_obj_free(u);
            return cor_ctx_error(ctx, COR_EINVAL, "constructor arguments are not a social.UserArgs");
        }
        cor_error_t e;
        int rc = set_profile(u, a->display_name, a->bio, &e);
        social__user_args__free_unpacked(a, NULL);
        if (rc != 0) {
            social_obj_free(u);
            return ctx_fail(ctx, &e);
        }
    }
    *self = u;
    return 0;
}

static void su_destroy(void *self)
{
    social_obj_free(self);
}

static int su_save(void *self, cor_ctx_t *ctx, uint8_t **buf, size_t *len)
{
    cor_error_t e;
    return social_state_pack(self, buf, len, &e) != 0 ? ctx_fail(ctx, &e) : 0;
}

static int su_load(cor_ctx_t *ctx, const uint8_t *buf, size_t len, void **self)
{
    cor_error_t e;
    social_obj_t *u = NULL;
    if (social_state_unpack(cor_ctx_runtime(ctx), buf, len, &u, &e) != 0)
        return ctx_fail(ctx, &e);
    *self = u;
    return 0;
}

static const social_user_ops_t social_ops = {
    .set_profile = su_set_profile,
    .get_profile = su_get_profile,
    .post = su_post,
    .posts = su_posts,
    .follow = su_follow,
    .unfollow = su_unfollow,
    .following = su_following,
    .timeline = su_timeline,
};

const cor_class_t social_class = {
    .version = COR_CLASS_VERSION,
    .name = CLASS_NAME,
    .service = &social_user_service,
    .ops = &social_ops,
    .flags = COR_CLASS_CONCURRENT,
    .create = su_create,
    .destroy = su_destroy,
    .save_state = su_save,
    .load_state = su_load,
};
