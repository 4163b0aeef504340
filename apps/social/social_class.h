/*
 * social_class.h — the User class of the social example (apps/social/
 * social.proto): one object per user, holding a profile, the user's recent
 * posts and references to the users it follows. Timeline merges the
 * followed users' posts by calling their Posts method from inside the
 * object.
 *
 * Besides the class, this header exposes the state codec as plain
 * functions, so the saved form can be tested without a call context:
 * social_state_pack / social_state_unpack are exactly what the class's
 * save_state / load_state hooks run.
 */
#ifndef COR_APP_SOCIAL_CLASS_H
#define COR_APP_SOCIAL_CLASS_H

#include <cor/cor.h>

/* Limits. Text beyond them is refused with COR_EINVAL naming the limit;
 * following more users than SOCIAL_MAX_FOLLOWING is COR_ETOOBIG. */
#define SOCIAL_MAX_POST_BYTES 280u   /* UTF-8 bytes per post */
#define SOCIAL_MAX_POSTS 1000u       /* kept per user; the oldest go first */
#define SOCIAL_MAX_FOLLOWING 1000u   /* users one user follows */
#define SOCIAL_MAX_NAME_BYTES 64u    /* display name */
#define SOCIAL_MAX_BIO_BYTES 160u    /* bio */
#define SOCIAL_MAX_LIMIT 1000u       /* Posts / Timeline limit */
#define SOCIAL_DEFAULT_LIMIT 20u     /* when a request's limit is 0 */
/* Deadline of each Posts call a Timeline makes, so one unreachable
 * followee costs at most this long. */
#define SOCIAL_FOLLOWEE_DEADLINE_MS 2000

/* Class name "social.User". Static; register it with
 * cor_runtime_register_class, or load libcor-social.so as a module. The
 * optional constructor argument is a packed social.UserArgs (the initial
 * profile). The class is COR_CLASS_CONCURRENT: it locks its own state, and
 * never holds that lock while calling another object. */
extern const cor_class_t social_class;

/* The state of one user: what an object of the class holds. */
typedef struct social_obj social_obj_t;

/* Frees an object from social_state_unpack (NULL is fine). */
void social_obj_free(social_obj_t *u);

/* Serializes u as a packed social.UserState: profile, posts oldest first,
 * followee refs as given to Follow. Takes u's lock, so it may run beside
 * calls. On success *buf is malloc'd and the caller's; on failure
 * (COR_ENOMEM) nothing is allocated. */
int social_state_pack(social_obj_t *u, uint8_t **buf, size_t *len, cor_error_t *err);

/* Rebuilds a user from social_state_pack's bytes (buf stays the caller's);
 * the followee refs are decoded bound to rt, which must outlive the object.
 * COR_EINVAL, with err saying why, for bytes that are not a
 * social.UserState or that break a limit, hold a post out of order, or a
 * followee ref that is malformed, not a social.User, or repeated;
 * COR_ENOMEM. On success *out is the caller's (social_obj_free); on failure
 * it is untouched. */
int social_state_unpack(cor_runtime_t *rt, const uint8_t *buf, size_t len, social_obj_t **out,
                        cor_error_t *err);

#endif
