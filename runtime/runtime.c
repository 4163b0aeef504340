/*
 * runtime.c — a process's runtime: making and freeing it, listening, and
 * its accessors (cor/runtime.h, host.h).
 *
 * A runtime is always a client (a channel cache, a completion thread for
 * asynchronous calls, a pool of workers for blocking work); after
 * cor_runtime_listen it also serves Kernel.Invoke and the replica
 * operations for the objects it hosts, over TCP and a unix socket. Where
 * each part of its work lives:
 *   objects.c      classes and the table of hosted objects
 *   turn.c         an object's turn (one call at a time)
 *   invoke.c       running a call on a hosted object, Kernel.Invoke
 *   replica_ops.c  the other Kernel operations, placement reports, the tick
 *   ref.c          references
 *   call.c         cor_call / cor_call_async and the routes
 *   dm_call.c      what DM parts may do with a call
 *   migrate_out.c  live migration, the source's side
 *   migrate_in.c   live migration, the target's side; tombstones
 *   cluster.c      the OMS API: create, look up, delete, move
 *
 * Freeing: the workers stop first (queued jobs complete as cancelled),
 * then serving stops (calls in flight are cancelled), then the client
 * (asynchronous calls complete with ECANCELLED), then the objects go.
 */
#include "rsm.h"
#include "runtime_int.h"

#include <cor/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "invoke.h"

#define DEFAULT_DEADLINE_MS 10000

static void read_host_id(char *out, size_t len)
{
    const char *env = getenv("COR_HOST_ID");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, len, "%s", env);
        return;
    }
    FILE *f = fopen("/etc/machine-id", "r");
    if (f != NULL) {
        char buf[128];
        if (fgets(buf, sizeof(buf), f) != NULL) {
            buf[strcspn(buf, "\r\n")] = '\0';
            if (buf[0] != '\0') {
                snprintf(out, len, "%s", buf);
                fclose(f);
                return;
            }
        }
        fclose(f);
    }
    if (gethostname(out, len) != 0 || out[0] == '\0')
        snprintf(out, len, "localhost");
    out[len - 1] = '\0';
}

int cor_runtime_new(const cor_runtime_opts_t *opts, cor_runtime_t **out, cor_error_t *err)
{
    if (opts != NULL && opts->version != COR_RUNTIME_OPTS_VERSION)
        return cor_error_set(err, COR_EINVAL, "runtime options have version %u, expected %u",
                             opts->version, COR_RUNTIME_OPTS_VERSION);
    cor_runtime_t *rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return cor_error_set(err, COR_ENOMEM, "out of memory");
    if (opts != NULL)
        rt->opts = *opts;
    rt->opts.version = COR_RUNTIME_OPTS_VERSION;
    if (rt->opts.default_deadline_ms <= 0)
        rt->opts.default_deadline_ms = DEFAULT_DEADLINE_MS;
    if (rt->opts.max_message_bytes == 0)
        rt->opts.max_message_bytes = COR_DEFAULT_MAX_MESSAGE;
    /* Two, not one, though one measured faster on 2 CPUs: with one, a
     * single slow method would stall every object on the host. */
    if (rt->opts.server_threads <= 0)
        rt->opts.server_threads = 2;
    if (rt->opts.host_id != NULL && rt->opts.host_id[0] != '\0')
        snprintf(rt->host_id, sizeof(rt->host_id), "%s", rt->opts.host_id);
    else
        read_host_id(rt->host_id, sizeof(rt->host_id));
    rt->opts.host_id = NULL; /* not kept: the caller's string */
    cor_object_id_t cid;
    cor_object_id_generate(&cid);
    memcpy(rt->client_id, cid.b, sizeof(rt->client_id));
    atomic_init(&rt->seq, 0);
    pthread_rwlock_init(&rt->lock, NULL);
    cor_idmap_init(&rt->objects);

    if (rt->opts.oms_address != NULL)
        snprintf(rt->oms_address, sizeof(rt->oms_address), "%s", rt->opts.oms_address);
    rt->opts.oms_address = NULL; /* kept in rt->oms_address */
    atomic_init(&rt->calls_served, 0);
    atomic_init(&rt->incarnation, 0);
    pthread_mutex_init(&rt->report_lock, NULL);
    pthread_mutex_init(&rt->stage_lock, NULL);
    pthread_mutex_init(&rt->rsm_lock, NULL);
    pthread_cond_init(&rt->rsm_cond, NULL);
    cor_workers_init(&rt->workers);
    cor_client_opts_t copts = {.max_message_bytes = rt->opts.max_message_bytes};
    int rc = cor_client_new(cor_method_paths, COR_M_COUNT, &copts, &rt->client, err);
    if (rc != 0) {
        cor_workers_stop(&rt->workers);
        pthread_mutex_destroy(&rt->report_lock);
        pthread_mutex_destroy(&rt->stage_lock);
        pthread_mutex_destroy(&rt->rsm_lock);
        pthread_cond_destroy(&rt->rsm_cond);
        pthread_rwlock_destroy(&rt->lock);
        free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

const char *cor_runtime_host_id(const cor_runtime_t *rt)
{
    return rt->host_id;
}

const char *cor_runtime_tcp_address(const cor_runtime_t *rt)
{
    return rt->tcp_addr;
}

const char *cor_runtime_unix_path(const cor_runtime_t *rt)
{
    return rt->unix_path;
}

int cor_runtime_listen(cor_runtime_t *rt, const char *tcp_addr, const char *unix_path,
                       cor_error_t *err)
{
    if (rt->server != NULL)
        return cor_error_set(err, COR_ESTATE, "runtime is already listening");
    if ((tcp_addr == NULL || tcp_addr[0] == '\0') && (unix_path == NULL || unix_path[0] == '\0'))
        return cor_error_set(err, COR_EINVAL, "listen needs a TCP address or a unix socket path");
    if (unix_path != NULL && strlen(unix_path) >= 100)
        return cor_error_set(err, COR_EINVAL, "unix socket path '%s' is longer than 99 bytes",
                             unix_path);
    cor_server_opts_t sopts = {.threads = rt->opts.server_threads,
                               .max_message_bytes = rt->opts.max_message_bytes};
    cor_server_t *s = NULL;
    int rc = cor_server_new(&sopts, &s, err);
    if (rc != 0)
        return rc;
    rc = cor_invoke_serve(rt, s, err);
    if (rc == 0)
        rc = cor_replica_ops_serve(rt, s, err);
    if (rc == 0)
        rc = cor_rsm_serve(rt, s, err);
    if (rc != 0)
        goto fail;
    if (tcp_addr != NULL && tcp_addr[0] != '\0') {
        int port = 0;
        rc = cor_server_listen(s, tcp_addr, &port, err);
        if (rc != 0)
            goto fail;
        /* Record the bound port (tcp_addr may have said :0). */
        const char *colon = strrchr(tcp_addr, ':');
        int hostlen = colon ? (int)(colon - tcp_addr) : (int)strlen(tcp_addr);
        snprintf(rt->tcp_addr, sizeof(rt->tcp_addr), "%.*s:%d", hostlen, tcp_addr, port);
    }
    if (unix_path != NULL && unix_path[0] != '\0') {
        struct stat st;
        /* A socket file left by a process that died is in the way. */
        if (lstat(unix_path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(unix_path);
        char target[COR_ADDR_MAX + 8];
        snprintf(target, sizeof(target), "unix:%s", unix_path);
        rc = cor_server_listen(s, target, NULL, err);
        if (rc != 0)
            goto fail;
        snprintf(rt->unix_path, sizeof(rt->unix_path), "%s", unix_path);
    }
    rc = cor_server_start(s, err);
    if (rc != 0)
        goto fail;
    rt->server = s;
    return 0;
fail:
    cor_server_free(s);
    rt->tcp_addr[0] = '\0';
    rt->unix_path[0] = '\0';
    return rc;
}

static void free_obj_cb(void *arg, const cor_object_id_t *key, void *value)
{
    cor_obj_put(value);
}

void cor_runtime_free(cor_runtime_t *rt)
{
    if (rt == NULL)
        return;
    cor_workers_stop(&rt->workers);
    /* Replicas first: the calls waiting for their log are answered while
     * the server they came through still exists, and later ones are
     * refused at once; the Raft thread's messages still have the client. */
    cor_rsm_stop(rt);
    cor_server_free(rt->server);
    if (rt->unix_path[0] != '\0')
        unlink(rt->unix_path);
    cor_client_free(rt->client);
    cor_idmap_each(&rt->objects, free_obj_cb, NULL);
    cor_idmap_close(&rt->objects);
    cor_reports_free(rt);
    pthread_mutex_destroy(&rt->report_lock);
    cor_migrate_free_stages(rt);
    pthread_mutex_destroy(&rt->stage_lock);
    pthread_mutex_destroy(&rt->rsm_lock);
    pthread_cond_destroy(&rt->rsm_cond);
    pthread_rwlock_destroy(&rt->lock);
    free(rt);
}

long long cor_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long cor_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---------------- host.h ---------------- */

cor_client_t *cor_runtime_client(cor_runtime_t *rt)
{
    return rt->client;
}

uint64_t cor_runtime_calls_served(const cor_runtime_t *rt)
{
    return atomic_load(&rt->calls_served);
}

int cor_runtime_set_node_name(cor_runtime_t *rt, const char *name, cor_error_t *err)
{
    if (rt->server != NULL)
        return cor_error_set(err, COR_ESTATE, "the node name is set before listening");
    if (name == NULL || strlen(name) >= sizeof(rt->node_name))
        return cor_error_set(err, COR_EINVAL, "node name must be 1..%zu bytes",
                             sizeof(rt->node_name) - 1);
    snprintf(rt->node_name, sizeof(rt->node_name), "%s", name);
    return 0;
}

int cor_runtime_set_data_dir(cor_runtime_t *rt, const char *dir, cor_error_t *err)
{
    if (dir == NULL || dir[0] == '\0' || strlen(dir) >= sizeof(rt->data_dir) - 64)
        return cor_error_set(err, COR_EINVAL, "data directory must be 1..%zu bytes",
                             sizeof(rt->data_dir) - 65);
    snprintf(rt->data_dir, sizeof(rt->data_dir), "%s", dir);
    return 0;
}

int cor_runtime_set_advertise(cor_runtime_t *rt, const char *tcp_addr, cor_error_t *err)
{
    const char *colon = tcp_addr != NULL ? strrchr(tcp_addr, ':') : NULL;
    if (colon == NULL || colon == tcp_addr || colon[1] == '\0' ||
        strlen(tcp_addr) >= sizeof(rt->tcp_addr))
        return cor_error_set(err, COR_EINVAL, "advertised address '%s' is not host:port",
                             tcp_addr != NULL ? tcp_addr : "");
    snprintf(rt->tcp_addr, sizeof(rt->tcp_addr), "%s", tcp_addr);
    return 0;
}

void cor_runtime_set_incarnation(cor_runtime_t *rt, uint64_t incarnation)
{
    atomic_store(&rt->incarnation, incarnation);
}
