/*
 * test_app_social.c — the social User class (apps/social) with several
 * users in one runtime, called through the generated proxies on the
 * co-located path (no OMS): profiles, posts, follows by
 * encoded ref, the merged timeline (newest first, with authors), unfollow,
 * the refusals (self-follow, garbage and non-User refs, every limit), a
 * deleted followee reported as unavailable while the rest of the timeline
 * still comes back, two users who follow each other reading their
 * timelines at once (no deadlock), a followee on a second runtime reached
 * over TCP from inside Timeline, and the saved-state codec.
 */
#include <cor/cor.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "social/social.cor.h"
#include "social_class.h"
#include "testlib.h"

static cor_runtime_t *rt;

static int suite_init(void)
{
    cor_error_t err;
    if (cor_runtime_new(NULL, &rt, &err) != 0)
        return 1;
    return cor_runtime_register_class(rt, &social_class, &err) != 0;
}

static int suite_cleanup(void)
{
    cor_runtime_free(rt);
    return 0;
}

/* ---- helpers: one per method ---- */

static cor_ref_t *new_user(const char *display_name)
{
    Social__UserArgs a = SOCIAL__USER_ARGS__INIT;
    a.display_name = (char *)display_name;
    uint8_t buf[128];
    size_t len = social__user_args__pack(&a, buf);
    cor_ref_t *ref = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_object_create(rt, "social.User", buf, len, &(cor_create_opts_t){.here = 1}, &ref, &err),
                          0);
    return ref;
}

static void drop_user(cor_ref_t *ref)
{
    cor_error_t err;
    cor_object_delete(rt, cor_ref_id(ref), &err);
    cor_ref_free(ref);
}

static void id_of(cor_ref_t *ref, char out[COR_OBJECT_ID_STRLEN + 1])
{
    cor_object_id_format(cor_ref_id(ref), out);
}

static int post(cor_ref_t *u, const char *text, uint64_t *id, cor_error_t *err)
{
    Social__PostRequest req = SOCIAL__POST_REQUEST__INIT;
    req.text = (char *)text;
    Social__PostReply *rep = NULL;
    int rc = social_user_post(u, &req, &rep, err);
    if (rc == 0) {
        if (id != NULL)
            *id = rep->post_id;
        social__post_reply__free_unpacked(rep, NULL);
    }
    return rc;
}

static void post_ok(cor_ref_t *u, const char *text)
{
    cor_error_t err;
    CU_ASSERT_EQUAL(post(u, text, NULL, &err), 0);
}

static int follow_bytes(cor_ref_t *u, const uint8_t *b, size_t len, int *added, cor_error_t *err)
{
    Social__FollowRequest req = SOCIAL__FOLLOW_REQUEST__INIT;
    req.user_ref.data = (uint8_t *)b;
    req.user_ref.len = len;
    Social__FollowReply *rep = NULL;
    int rc = social_user_follow(u, &req, &rep, err);
    if (rc == 0) {
        if (added != NULL)
            *added = rep->added;
        social__follow_reply__free_unpacked(rep, NULL);
    }
    return rc;
}

static int follow(cor_ref_t *u, cor_ref_t *other, int *added, cor_error_t *err)
{
    uint8_t *b = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(cor_ref_encode(other, &b, &len, err), 0);
    int rc = follow_bytes(u, b, len, added, err);
    free(b);
    return rc;
}

static int unfollow(cor_ref_t *u, const char *id, cor_ref_t *other, int *removed,
                    cor_error_t *err)
{
    Social__UnfollowRequest req = SOCIAL__UNFOLLOW_REQUEST__INIT;
    uint8_t *b = NULL;
    size_t len = 0;
    if (other != NULL) {
        CU_ASSERT_EQUAL_FATAL(cor_ref_encode(other, &b, &len, err), 0);
        req.user_ref.data = b;
        req.user_ref.len = len;
    }
    req.user_id = (char *)(id != NULL ? id : "");
    Social__UnfollowReply *rep = NULL;
    int rc = social_user_unfollow(u, &req, &rep, err);
    if (rc == 0) {
        *removed = rep->removed;
        social__unfollow_reply__free_unpacked(rep, NULL);
    }
    free(b);
    return rc;
}

static Social__TimelineReply *timeline(cor_ref_t *u, uint32_t limit, int *rc, cor_error_t *err)
{
    Social__TimelineRequest req = SOCIAL__TIMELINE_REQUEST__INIT;
    req.limit = limit;
    Social__TimelineReply *rep = NULL;
    *rc = social_user_timeline(u, &req, &rep, err);
    return rep;
}

static Social__Profile *profile(cor_ref_t *u)
{
    Social__GetProfileRequest req = SOCIAL__GET_PROFILE_REQUEST__INIT;
    Social__Profile *rep = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(social_user_get_profile(u, &req, &rep, &err), 0);
    return rep;
}

/* Checks the timeline's texts, in order, and that it is sorted newest first. */
static void expect_texts(const Social__TimelineReply *t, const char *const *want, size_t n)
{
    CU_ASSERT_EQUAL(t->n_entries, n);
    for (size_t i = 0; i < n && i < t->n_entries; i++) {
        if (strcmp(t->entries[i]->text, want[i]) != 0) {
            fprintf(stderr, "entry %zu: got '%s', want '%s'\n", i, t->entries[i]->text, want[i]);
            CU_FAIL("timeline order");
        }
    }
    for (size_t i = 1; i < t->n_entries; i++)
        CU_ASSERT(t->entries[i - 1]->timestamp_us >= t->entries[i]->timestamp_us);
}

/* ---- tests ---- */

static void test_profile_and_posts(void)
{
    cor_ref_t *alice = new_user("Alice");
    cor_error_t err;
    Social__Profile *p = profile(alice);
    char id[COR_OBJECT_ID_STRLEN + 1];
    id_of(alice, id);
    CU_ASSERT_STRING_EQUAL(p->user_id, id);
    CU_ASSERT_STRING_EQUAL(p->display_name, "Alice");
    CU_ASSERT_STRING_EQUAL(p->bio, "");
    social__profile__free_unpacked(p, NULL);

    Social__SetProfileRequest sreq = SOCIAL__SET_PROFILE_REQUEST__INIT;
    sreq.display_name = (char *)"Alice A.";
    sreq.bio = (char *)"caf\xc3\xa9 owner"; /* UTF-8 */
    Social__SetProfileReply *srep = NULL;
    CU_ASSERT_EQUAL(social_user_set_profile(alice, &sreq, &srep, &err), 0);
    social__set_profile_reply__free_unpacked(srep, NULL);

    uint64_t pid = 0;
    CU_ASSERT_EQUAL(post(alice, "first", &pid, &err), 0);
    CU_ASSERT_EQUAL(pid, 1);
    CU_ASSERT_EQUAL(post(alice, "second", &pid, &err), 0);
    CU_ASSERT_EQUAL(pid, 2);

    Social__PostsRequest preq = SOCIAL__POSTS_REQUEST__INIT;
    Social__PostsReply *prep = NULL;
    CU_ASSERT_EQUAL_FATAL(social_user_posts(alice, &preq, &prep, &err), 0);
    CU_ASSERT_STRING_EQUAL(prep->author_name, "Alice A.");
    CU_ASSERT_STRING_EQUAL(prep->author_id, id);
    CU_ASSERT_EQUAL_FATAL(prep->n_posts, 2);
    CU_ASSERT_STRING_EQUAL(prep->posts[0]->text, "second");
    CU_ASSERT_EQUAL(prep->posts[0]->post_id, 2);
    CU_ASSERT_STRING_EQUAL(prep->posts[1]->text, "first");
    CU_ASSERT(prep->posts[0]->timestamp_us > prep->posts[1]->timestamp_us);
    social__posts_reply__free_unpacked(prep, NULL);

    p = profile(alice);
    CU_ASSERT_STRING_EQUAL(p->bio, "caf\xc3\xa9 owner");
    CU_ASSERT_EQUAL(p->posts, 2);
    social__profile__free_unpacked(p, NULL);
    drop_user(alice);
}

static void test_follow_timeline_unfollow(void)
{
    cor_ref_t *alice = new_user("Alice"), *bob = new_user("Bob"), *carol = new_user("Carol");
    cor_error_t err;
    char bob_id[COR_OBJECT_ID_STRLEN + 1], carol_id[COR_OBJECT_ID_STRLEN + 1];
    id_of(bob, bob_id);
    id_of(carol, carol_id);

    int added = -1;
    CU_ASSERT_EQUAL(follow(alice, bob, &added, &err), 0);
    CU_ASSERT_TRUE(added);
    CU_ASSERT_EQUAL(follow(alice, carol, &added, &err), 0);
    CU_ASSERT_TRUE(added);
    CU_ASSERT_EQUAL(follow(alice, bob, &added, &err), 0); /* idempotent */
    CU_ASSERT_FALSE(added);
    CU_ASSERT_EQUAL(follow(bob, carol, &added, &err), 0);

    Social__FollowingRequest freq = SOCIAL__FOLLOWING_REQUEST__INIT;
    Social__FollowingReply *frep = NULL;
    CU_ASSERT_EQUAL_FATAL(social_user_following(alice, &freq, &frep, &err), 0);
    CU_ASSERT_EQUAL_FATAL(frep->n_followees, 2);
    CU_ASSERT_STRING_EQUAL(frep->followees[0]->user_id, bob_id);
    CU_ASSERT_STRING_EQUAL(frep->followees[1]->user_id, carol_id);
    /* The stored ref decodes back to bob. */
    cor_ref_t *back = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_ref_decode(rt, frep->followees[0]->user_ref.data,
                                         frep->followees[0]->user_ref.len, &back, &err), 0);
    CU_ASSERT_TRUE(cor_object_id_equal(cor_ref_id(back), cor_ref_id(bob)));
    cor_ref_free(back);
    social__following_reply__free_unpacked(frep, NULL);

    post_ok(bob, "b1");
    post_ok(alice, "a1");
    post_ok(carol, "c1");
    post_ok(bob, "b2");
    post_ok(carol, "c2");
    post_ok(alice, "a2");

    int rc;
    Social__TimelineReply *t = timeline(alice, 0, &rc, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    static const char *const all[] = {"a2", "c2", "b2", "c1", "a1", "b1"};
    expect_texts(t, all, 6);
    CU_ASSERT_EQUAL(t->n_unavailable, 0);
    CU_ASSERT_STRING_EQUAL(t->entries[1]->author_name, "Carol");
    CU_ASSERT_STRING_EQUAL(t->entries[1]->author_id, carol_id);
    CU_ASSERT_STRING_EQUAL(t->entries[2]->author_name, "Bob");
    CU_ASSERT_STRING_EQUAL(t->entries[0]->author_name, "Alice");
    CU_ASSERT_EQUAL(t->entries[2]->post_id, 2);
    social__timeline_reply__free_unpacked(t, NULL);

    t = timeline(alice, 4, &rc, &err); /* the limit cuts the merged list */
    expect_texts(t, all, 4);
    social__timeline_reply__free_unpacked(t, NULL);

    t = timeline(bob, 0, &rc, &err); /* bob sees carol and himself only */
    static const char *const bobs[] = {"c2", "b2", "c1", "b1"};
    expect_texts(t, bobs, 4);
    social__timeline_reply__free_unpacked(t, NULL);

    /* Unfollow by id, then by ref; a second time is not an error. */
    int removed = -1;
    CU_ASSERT_EQUAL(unfollow(alice, carol_id, NULL, &removed, &err), 0);
    CU_ASSERT_TRUE(removed);
    CU_ASSERT_EQUAL(unfollow(alice, carol_id, NULL, &removed, &err), 0);
    CU_ASSERT_FALSE(removed);
    t = timeline(alice, 0, &rc, &err);
    static const char *const no_carol[] = {"a2", "b2", "a1", "b1"};
    expect_texts(t, no_carol, 4);
    social__timeline_reply__free_unpacked(t, NULL);
    CU_ASSERT_EQUAL(unfollow(alice, NULL, bob, &removed, &err), 0);
    CU_ASSERT_TRUE(removed);
    Social__Profile *p = profile(alice);
    CU_ASSERT_EQUAL(p->following, 0);
    social__profile__free_unpacked(p, NULL);
    t = timeline(alice, 0, &rc, &err);
    static const char *const own[] = {"a2", "a1"};
    expect_texts(t, own, 2);
    social__timeline_reply__free_unpacked(t, NULL);

    drop_user(alice);
    drop_user(bob);
    drop_user(carol);
}

static void test_follow_refusals(void)
{
    cor_ref_t *alice = new_user("Alice");
    cor_error_t err;
    CU_ASSERT_EQUAL(follow(alice, alice, NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot follow itself"));

    const uint8_t garbage[] = {0xff, 0xfe, 0x01, 0x02};
    CU_ASSERT_EQUAL(follow_bytes(alice, garbage, sizeof(garbage), NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a serialized object reference"));
    CU_ASSERT_EQUAL(follow_bytes(alice, NULL, 0, NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "empty"));

    /* A well-formed ref to something that is not a User. */
    cor_object_id_t oid;
    cor_object_id_generate(&oid);
    cor_ref_t *kv = cor_ref_new(rt, &oid, "kv.KeyValueStore", NULL);
    CU_ASSERT_EQUAL(follow(alice, kv, NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a social.User"));
    cor_ref_free(kv);

    int removed;
    CU_ASSERT_EQUAL(unfollow(alice, NULL, NULL, &removed, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(unfollow(alice, "xyz", NULL, &removed, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "32 hex digits"));

    Social__Profile *p = profile(alice);
    CU_ASSERT_EQUAL(p->following, 0);
    social__profile__free_unpacked(p, NULL);
    drop_user(alice);
}

static void test_deleted_followee(void)
{
    cor_ref_t *alice = new_user("Alice"), *bob = new_user("Bob"), *carol = new_user("Carol");
    cor_error_t err;
    char carol_id[COR_OBJECT_ID_STRLEN + 1];
    id_of(carol, carol_id);
    CU_ASSERT_EQUAL(follow(alice, bob, NULL, &err), 0);
    CU_ASSERT_EQUAL(follow(alice, carol, NULL, &err), 0);
    post_ok(bob, "from bob");
    post_ok(carol, "from carol");
    post_ok(alice, "from alice");

    CU_ASSERT_EQUAL(cor_object_delete(rt, cor_ref_id(carol), &err), 0);
    int rc;
    Social__TimelineReply *t = timeline(alice, 0, &rc, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    static const char *const rest[] = {"from alice", "from bob"};
    expect_texts(t, rest, 2);
    CU_ASSERT_EQUAL_FATAL(t->n_unavailable, 1);
    CU_ASSERT_STRING_EQUAL(t->unavailable[0], carol_id);
    CU_ASSERT_EQUAL_FATAL(t->n_unavailable_why, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(t->unavailable_why[0], "social.User.Posts"));
    social__timeline_reply__free_unpacked(t, NULL);

    drop_user(alice);
    drop_user(bob);
    cor_ref_free(carol);
}

static void test_limits(void)
{
    cor_ref_t *alice = new_user("Alice");
    cor_error_t err;
    char text[SOCIAL_MAX_POST_BYTES + 2];
    memset(text, 'x', sizeof(text) - 1);
    text[SOCIAL_MAX_POST_BYTES + 1] = '\0';
    CU_ASSERT_EQUAL(post(alice, text, NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "280-byte limit"));
    CU_ASSERT_EQUAL(post(alice, "", NULL, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(post(alice, "bad \xc3\x28 utf8", NULL, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "UTF-8"));
    CU_ASSERT_EQUAL(post(alice, "surrogate \xed\xa0\x80", NULL, &err), COR_EINVAL);
    CU_ASSERT_EQUAL(post(alice, "overlong \xc0\xaf", NULL, &err), COR_EINVAL);
    Social__Profile *p = profile(alice);
    CU_ASSERT_EQUAL(p->posts, 0); /* nothing stored */
    social__profile__free_unpacked(p, NULL);
    /* 280 bytes, counted in bytes: 140 two-byte characters fit. */
    char utf[SOCIAL_MAX_POST_BYTES + 1];
    for (int i = 0; i < 140; i++)
        memcpy(utf + 2 * i, "\xc3\xa9", 2);
    utf[280] = '\0';
    CU_ASSERT_EQUAL(post(alice, utf, NULL, &err), 0);

    Social__SetProfileRequest sreq = SOCIAL__SET_PROFILE_REQUEST__INIT;
    char name[SOCIAL_MAX_NAME_BYTES + 2];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    sreq.display_name = name;
    sreq.bio = (char *)"";
    Social__SetProfileReply *srep = NULL;
    CU_ASSERT_EQUAL(social_user_set_profile(alice, &sreq, &srep, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "64-byte limit"));
    p = profile(alice);
    CU_ASSERT_STRING_EQUAL(p->display_name, "Alice");
    social__profile__free_unpacked(p, NULL);

    int rc;
    Social__TimelineReply *t = timeline(alice, SOCIAL_MAX_LIMIT + 1, &rc, &err);
    CU_ASSERT_EQUAL(rc, COR_EINVAL);
    CU_ASSERT_PTR_NULL(t);
    Social__PostsRequest preq = SOCIAL__POSTS_REQUEST__INIT;
    preq.limit = SOCIAL_MAX_LIMIT + 1;
    Social__PostsReply *prep = NULL;
    CU_ASSERT_EQUAL(social_user_posts(alice, &preq, &prep, &err), COR_EINVAL);

    /* At most 1000 posts kept: the oldest go. */
    char buf[32];
    for (int i = 2; i <= 1005; i++) {
        snprintf(buf, sizeof(buf), "post %d", i);
        post_ok(alice, buf);
    }
    p = profile(alice);
    CU_ASSERT_EQUAL(p->posts, SOCIAL_MAX_POSTS);
    social__profile__free_unpacked(p, NULL);
    preq.limit = SOCIAL_MAX_LIMIT;
    CU_ASSERT_EQUAL_FATAL(social_user_posts(alice, &preq, &prep, &err), 0);
    CU_ASSERT_EQUAL_FATAL(prep->n_posts, SOCIAL_MAX_POSTS);
    CU_ASSERT_STRING_EQUAL(prep->posts[0]->text, "post 1005");
    CU_ASSERT_EQUAL(prep->posts[0]->post_id, 1005);
    CU_ASSERT_STRING_EQUAL(prep->posts[999]->text, "post 6");
    CU_ASSERT_EQUAL(prep->posts[999]->post_id, 6);
    social__posts_reply__free_unpacked(prep, NULL);
    drop_user(alice);
}

static void test_following_cap(void)
{
    cor_ref_t *fan = new_user("Fan");
    cor_error_t err;
    cor_ref_t *others[SOCIAL_MAX_FOLLOWING + 1];
    for (unsigned i = 0; i <= SOCIAL_MAX_FOLLOWING; i++) {
        CU_ASSERT_EQUAL_FATAL(
            cor_object_create(rt, "social.User", NULL, 0, &(cor_create_opts_t){.here = 1}, &others[i], &err), 0);
    }
    for (unsigned i = 0; i < SOCIAL_MAX_FOLLOWING; i++)
        CU_ASSERT_EQUAL(follow(fan, others[i], NULL, &err), 0);
    CU_ASSERT_EQUAL(follow(fan, others[SOCIAL_MAX_FOLLOWING], NULL, &err), COR_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "1000"));
    int added = -1;
    CU_ASSERT_EQUAL(follow(fan, others[3], &added, &err), 0); /* refresh is fine */
    CU_ASSERT_FALSE(added);
    post_ok(others[500], "hello from 500");
    int rc;
    Social__TimelineReply *t = timeline(fan, 0, &rc, &err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL_FATAL(t->n_entries, 1);
    CU_ASSERT_STRING_EQUAL(t->entries[0]->text, "hello from 500");
    social__timeline_reply__free_unpacked(t, NULL);
    for (unsigned i = 0; i <= SOCIAL_MAX_FOLLOWING; i++)
        drop_user(others[i]);
    drop_user(fan);
}

/* Two users who follow each other read their timelines at the same time,
 * while both post: each Timeline calls the other's Posts. A class that
 * held its object across the outgoing call would deadlock here. */
typedef struct reader {
    cor_ref_t *self;
    int rounds, failures;
} reader_t;

static void *reader_thread(void *arg)
{
    reader_t *r = arg;
    cor_error_t err;
    for (int i = 0; i < r->rounds; i++) {
        int rc;
        Social__TimelineReply *t = timeline(r->self, 50, &rc, &err);
        if (rc != 0 || t->n_unavailable != 0)
            r->failures++;
        if (t != NULL)
            social__timeline_reply__free_unpacked(t, NULL);
        if (post(r->self, "tick", NULL, &err) != 0)
            r->failures++;
    }
    return NULL;
}

static void test_mutual_timelines_concurrently(void)
{
    cor_ref_t *alice = new_user("Alice"), *bob = new_user("Bob");
    cor_error_t err;
    CU_ASSERT_EQUAL(follow(alice, bob, NULL, &err), 0);
    CU_ASSERT_EQUAL(follow(bob, alice, NULL, &err), 0);
    reader_t r[4] = {{alice, 300, 0}, {bob, 300, 0}, {alice, 300, 0}, {bob, 300, 0}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, reader_thread, &r[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(r[i].failures, 0);
    int rc;
    Social__TimelineReply *t = timeline(alice, 1000, &rc, &err);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(t->n_entries, 1000); /* 600 each, newest 1000 merged */
    social__timeline_reply__free_unpacked(t, NULL);
    drop_user(alice);
    drop_user(bob);
}

/* Alice and bob on two runtimes that listen on TCP: alice's Timeline
 * reaches bob over the transport, from inside a method. Bob's host going
 * away makes him unavailable, not the timeline. */
static void test_remote_followee(void)
{
    cor_runtime_opts_t o = {.version = COR_RUNTIME_OPTS_VERSION, .host_id = "host-b"};
    cor_runtime_t *rb = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_runtime_new(&o, &rb, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_register_class(rb, &social_class, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_runtime_listen(rb, "127.0.0.1:0", NULL, &err), 0);
    cor_ref_t *bob = NULL;
    CU_ASSERT_EQUAL_FATAL(cor_object_create(rb, "social.User", NULL, 0, &(cor_create_opts_t){.here = 1}, &bob, &err),
                          0);
    post_ok(bob, "remote hello");
    cor_ref_t *alice = new_user("Alice"); /* on rt, which never listens */
    CU_ASSERT_EQUAL(follow(alice, bob, NULL, &err), 0);
    post_ok(alice, "local hello");
    int rc;
    Social__TimelineReply *t = timeline(alice, 0, &rc, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    static const char *const both[] = {"local hello", "remote hello"};
    expect_texts(t, both, 2);
    CU_ASSERT_EQUAL(t->n_unavailable, 0);
    social__timeline_reply__free_unpacked(t, NULL);

    cor_ref_free(bob);
    cor_runtime_free(rb);
    t = timeline(alice, 0, &rc, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    static const char *const mine[] = {"local hello"};
    expect_texts(t, mine, 1);
    CU_ASSERT_EQUAL(t->n_unavailable, 1);
    social__timeline_reply__free_unpacked(t, NULL);
    drop_user(alice);
}

/* ---- the saved state ---- */

static uint8_t *pack_state(const Social__UserState *st, size_t *len)
{
    *len = social__user_state__get_packed_size(st);
    uint8_t *b = malloc(*len ? *len : 1);
    social__user_state__pack(st, b);
    return b;
}

static void expect_bad_state(const Social__UserState *st, const char *msg)
{
    size_t len;
    uint8_t *b = pack_state(st, &len);
    social_obj_t *u = NULL;
    cor_error_t err;
    CU_ASSERT_EQUAL(social_state_unpack(rt, b, len, &u, &err), COR_EINVAL);
    CU_ASSERT_PTR_NULL(u);
    if (strstr(err.msg, msg) == NULL) {
        fprintf(stderr, "expected '%s' in '%s'\n", msg, err.msg);
        CU_FAIL("error message");
    }
    free(b);
}

static void test_state(void)
{
    cor_ref_t *bob = new_user("Bob"), *carol = new_user("Carol");
    cor_error_t err;
    ProtobufCBinaryData fol[2];
    CU_ASSERT_EQUAL_FATAL(cor_ref_encode(bob, &fol[0].data, &fol[0].len, &err), 0);
    CU_ASSERT_EQUAL_FATAL(cor_ref_encode(carol, &fol[1].data, &fol[1].len, &err), 0);
    enum { N = 50 };
    Social__Post ps[N], *pp[N];
    char texts[N][32];
    for (int i = 0; i < N; i++) {
        social__post__init(&ps[i]);
        ps[i].post_id = (uint64_t)(i * 2 + 1); /* gaps are fine */
        ps[i].timestamp_us = 1700000000000000LL + i;
        snprintf(texts[i], sizeof(texts[i]), "saved post %d", i);
        ps[i].text = texts[i];
        pp[i] = &ps[i];
    }
    Social__UserState st = SOCIAL__USER_STATE__INIT;
    st.display_name = (char *)"Alice";
    st.bio = (char *)"bio";
    st.last_post_id = 200;
    st.posts = pp;
    st.n_posts = N;
    st.followees = fol;
    st.n_followees = 2;
    size_t len;
    uint8_t *bytes = pack_state(&st, &len);

    social_obj_t *u = NULL;
    CU_ASSERT_EQUAL_FATAL(social_state_unpack(rt, bytes, len, &u, &err), 0);
    uint8_t *again = NULL;
    size_t len2 = 0;
    CU_ASSERT_EQUAL_FATAL(social_state_pack(u, &again, &len2, &err), 0);
    CU_ASSERT_EQUAL(len2, len);
    CU_ASSERT_EQUAL(memcmp(again, bytes, len), 0);
    free(again);
    social_obj_free(u);
    free(bytes);

    /* Empty state: a fresh user. */
    CU_ASSERT_EQUAL_FATAL(social_state_unpack(rt, (const uint8_t *)"", 0, &u, &err), 0);
    social_obj_free(u);

    const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0x0f};
    CU_ASSERT_EQUAL(social_state_unpack(rt, garbage, sizeof(garbage), &u, &err), COR_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "social.UserState"));

    /* Each break of a rule, one at a time. */
    char longtext[SOCIAL_MAX_POST_BYTES + 2];
    memset(longtext, 'x', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    ps[3].text = longtext;
    expect_bad_state(&st, "280-byte limit");
    ps[3].text = texts[3];
    ps[4].post_id = ps[3].post_id;
    expect_bad_state(&st, "ids must increase");
    ps[4].post_id = 9;
    st.last_post_id = 50;
    expect_bad_state(&st, "last_post_id 50");
    st.last_post_id = 200;
    ProtobufCBinaryData bad[2] = {fol[0], {.data = (uint8_t *)garbage, .len = sizeof(garbage)}};
    st.followees = bad;
    expect_bad_state(&st, "saved followee 1");
    bad[1] = fol[0];
    expect_bad_state(&st, "twice");
    cor_object_id_t oid;
    cor_object_id_generate(&oid);
    cor_ref_t *kv = cor_ref_new(rt, &oid, "kv.KeyValueStore", NULL);
    CU_ASSERT_EQUAL_FATAL(cor_ref_encode(kv, &bad[1].data, &bad[1].len, &err), 0);
    cor_ref_free(kv);
    expect_bad_state(&st, "not a social.User");
    free(bad[1].data);
    st.followees = fol;
    st.display_name = (char *)"\xff";
    expect_bad_state(&st, "UTF-8");
    st.display_name = (char *)"Alice";

    Social__Post **many = calloc(SOCIAL_MAX_POSTS + 1, sizeof(*many));
    for (unsigned i = 0; i <= SOCIAL_MAX_POSTS; i++)
        many[i] = pp[0];
    st.posts = many;
    st.n_posts = SOCIAL_MAX_POSTS + 1;
    expect_bad_state(&st, "1001 posts");
    free(many);

    free(fol[0].data);
    free(fol[1].data);
    drop_user(bob);
    drop_user(carol);
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"profile_and_posts", test_profile_and_posts},
        {"follow_timeline_unfollow", test_follow_timeline_unfollow},
        {"follow_refusals", test_follow_refusals},
        {"deleted_followee", test_deleted_followee},
        {"limits", test_limits},
        {"following_cap", test_following_cap},
        {"mutual_timelines_concurrently", test_mutual_timelines_concurrently},
        {"remote_followee", test_remote_followee},
        {"state", test_state},
        {NULL, NULL},
    };
    return cor_test_main("app_social", tests, suite_init, suite_cleanup);
}
