/*
 * etcd_proc.c — see etcd_proc.h.
 *
 * Ports: every port a cluster needs is bound (port 0) at once and released
 * just before the members start, so the members never get the same one.
 * Data lives in /dev/shm when it is there (fsync costs nothing on tmpfs,
 * and these clusters are thrown away), else in $TMPDIR or /tmp.
 */
#include "etcd_proc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *cor_etcdproc_binary(void)
{
    const char *env = getenv("COR_ETCD_BIN");
    if (env != NULL && env[0] != '\0')
        return access(env, X_OK) == 0 ? env : NULL;
    return access("/usr/bin/etcd", X_OK) == 0 ? "/usr/bin/etcd" : NULL;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Binds a loopback socket to a free port; returns the fd, port in *port. */
static int bind_free(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int cor_etcdproc_free_port(void)
{
    int port = -1;
    int fd = bind_free(&port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void print_log_tail(const cor_etcdproc_t *e, int i)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.log", e->dir, e->m[i].name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 3000 ? size - 3000 : 0, SEEK_SET);
    char buf[3001];
    size_t n = fread(buf, 1, 3000, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "--- tail of %s ---\n%s\n---\n", path, buf);
}

static size_t sink(char *data, size_t size, size_t n, void *arg)
{
    char *buf = arg;
    size_t have = strlen(buf), len = size * n;
    if (have + len < 256) {
        memcpy(buf + have, data, len);
        buf[have + len] = '\0';
    }
    return len;
}

int cor_etcdproc_healthy(const cor_etcdproc_t *e, int i)
{
    if (e->m[i].pid <= 0)
        return 0;
    CURL *h = curl_easy_init();
    if (h == NULL)
        return 0;
    char url[96], body[256] = "";
    snprintf(url, sizeof(url), "%s/health", e->m[i].url);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    return rc == CURLE_OK && strstr(body, "\"health\":\"true\"") != NULL;
}

static pid_t spawn(const cor_etcdproc_t *e, int i, const char *cluster, const char *token)
{
    const cor_etcdproc_member_t *m = &e->m[i];
    char data[300], logp[300], peer[64];
    snprintf(data, sizeof(data), "%s/%s", e->dir, m->name);
    snprintf(logp, sizeof(logp), "%s/%s.log", e->dir, m->name);
    snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", m->peer_port);
    char *argv[] = {(char *)cor_etcdproc_binary(),
                    "--name", (char *)m->name,
                    "--data-dir", data,
                    "--listen-client-urls", (char *)m->url,
                    "--advertise-client-urls", (char *)m->url,
                    "--listen-peer-urls", peer,
                    "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", (char *)cluster,
                    "--initial-cluster-state", "new",
                    "--initial-cluster-token", (char *)token,
                    "--heartbeat-interval", "50",
                    "--election-timeout", "500",
                    /* for clients that watch with watch_idle_ms */
                    "--experimental-watch-progress-notify-interval", "250ms",
                    "--logger", "zap",
                    NULL};
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int cor_etcdproc_start(cor_etcdproc_t *e, int n)
{
    memset(e, 0, sizeof(*e));
    for (int i = 0; i < COR_ETCDPROC_MAX; i++)
        e->m[i].pid = -1;
    if (n < 1 || n > COR_ETCDPROC_MAX || cor_etcdproc_binary() == NULL)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0')
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(e->dir, sizeof(e->dir), "%s/cor-etcd-XXXXXX", tmp);
    if (mkdtemp(e->dir) == NULL) {
        fprintf(stderr, "etcd_proc: mkdtemp %s: %s\n", e->dir, strerror(errno));
        e->dir[0] = '\0';
        return -1;
    }
    e->n = n;
    int fds[2 * COR_ETCDPROC_MAX];
    for (int i = 0; i < n; i++) {
        fds[2 * i] = bind_free(&e->m[i].client_port);
        fds[2 * i + 1] = bind_free(&e->m[i].peer_port);
    }
    for (int i = 0; i < 2 * n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    char cluster[COR_ETCDPROC_MAX * 64] = "";
    for (int i = 0; i < n; i++) {
        cor_etcdproc_member_t *m = &e->m[i];
        snprintf(m->name, sizeof(m->name), "m%d", i);
        snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%d", m->client_port);
        size_t cl = strlen(cluster), el = strlen(e->endpoints);
        snprintf(cluster + cl, sizeof(cluster) - cl, "%s%s=http://127.0.0.1:%d", i ? "," : "",
                 m->name, m->peer_port);
        snprintf(e->endpoints + el, sizeof(e->endpoints) - el, "%s%s", i ? "," : "", m->url);
    }
    static int seq;
    char token[64];
    snprintf(token, sizeof(token), "cor-test-%d-%d", (int)getpid(), seq++);
    for (int i = 0; i < n; i++) {
        e->m[i].pid = spawn(e, i, cluster, token);
        if (e->m[i].pid < 0) {
            fprintf(stderr, "etcd_proc: fork: %s\n", strerror(errno));
            cor_etcdproc_stop(e);
            return -1;
        }
    }
    long long deadline = now_ms() + 30000;
    for (int i = 0; i < n; i++) {
        while (!cor_etcdproc_healthy(e, i)) {
            int status;
            if (waitpid(e->m[i].pid, &status, WNOHANG) == e->m[i].pid) {
                fprintf(stderr, "etcd_proc: member %s exited before it was healthy\n",
                        e->m[i].name);
                e->m[i].pid = -1;
                print_log_tail(e, i);
                cor_etcdproc_stop(e);
                return -1;
            }
            if (now_ms() > deadline) {
                fprintf(stderr, "etcd_proc: member %s not healthy after 30 s\n", e->m[i].name);
                print_log_tail(e, i);
                cor_etcdproc_stop(e);
                return -1;
            }
            usleep(50 * 1000);
        }
    }
    return 0;
}

void cor_etcdproc_kill(cor_etcdproc_t *e, int i)
{
    cor_etcdproc_member_t *m = &e->m[i];
    if (m->pid > 0) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
        m->pid = -1;
        m->paused = 0;
    }
}

void cor_etcdproc_pause(cor_etcdproc_t *e, int i)
{
    if (e->m[i].pid > 0 && kill(e->m[i].pid, SIGSTOP) == 0)
        e->m[i].paused = 1;
}

void cor_etcdproc_resume(cor_etcdproc_t *e, int i)
{
    if (e->m[i].pid > 0 && kill(e->m[i].pid, SIGCONT) == 0)
        e->m[i].paused = 0;
}

void cor_etcdproc_stop(cor_etcdproc_t *e)
{
    for (int i = 0; i < COR_ETCDPROC_MAX; i++)
        cor_etcdproc_kill(e, i);
    if (e->dir[0] != '\0')
        nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    e->dir[0] = '\0';
    e->n = 0;
}
