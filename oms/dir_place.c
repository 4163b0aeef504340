/*
 * dir_place.c — where a replica may go (DESIGN.md "OMS", placement).
 *
 * Design: a node can take a replica of an object when it hosts the
 * object's class, matches its selector (the node's labels, plus the
 * implicit `node` label, its name), is ALIVE and is below its capacity (0:
 * unlimited). Among those, the one with the fewest replicas for its
 * capacity wins, ties going to the smallest name, so placement is
 * deterministic for a given directory. Nodes already holding one of the
 * object's replicas are avoided. The search counts, as it goes, how many
 * nodes host the class, match and are alive, so a caller can say why none
 * would do.
 *
 * Happy path: oms_pick returns the best node; the caller counts the
 * replica in node->placed under the same write lock. Failure mode: NULL,
 * with the counts in the oms_pick_t telling which condition excluded
 * every node. Nothing here changes the directory.
 */
#include "dir_int.h"

#include <string.h>

const char *oms_node_label(void *arg, const char *key)
{
    const Cor__NodeInfo *info = arg;
    if (strcmp(key, "node") == 0)
        return info->name;
    for (size_t i = 0; i < info->n_labels; i++)
        if (strcmp(info->labels[i]->key, key) == 0)
            return info->labels[i]->value;
    return NULL;
}

typedef struct chain_ctx {
    const char *cls;
    const char *chain;
} chain_ctx_t;

static int find_chain(void *arg, const char *key, void *value)
{
    chain_ctx_t *cc = arg;
    const Cor__NodeInfo *info = ((oms_node_t *)value)->info;
    for (size_t i = 0; i < info->n_classes; i++)
        if (strcmp(info->classes[i]->name, cc->cls) == 0) {
            cc->chain = info->classes[i]->dm_chain;
            return 1;
        }
    return 0;
}

const char *oms_class_chain(oms_dir_t *d, const char *cls)
{
    chain_ctx_t cc = {cls, ""};
    cor_strmap_each(&d->nodes, find_chain, &cc);
    return cc.chain;
}

int oms_hosts_class(const Cor__NodeInfo *info, const char *cls)
{
    for (size_t i = 0; i < info->n_classes; i++)
        if (strcmp(info->classes[i]->name, cls) == 0)
            return 1;
    return 0;
}

static int pick_node(void *arg, const char *key, void *value)
{
    oms_pick_t *pc = arg;
    oms_node_t *n = value;
    if (pc->only != NULL && strcmp(n->info->name, pc->only) != 0)
        return 0;
    for (int i = 0; i < pc->n_avoid; i++)
        if (pc->avoid[i] == n)
            return 0;
    if (!oms_hosts_class(n->info, pc->cls))
        return 0;
    pc->hosting++;
    if (!cor_selector_match(pc->sel, oms_node_label, n->info))
        return 0;
    pc->matching++;
    if (n->info->state != COR__NODE_STATE__NODE_ALIVE)
        return 0;
    pc->alive++;
    if (n->info->capacity != 0 && n->placed >= n->info->capacity)
        return 0;
    double score = n->info->capacity ? (double)n->placed / n->info->capacity : (double)n->placed;
    if (pc->best == NULL || score < pc->best_score ||
        (score == pc->best_score && strcmp(n->info->name, pc->best->info->name) < 0)) {
        pc->best = n;
        pc->best_score = score;
    }
    return 0;
}

oms_node_t *oms_pick(oms_dir_t *d, oms_pick_t *pc)
{
    cor_strmap_each(&d->nodes, pick_node, pc);
    return pc->best;
}
