/* cluster_tool.c - Beckon's Redis Cluster code driven from the integration tests (test_cluster.py).
 *
 *   cluster_tool slots    keys in hex, one a line, on stdin; their slots (bk_cluster_key_slot),
 *                         one a line, on stdout: compared with a real cluster's CLUSTER KEYSLOT. */
#include "store/redis_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int slots(void)
{
    char line[4096];
    unsigned char key[sizeof line / 2];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\r\n");
        if (n % 2 != 0) {
            fprintf(stderr, "cluster_tool: odd hex line\n");
            return 2;
        }
        for (size_t i = 0; i < n / 2; i++) {
            int high = hex_value(line[2 * i]), low = hex_value(line[2 * i + 1]);
            if (high < 0 || low < 0) {
                fprintf(stderr, "cluster_tool: not hex\n");
                return 2;
            }
            key[i] = (unsigned char)(high << 4 | low);
        }
        printf("%d\n", bk_cluster_key_slot(key, n / 2));
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "slots") == 0)
        return slots();
    fprintf(stderr, "usage: %s slots\n", argv[0]);
    return 2;
}
