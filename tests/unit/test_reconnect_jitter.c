/* test_reconnect_jitter.c - the reconnect delay's random part (server/store/backoff.c) differs from node
 * to node and from one reconnect to the next, and bk_random_below (server/base/ids.c), which it
 * draws from, stays below its bound and spreads evenly.
 *
 * "Node to node" is tested with separate processes: this binary runs itself twice with
 * --delays and compares what each printed. An unseeded rand() gives every process the same
 * sequence, so every node of a cluster waited exactly as long as the others. */
#include "check.h"

#include "base/ids.h"
#include "store/store.h"

#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKOFF_MS BK_BACKOFF_MAX_MS  /* the cap: jitter of 0..500 ms, 501 possible values */
#define DRAWS      16

extern char **environ;

static void delays_print(void)
{
    for (int i = 0; i < DRAWS; i++)
        printf("%llu ", (unsigned long long)bk_store_reconnect_delay(BACKOFF_MS));
    printf("\n");
}

/* Runs this binary with --delays; its line of delays into out. 0, or -1 when it could not. */
static int delays_of_another_process(const char *self, char *out, size_t size)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    char *argv[] = { (char *)self, "--delays", NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, self, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    size_t used = 0;
    ssize_t n;
    while (rc == 0 && used + 1 < size && (n = read(fds[0], out + used, size - used - 1)) > 0)
        used += (size_t)n;
    out[used] = '\0';
    close(fds[0]);
    int status = 0;
    if (rc == 0)
        waitpid(pid, &status, 0);
    return rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && used > 0 ? 0 : -1;
}

static void test_across_processes(const char *self)
{
    char first[512], second[512];
    int ran = delays_of_another_process(self, first, sizeof first) == 0 &&
              delays_of_another_process(self, second, sizeof second) == 0;
    CHECK(ran, "two processes printed their delays");
    CHECK(ran && strcmp(first, second) != 0, "two nodes do not wait the same delays");
    if (ran && strcmp(first, second) == 0)
        printf("#   both: %s", first);
}

static void test_within_a_process(void)
{
    uint64_t a[DRAWS], b[DRAWS];
    int in_range = 1;
    for (int i = 0; i < DRAWS; i++) {
        a[i] = bk_store_reconnect_delay(BACKOFF_MS);
        b[i] = bk_store_reconnect_delay(BACKOFF_MS);
        in_range &= a[i] >= BACKOFF_MS && a[i] <= BACKOFF_MS + BACKOFF_MS / 4;
        in_range &= b[i] >= BACKOFF_MS && b[i] <= BACKOFF_MS + BACKOFF_MS / 4;
    }
    CHECK(in_range, "delays are the backoff plus at most a quarter of it");
    CHECK(memcmp(a, b, sizeof a) != 0, "two runs of reconnects do not repeat each other");
    CHECK(bk_store_reconnect_delay(0) == 0, "no backoff, no wait");
}

static void test_random_below(void)
{
    static const uint64_t bounds[] = { 1, 2, 3, 7, 13, 501, 1000000007ULL, (1ULL << 63) + 1, UINT64_MAX };
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        int below = 1;
        for (int k = 0; k < 200; k++) {
            uint64_t x = UINT64_MAX;
            below &= bk_random_below(bounds[i], &x) == 0 && x < bounds[i];
        }
        CHECK(below, "bk_random_below(%llu) is always below it", (unsigned long long)bounds[i]);
    }
    uint64_t x = 7;
    CHECK(bk_random_below(0, &x) == -1 && x == 7, "nothing is below 0");
    /* evenly spread: 8000 draws in 4 buckets, each within 20% of 2000 (a failure by chance is
     * far less likely than 1 in 10^9) */
    int counts[4] = { 0 };
    for (int k = 0; k < 8000; k++)
        if (bk_random_below(4, &x) == 0)
            counts[x]++;
    int even = 1;
    for (int i = 0; i < 4; i++)
        even &= counts[i] > 1600 && counts[i] < 2400;
    CHECK(even, "evenly spread: %d %d %d %d of 8000", counts[0], counts[1], counts[2], counts[3]);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--delays") == 0) {
        delays_print();
        return 0;
    }
    test_across_processes("/proc/self/exe");
    test_within_a_process();
    test_random_below();
    return check_done();
}
