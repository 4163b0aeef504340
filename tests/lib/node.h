/*
 * node.h — makes the test process itself a kernel server: its runtime
 * registers with a real cor-oms under a node name, with labels and the
 * classes it hosts, and heartbeats (running the runtime's tick) from a
 * thread, so the OMS places objects in this process and calls to them from
 * this process are co-located. The route conformance suite needs it: the
 * same object placed here and in a cor-kernel must answer alike.
 */
#ifndef COR_TEST_NODE_H
#define COR_TEST_NODE_H

#include <cor/cor.h>

typedef struct cor_test_node cor_test_node_t;

/* Registers rt (which listens already, with cor_runtime_set_node_name(rt,
 * name) done before it listened) with the OMS at oms as node `name`,
 * labels "k=v,k=v" (NULL: none), hosting classes (NULL-terminated; each
 * registered in rt), and starts heartbeating every interval_ms. On success
 * *out is the caller's, stopped with cor_test_node_stop before rt is
 * freed. -1 with a message on stderr on failure. */
int cor_test_node_start(cor_runtime_t *rt, const char *oms, const char *name, const char *labels,
                        const cor_class_t *const *classes, int interval_ms,
                        cor_test_node_t **out);

/* Stops heartbeating (the OMS will mark the node dead) and frees n. */
void cor_test_node_stop(cor_test_node_t *n);

#endif
