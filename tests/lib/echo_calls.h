/*
 * echo_calls.h — the calls on an echo.Echo object that the daemon suites
 * make over and over (apps/echo/echo.proto): Add and Say through the
 * generated stubs, and an Add sent straight to a kernel with a fixed call
 * id, as a resend after a lost reply would be.
 *
 * Each returns what the suite asserts on (the total, or the status) and
 * frees the reply itself; none asserts. Any thread.
 */
#ifndef COR_TEST_ECHO_CALLS_H
#define COR_TEST_ECHO_CALLS_H

#include <cor/cor.h>
#include <stdint.h>

/* Adds delta to r's counter. Returns the new total, or -1; *rc is the
 * call's status, and err (may be NULL) says why it failed. */
int64_t cor_echo_add(cor_ref_t *r, int64_t delta, int *rc, cor_error_t *err);

/* Says text to r. Returns the call's status; err may be NULL. */
int cor_echo_say(cor_ref_t *r, const char *text, cor_error_t *err);

/* One Kernel.Invoke of Add(delta) on r's object sent through rt's client
 * to the kernel at tcp, with the call id (client_id, seq), bypassing the
 * ref's DMs. Returns the total in the reply, or -1 when the call failed
 * or its reply did not decode. */
int64_t cor_echo_raw_add(cor_runtime_t *rt, const cor_ref_t *r, const char *tcp,
                         const uint8_t client_id[16], uint64_t seq, int64_t delta);

#endif
