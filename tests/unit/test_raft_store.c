/*
 * test_raft_store.c — a Raft replica's durable state (raft/store.h): what
 * is persisted comes back after a reopen; a write torn at any byte of the
 * last record costs that record and nothing else; a bad record with data
 * after it, a corrupt meta or snapshot file, is refused with the file and
 * offset named; a snapshot compacts the log; and a Raft core restarted
 * from the store carries on where it stopped.
 */
#include <cor/raft.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "testlib.h"

static char dir[256];

static void fresh_dir(const char *tag)
{
    cor_test_tmp_path(dir, sizeof dir, tag);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static void rm_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
}

static char *file(const char *name)
{
    static char p[320];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static long file_size(const char *name)
{
    struct stat st;
    return stat(file(name), &st) == 0 ? (long)st.st_size : -1;
}

static void flip_byte(const char *name, long off)
{
    int fd = open(file(name), O_RDWR);
    CU_ASSERT_FATAL(fd >= 0);
    unsigned char c;
    CU_ASSERT_EQUAL(pread(fd, &c, 1, off), 1);
    c ^= 0x5a;
    CU_ASSERT_EQUAL(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static cor_raft_entry_t entry(uint64_t term, uint64_t index, const char *text)
{
    return (cor_raft_entry_t){term, index, COR_RAFT_NORMAL, (const uint8_t *)text, strlen(text)};
}

/* Writes term 3, vote 2 and entries 1..5 (terms 1,1,2,3,3). */
static void write_five(void)
{
    cor_raft_store_t *s;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    cor_raft_entry_t es[5] = {entry(1, 1, "one"), entry(1, 2, "two"), entry(2, 3, "three"),
                              entry(3, 4, "four"), entry(3, 5, "five")};
    CU_ASSERT_EQUAL(cor_raft_store_set_hard(s, 3, 2, &err), 0);
    CU_ASSERT_EQUAL(cor_raft_store_append(s, es, 5, &err), 0);
    CU_ASSERT_EQUAL(cor_raft_store_sync(s, &err), 0);
    cor_raft_store_close(s);
}

static void test_round_trip(void)
{
    fresh_dir("rstore-rt");
    write_five();
    cor_raft_store_t *s;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    cor_raft_store_state_t st;
    cor_raft_store_state(s, &st);
    CU_ASSERT_EQUAL(st.term, 3);
    CU_ASSERT_EQUAL(st.vote, 2);
    CU_ASSERT_EQUAL(st.torn_bytes, 0);
    CU_ASSERT_EQUAL_FATAL(st.n_entries, 5);
    CU_ASSERT_EQUAL(st.entries[2].index, 3);
    CU_ASSERT_EQUAL(st.entries[2].term, 2);
    CU_ASSERT_EQUAL(st.entries[2].len, 5);
    CU_ASSERT_EQUAL(memcmp(st.entries[2].data, "three", 5), 0);

    /* A follower's conflicting suffix: 4 and 5 replaced by 4' (term 4). */
    cor_raft_entry_t e4 = entry(4, 4, "FOUR");
    CU_ASSERT_EQUAL(cor_raft_store_append(s, &e4, 1, &err), 0);
    CU_ASSERT_EQUAL(cor_raft_store_sync(s, &err), 0);
    cor_raft_entry_t gap = entry(4, 9, "x");
    CU_ASSERT_EQUAL(cor_raft_store_append(s, &gap, 1, &err), COR_EINVAL);
    cor_raft_store_close(s);
    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    cor_raft_store_state(s, &st);
    CU_ASSERT_EQUAL_FATAL(st.n_entries, 4);
    CU_ASSERT_EQUAL(st.entries[3].term, 4);
    CU_ASSERT_EQUAL(memcmp(st.entries[3].data, "FOUR", 4), 0);
    cor_raft_store_close(s);
    rm_dir();
}

static void test_torn_tail(void)
{
    fresh_dir("rstore-torn");
    write_five();
    long full = file_size("log");
    /* The last record ("five": 8 + 17 + 4 bytes) cut at every byte. */
    long last_start = full - (8 + 17 + 4);
    for (long cut = last_start; cut < full; cut++) {
        write_five();
        CU_ASSERT_EQUAL(truncate(file("log"), cut), 0);
        cor_raft_store_t *s;
        cor_error_t err;
        CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
        cor_raft_store_state_t st;
        cor_raft_store_state(s, &st);
        CU_ASSERT_EQUAL(st.n_entries, 4);
        CU_ASSERT_EQUAL(st.torn_bytes, (size_t)(cut - last_start));
        CU_ASSERT_EQUAL(file_size("log"), last_start); /* truncated on disk too */
        /* And the log goes on from there. */
        cor_raft_entry_t e5 = entry(3, 5, "again");
        CU_ASSERT_EQUAL(cor_raft_store_append(s, &e5, 1, &err), 0);
        cor_raft_store_close(s);
        CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
        cor_raft_store_state(s, &st);
        CU_ASSERT_EQUAL(st.n_entries, 5);
        cor_raft_store_close(s);
        CU_ASSERT_EQUAL(unlink(file("log")), 0);
    }
    /* A last record with a bad checksum is torn too. */
    write_five();
    flip_byte("log", full - 1);
    cor_raft_store_t *s;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    cor_raft_store_state_t st;
    cor_raft_store_state(s, &st);
    CU_ASSERT_EQUAL(st.n_entries, 4);
    cor_raft_store_close(s);
    rm_dir();
}

static void test_corruption_refused(void)
{
    cor_raft_store_t *s;
    cor_error_t err;

    fresh_dir("rstore-bad");
    write_five();
    flip_byte("log", 12); /* inside the first record's payload */
    CU_ASSERT_EQUAL(cor_raft_store_open(dir, &s, &err), COR_ESTATE);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "log: corrupt at offset 0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "replaced"));
    rm_dir();

    fresh_dir("rstore-badmeta");
    write_five();
    flip_byte("meta", 6);
    CU_ASSERT_EQUAL(cor_raft_store_open(dir, &s, &err), COR_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "meta: corrupt"));
    rm_dir();

    fresh_dir("rstore-shortmeta");
    write_five();
    CU_ASSERT_EQUAL(truncate(file("meta"), 10), 0);
    CU_ASSERT_EQUAL(cor_raft_store_open(dir, &s, &err), COR_ESTATE);
    rm_dir();

    /* An entry out of sequence is corruption, even with good checksums:
     * two logs' records spliced. */
    fresh_dir("rstore-seq");
    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    cor_raft_entry_t a = entry(1, 1, "a"), b = entry(1, 2, "b");
    CU_ASSERT_EQUAL(cor_raft_store_append(s, &a, 1, &err), 0);
    CU_ASSERT_EQUAL(cor_raft_store_append(s, &b, 1, &err), 0);
    cor_raft_store_close(s);
    long one = file_size("log") / 2;
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "head -c %ld '%s' > '%s.x' && cat '%s.x' '%s' > '%s.y' && mv '%s.y' '%s'",
             one, file("log"), dir, dir, file("log"), dir, dir, file("log"));
    CU_ASSERT_EQUAL(system(cmd), 0); /* entries 1, 1, 2 */
    CU_ASSERT_EQUAL(cor_raft_store_open(dir, &s, &err), COR_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "out of sequence"));
    rm_dir();
}

static void test_snapshot_compacts(void)
{
    fresh_dir("rstore-snap");
    write_five();
    cor_raft_store_t *s;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    long before = file_size("log");
    cor_raft_conf_t conf = {.n = 1, .m = {{1, true}}};
    CU_ASSERT_EQUAL(cor_raft_store_snapshot(s, 3, 2, &conf, (const uint8_t *)"STATE", 5, &err), 0);
    CU_ASSERT_TRUE(file_size("log") < before);
    cor_raft_entry_t e6 = entry(3, 6, "six");
    CU_ASSERT_EQUAL(cor_raft_store_append(s, &e6, 1, &err), 0);
    CU_ASSERT_EQUAL(cor_raft_store_sync(s, &err), 0);
    cor_raft_store_close(s);

    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    cor_raft_store_state_t st;
    cor_raft_store_state(s, &st);
    CU_ASSERT_EQUAL(st.snap_index, 3);
    CU_ASSERT_EQUAL(st.snap_term, 2);
    CU_ASSERT_EQUAL(st.snap_len, 5);
    CU_ASSERT_EQUAL(memcmp(st.snap, "STATE", 5), 0);
    CU_ASSERT_EQUAL(st.snap_conf.n, 1);
    CU_ASSERT_EQUAL_FATAL(st.n_entries, 3);
    CU_ASSERT_EQUAL(st.entries[0].index, 4);
    CU_ASSERT_EQUAL(st.entries[2].index, 6);
    /* A snapshot beyond the log (received from a leader) drops all of it. */
    CU_ASSERT_EQUAL(cor_raft_store_snapshot(s, 10, 5, &conf, NULL, 0, &err), 0);
    cor_raft_store_close(s);
    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    cor_raft_store_state(s, &st);
    CU_ASSERT_EQUAL(st.snap_index, 10);
    CU_ASSERT_EQUAL(st.n_entries, 0);
    CU_ASSERT_EQUAL(file_size("log"), 0);
    cor_raft_store_close(s);
    flip_byte("snap", 8);
    CU_ASSERT_EQUAL(cor_raft_store_open(dir, &s, &err), COR_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "snap: corrupt"));
    rm_dir();
}

/* Drives a group of one through the store, restarts it from the store, and
 * checks it carries on with its term, log and configuration. */
static void drive(cor_raft_t *r, cor_raft_store_t *s)
{
    cor_raft_update_t u;
    cor_error_t err;
    while (cor_raft_ready(r, &u)) {
        CU_ASSERT_EQUAL(cor_raft_store_persist(s, &u, &err), 0);
        cor_raft_advance(r, &u);
    }
}

static void test_core_restarts_from_store(void)
{
    fresh_dir("rstore-core");
    cor_raft_store_t *s;
    cor_error_t err;
    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    cor_raft_options_t o = {.id = 1, .seed = 1};
    cor_raft_t *r = cor_raft_new(&o);
    cor_raft_conf_t conf = {.n = 1, .m = {{1, true}}};
    CU_ASSERT_EQUAL(cor_raft_bootstrap(r, &conf), 0);
    drive(r, s);
    for (int i = 0; i < 40 && cor_raft_role(r) != COR_RAFT_LEADER; i++) {
        cor_raft_tick(r);
        drive(r, s);
    }
    CU_ASSERT_EQUAL_FATAL(cor_raft_role(r), COR_RAFT_LEADER);
    for (int i = 0; i < 10; i++) {
        CU_ASSERT_EQUAL(cor_raft_propose(r, (const uint8_t *)"w", 1, NULL, NULL), 0);
        drive(r, s);
    }
    uint64_t term = cor_raft_term(r), last = cor_raft_last_index(r);
    CU_ASSERT_EQUAL(cor_raft_commit(r), last);
    CU_ASSERT_EQUAL(cor_raft_snapshot(r, 5, (const uint8_t *)"S5", 2), 0);
    CU_ASSERT_EQUAL(cor_raft_store_snapshot(s, 5, cor_raft_term_at(r, 5), cor_raft_conf(r),
                                            (const uint8_t *)"S5", 2, &err), 0);
    cor_raft_free(r);
    cor_raft_store_close(s);

    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    cor_raft_store_state_t st;
    cor_raft_store_state(s, &st);
    r = cor_raft_new(&o);
    CU_ASSERT_EQUAL(cor_raft_load(r, st.term, st.vote, st.snap_index, st.snap_term, &st.snap_conf,
                                  st.snap, st.snap_len, st.entries, st.n_entries), 0);
    CU_ASSERT_EQUAL(cor_raft_term(r), term);
    CU_ASSERT_EQUAL(cor_raft_last_index(r), last);
    CU_ASSERT_EQUAL(cor_raft_snap_index(r), 5);
    for (int i = 0; i < 40 && cor_raft_role(r) != COR_RAFT_LEADER; i++) {
        cor_raft_tick(r);
        drive(r, s);
    }
    CU_ASSERT_EQUAL(cor_raft_role(r), COR_RAFT_LEADER);
    CU_ASSERT_TRUE(cor_raft_term(r) > term);
    CU_ASSERT_EQUAL(cor_raft_commit(r), cor_raft_last_index(r)); /* all committed again */
    cor_raft_free(r);
    cor_raft_store_close(s);
    rm_dir();
}

/* A replica made afresh where an older one left its files: after the
 * wipe the store opens empty, and wiping what is not there is no error. */
static void test_wipe(void)
{
    fresh_dir("rstore-wipe");
    write_five();
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_raft_store_wipe(dir, &err), 0);
    CU_ASSERT_EQUAL(file_size("log"), -1);
    CU_ASSERT_EQUAL(file_size("meta"), -1);
    cor_raft_store_t *s;
    CU_ASSERT_EQUAL_FATAL(cor_raft_store_open(dir, &s, &err), 0);
    cor_raft_store_state_t st;
    cor_raft_store_state(s, &st);
    CU_ASSERT_EQUAL(st.term, 0);
    CU_ASSERT_EQUAL(st.vote, 0);
    CU_ASSERT_EQUAL(st.n_entries, 0);
    CU_ASSERT_EQUAL(st.snap_index, 0);
    cor_raft_store_close(s);
    CU_ASSERT_EQUAL(cor_raft_store_wipe(dir, &err), 0);
    rm_dir();
    CU_ASSERT_EQUAL(cor_raft_store_wipe(dir, &err), 0); /* no directory: empty already */
}

static void test_bad_directory(void)
{
    cor_raft_store_t *s;
    cor_error_t err;
    CU_ASSERT_EQUAL(cor_raft_store_open("/proc/no/such/dir", &s, &err), COR_EUNAVAIL);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/proc/no/such/dir"));
}

int main(void)
{
    static const cor_test_t tests[] = {
        {"round trip and suffix replaced", test_round_trip},
        {"a torn tail costs only the torn record", test_torn_tail},
        {"corruption is refused, not trimmed", test_corruption_refused},
        {"a snapshot compacts the log", test_snapshot_compacts},
        {"a core restarts from its store", test_core_restarts_from_store},
        {"a wiped store opens empty", test_wipe},
        {"a directory that cannot be made", test_bad_directory},
        {NULL, NULL},
    };
    return cor_test_main("raft_store", tests, NULL, NULL);
}
