/*
 * daemons.c — see daemons.h.
 */
#include "daemons.h"

#include <stdio.h>
#include <string.h>

#include "testlib.h"

int cor_proc_start_oms(cor_proc_t *p, const char *bin, const char *listen, const char *data_dir,
                       char *addr, size_t addr_len)
{
    char *argv[] = {(char *)bin, (char *)"--listen", (char *)listen, (char *)"--data-dir",
                    (char *)data_dir, (char *)"--heartbeat-interval-ms", (char *)"200",
                    (char *)"--heartbeat-timeout-ms", (char *)"1000", (char *)"--sync",
                    (char *)"never", NULL};
    if (cor_proc_start(p, argv, 10000) != 0)
        return -1;
    return cor_proc_field(p, "listen", addr, addr_len);
}

int cor_proc_start_oms_etcd(cor_proc_t *p, const char *bin, const char *listen,
                            const char *endpoints, const char *prefix, char *addr,
                            size_t addr_len)
{
    char *argv[] = {(char *)bin, (char *)"--listen", (char *)listen, (char *)"--etcd",
                    (char *)endpoints, (char *)"--etcd-prefix", (char *)prefix,
                    (char *)"--heartbeat-interval-ms", (char *)"200",
                    (char *)"--heartbeat-timeout-ms", (char *)"1000", NULL};
    if (cor_proc_start(p, argv, 10000) != 0)
        return -1;
    return cor_proc_field(p, "listen", addr, addr_len);
}

int cor_proc_start_kernel(cor_proc_t *p, const char *bin, const char *oms_addr, const char *name,
                          const char *builtin, const char *labels)
{
    enum { MAX_TEST_LABELS = 8 };
    char sock[200], lab[512], data[256];
    cor_test_tmp_path(sock, sizeof(sock), name);
    cor_test_kernel_data_dir(data, sizeof(data), name);
    char *argv[12 + 2 * MAX_TEST_LABELS + 1] = {
        (char *)bin, (char *)"--oms", (char *)oms_addr, (char *)"--name", (char *)name,
        (char *)"--builtin", (char *)builtin, (char *)"--unix", sock, (char *)"--data-dir", data};
    int n = 11;
    snprintf(lab, sizeof(lab), "%s", labels != NULL ? labels : "");
    char *save = NULL;
    for (char *t = strtok_r(lab, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (n >= 11 + 2 * MAX_TEST_LABELS)
            return -1;
        argv[n++] = (char *)"--label";
        argv[n++] = t;
    }
    argv[n] = NULL;
    return cor_proc_start(p, argv, 10000);
}
