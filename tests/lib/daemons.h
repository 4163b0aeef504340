/*
 * daemons.h — start the Corundum daemons for an integration test the same
 * way every suite does: a cor-oms on loopback with quick heartbeats and a
 * throwaway store, and cor-kernels registered with it. Built on proc.h.
 */
#ifndef COR_TEST_DAEMONS_H
#define COR_TEST_DAEMONS_H

#include <stddef.h>

#include "proc.h"

/* Starts the cor-oms at bin listening on `listen` (e.g. "127.0.0.1:0"),
 * its store in data_dir, with heartbeats every 200 ms and a 1 s timeout
 * (so death is noticed quickly) and no fsync. Copies the address it
 * listens on into addr. Returns 0 or -1. Strings stay the caller's. */
int cor_proc_start_oms(cor_proc_t *p, const char *bin, const char *listen, const char *data_dir,
                       char *addr, size_t addr_len);

/* As cor_proc_start_oms, with the directory in etcd (--etcd endpoints
 * --etcd-prefix prefix) instead of a data directory. */
int cor_proc_start_oms_etcd(cor_proc_t *p, const char *bin, const char *listen,
                            const char *endpoints, const char *prefix, char *addr,
                            size_t addr_len);

/* Starts the cor-kernel at bin as `name`, registered with oms_addr, with
 * `--builtin builtin`, its unix socket under the test's temporary
 * directory, and one `--label` per entry of the comma-separated `labels`
 * (NULL or "" for none). Returns 0 or -1. Strings stay the caller's. */
int cor_proc_start_kernel(cor_proc_t *p, const char *bin, const char *oms_addr, const char *name,
                          const char *builtin, const char *labels);

#endif
