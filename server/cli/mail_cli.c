/* mail_cli.c - beckon mail receive: the pipe transport's end. */
#include "cli/mail_cli.h"

#include "cli/cli_redis.h"
#include "cli/mail_relay.h"
#include "base/log.h"
#include "lua/embedded.h"
#include "mail/mail_inbound.h"
#include "protocol/errors.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

/* Standard input, up to max + 1 bytes (one more tells it is too large). */
static char *input_read(size_t max, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *data = malloc(cap + 1);
    while (data) {
        if (n == cap) {
            if (n > max)
                break;
            cap *= 2;
            char *grown = realloc(data, cap + 1);
            if (!grown) {
                free(data);
                return NULL;
            }
            data = grown;
        }
        ssize_t got = read(STDIN_FILENO, data + n, cap - n);
        if (got < 0) {
            free(data);
            return NULL;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (data)
        data[n] = '\0';
    *len = n;
    return data;
}

static bk_cli_redis *redis_reach(const bk_config *config, char *err, size_t err_size)
{
    bk_redis_address address;
    if (config->redis[0]) {
        if (bk_redis_address_parse(config->redis, &address, err, err_size) != 0)
            return NULL;
    } else {
        memset(&address, 0, sizeof address);
        address.is_unix = 1;
        char resolved[PATH_MAX];
        const char *dir = realpath(config->data_dir, resolved) ? resolved : config->data_dir;
        if (snprintf(address.path, sizeof address.path, "%s/redis.sock", dir) >= (int)sizeof address.path) {
            snprintf(err, err_size, "data-dir: path too long");
            return NULL;
        }
    }
    return bk_cli_redis_connect(&address, err, err_size);
}

static int finish(bk_mail_inbound *in)
{
    int exit_code;
    char line[512];
    bk_mail_inbound_answer(in, &exit_code, line, sizeof line);
    printf("%s\n", line + (strlen(line) > 10 ? 10 : 0));   /* the words, without "550 5.1.1 " */
    bk_mail_inbound_free(in);
    return exit_code;
}

static int receive(const bk_config *config, const char *recipient, const char *sender)
{
    bk_mail_inbound in;
    memset(&in, 0, sizeof in);
    char err[512] = "";
    if (bk_mail_inbound_config_check(config, err, sizeof err) != 0 || !config->mail_reply_address[0]) {
        in.code = BK_ERR_UNAVAILABLE;   /* a setting to fix: the MTA keeps the mail meanwhile */
        snprintf(in.why, sizeof in.why, "%.250s", err[0] && config->mail_reply_address[0] ? err
                 : "mail-reply-address is not set");
        return finish(&in);
    }
    uint8_t secret[BK_SECRET_SIZE];
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/secret", config->data_dir);
    struct stat st;
    if ((!config->secret[0] && stat(path, &st) != 0) ||
        bk_secret_load(config->secret, path, secret, err, sizeof err) != 0) {
        in.code = BK_ERR_UNAVAILABLE;
        snprintf(in.why, sizeof in.why, "cannot read the server's secret (%.200s): check data-dir and permissions", path);
        return finish(&in);
    }
    size_t len = 0;
    char *raw = input_read((size_t)config->mail_max_bytes, &len);
    if (!raw) {
        in.code = BK_ERR_UNAVAILABLE;
        snprintf(in.why, sizeof in.why, "could not read the mail from standard input");
        return finish(&in);
    }
    if (config->lmtp_socket[0] && recipient && sender) {
        /* the server reads it, its attachments checked and stored like uploads (mail_relay.h) */
        char answer[600];
        int exit_code = bk_mail_relay(config->lmtp_socket, sender, recipient, raw, len,
                                      config->mail_parse_seconds + 30, answer, sizeof answer);
        free(raw);
        if (exit_code == 0)
            bk_info("mail to <%.100s> handed to the server (%s): %s", recipient, config->lmtp_socket, answer);
        else
            bk_warn("mail to <%.100s> handed to the server (%s), refused: %s", recipient, config->lmtp_socket, answer);
        printf("%s\n", answer);
        return exit_code;
    }
    bk_mail_inbound_judge(config, secret, raw, len, sender, recipient, &in);
    if (!in.code && !in.dropped) {
        bk_cli_redis *redis = redis_reach(config, err, sizeof err);
        redisReply *reply = NULL;
        if (redis) {
            bk_mail_inbound_buffers buffers;
            const char *argv[3 + BK_MAIL_INBOUND_ARGC];
            size_t lengths[3 + BK_MAIL_INBOUND_ARGC];
            argv[0] = "EVAL";
            argv[1] = bk_lua_mail_inbound;
            argv[2] = "0";
            lengths[0] = 4;
            lengths[1] = strlen(bk_lua_mail_inbound);
            lengths[2] = 1;
            bk_mail_inbound_args(&in, config, &buffers, argv + 3, lengths + 3);
            reply = bk_cli_redis_command(redis, 3, 3 + BK_MAIL_INBOUND_ARGC, argv, lengths);
        }
        char id[64];
        bk_mail_inbound_stored(&in, reply, id);
        if (!reply)
            snprintf(in.why, sizeof in.why, "storage is unavailable (%.200s); try again later",
                     redis ? bk_cli_redis_error(redis) : err);
        if (reply)
            freeReplyObject(reply);
        bk_cli_redis_free(redis);
    }
    free(raw);
    return finish(&in);
}

int bk_mail_cli(const bk_config *config, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "receive") == 0 && argc <= 4)
        return receive(config, argc >= 3 && argv[2][0] ? argv[2] : NULL, argc >= 4 ? argv[3] : NULL);
    fprintf(stderr, "usage: beckon mail receive [RECIPIENT [SENDER]]   (one mail on standard input)\n");
    return EX_USAGE;
}
