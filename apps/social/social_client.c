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
 * error (which names the object and the method) and exits 1. The options,
 * runtime, lookups and error reporting are apps/common/client.h's.
 */
#include <cor/cor.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
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

static const cor_app_cmd_t cmds[] = {
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

/* Finds user's object, with the deadline applied; a failure names the
 * user. */
static int lookup(cor_app_client_t *c, const char *user, cor_ref_t **ref)
{
    char name[300];
    object_name(name, sizeof(name), user);
    int rc = cor_app_client_lookup(c, name, ref);
    if (rc != 0)
        cor_error_prefix(&c->err, "user %s", user);
    return rc;
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
    cor_app_client_t c = {.prog = "cor-social", .usage = usage, .cmds = cmds};
    int rv = cor_app_client_parse(&c, argc, argv);
    if (rv >= 0)
        return rv;
    const char *cmd = c.cmd;
    char **a = c.args;
    int na = c.nargs;
    if (a[0][0] == '\0' || strchr(a[0], '/') != NULL || strlen(a[0]) > 200)
        return cor_app_client_refuse(&c, "user names are 1..200 bytes without '/'");
    uint32_t limit = 0;
    if ((strcmp(cmd, "posts") == 0 || strcmp(cmd, "timeline") == 0) && na == 2 &&
        (cor_app_parse_u32(a[1], &limit) != 0 || limit > SOCIAL_MAX_LIMIT))
        return cor_app_client_refuse(&c, "LIMIT is a number up to %u", SOCIAL_MAX_LIMIT);
    if (strcmp(cmd, "post") == 0 && (a[1][0] == '\0' || strlen(a[1]) > SOCIAL_MAX_POST_BYTES))
        return cor_app_client_refuse(&c, "a post is 1..%u bytes", SOCIAL_MAX_POST_BYTES);

    rv = 1;
    cor_error_t *err = &c.err;
    cor_ref_t *ref = NULL, *other = NULL;
    uint8_t *obuf = NULL;
    if (cor_app_client_connect(&c) != 0)
        goto fail;

    if (strcmp(cmd, "adduser") == 0) {
        char name[300];
        object_name(name, sizeof(name), a[0]);
        if (cor_app_client_create(&c, social_class.name, NULL, 0, name, &ref) != 0)
            goto fail;
        Social__SetProfileRequest req = SOCIAL__SET_PROFILE_REQUEST__INIT;
        req.display_name = a[1];
        req.bio = (char *)"";
        Social__SetProfileReply *rep = NULL;
        if (social_user_set_profile(ref, &req, &rep, err) != 0)
            goto fail;
        social__set_profile_reply__free_unpacked(rep, NULL);
        cor_app_client_print_id(ref);
        rv = 0;
        goto out;
    }
    if (lookup(&c, a[0], &ref) != 0)
        goto fail;

    if (strcmp(cmd, "profile") == 0) {
        Social__GetProfileRequest req = SOCIAL__GET_PROFILE_REQUEST__INIT;
        Social__Profile *rep = NULL;
        if (social_user_get_profile(ref, &req, &rep, err) != 0)
            goto fail;
        printf("id %s\nname %s\nbio %s\nposts %u\nfollowing %u\n", rep->user_id,
               rep->display_name, rep->bio, rep->posts, rep->following);
        social__profile__free_unpacked(rep, NULL);
    } else if (strcmp(cmd, "post") == 0) {
        Social__PostRequest req = SOCIAL__POST_REQUEST__INIT;
        req.text = a[1];
        Social__PostReply *rep = NULL;
        if (social_user_post(ref, &req, &rep, err) != 0)
            goto fail;
        printf("post %llu\n", (unsigned long long)rep->post_id);
        social__post_reply__free_unpacked(rep, NULL);
    } else if (strcmp(cmd, "posts") == 0) {
        Social__PostsRequest req = SOCIAL__POSTS_REQUEST__INIT;
        req.limit = limit;
        Social__PostsReply *rep = NULL;
        if (social_user_posts(ref, &req, &rep, err) != 0)
            goto fail;
        for (size_t k = 0; k < rep->n_posts; k++) {
            print_time(rep->posts[k]->timestamp_us);
            printf("  #%llu  %s\n", (unsigned long long)rep->posts[k]->post_id,
                   rep->posts[k]->text);
        }
        social__posts_reply__free_unpacked(rep, NULL);
    } else if (strcmp(cmd, "follow") == 0 || strcmp(cmd, "unfollow") == 0) {
        size_t olen = 0;
        if (lookup(&c, a[1], &other) != 0 || cor_ref_encode(other, &obuf, &olen, err) != 0)
            goto fail;
        if (cmd[0] == 'f') {
            Social__FollowRequest req = SOCIAL__FOLLOW_REQUEST__INIT;
            req.user_ref.data = obuf;
            req.user_ref.len = olen;
            Social__FollowReply *rep = NULL;
            if (social_user_follow(ref, &req, &rep, err) != 0)
                goto fail;
            printf("%s follows %s%s (%u followed)\n", a[0], a[1], rep->added ? "" : " already",
                   rep->following);
            social__follow_reply__free_unpacked(rep, NULL);
        } else {
            Social__UnfollowRequest req = SOCIAL__UNFOLLOW_REQUEST__INIT;
            req.user_ref.data = obuf;
            req.user_ref.len = olen;
            Social__UnfollowReply *rep = NULL;
            if (social_user_unfollow(ref, &req, &rep, err) != 0)
                goto fail;
            printf("%s %s %s\n", a[0], rep->removed ? "unfollowed" : "was not following", a[1]);
            social__unfollow_reply__free_unpacked(rep, NULL);
        }
    } else if (strcmp(cmd, "following") == 0) {
        Social__FollowingRequest req = SOCIAL__FOLLOWING_REQUEST__INIT;
        Social__FollowingReply *rep = NULL;
        if (social_user_following(ref, &req, &rep, err) != 0)
            goto fail;
        for (size_t k = 0; k < rep->n_followees; k++)
            printf("%s\n", rep->followees[k]->user_id);
        social__following_reply__free_unpacked(rep, NULL);
    } else if (strcmp(cmd, "timeline") == 0) {
        Social__TimelineRequest req = SOCIAL__TIMELINE_REQUEST__INIT;
        req.limit = limit;
        Social__TimelineReply *rep = NULL;
        if (social_user_timeline(ref, &req, &rep, err) != 0)
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
        if (cor_object_delete(c.rt, cor_ref_id(ref), err) != 0)
            goto fail;
    }
    rv = 0;
    goto out;
fail:
    rv = cor_app_client_fail(&c);
out:
    free(obuf);
    cor_ref_free(other);
    cor_ref_free(ref);
    cor_app_client_close(&c);
    return rv;
}
