/*
 * proc.h — start a daemon as a child process for a test, wait for its
 * "ready key=value ..." line on stdout, read fields from it, and stop it
 * with a signal (checking how it exited) or kill it outright.
 */
#ifndef COR_TEST_PROC_H
#define COR_TEST_PROC_H

#include <stddef.h>
#include <sys/types.h>

typedef struct cor_proc {
    pid_t pid;
    int out_fd;
    char ready[2048]; /* the ready line, without the newline */
} cor_proc_t;

/* Starts argv[0] (a path) with argv, stdout piped to us, stderr inherited.
 * Waits up to timeout_ms for a line beginning "ready". Returns 0, or -1
 * (the child is killed and reaped). */
int cor_proc_start(cor_proc_t *p, char *const argv[], int timeout_ms);

/* Copies the value of key=value from the ready line into buf. Returns 0 or
 * -1 if the key is absent. */
int cor_proc_field(const cor_proc_t *p, const char *key, char *buf, size_t len);

/* Sends sig and waits up to timeout_ms. Returns the exit status (0-255) if
 * it exited, 128+signal if a signal ended it, or -1 on timeout (then it is
 * killed with SIGKILL and reaped). */
int cor_proc_stop(cor_proc_t *p, int sig, int timeout_ms);

/* SIGKILL and reap; safe to call on a stopped proc. */
void cor_proc_kill(cor_proc_t *p);

#endif
