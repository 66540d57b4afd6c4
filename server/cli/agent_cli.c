/* agent_cli.c - agent accounts from the command line. */
#include "cli/agent_cli.h"

#include "http/accounts.h"

#include "base/auth.h"
#include "base/ids.h"
#include "base/log.h"
#include "store/redis_child.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <beckon/protocol.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>


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
        int bad = bk_redis_reply_error(r) != NULL;
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
        int ready = r && !bk_redis_reply_error(r);
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

/* Runs one of the account scripts the server uses (lua/embedded.h), so the shell and the REST
 * API change accounts the same way: a new password ends the account's sessions either way. */
redisReply *bk_cli_script(redisContext *c, const char *source, int argc, const char **args)
{
    const char *argv[16];
    argv[0] = "EVAL";
    argv[1] = source;
    argv[2] = "0";
    for (int i = 0; i < argc && i < 13; i++)
        argv[3 + i] = args[i];
    return redisCommandArgv(c, argc + 3, argv, NULL);
}

/* 1 when a script refused (what says why) or Redis did, having said so; 0 for an answer. */
static int reply_failed(redisReply *r, const char *what)
{
    if (r && !bk_redis_reply_error(r))
        return 0;
    if (bk_redis_reply_refusal(r, BK_ERR_NOT_FOUND) || bk_redis_reply_refusal(r, BK_ERR_WRONG_STATE))
        fprintf(stderr, "beckon: %s\n", what);
    else
        fprintf(stderr, "beckon: redis refused: %s\n", r ? bk_redis_reply_error(r) : "no reply");
    return 1;
}

static int run_command(redisContext *c, const bk_config *config, int argc, char **argv)
{
    const char *prefix = config->prefix;
    const char *verb = argc > 1 ? argv[1] : "";
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)bk_now_ms());
    if (strcmp(verb, "list") == 0 && argc == 2) {
        const char *args[] = { prefix, now };
        redisReply *r = bk_cli_script(c, bk_lua_accounts_list, 2, args);
        int failed = reply_failed(r, "could not list the accounts");
        const char *text;
        size_t len;
        json_t *list = !failed && bk_redis_reply_unpack(r, BK_SHAPE_TEXT, &text, &len) == 0
            ? json_loadb(text, len, 0, NULL) : NULL;
        size_t i;
        json_t *account;
        json_array_foreach(list, i, account)
            printf("%s\t%s\n", json_string_value(json_object_get(account, "name")),
                   json_string_value(json_object_get(account, "role")));
        json_decref(list);
        freeReplyObject(r);
        return failed;
    }
    int add = strcmp(verb, "add") == 0;
    if ((argc != 3 && !(add && argc == 4)) ||
        (!add && strcmp(verb, "passwd") && strcmp(verb, "remove"))) {
        fprintf(stderr, "usage: beckon agent add NAME [agent|marketer|admin] | agent passwd NAME |"
                        " agent list | agent remove NAME\n");
        return 2;
    }
    const char *name = argv[2];
    const char *role = argc == 4 ? argv[3] : "agent";
    if (!bk_id_valid(name)) {
        fprintf(stderr, "beckon: agent names are 1-64 letters, digits, '_' or '-'\n");
        return 2;
    }
    if (strcmp(role, "agent") && strcmp(role, "marketer") && strcmp(role, "admin")) {
        fprintf(stderr, "beckon: the role is agent, marketer or admin\n");
        return 2;
    }
    char missing[96], taken[128];
    snprintf(missing, sizeof missing, "no agent named %s", name);
    snprintf(taken, sizeof taken, "agent %s exists already (use 'agent passwd %s')", name, name);
    if (strcmp(verb, "remove") == 0) {
        const char *args[] = { prefix, name };
        redisReply *r = bk_cli_script(c, bk_lua_account_delete, 2, args);
        int failed = reply_failed(r, missing);
        freeReplyObject(r);
        if (!failed)
            printf("removed %s\n", name);
        return failed;
    }
    /* Say "exists" or "no such agent" before asking for a password that would be wasted. */
    redisReply *r = redisCommand(c, "EXISTS %sagent:%s", prefix, name);
    long long count;
    int exists = bk_redis_reply_unpack(r, BK_SHAPE_INTEGER, &count) == 0 && count == 1;
    freeReplyObject(r);
    if (add && exists) {
        fprintf(stderr, "beckon: %s\n", taken);
        return 1;
    }
    if (!add && !exists) {
        fprintf(stderr, "beckon: %s\n", missing);
        return 1;
    }
    char password[1100], hash[BK_PASSWORD_HASH_MAX];
    if (read_password(name, password, sizeof password) != 0 || strlen(password) < BK_PASSWORD_MIN) {
        fprintf(stderr, "beckon: a password of at least %d characters is needed (read from stdin)\n",
                BK_PASSWORD_MIN);
        return 1;
    }
    int hashed = bk_password_hash(password, hash, sizeof hash);
    explicit_bzero(password, sizeof password);
    if (hashed != 0) {
        fprintf(stderr, "beckon: password hashing failed\n");
        return 1;
    }
    const char *args[] = { prefix, name, hash, add ? role : "", now, add ? "1" : "0" };
    r = bk_cli_script(c, bk_lua_account_save, 6, args);
    int failed = reply_failed(r, add ? taken : missing);
    freeReplyObject(r);
    if (failed)
        return 1;
    if (add)
        printf("added %s %s\n", role, name);
    else
        printf("changed the password of %s; its sessions have ended\n", name);
    return 0;
}

static void on_child_stopped(void *data)
{
    (void)data;
}

int bk_agent_cli(const bk_config *config, int argc, char **argv)
{
    return bk_cli_run(config, argc, argv, run_command);
}

int bk_cli_run(const bk_config *config, int argc, char **argv, bk_cli_command command)
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
        rc = command(c, config, argc, argv);
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
