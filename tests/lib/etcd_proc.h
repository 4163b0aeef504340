/*
 * etcd_proc.h — real etcd members for tests: one member or a 3-member
 * cluster on free loopback ports, each with its own data directory under
 * one temporary directory, started from Debian's etcd-server
 * (/usr/bin/etcd, or $COR_ETCD_BIN) and waited on until /health answers.
 * Members can be killed (SIGKILL), paused (SIGSTOP) and resumed (SIGCONT)
 * for fault tests; stopping the cluster kills what is left and removes the
 * directories.
 *
 * Members run with a 50 ms heartbeat and a 500 ms election timeout, so a
 * killed leader is replaced within about a second, send watch progress
 * notifications every 250 ms (for a client's watch_idle_ms), and die with
 * the test
 * process (PR_SET_PDEATHSIG). Their logs go to <dir>/<name>.log, and the
 * tail of a member's log is printed when it fails to come up.
 *
 * A suite that needs etcd calls cor_etcdproc_available() first and, when
 * it is false, prints "skipped: etcd not installed" and exits
 * COR_ETCDPROC_SKIP (77), which tests/CMakeLists.txt declares as ctest's
 * SKIP_RETURN_CODE: a missing etcd is a skip, never a pass.
 */
#ifndef COR_TEST_ETCD_PROC_H
#define COR_TEST_ETCD_PROC_H

#include <stddef.h>
#include <sys/types.h>

#define COR_ETCDPROC_SKIP 77
#define COR_ETCDPROC_MAX 3

typedef struct cor_etcdproc_member {
    char name[16];
    pid_t pid; /* -1 once killed and reaped */
    int client_port, peer_port;
    char url[64]; /* http://127.0.0.1:<client_port> */
    int paused;
} cor_etcdproc_member_t;

typedef struct cor_etcdproc {
    int n;
    cor_etcdproc_member_t m[COR_ETCDPROC_MAX];
    char dir[256];                     /* the temporary directory holding all */
    char endpoints[COR_ETCDPROC_MAX * 64]; /* the members' URLs, comma-separated */
} cor_etcdproc_t;

/* The etcd binary to run, or NULL when none is installed. */
const char *cor_etcdproc_binary(void);

static inline int cor_etcdproc_available(void)
{
    return cor_etcdproc_binary() != NULL;
}

/* Starts n (1..3) members as one new cluster and waits until every one
 * answers /health with {"health":"true"} (at most 30 s). Returns 0, or -1
 * with everything started stopped and removed (and why printed). */
int cor_etcdproc_start(cor_etcdproc_t *e, int n);

/* Kills every member still running and removes the directory. */
void cor_etcdproc_stop(cor_etcdproc_t *e);

/* SIGKILLs member i and reaps it. */
void cor_etcdproc_kill(cor_etcdproc_t *e, int i);

/* SIGSTOP / SIGCONT member i. */
void cor_etcdproc_pause(cor_etcdproc_t *e, int i);
void cor_etcdproc_resume(cor_etcdproc_t *e, int i);

/* Whether member i answers /health as healthy now (one try, 1 s). */
int cor_etcdproc_healthy(const cor_etcdproc_t *e, int i);

/* A loopback port nothing listens on (bound and released just now). */
int cor_etcdproc_free_port(void);

#endif
