/*
 * social_client.c — cor-social: creates users in a cluster and calls them by
 * name, through the OMS (cor_object_create / cor_object_lookup_name) and the
 * generated proxies. User NAME is the object named "user/NAME".
 *
 *   cor-social [--oms ADDR] [--deadline MS] COMMAND ...
 *     adduser NAME "Display Name"  creates the user, sets its profile
 *     profile NAME                 prints the profile
 *     post NAME TEXT               prints the post id
 *     posts NAME [LIMIT]           the user's own posts, newest first
 *     follow NAME OTHER            NAME follows OTHER
 *     unfollow NAME OTHER
 *     following NAME               ids of the users NAME follows
 *     timeline NAME [LIMIT]        merged posts, newest first
 *     deluser NAME                 deletes the user object
 *
 * --oms defaults to $COR_OMS. Usage errors exit 2; a failed call prints the
 * error (which names the object and the method) and exits 1.
 */
#include <cor/cor.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "social/social.cor.h"
#include "social_class.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cor-social [--oms ADDR] [--deadline MS] COMMAND ...\n"
               "  adduser NAME \"Display Name\"\n"
               "  profile NAME\n"
               "  post NAME TEXT\n"
               "  posts NAME [LIMIT]\n"
               "  follow NAME OTHER\n"
               "  unfollow NAME OTHER\n"
               "  following NAME\n"
               "  timeline NAME [LIMIT]\n"
               "  deluser NAME\n"
               "--oms defaults to $COR_OMS.\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] == '\0' || s[0] == '-' || *end != '\0' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

typedef struct cmd {
    const char *name;
    int min_args, max_args; /* after the command word */
} cmd_t;

static const cmd_t cmds[] = {
    {"adduser", 2, 2},   {"profile", 1, 1},  {"post", 2, 2},
    {"posts", 1, 2},     {"follow", 2, 2},   {"unfollow", 2, 2},
    {"following", 1, 1}, {"timeline", 1, 2}, {"deluser", 1, 1},
    {NULL, 0, 0},
};

/* "user/NAME", the object name of user NAME. */
static void object_name(char *out, size_t len, const char *user)
{
    snprintf(out, len, "user/%s", user);
}

static int lookup(cor_runtime_t *rt, const char *user, uint32_t deadline, cor_ref_t **ref,
                  cor_error_t *err)
{
    char name[300];
    object_name(name, sizeof(name), user);
    int rc = cor_object_lookup_name(rt, name, ref, err);
    if (rc != 0) {
        cor_error_prefix(err, "user %s", user);
        return rc;
    }
    if (deadline > 0)
        cor_ref_set_deadline(*ref, (int)deadline);
    return 0;
}

static void print_time(int64_t ts_us)
{
    time_t t = (time_t)(ts_us / 1000000);
    struct tm tm;
    char buf[32];
    if (gmtime_r(&t, &tm) != NULL && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) > 0)
        printf("%s", buf);
    else
        printf("%lld", (long long)ts_us);
}

int main(int argc, char **argv)
{
    const char *oms = getenv("COR_OMS");
    uint32_t deadline = 0;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "cor-social: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--oms") == 0) {
            oms = argv[++i];
        } else if (strcmp(argv[i], "--deadline") == 0 && parse_u32(argv[i + 1], &deadline) == 0 &&
                   deadline > 0 && deadline <= 3600000) {
            i++;
        } else {
            fprintf(stderr, "cor-social: bad option %s %s\n", argv[i], argv[i + 1]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    char **a = &argv[i + 1];
    int na = argc - i - 1;
    const cmd_t *c = cmds;
    while (c->name != NULL && strcmp(c->name, cmd) != 0)
        c++;
    if (c->name == NULL) {
        fprintf(stderr, "cor-social: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    if (na < c->min_args || na > c->max_args) {
        fprintf(stderr, "cor-social: wrong number of arguments for %s\n", cmd);
        usage(stderr);
        return 2;
    }
    if (oms == NULL || oms[0] == '\0') {
        fprintf(stderr, "cor-social: no OMS address: give --oms ADDR or set COR_OMS\n");
        return 2;
    }
    if (a[0][0] == '\0' || strchr(a[0], '/') != NULL || strlen(a[0]) > 200) {
        fprintf(stderr, "cor-social: user names are 1..200 bytes without '/'\n");
        return 2;
    }
    uint32_t limit = 0;
    if ((strcmp(cmd, "posts") == 0 || strcmp(cmd, "timeline") == 0) && na == 2 &&
        (parse_u32(a[1], &limit) != 0 || limit > SOCIAL_MAX_LIMIT)) {
        fprintf(stderr, "cor-social: LIMIT is a number up to %u\n", SOCIAL_MAX_LIMIT);
        return 2;
    }
    if (strcmp(cmd, "post") == 0 && (a[1][0] == '\0' || strlen(a[1]) > SOCIAL_MAX_POST_BYTES)) {
        fprintf(stderr, "cor-social: a post is 1..%u bytes\n", SOCIAL_MAX_POST_BYTES);
        return 2;
    }

    int rv = 1;
    cor_error_t err;
    cor_error_clear(&err);
    cor_runtime_t *rt = NULL;
    cor_ref_t *ref = NULL, *other = NULL;
    uint8_t *obuf = NULL;
    cor_runtime_opts_t opts = {.version = COR_RUNTIME_OPTS_VERSION, .oms_address = oms};
    if (cor_runtime_new(&opts, &rt, &err) != 0)
        goto fail;

    if (strcmp(cmd, "adduser") == 0) {
        char name[300];
        object_name(name, sizeof(name), a[0]);
        cor_create_opts_t co = {.name = name};
        if (cor_object_create(rt, social_class.name, NULL, 0, &co, &ref, &err) != 0)
            goto fail;
        if (deadline > 0)
            cor_ref_set_deadline(ref, (int)deadline);
        Social__SetProfileRequest req = SOCIAL__SET_PROFILE_REQUEST__INIT;
        req.display_name = a[1];
        req.bio = (char *)"";
        Social__SetProfileReply *rep = NULL;
        if (social_user_set_profile(ref, &req, &rep, &err) != 0)
            goto fail;
        social__set_profile_reply__free_unpacked(rep, NULL);
        char id[COR_OBJECT_ID_STRLEN + 1];
        cor_object_id_format(cor_ref_id(ref), id);
        printf("%s\n", id);
        rv = 0;
        goto out;
    }
    if (lookup(rt, a[0], deadline, &ref, &err) != 0)
        goto fail;

    if (strcmp(cmd, "profile") == 0) {
        Social__GetProfileRequest req = SOCIAL__GET_PROFILE_REQUEST__INIT;
        Social__Profile *rep = NULL;
        if (social_user_get_profile(ref, &req, &rep, &err) != 0)
            goto fail;
        printf("id %s\nname %s\nbio %s\nposts %u\nfollowing %u\n", rep->user_id,
               rep->display_name, rep->bio, rep->posts, rep->following);
        social__profile__free_unpacked(rep, NULL);
    } else if (strcmp(cmd, "post") == 0) {
        Social__PostRequest req = SOCIAL__POST_REQUEST__INIT;
        req.text = a[1];
        Social__PostReply *rep = NULL;
        if (social_user_post(ref, &req, &rep, &err) != 0)
            goto fail;
        printf("post %llu\n", (unsigned long long)rep->post_id);
        social__post_reply__free_unpacked(rep, NULL);
    } else if (strcmp(cmd, "posts") == 0) {
        Social__PostsRequest req = SOCIAL__POSTS_REQUEST__INIT;
        req.limit = limit;
        Social__PostsReply *rep = NULL;
        if (social_user_posts(ref, &req, &rep, &err) != 0)
            goto fail;
        for (size_t k = 0; k < rep->n_posts; k++) {
            print_time(rep->posts[k]->timestamp_us);
            printf("  #%llu  %s\n", (unsigned long long)rep->posts[k]->post_id,
                   rep->posts[k]->text);
        }
        social__posts_reply__free_unpacked(rep, NULL);
    } else if (strcmp(cmd, "follow") == 0 || strcmp(cmd, "unfollow") == 0) {
        size_t olen = 0;
        if (lookup(rt, a[1], deadline, &other, &err) != 0 ||
            cor_ref_encode(other, &obuf, &olen, &err) != 0)
            goto fail;
        if (cmd[0] == 'f') {
            Social__FollowRequest req = SOCIAL__FOLLOW_REQUEST__INIT;
            req.user_ref.data = obuf;
            req.user_ref.len = olen;
            Social__FollowReply *rep = NULL;
            if (social_user_follow(ref, &req, &rep, &err) != 0)
                goto fail;
            printf("%s follows %s%s (%u followed)\n", a[0], a[1], rep->added ? "" : " already",
                   rep->following);
            social__follow_reply__free_unpacked(rep, NULL);
        } else {
            Social__UnfollowRequest req = SOCIAL__UNFOLLOW_REQUEST__INIT;
            req.user_ref.data = obuf;
            req.user_ref.len = olen;
            Social__UnfollowReply *rep = NULL;
            if (social_user_unfollow(ref, &req, &rep, &err) != 0)
                goto fail;
            printf("%s %s %s\n", a[0], rep->removed ? "unfollowed" : "was not following", a[1]);
            social__unfollow_reply__free_unpacked(rep, NULL);
        }
    } else if (strcmp(cmd, "following") == 0) {
        Social__FollowingRequest req = SOCIAL__FOLLOWING_REQUEST__INIT;
        Social__FollowingReply *rep = NULL;
        if (social_user_following(ref, &req, &rep, &err) != 0)
            goto fail;
        for (size_t k = 0; k < rep->n_followees; k++)
            printf("%s\n", rep->followees[k]->user_id);
        social__following_reply__free_unpacked(rep, NULL);
    } else if (strcmp(cmd, "timeline") == 0) {
        Social__TimelineRequest req = SOCIAL__TIMELINE_REQUEST__INIT;
        req.limit = limit;
        Social__TimelineReply *rep = NULL;
        if (social_user_timeline(ref, &req, &rep, &err) != 0)
            goto fail;
        for (size_t k = 0; k < rep->n_entries; k++) {
            const Social__TimelineEntry *e = rep->entries[k];
            print_time(e->timestamp_us);
            printf("  %s: %s\n", e->author_name[0] ? e->author_name : e->author_id, e->text);
        }
        for (size_t k = 0; k < rep->n_unavailable; k++)
            fprintf(stderr, "(unavailable: %s: %s)\n", rep->unavailable[k],
                    k < rep->n_unavailable_why ? rep->unavailable_why[k] : "");
        social__timeline_reply__free_unpacked(rep, NULL);
    } else { /* deluser */
        if (cor_object_delete(rt, cor_ref_id(ref), &err) != 0)
            goto fail;
    }
    rv = 0;
    goto out;
fail:
    fprintf(stderr, "cor-social: %s: %s (%s)\n", cmd, err.msg,
            cor_error_name(err.code) ? cor_error_name(err.code) : "?");
out:
    free(obuf);
    cor_ref_free(other);
    cor_ref_free(ref);
    cor_runtime_free(rt);
    return rv;
}
