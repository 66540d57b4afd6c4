/* agent_cli.c - agent accounts from the command line. */
#include "cli/agent_cli.h"

#include "cli/cli.h"
#include "http/accounts.h"

#include "base/keys.h"
#include "base/auth.h"
#include "base/ids.h"
#include "protocol/errors.h"
#include "store/redis_reply.h"
#include "store/redis_shapes.h"
#include "lua/embedded.h"

#include <beckon/protocol.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

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

/* 1 when a script refused (what says why) or storage failed, having said so; 0 for an answer. */
static int reply_failed(redisReply *r, const char *what)
{
    if (r && !bk_redis_reply_error(r))
        return 0;
    return bk_cli_store_error(r, BK_REFUSALS(BK_ERR_NOT_FOUND, BK_ERR_WRONG_STATE), what);
}

static int run_command(bk_cli_redis *c, const bk_config *config, int argc, char **argv)
{
    char prefix[BK_KEYS_PREFIX_SIZE];
    bk_keys_global_prefix(config->prefix, prefix);
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
    char key[BK_KEYS_PREFIX_SIZE + 80];
    snprintf(key, sizeof key, "%sagent:%s", prefix, name);
    const char *exists_argv[] = { "EXISTS", key };
    redisReply *r = bk_cli_redis_command(c, 1, 2, exists_argv, NULL);
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

int bk_agent_cli(const bk_config *config, int argc, char **argv)
{
    return bk_cli_run(config, argc, argv, run_command);
}
