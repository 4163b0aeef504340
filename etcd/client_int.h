/*
 * client_int.h — what client.c (the curl multi on libevent, unary
 * requests, endpoint failover) shares with watch.c (streams) (internal).
 *
 * Every transfer in flight, unary or watch, starts with an xfer_t, which
 * is the easy handle's CURLOPT_PRIVATE: when libcurl says a transfer is
 * done, client.c finds its xfer and hands it to the right completion.
 */
#ifndef COR_ETCD_CLIENT_INT_H
#define COR_ETCD_CLIENT_INT_H

#include <curl/curl.h>
#include <event2/event.h>

#include "etcd_int.h"

typedef struct cor_etcd_xfer {
    int is_watch;
    CURL *easy;
    size_t ep; /* index of the endpoint this attempt went to */
    char errbuf[CURL_ERROR_SIZE];
} cor_etcd_xfer_t;

struct cor_etcd {
    struct event_base *base;
    CURLM *multi;
    struct event *timer; /* libcurl's timeout */
    struct curl_slist *headers;
    char **eps;
    size_t n_eps;
    size_t cur; /* the endpoint new requests go to */
    int request_timeout_ms, connect_timeout_ms, watch_retry_ms, watch_idle_ms;
    struct cor_etcd_req *reqs;       /* unary requests in flight */
    struct cor_etcd_watch *watches;  /* every watch not yet freed */
    int dispatching;                 /* inside watch callbacks: frees wait */
};

/* The connection to endpoint ep failed: later requests go to the next one
 * (unless someone moved on already). */
void cor_etcd_endpoint_failed(cor_etcd_t *c, size_t ep);

/* Sets the options every transfer shares (headers, timeouts, private). */
void cor_etcd_easy_common(cor_etcd_t *c, cor_etcd_xfer_t *x);

/* Whether a curl result means the request never reached the server. */
int cor_etcd_never_sent(CURLcode rc);

/* Adds x->easy to the multi; returns 0 or COR_EINTERNAL with err. */
int cor_etcd_xfer_start(cor_etcd_t *c, cor_etcd_xfer_t *x, cor_error_t *err);

/* watch.c: a watch transfer ended (libcurl said done). */
void cor_etcd_watch_done(cor_etcd_t *c, cor_etcd_xfer_t *x, CURLcode rc);
/* watch.c: hands buffered stream data of every watch to its callback;
 * run after each curl_multi_socket_action, outside libcurl. */
void cor_etcd_watch_dispatch(cor_etcd_t *c);
/* watch.c: frees every watch (client shutting down). */
void cor_etcd_watch_free_all(cor_etcd_t *c);

#endif
