/* keys_cli.c - "beckon keys migrate": moves the keys of a Beckon of before the key layout
 * (base/keys.h; "bk:visitor:…", no hash tag) into it, on a single Redis, before the new version
 * starts. Idempotent: keys already in the layout (with a "{") are left alone, a key whose new
 * name is taken is reported and left, and running it again moves what is left.
 *
 * Where each key goes: accounts, sessions, login failures, rules, canned responses and presence
 * to the global slot; a site's settings to its own slot and the global one (as a save writes
 * them), its webhook stream and state to its slot; everything else - visitors, conversations,
 * the queue, stats - to the slot of site "", where a node reads ids of no tag, so conversations
 * of before stay reachable by id (history, export, erasure) and waiting ones stay in the queue. */
#include "cli/keys_cli.h"

#include "cli/cli.h"
#include "base/keys.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

typedef struct migration {
    redisContext *c;
    const char *prefix;
    char global[BK_KEYS_PREFIX_SIZE];
    char unsited[BK_KEYS_PREFIX_SIZE];  /* the slot of site "" */
    long moved, taken, failed;
} migration;

static int starts(const char *s, const char *head)
{
    return strncmp(s, head, strlen(head)) == 0;
}

static int ends(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

/* The global keys, by their name after the prefix. */
static int global_name(const char *name)
{
    static const char *const exact[] = { "agents", "rules", "rules:meta", "rules:version", "canned", "presence" };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(name, exact[i]) == 0)
            return 1;
    if (starts(name, "session:") || starts(name, "login:fail:") || starts(name, "rules:history:"))
        return 1;
    return starts(name, "agent:") && !ends(name, ":convs");
}

static long long command_integer(migration *m, redisReply *r)
{
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "beckon: redis: %s\n", r ? r->str : m->c->errstr);
        m->failed++;
    }
    freeReplyObject(r);
    return n;
}

static void rename_to(migration *m, const char *key, const char *prefix, const char *name)
{
    char target[512];
    snprintf(target, sizeof target, "%s%s", prefix, name);
    long long done = command_integer(m, redisCommand(m->c, "RENAMENX %s %s", key, target));
    if (done == 1)
        m->moved++;
    else if (done == 0) {
        fprintf(stderr, "beckon: %s left as it is: %s exists already\n", key, target);
        m->taken++;
    }
}

/* A set of site ids (sites, hooks:sites): each id into the set of its slot, and sites into the
 * global list too. */
static void site_set_move(migration *m, const char *key, const char *name, int global)
{
    redisReply *r = redisCommand(m->c, "SMEMBERS %s", key);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        command_integer(m, r);
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        char slot[BK_KEYS_PREFIX_SIZE];
        bk_keys_prefix_of_site(m->prefix, r->element[i]->str, slot);
        command_integer(m, redisCommand(m->c, "SADD %s%s %s", slot, name, r->element[i]->str));
        if (global)
            command_integer(m, redisCommand(m->c, "SADD %s%s %s", m->global, name, r->element[i]->str));
    }
    freeReplyObject(r);
    command_integer(m, redisCommand(m->c, "DEL %s", key));
    m->moved++;
}

/* site:ID: copied to the site's slot and the global one, as a save writes it. */
static void site_move(migration *m, const char *key, const char *name)
{
    char slot[BK_KEYS_PREFIX_SIZE];
    bk_keys_prefix_of_site(m->prefix, name + strlen("site:"), slot);
    long long own = command_integer(m, redisCommand(m->c, "COPY %s %s%s", key, slot, name));
    long long global = command_integer(m, redisCommand(m->c, "COPY %s %s%s", key, m->global, name));
    if (own != 1 || global != 1) {
        fprintf(stderr, "beckon: %s left as it is: its new copies exist already\n", key);
        m->taken++;
        return;
    }
    command_integer(m, redisCommand(m->c, "DEL %s", key));
    m->moved++;
}

static void key_move(migration *m, const char *key)
{
    const char *name = key + strlen(m->prefix);
    if (strchr(name, '{'))
        return;  /* in the layout already */
    if (strcmp(name, "sites") == 0)
        site_set_move(m, key, "sites", 1);
    else if (strcmp(name, "hooks:sites") == 0)
        site_set_move(m, key, "hooks:sites", 0);
    else if (starts(name, "site:"))
        site_move(m, key, name);
    else if (starts(name, "hooks:")) {
        /* hooks:SITE and hooks:SITE:cursor, … (site ids hold no ':') */
        char site[128], slot[BK_KEYS_PREFIX_SIZE];
        snprintf(site, sizeof site, "%.*s", (int)strcspn(name + 6, ":"), name + 6);
        bk_keys_prefix_of_site(m->prefix, site, slot);
        rename_to(m, key, slot, name);
    } else if (global_name(name))
        rename_to(m, key, m->global, name);
    else
        rename_to(m, key, m->unsited, name);
}

static int keys_command(bk_cli_redis *redis, const bk_config *config, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "migrate") != 0) {
        fprintf(stderr, "usage: beckon keys migrate   (once, on a single Redis, before this version starts)\n");
        return 2;
    }
    /* The keys of before have no hash tag: they are spread over a cluster's slots, and a
     * RENAME into a slot of the layout crosses slots, which a cluster refuses. */
    redisContext *c = bk_cli_redis_single(redis);
    if (!c) {
        fprintf(stderr, "beckon: keys migrate runs on a single Redis, not on a cluster: migrate the keys there,"
                        " then move them to the cluster (redis-cli --cluster import)\n");
        return 2;
    }
    migration m = { .c = c, .prefix = config->prefix };
    bk_keys_global_prefix(config->prefix, m.global);
    bk_keys_prefix_of_site(config->prefix, "", m.unsited);
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s* COUNT 1000", cursor, config->prefix);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "beckon: redis: could not list the keys (%s)\n", r && r->str ? r->str : c->errstr);
            freeReplyObject(r);
            return 1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            if (r->element[1]->element[i]->type == REDIS_REPLY_STRING)
                key_move(&m, r->element[1]->element[i]->str);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    printf("keys moved: %ld; left because their new name was taken: %ld; errors: %ld\n", m.moved, m.taken,
           m.failed);
    return m.failed || m.taken ? 1 : 0;
}

int bk_keys_cli(const bk_config *config, int argc, char **argv)
{
    return bk_cli_run(config, argc, argv, keys_command);
}
