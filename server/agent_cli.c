/* agent_cli.c - agent accounts from the command line. */
#include "agent_cli.h"

#include "auth.h"
#include "ids.h"
#include "log.h"
#include "redis_child.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PASSWORD_MIN 8

static redisContext *connect_address(const bk_redis_address *a)
{
    struct timeval timeout = { 2, 0 };
    redisContext *c = a->is_unix ? redisConnectUnixWithTimeout(a->path, timeout)
                                 : redisConnectWithTimeout(a->host, a->port, timeout);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisReply *r = NULL;
    if (a->password[0])
        r = a->username[0] ? redisCommand(c, "AUTH %s %s", a->username, a->password)
                           : redisCommand(c, "AUTH %s", a->password);
    if (r) {
        int bad = r->type == REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (bad) {
            fprintf(stderr, "beckon: redis refused the password\n");
            redisFree(c);
            return NULL;
        }
    }
    if (a->db) {
        r = redisCommand(c, "SELECT %d", a->db);
        if (r)
            freeReplyObject(r);
    }
    /* A Redis still loading its AOF answers -LOADING: wait until it is ready. */
    for (int i = 0; i < 100; i++) {
        r = redisCommand(c, "PING");
        int ready = r && r->type != REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (ready)
            return c;
        usleep(100 * 1000);
    }
    redisFree(c);
    return NULL;
}

static int read_password(const char *name, char *out, size_t size)
{
    int tty = isatty(STDIN_FILENO);
    struct termios saved, quiet;
    if (tty) {
        fprintf(stderr, "Password for %s: ", name);
        tcgetattr(STDIN_FILENO, &saved);
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    char *line = fgets(out, (int)size, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        fprintf(stderr, "\n");
    }
    if (!line)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int run_command(redisContext *c, const bk_config *config, int argc, char **argv)
{
    const char *prefix = config->prefix;
    const char *verb = argc > 1 ? argv[1] : "";
    if (strcmp(verb, "list") == 0) {
        redisReply *r = redisCommand(c, "SORT %sagents ALPHA", prefix);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "beckon: could not list agents\n");
            if (r) freeReplyObject(r);
            return 1;
        }
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *role = redisCommand(c, "HGET %sagent:%s role", prefix, r->element[i]->str);
            printf("%s\t%s\n", r->element[i]->str,
                   role && role->type == REDIS_REPLY_STRING ? role->str : "agent");
            if (role)
                freeReplyObject(role);
        }
        freeReplyObject(r);
        return 0;
    }
    int add = strcmp(verb, "add") == 0;
    if ((argc != 3 && !(add && argc == 4)) ||
        (!add && strcmp(verb, "passwd") && strcmp(verb, "remove"))) {
        fprintf(stderr, "usage: beckon agent add NAME [agent|marketer|admin] | agent passwd NAME |"
                        " agent list | agent remove NAME\n");
        return 2;
    }
    const char *role = argc == 4 ? argv[3] : "agent";
    if (strcmp(role, "agent") && strcmp(role, "marketer") && strcmp(role, "admin")) {
        fprintf(stderr, "beckon: the role is agent, marketer or admin\n");
        return 2;
    }
    const char *name = argv[2];
    if (!bk_id_valid(name)) {
        fprintf(stderr, "beckon: agent names are 1-64 letters, digits, '_' or '-'\n");
        return 2;
    }
    redisReply *r = redisCommand(c, "EXISTS %sagent:%s", prefix, name);
    int exists = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r)
        freeReplyObject(r);
    if (strcmp(verb, "remove") == 0) {
        if (!exists) {
            fprintf(stderr, "beckon: no agent named %s\n", name);
            return 1;
        }
        r = redisCommand(c, "DEL %sagent:%s", prefix, name);
        if (r) freeReplyObject(r);
        r = redisCommand(c, "SREM %sagents %s", prefix, name);
        if (r) freeReplyObject(r);
        printf("removed agent %s\n", name);
        return 0;
    }
    if (strcmp(verb, "add") == 0 && exists) {
        fprintf(stderr, "beckon: agent %s exists already (use 'agent passwd %s')\n", name, name);
        return 1;
    }
    if (strcmp(verb, "passwd") == 0 && !exists) {
        fprintf(stderr, "beckon: no agent named %s\n", name);
        return 1;
    }
    char password[1100], hash[BK_PASSWORD_HASH_MAX];
    if (read_password(name, password, sizeof password) != 0 || strlen(password) < PASSWORD_MIN) {
        fprintf(stderr, "beckon: a password of at least %d characters is needed (read from stdin)\n",
                PASSWORD_MIN);
        return 1;
    }
    int hashed = bk_password_hash(password, hash, sizeof hash);
    explicit_bzero(password, sizeof password);
    if (hashed != 0) {
        fprintf(stderr, "beckon: password hashing failed\n");
        return 1;
    }
    r = redisCommand(c, "HSET %sagent:%s name %s password %s updated %lld", prefix, name, name, hash,
                     (long long)bk_now_ms());
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (r) freeReplyObject(r);
    if (strcmp(verb, "add") == 0) {
        r = redisCommand(c, "HSET %sagent:%s created %lld role %s", prefix, name, (long long)bk_now_ms(), role);
        if (r) freeReplyObject(r);
        r = redisCommand(c, "SADD %sagents %s", prefix, name);
        if (r) freeReplyObject(r);
    }
    if (!ok) {
        fprintf(stderr, "beckon: could not store the agent\n");
        return 1;
    }
    if (add)
        printf("added %s %s\n", role, name);
    else
        printf("changed the password of %s\n", name);
    return 0;
}

static void on_child_stopped(void *data)
{
    (void)data;
}

int bk_agent_cli(const bk_config *config, int argc, char **argv)
{
    char err[512] = "no answer";
    bk_redis_address address;
    uv_loop_t loop;
    bk_redis_child *child = NULL;
    redisContext *c = NULL;
    int loop_started = 0;
    if (config->redis[0]) {
        if (bk_redis_address_parse(config->redis, &address, err, sizeof err) != 0) {
            fprintf(stderr, "beckon: %s\n", err);
            return 2;
        }
        c = connect_address(&address);
    } else {
        /* The running server's private Redis if there is one; else a temporary one. */
        memset(&address, 0, sizeof address);
        address.is_unix = 1;
        char resolved[PATH_MAX];
        const char *dir = realpath(config->data_dir, resolved) ? resolved : config->data_dir;
        if (snprintf(address.path, sizeof address.path, "%s/redis.sock", dir) < (int)sizeof address.path)
            c = connect_address(&address);
        if (!c) {
            mkdir(config->data_dir, 0700);
            uv_loop_init(&loop);
            loop_started = 1;
            child = bk_redis_child_start(&loop, config->redis_server, config->data_dir,
                                         address.path, sizeof address.path, err, sizeof err);
            if (child) {
                for (int i = 0; i < 100 && !c; i++) {
                    uv_run(&loop, UV_RUN_NOWAIT);
                    usleep(50 * 1000);
                    c = connect_address(&address);
                }
            }
        }
    }
    int rc;
    if (!c) {
        fprintf(stderr, "beckon: cannot reach Redis: %s\n", err);
        rc = 1;
    } else {
        rc = run_command(c, config, argc, argv);
        redisFree(c);
    }
    if (loop_started) {
        if (child)
            bk_redis_child_stop(child, on_child_stopped, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    return rc;
}
