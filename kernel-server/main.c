/*
 * main.c — cor-kernel, the per-node daemon that hosts objects.
 *
 *   cor-kernel --oms ADDR [--name NAME] [--listen 127.0.0.1:0] [--advertise HOST:PORT]
 *              [--unix PATH | --no-unix] [--data-dir DIR]
 *              [--label key=value]... [--capacity N] [--threads N]
 *              [--module PATH.so]... [--builtin echo|kv|social|all]... [--config FILE]
 *
 * Classes come from modules (shared libraries exporting cor_module_v1, see
 * cor/module.h) and from classes linked into this binary (--builtin): one
 * binary, many roles. A config file holds the same settings as `key = value`
 * lines (label, module and builtin may repeat); flags after --config
 * override it.
 *
 * Life: listen (TCP and, by default, a unix socket for same-host callers),
 * register with the OMS (retrying every second until it answers), print
 *
 *   ready name=k1 tcp=127.0.0.1:40123 unix=/tmp/cor-k1.sock incarnation=1
 *
 * then heartbeat with load figures. If the OMS answers that it does not
 * know this incarnation (a newer process registered the name, or the OMS
 * lost its data), every hosted replica is dropped — the OMS has already
 * written them off — and the kernel registers again. SIGTERM/SIGINT drain
 * and exit 0.
 *
 * The TCP address registered with the OMS (and so handed to every caller)
 * is the one it listens on, unless --advertise names another: the address
 * of a proxy or NAT in front of it (tests/cluster puts a delay proxy
 * there). The ready line then ends with listen=ADDR, the address bound.
 */
#include <cor/cor.h>

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "builtins.h"
#include "cor/oms.pb-c.h"
#include "labels.h"
#include "module_check.h"
#include "rpc.h"
#include "host.h"

#define ADDR_MAX 128
#define MAX_LABELS 32
#define MAX_HELD 256 /* restored replicas named in one registration */
#define MAX_MODULES 32
#define MAX_CLASSES 256

typedef struct kernel_cfg {
    char oms[ADDR_MAX];
    char name[64];
    char listen[ADDR_MAX];
    char advertise[ADDR_MAX]; /* "" : advertise what we listen on */
    char unix_path[ADDR_MAX];
    char data_dir[1024]; /* "" : none (no ConsensusRSM replicas here) */
    int no_unix;
    cor_label_t labels[MAX_LABELS];
    int n_labels;
    long capacity;
    long threads;
    char *modules[MAX_MODULES];
    int n_modules;
    const char *builtins[16];
    int n_builtins;
} kernel_cfg_t;

typedef struct kernel {
    kernel_cfg_t cfg;
    cor_runtime_t *rt;
    cor_loop_t *loop;
    cor_timer_t *timer;
    const cor_class_t *classes[MAX_CLASSES];
    int n_classes;
    void *dl[MAX_MODULES];
    int n_dl;
    uint64_t incarnation;
    int registered;
    int printed_ready;
    int hb_interval_ms;
    int oms_down; /* logged once per outage */
    char bound[ADDR_MAX]; /* with --advertise: the address really bound */
} kernel_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cor-kernel --oms ADDR [--name NAME] [--listen ADDR] [--advertise HOST:PORT]\n"
            "                  [--unix PATH | --no-unix] [--data-dir DIR] [--label key=value]...\n"
            "                  [--capacity N] [--threads N] [--module PATH.so]...\n"
            "                  [--builtin echo|kv|social|all]... [--config FILE]\n");
}

/* ---------------- settings ---------------- */

static int set_long(const char *key, const char *v, long lo, long hi, long *out, char *msg,
                    size_t mlen)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || errno != 0 || x < lo || x > hi) {
        snprintf(msg, mlen, "%s must be an integer in %ld..%ld, not '%s'", key, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int apply_setting(kernel_cfg_t *c, const char *key, const char *v, char *msg, size_t mlen);

/* Reads `key = value` lines. Errors name the file and line. */
static int read_config(kernel_cfg_t *c, const char *path, char *msg, size_t mlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(msg, mlen, "cannot read config %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(msg, mlen, "config %s:%d: line longer than %zu bytes", path, lineno,
                     sizeof(line) - 2);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strlen(p);
        while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
            p[--n] = '\0';
        if (n == 0)
            continue;
        char *eq = strchr(p, '=');
        if (eq == NULL) {
            snprintf(msg, mlen, "config %s:%d: expected 'key = value', got '%s'", path, lineno, p);
            rc = -1;
            break;
        }
        char *k = p, *v = eq + 1;
        char *ke = eq;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        *ke = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        char inner[512];
        if (apply_setting(c, k, v, inner, sizeof(inner)) != 0) {
            snprintf(msg, mlen, "config %s:%d: %s", path, lineno, inner);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

static int copy_str(const char *key, const char *v, char *dst, size_t cap, char *msg, size_t mlen)
{
    if (strlen(v) >= cap) {
        snprintf(msg, mlen, "%s '%.40s...' is longer than %zu bytes", key, v, cap - 1);
        return -1;
    }
    snprintf(dst, cap, "%s", v);
    return 0;
}

/* HOST:PORT with a non-empty host and a port in 1..65535: other hosts dial
 * it, so port 0 ("pick one") means nothing here. */
static int set_advertise(kernel_cfg_t *c, const char *key, const char *v, char *msg, size_t mlen)
{
    const char *colon = strrchr(v, ':');
    char *end = NULL;
    long port = -1;
    if (colon != NULL && colon[1] != '\0') {
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0')
            port = -1;
    }
    if (colon == NULL || colon == v || port < 1 || port > 65535 || strpbrk(v, " \t/") != NULL) {
        snprintf(msg, mlen,
                 "%s must be HOST:PORT with a port in 1..65535 (the address callers dial), "
                 "not '%s'",
                 key, v);
        return -1;
    }
    return copy_str(key, v, c->advertise, sizeof(c->advertise), msg, mlen);
}

static int apply_setting(kernel_cfg_t *c, const char *key, const char *v, char *msg, size_t mlen)
{
    if (strcmp(key, "oms") == 0)
        return copy_str(key, v, c->oms, sizeof(c->oms), msg, mlen);
    if (strcmp(key, "name") == 0)
        return copy_str(key, v, c->name, sizeof(c->name), msg, mlen);
    if (strcmp(key, "listen") == 0)
        return copy_str(key, v, c->listen, sizeof(c->listen), msg, mlen);
    if (strcmp(key, "data-dir") == 0)
        return copy_str(key, v, c->data_dir, sizeof(c->data_dir) - 64, msg, mlen);
    if (strcmp(key, "advertise") == 0)
        return set_advertise(c, key, v, msg, mlen);
    if (strcmp(key, "unix") == 0) {
        c->no_unix = 0;
        if (strlen(v) >= 100) {
            snprintf(msg, mlen, "unix socket path is longer than 99 bytes");
            return -1;
        }
        return copy_str(key, v, c->unix_path, sizeof(c->unix_path), msg, mlen);
    }
    if (strcmp(key, "capacity") == 0)
        return set_long(key, v, 0, 100000000, &c->capacity, msg, mlen);
    if (strcmp(key, "threads") == 0)
        return set_long(key, v, 1, 16, &c->threads, msg, mlen);
    if (strcmp(key, "label") == 0) {
        if (c->n_labels == MAX_LABELS) {
            snprintf(msg, mlen, "more than %d labels", MAX_LABELS);
            return -1;
        }
        cor_error_t err;
        if (cor_label_parse(v, &c->labels[c->n_labels], &err) != 0) {
            snprintf(msg, mlen, "%s", err.msg);
            return -1;
        }
        for (int i = 0; i < c->n_labels; i++)
            if (strcmp(c->labels[i].key, c->labels[c->n_labels].key) == 0) {
                c->labels[i] = c->labels[c->n_labels]; /* later wins */
                return 0;
            }
        c->n_labels++;
        return 0;
    }
    if (strcmp(key, "module") == 0) {
        if (c->n_modules == MAX_MODULES) {
            snprintf(msg, mlen, "more than %d modules", MAX_MODULES);
            return -1;
        }
        c->modules[c->n_modules] = strdup(v);
        if (c->modules[c->n_modules] == NULL) {
            snprintf(msg, mlen, "out of memory");
            return -1;
        }
        c->n_modules++;
        return 0;
    }
    if (strcmp(key, "builtin") == 0) {
        if (!cor_kernel_builtin_known(v)) {
            snprintf(msg, mlen, "no built-in class set '%s' (have: %s)", v,
                     cor_kernel_builtin_names());
            return -1;
        }
        if (c->n_builtins == 16) {
            snprintf(msg, mlen, "too many --builtin");
            return -1;
        }
        c->builtins[c->n_builtins++] = v;
        return 0;
    }
    snprintf(msg, mlen, "unknown setting '%s'", key);
    return -1;
}

/* ---------------- classes ---------------- */

/* Registers cls, checked first with the same code as a module's classes
 * (module_check.h) so that nothing the OMS would refuse is reported to it. */
static int add_class(kernel_t *k, const cor_class_t *cls, const char *from, cor_error_t *err)
{
    if (k->n_classes == MAX_CLASSES)
        return cor_error_set(err, COR_ENOMEM, "more than %d classes", MAX_CLASSES);
    int rc = cor_kernel_check_class(cls, err);
    if (rc == 0)
        rc = cor_runtime_register_class(k->rt, cls, err);
    if (rc != 0) {
        cor_error_prefix(err, "%s", from);
        return rc;
    }
    k->classes[k->n_classes++] = cls;
    cor_log_info("class %s from %s", cls->name, from);
    return 0;
}

/* Loads a module and registers its classes. The record is checked as a
 * whole (cor_kernel_check_module: ABI, strings, every class, duplicate
 * names) before any class is registered, so a bad module adds nothing. */
static int load_module(kernel_t *k, const char *path, cor_error_t *err)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return cor_error_set(err, COR_EINVAL, "module %s: %s", path, dlerror());
    k->dl[k->n_dl++] = h;
    const cor_module_t *m = dlsym(h, COR_MODULE_SYMBOL);
    if (m == NULL)
        return cor_error_set(err, COR_EINVAL, "module %s: no %s symbol (not a Corundum module)",
                             path, COR_MODULE_SYMBOL);
    int rc = cor_kernel_check_module(m, err);
    if (rc != 0) {
        cor_error_prefix(err, "module %s", path);
        return rc;
    }
    char from[256];
    snprintf(from, sizeof(from), "module %s (%s %s)", path, m->name, m->version);
    for (int i = 0; m->classes[i] != NULL; i++)
        if ((rc = add_class(k, m->classes[i], from, err)) != 0)
            return rc;
    return 0;
}

/* ---------------- OMS registration and heartbeats ---------------- */

static int64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (int64_t)rss * sysconf(_SC_PAGESIZE);
}

static void fill_load(kernel_t *k, Cor__NodeLoad *l)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    l->objects = (uint32_t)cor_runtime_object_count(k->rt);
    l->calls = cor_runtime_calls_served(k->rt);
    l->cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
             ru.ru_stime.tv_usec / 1e6;
    l->rss_bytes = (uint64_t)rss_bytes();
}

static int do_register(kernel_t *k, cor_error_t *err)
{
    Cor__NodeInfo n = COR__NODE_INFO__INIT;
    n.name = k->cfg.name;
    n.tcp_address = (char *)cor_runtime_tcp_address(k->rt);
    n.unix_path = (char *)cor_runtime_unix_path(k->rt);
    n.host_id = (char *)cor_runtime_host_id(k->rt);
    n.capacity = (uint32_t)k->cfg.capacity;
    Cor__NodeInfo__LabelsEntry le[MAX_LABELS], *lp[MAX_LABELS];
    for (int i = 0; i < k->cfg.n_labels; i++) {
        cor__node_info__labels_entry__init(&le[i]);
        le[i].key = k->cfg.labels[i].key;
        le[i].value = k->cfg.labels[i].value;
        lp[i] = &le[i];
    }
    n.n_labels = (size_t)k->cfg.n_labels;
    n.labels = lp;
    Cor__ClassInfo ci[MAX_CLASSES], *cp[MAX_CLASSES];
    for (int i = 0; i < k->n_classes; i++) {
        cor__class_info__init(&ci[i]);
        ci[i].name = (char *)k->classes[i]->name;
        ci[i].fingerprint = k->classes[i]->service->fingerprint;
        ci[i].dm_chain = (char *)k->classes[i]->service->dm_chain;
        cp[i] = &ci[i];
    }
    n.n_classes = (size_t)k->n_classes;
    n.classes = cp;
    Cor__RegisterRequest req = COR__REGISTER_REQUEST__INIT;
    req.node = &n;
    /* The replicated objects' replicas restored from the data directory:
     * they stay ours if the OMS still counts them here. */
    cor_object_id_t ids[MAX_HELD];
    uint64_t incs[MAX_HELD];
    Cor__HeldReplica held[MAX_HELD], *hp[MAX_HELD];
    int n_held = cor_runtime_held_replicas(k->rt, ids, incs, MAX_HELD);
    for (int i = 0; i < n_held; i++) {
        cor__held_replica__init(&held[i]);
        held[i].object_id.data = ids[i].b;
        held[i].object_id.len = sizeof(ids[i].b);
        held[i].member_incarnation = incs[i];
        hp[i] = &held[i];
    }
    req.n_held = (size_t)n_held;
    req.held = hp;
    ProtobufCMessage *out = NULL;
    int rc = cor_rpc_call(cor_runtime_client(k->rt), k->cfg.oms, COR_M_OMS_REGISTER, &req.base,
                          &cor__register_reply__descriptor, 2000, &out, err);
    if (rc != 0)
        return rc;
    Cor__RegisterReply *rep = (Cor__RegisterReply *)out;
    k->incarnation = rep->incarnation;
    cor_runtime_set_incarnation(k->rt, rep->incarnation);
    for (size_t i = 0; i < rep->n_refused; i++) {
        cor_object_id_t id;
        if (rep->refused[i].len == sizeof(id.b)) {
            memcpy(id.b, rep->refused[i].data, sizeof(id.b));
            cor_runtime_refuse_replica(k->rt, &id);
        }
    }
    k->hb_interval_ms = rep->heartbeat_interval_ms ? (int)rep->heartbeat_interval_ms : 1000;
    protobuf_c_message_free_unpacked(out, NULL);
    return 0;
}

/* The OMS has written our replicas off: drop them so they cannot be
 * reached through a stale reference. */
static void drop_replicas(kernel_t *k)
{
    size_t n = cor_runtime_drop_all(k->rt);
    if (n > 0)
        cor_log_warn("dropped %zu replicas the OMS no longer places here", n);
}

static void on_timer(void *arg)
{
    kernel_t *k = arg;
    cor_error_t err;
    if (!k->registered) {
        if (do_register(k, &err) != 0) {
            if (!k->oms_down)
                cor_log_warn("cannot register with the OMS at %s: %s (retrying every second)",
                             k->cfg.oms, err.msg);
            k->oms_down = 1;
            cor_timer_start(k->timer, 1000, 0);
            return;
        }
        k->registered = 1;
        k->oms_down = 0;
        cor_log_info("registered with the OMS at %s as %s, incarnation %llu", k->cfg.oms,
                     k->cfg.name, (unsigned long long)k->incarnation);
        if (!k->printed_ready) {
            printf("ready name=%s tcp=%s unix=%s incarnation=%llu%s%s\n", k->cfg.name,
                   cor_runtime_tcp_address(k->rt), cor_runtime_unix_path(k->rt),
                   (unsigned long long)k->incarnation, k->bound[0] ? " listen=" : "",
                   k->bound);
            fflush(stdout);
            k->printed_ready = 1;
        }
        cor_timer_start(k->timer, k->hb_interval_ms, 0);
        return;
    }
    /* DM parts that act on a timer (checkpoints) get their turn here. */
    cor_runtime_tick(k->rt);
    Cor__HeartbeatRequest req = COR__HEARTBEAT_REQUEST__INIT;
    Cor__NodeLoad load = COR__NODE_LOAD__INIT;
    fill_load(k, &load);
    req.name = k->cfg.name;
    req.incarnation = k->incarnation;
    req.load = &load;
    ProtobufCMessage *out = NULL;
    int rc = cor_rpc_call(cor_runtime_client(k->rt), k->cfg.oms, COR_M_OMS_HEARTBEAT, &req.base,
                          &cor__heartbeat_reply__descriptor, k->hb_interval_ms, &out, &err);
    if (rc != 0) {
        if (!k->oms_down)
            cor_log_warn("heartbeat to the OMS at %s failed: %s", k->cfg.oms, err.msg);
        k->oms_down = 1;
    } else {
        if (k->oms_down)
            cor_log_info("the OMS at %s answers again", k->cfg.oms);
        k->oms_down = 0;
        int known = ((Cor__HeartbeatReply *)out)->known;
        protobuf_c_message_free_unpacked(out, NULL);
        if (!known) {
            cor_log_warn("the OMS does not know incarnation %llu of %s: registering again",
                         (unsigned long long)k->incarnation, k->cfg.name);
            drop_replicas(k);
            k->registered = 0;
            cor_timer_start(k->timer, 0, 0);
            return;
        }
    }
    cor_timer_start(k->timer, k->hb_interval_ms, 0);
}

static void on_signal(void *arg, int signum)
{
    cor_log_info("signal %d: draining", signum);
    cor_loop_stop(((kernel_t *)arg)->loop);
}

int main(int argc, char **argv)
{
    kernel_t k;
    memset(&k, 0, sizeof(k));
    snprintf(k.cfg.listen, sizeof(k.cfg.listen), "127.0.0.1:0");
    k.cfg.threads = 2;
    char msg[600];
    int rv = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            rv = 0;
            goto out;
        }
        if (strcmp(a, "--no-unix") == 0) {
            k.cfg.no_unix = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "cor-kernel: %s %s\n", a,
                    strncmp(a, "--", 2) != 0 ? "is not an option" : "needs a value");
            usage(stderr);
            goto out;
        }
        const char *v = argv[++i];
        int rc = strcmp(a, "--config") == 0 ? read_config(&k.cfg, v, msg, sizeof(msg))
                                            : apply_setting(&k.cfg, a + 2, v, msg, sizeof(msg));
        if (rc != 0) {
            fprintf(stderr, "cor-kernel: %s\n", msg);
            goto out;
        }
    }
    if (k.cfg.oms[0] == '\0') {
        fprintf(stderr, "cor-kernel: --oms ADDR is required (the OMS's host:port)\n");
        usage(stderr);
        goto out;
    }
    if (k.cfg.n_modules == 0 && k.cfg.n_builtins == 0) {
        fprintf(stderr, "cor-kernel: no classes to host: give --module PATH.so or --builtin NAME\n");
        goto out;
    }
    cor_log_set_program("cor-kernel");

    rv = 1;
    cor_error_t err;
    cor_error_clear(&err);
    cor_runtime_opts_t opts = {.version = COR_RUNTIME_OPTS_VERSION,
                               .server_threads = (int)k.cfg.threads,
                               .oms_address = k.cfg.oms};
    if (cor_runtime_new(&opts, &k.rt, &err) != 0)
        goto fail;
    for (int i = 0; i < k.cfg.n_builtins; i++) {
        const cor_class_t *const *cl = cor_kernel_builtin_classes(k.cfg.builtins[i]);
        for (int j = 0; cl[j] != NULL; j++) {
            int dup = 0;
            for (int x = 0; x < k.n_classes; x++)
                dup |= k.classes[x] == cl[j];
            if (!dup && add_class(&k, cl[j], "built-in", &err) != 0)
                goto fail;
        }
    }
    for (int i = 0; i < k.cfg.n_modules; i++)
        if (load_module(&k, k.cfg.modules[i], &err) != 0) {
            rv = 2;
            goto fail;
        }
    if (k.cfg.name[0] == '\0') {
        /* A stable name is what lets a restarted kernel be recognised (new
         * incarnation of the same node); without --name it is host-pid. */
        char host[48] = "kernel";
        gethostname(host, sizeof(host) - 1);
        snprintf(k.cfg.name, sizeof(k.cfg.name), "%.40s-%d", host, (int)getpid());
        for (char *p = k.cfg.name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '-' || *p == '.' || *p == '_'))
                *p = '-';
    }
    if (!k.cfg.no_unix && k.cfg.unix_path[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        int n = snprintf(k.cfg.unix_path, sizeof(k.cfg.unix_path), "%.40s/cor-%.50s.sock",
                         tmp && tmp[0] ? tmp : "/tmp", k.cfg.name);
        (void)n; /* both parts are bounded: at most 99 bytes */
    }
    /* Before listening: the server threads read it, and starting them is
     * what orders this write before their reads. */
    if (cor_runtime_set_node_name(k.rt, k.cfg.name, &err) != 0 ||
        (k.cfg.data_dir[0] != '\0' && cor_runtime_set_data_dir(k.rt, k.cfg.data_dir, &err) != 0) ||
        cor_runtime_listen(k.rt, k.cfg.listen, k.cfg.no_unix ? NULL : k.cfg.unix_path, &err) != 0)
        goto fail;
    /* Replicated objects' replicas this server held before it stopped:
     * made again before it registers, so they rejoin their groups. */
    cor_runtime_restore_replicas(k.rt);
    if (k.cfg.advertise[0] != '\0') {
        /* The runtime's TCP address is what it registers, hands out in refs
         * and compares with DM members to find itself, so the advertised
         * one replaces the bound one everywhere. Nothing reads it yet: no
         * object can be placed here before the first registration. */
        snprintf(k.bound, sizeof(k.bound), "%s", cor_runtime_tcp_address(k.rt));
        if (cor_runtime_set_advertise(k.rt, k.cfg.advertise, &err) != 0)
            goto fail;
        cor_log_info("listening on %s, advertising %s", k.bound, k.cfg.advertise);
    }
    if (cor_loop_new(&k.loop, &err) != 0 ||
        cor_loop_on_signal(k.loop, SIGTERM, on_signal, &k, &err) != 0 ||
        cor_loop_on_signal(k.loop, SIGINT, on_signal, &k, &err) != 0)
        goto fail;
    k.timer = cor_timer_new(k.loop, on_timer, &k);
    if (k.timer == NULL) {
        cor_error_set(&err, COR_ENOMEM, "out of memory");
        goto fail;
    }
    cor_timer_start(k.timer, 0, 0);
    cor_loop_run(k.loop);
    rv = 0;
    goto cleanup;
fail:
    fprintf(stderr, "cor-kernel: %s\n", err.msg);
cleanup:
    cor_runtime_free(k.rt); /* before dlclose: objects run module code */
    cor_loop_free(k.loop);
    for (int i = 0; i < k.n_dl; i++)
        dlclose(k.dl[i]);
out:
    for (int i = 0; i < k.cfg.n_modules; i++)
        free(k.cfg.modules[i]);
    return rv;
}
