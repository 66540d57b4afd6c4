/* config.c - settings: defaults, file, environment, flags, and Redis addresses. */
#include "base/config.h"

#include <beckon/protocol.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BK_SOURCE_ROOT
#define BK_SOURCE_ROOT "."
#endif

/* SETTING_MINUTES: whole or decimal minutes ("0.5"), kept as milliseconds in an int. */
typedef enum { SETTING_STRING, SETTING_INT, SETTING_MINUTES } setting_kind;

typedef struct setting {
    const char *name;
    setting_kind kind;
    size_t offset;
    size_t size;      /* strings: buffer size */
    long min, max;    /* ints: accepted range */
    const char *help;
} setting;

#define STRING_SETTING(n, field, h) \
    { n, SETTING_STRING, offsetof(bk_config, field), sizeof(((bk_config *)0)->field), 0, 0, h }
#define INT_SETTING(n, field, lo, hi, h) \
    { n, SETTING_INT, offsetof(bk_config, field), 0, lo, hi, h }
#define MINUTES_SETTING(n, field, lo, hi, h) \
    { n, SETTING_MINUTES, offsetof(bk_config, field), 0, lo, hi, h }

static const setting settings[] = {
    INT_SETTING("port", port, 0, 65535, "TCP port for HTTP and WebSocket (default 8080)"),
    STRING_SETTING("bind", bind, "address to listen on (default 127.0.0.1)"),
    STRING_SETTING("redis", redis, "redis://[:password@]host:port[/db], unix:///path, or a cluster: "
                                   "redis+cluster://host:port[,host:port...]; unset: run a private redis-server"),
    STRING_SETTING("redis-server", redis_server, "redis-server binary for the private Redis"),
    STRING_SETTING("data-dir", data_dir, "folder for the secret and the private Redis (default ./beckon-data)"),
    STRING_SETTING("web-root", web_root, "folder holding widget/ and examples/"),
    STRING_SETTING("secret", secret, "hex key for signing visitor tokens (default: data-dir/secret)"),
    STRING_SETTING("prefix", prefix, "prefix of every Redis key (default bk:)"),
    STRING_SETTING("log-level", log_level, "debug, info, warn or error (default info)"),
    /* At most BK_MESSAGE_BYTES_MAX: a message sent out again (a push, a page of history) is
     * JSON-escaped, up to six bytes a byte, and must still fit one socket's send queue. */
    INT_SETTING("max-message-bytes", max_message_bytes, 256, BK_MESSAGE_BYTES_MAX,
                "largest WebSocket message accepted, fragments included (default 16384, at most 131072)"),
    INT_SETTING("redis-timeout-ms", redis_timeout_ms, 50, 600000,
                "how long a Redis command may take before the request fails (default 3000)"),
    INT_SETTING("session-hours", session_hours, 1, 24 * 365, "agent login lifetime (default 12)"),
    INT_SETTING("visit-gap-minutes", visit_gap_minutes, 1, 24 * 60,
                "a visit ends after this long without events (default 30)"),
    INT_SETTING("event-retention-days", event_retention_days, 1, 3650,
                "how long browsing events are kept (default 30)"),
    INT_SETTING("invite-daily-budget", invite_daily_budget, 0, 1000,
                "invitations per visitor per day across all rules, 0 = no limit (default 3)"),
    INT_SETTING("invite-quiet-minutes", invite_quiet_minutes, 0, 7 * 24 * 60,
                "no invitation for this long after a visitor dismissed one (default 30)"),
    INT_SETTING("agent-max-chats", agent_max_chats, 1, 100,
                "concurrent chats of an agent whose account sets no max_chats: teams offer no more; "
                "with this many an agent is not available for invitations (default 4)"),
    INT_SETTING("stats-flush-seconds", stats_flush_seconds, 1, 3600,
                "how often each node adds its per-rule evaluated/matched counts to Redis (default 10)"),
    INT_SETTING("rate-messages-per-second", rate_messages_per_second, 1, 1000000000,
                "requests a socket may send per second, sustained (default 10)"),
    INT_SETTING("rate-burst", rate_burst, 1, 1000000000, "requests a socket may send at once (default 30)"),
    INT_SETTING("events-per-minute", events_per_minute, 1, 1000000000,
                "page views and events a visitor socket may send per minute (default 120)"),
    INT_SETTING("max-connections-per-ip", max_connections_per_ip, 1, 1000000,
                "WebSockets one IP address may hold open (default 256)"),
    INT_SETTING("max-http-connections-per-ip", max_http_connections_per_ip, 1, 1000000,
                "plain HTTP connections (not WebSockets) one IP address may hold open (default 32)"),
    STRING_SETTING("trusted-proxies", trusted_proxies,
                   "comma-separated addresses of reverse proxies whose X-Forwarded-For names the client "
                   "(default none: the peer address counts)"),
    INT_SETTING("hello-timeout-seconds", hello_timeout_seconds, 1, 3600,
                "a WebSocket that has not said hello by then is closed (default 20)"),
    INT_SETTING("handshake-timeout-seconds", handshake_timeout_seconds, 1, 3600,
                "an HTTP request or handshake whose headers have not arrived whole by then is dropped (default 10)"),
    INT_SETTING("body-timeout-seconds", body_timeout_seconds, 1, 3600,
                "an HTTP request body that has not arrived whole this long after its headers gets 408 (default 10)"),
    INT_SETTING("conversation-retention-days", conversation_retention_days, 1, 3650,
                "closed conversations expire after this many days, unless their site says otherwise (default 365)"),
    INT_SETTING("auto-ack-seconds", auto_ack_seconds, 1, 86400,
                "a waiting visitor is told their question was seen after this long (default 30)"),
    INT_SETTING("offer-email-seconds", offer_email_seconds, 1, 86400,
                "a visitor still waiting is offered to leave an email after this long (default 600)"),
    MINUTES_SETTING("abandoned-queued-minutes", abandoned_queued_ms, 0, 10080,
                    "a waiting chat is closed when its visitor has had no socket open this long; 0 = never (default 10)"),
    MINUTES_SETTING("idle-active-minutes", idle_active_ms, 0, 10080,
                    "an active chat is closed after this long without a message while its visitor has no socket open; "
                    "0 = never (default 30)"),
    INT_SETTING("webhook-retry-ms", webhook_retry_ms, 1, 300000,
                "a failed webhook is retried after this long, doubling each time up to 5 min (default 1000)"),
    INT_SETTING("webhook-max-attempts", webhook_max_attempts, 1, 100,
                "a webhook event that failed this often is recorded as failed and skipped (default 8)"),
    INT_SETTING("webhook-timeout-ms", webhook_timeout_ms, 100, 120000,
                "how long one webhook request may take, connecting included (default 10000)"),
    STRING_SETTING("rules-file", rules_file,
                   "JSON array of rules added at start when Redis has no rule of that id"),
    STRING_SETTING("smtp-host", smtp_host,
                   "mail relay for transcripts by email (plain SMTP, e.g. localhost); unset: no email"),
    INT_SETTING("smtp-port", smtp_port, 1, 65535, "the relay's port (default 25)"),
    STRING_SETTING("smtp-from", smtp_from, "sender address of the mails (required with smtp-host)"),
    STRING_SETTING("smtp-user", smtp_user, "login at the relay (AUTH PLAIN or LOGIN; loopback relays only)"),
    STRING_SETTING("smtp-password", smtp_password, "password for smtp-user"),
    STRING_SETTING("smtp-helo", smtp_helo, "name given in EHLO (default: this machine's host name)"),
    INT_SETTING("smtp-timeout-seconds", smtp_timeout_seconds, 1, 600,
                "how long one mail may take, waiting and sending (default 20)"),
    STRING_SETTING("mail-reply-address", mail_reply_address,
                   "address whose plus tags carry replies by email back into their conversation "
                   "(reply@support.example; mail to it goes to beckon mail receive or lmtp-socket)"),
    STRING_SETTING("lmtp-socket", lmtp_socket, "unix socket where the server takes inbound mail by LMTP; unset: none"),
    INT_SETTING("mail-max-bytes", mail_max_bytes, 1024, 100 * 1024 * 1024,
                "an inbound mail larger than this is refused (default 10485760)"),
    INT_SETTING("mail-per-sender-hour", mail_per_sender_hour, 1, 100000,
                "mails one sender may write into conversations an hour; more wait (default 30)"),
    INT_SETTING("mail-parse-seconds", mail_parse_seconds, 1, 600,
                "how long reading one inbound mail may take before it is deferred (default 10)"),
    STRING_SETTING("file-store", file_store,
                   "where files in chat are kept: dir (data-dir/files, one node or a shared folder) or redis "
                   "(several nodes without a shared disk) (default dir)"),
    INT_SETTING("file-link-hours", file_link_hours, 1, 24 * 30,
                "how long a signed link to a file stays valid (default 24)"),
    STRING_SETTING("public-url", public_url,
                   "the address people reach Beckon at, e.g. https://chat.example.com: links to files in "
                   "webhooks and transcripts start with it (unset: a transcript's with the Host its visitor "
                   "came by, a webhook's are paths)"),
    INT_SETTING("files-per-minute", files_per_minute, 1, 10000,
                "uploads one visitor or agent may start in a minute (default 10)"),
    INT_SETTING("files-per-minute-per-ip", files_per_minute_per_ip, 1, 100000,
                "uploads visitors from one address may start in a minute (default 30)"),
    STRING_SETTING("clamd-socket", clamd_socket,
                   "unix socket of a running clamd that scans every uploaded file; unset: no scan "
                   "(set but unreachable: uploads are refused)"),
    INT_SETTING("file-check-seconds", file_check_seconds, 1, 3600,
                "how long one uploaded file's checks (type, image re-encoding, virus scan) may take "
                "before the upload is refused as unavailable (default 30)"),
};
#define SETTING_COUNT (sizeof settings / sizeof settings[0])

void bk_config_init(bk_config *config)
{
    memset(config, 0, sizeof *config);
    config->port = 8080;
    snprintf(config->bind, sizeof config->bind, "127.0.0.1");
    snprintf(config->redis_server, sizeof config->redis_server, "redis-server");
    snprintf(config->data_dir, sizeof config->data_dir, "beckon-data");
    snprintf(config->web_root, sizeof config->web_root, "%s", BK_SOURCE_ROOT);
    snprintf(config->prefix, sizeof config->prefix, "bk:");
    snprintf(config->log_level, sizeof config->log_level, "info");
    config->max_message_bytes = 16384;
    config->redis_timeout_ms = 3000;
    config->session_hours = 12;
    config->visit_gap_minutes = 30;
    config->event_retention_days = 30;
    config->invite_daily_budget = 3;
    config->invite_quiet_minutes = 30;
    config->agent_max_chats = 4;
    config->stats_flush_seconds = 10;
    config->rate_messages_per_second = 10;
    config->rate_burst = 30;
    config->events_per_minute = 120;
    config->max_connections_per_ip = 256;
    config->max_http_connections_per_ip = 32;
    config->hello_timeout_seconds = 20;
    config->handshake_timeout_seconds = 10;
    config->body_timeout_seconds = 10;
    config->conversation_retention_days = 365;
    config->auto_ack_seconds = 30;
    config->offer_email_seconds = 600;
    config->abandoned_queued_ms = 10 * 60000;
    config->idle_active_ms = 30 * 60000;
    config->webhook_retry_ms = 1000;
    config->webhook_max_attempts = 8;
    config->webhook_timeout_ms = 10000;
    config->smtp_port = 25;
    config->smtp_timeout_seconds = 20;
    snprintf(config->file_store, sizeof config->file_store, "dir");
    config->file_link_hours = 24;
    config->files_per_minute = 10;
    config->files_per_minute_per_ip = 30;
    config->file_check_seconds = 30;
    config->mail_max_bytes = 10 * 1024 * 1024;
    config->mail_per_sender_hour = 30;
    config->mail_parse_seconds = 10;
}

static const setting *setting_find(const char *name)
{
    for (size_t i = 0; i < SETTING_COUNT; i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

/* "10.0.0.5, ::1": each one an IPv4 or IPv6 address, as the server sees its peers. */
static int addresses_check(const char *name, const char *value, char *err, size_t err_size)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", value);
    for (char *save = NULL, *part = strtok_r(copy, ", ", &save); part; part = strtok_r(NULL, ", ", &save)) {
        unsigned char address[16];
        if (inet_pton(AF_INET, part, address) != 1 && inet_pton(AF_INET6, part, address) != 1) {
            snprintf(err, err_size, "%s: '%s' is not an IP address", name, part);
            return -1;
        }
    }
    return 0;
}

/* http(s)://host[:port][/path], printable ASCII without spaces or quotes: it goes into links
 * as it is. */
static int public_url_check(const char *value, char *err, size_t err_size)
{
    const char *rest = strncmp(value, "https://", 8) == 0 ? value + 8
                       : strncmp(value, "http://", 7) == 0 ? value + 7 : NULL;
    int printable = 1;
    for (const char *c = value; *c; c++)
        printable &= *c > ' ' && *c < 0x7f && *c != '"' && *c != '\\' && *c != '<' && *c != '>';
    if (value[0] && (!rest || !rest[0] || rest[0] == '/' || !printable || strchr(value, '?') || strchr(value, '#'))) {
        snprintf(err, err_size, "public-url: expected http(s)://host[:port][/path], got '%s'", value);
        return -1;
    }
    return 0;
}

int bk_config_set(bk_config *config, const char *name, const char *value, char *err, size_t err_size)
{
    const setting *s = setting_find(name);
    if (!s) {
        snprintf(err, err_size, "unknown setting '%s'", name);
        return -1;
    }
    char *field = (char *)config + s->offset;
    if (s->kind == SETTING_STRING) {
        if (strlen(value) >= s->size) {
            snprintf(err, err_size, "%s: value longer than %zu bytes", name, s->size - 1);
            return -1;
        }
        if (strcmp(name, "trusted-proxies") == 0 && addresses_check(name, value, err, err_size) != 0)
            return -1;
        if (strcmp(name, "public-url") == 0 && public_url_check(value, err, err_size) != 0)
            return -1;
        memcpy(field, value, strlen(value) + 1);
        if (strcmp(name, "public-url") == 0) {  /* links are added to it: no '/' of its own at the end */
            size_t n = strlen(field);
            while (n > 0 && field[n - 1] == '/')
                field[--n] = '\0';
        }
        return 0;
    }
    char *end;
    errno = 0;
    if (s->kind == SETTING_MINUTES) {
        /* digits with an optional fraction, nothing else strtod would take (signs, exponents, inf) */
        size_t digits = strspn(value, "0123456789.");
        const char *dot = strchr(value, '.');
        double minutes = strtod(value, &end);
        if (value[0] == '\0' || value[digits] != '\0' || (dot && strchr(dot + 1, '.')) || strcmp(value, ".") == 0 ||
            end != value + digits || minutes < (double)s->min || minutes > (double)s->max) {
            snprintf(err, err_size, "%s: expected minutes from %ld to %ld (0.5 = 30 s), got '%s'",
                     name, s->min, s->max, value);
            return -1;
        }
        *(int *)(void *)field = (int)(minutes * 60000.0 + 0.5);
        return 0;
    }
    long n = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0' || n < s->min || n > s->max) {
        snprintf(err, err_size, "%s: expected a whole number from %ld to %ld, got '%s'",
                 name, s->min, s->max, value);
        return -1;
    }
    *(int *)(void *)field = (int)n;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int bk_config_load_file(bk_config *config, const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t line_size = 0;
    int line_number = 0, rc = 0;
    while (rc == 0 && getline(&line, &line_size, f) != -1) {
        line_number++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *text = trim(line);
        if (*text == '\0')
            continue;
        char *equals = strchr(text, '=');
        if (!equals) {
            snprintf(err, err_size, "%s:%d: expected 'name = value'", path, line_number);
            rc = -1;
            break;
        }
        *equals = '\0';
        char inner[256];
        if (bk_config_set(config, trim(text), trim(equals + 1), inner, sizeof inner) != 0) {
            snprintf(err, err_size, "%s:%d: %s", path, line_number, inner);
            rc = -1;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

int bk_config_load_env(bk_config *config, char *const *envp, char *err, size_t err_size)
{
    static const char prefix[] = "BECKON_";
    for (; envp && *envp; envp++) {
        const char *entry = *envp;
        if (strncmp(entry, prefix, sizeof prefix - 1) != 0)
            continue;
        const char *equals = strchr(entry, '=');
        if (!equals)
            continue;
        /* BECKON_MAX_MESSAGE_BYTES -> max-message-bytes */
        char name[64];
        size_t len = (size_t)(equals - entry) - (sizeof prefix - 1);
        if (len == 0 || len >= sizeof name)
            continue;
        for (size_t i = 0; i < len; i++) {
            char c = entry[sizeof prefix - 1 + i];
            name[i] = c == '_' ? '-' : (char)tolower((unsigned char)c);
        }
        name[len] = '\0';
        if (strcmp(name, "config") == 0)
            continue; /* chooses the file; read in bk_config_resolve */
        char inner[256];
        if (!setting_find(name)) {
            /* Other programs' variables may share our prefix by accident: say so, go on. */
            fprintf(stderr, "beckon: ignoring unknown variable %.*s\n",
                    (int)(equals - entry), entry);
            continue;
        }
        if (bk_config_set(config, name, equals + 1, inner, sizeof inner) != 0) {
            snprintf(err, err_size, "%.*s: %s", (int)(equals - entry), entry, inner);
            return -1;
        }
    }
    return 0;
}

/* Walks argv once: finds --config, --help, --version, or applies every other flag when
 * apply is set. Flags take "--name value" or "--name=value". */
static bk_config_result flags_walk(bk_config *config, int argc, char **argv, int apply,
                                   int *command_index, char *err, size_t err_size)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0)
            break;
        if (strcmp(arg, "--help") == 0)
            return BK_CONFIG_HELP;
        if (strcmp(arg, "--version") == 0)
            return BK_CONFIG_VERSION;
        char name[64];
        const char *value;
        const char *equals = strchr(arg, '=');
        size_t len = equals ? (size_t)(equals - arg - 2) : strlen(arg + 2);
        if (len == 0 || len >= sizeof name) {
            snprintf(err, err_size, "unknown option '%s'", arg);
            return BK_CONFIG_ERROR;
        }
        memcpy(name, arg + 2, len);
        name[len] = '\0';
        if (strcmp(name, "config") != 0 && !setting_find(name)) {
            snprintf(err, err_size, "unknown option '--%s' (see --help)", name);
            return BK_CONFIG_ERROR;
        }
        if (equals) {
            value = equals + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            snprintf(err, err_size, "option '%s' needs a value", arg);
            return BK_CONFIG_ERROR;
        }
        if (strcmp(name, "config") == 0) {
            if (strlen(value) >= sizeof config->config_file) {
                snprintf(err, err_size, "--config: path too long");
                return BK_CONFIG_ERROR;
            }
            snprintf(config->config_file, sizeof config->config_file, "%s", value);
            continue;
        }
        if (apply && bk_config_set(config, name, value, err, err_size) != 0)
            return BK_CONFIG_ERROR;
    }
    *command_index = i;
    return BK_CONFIG_RUN;
}

bk_config_result bk_config_resolve(bk_config *config, int argc, char **argv, char *const *envp,
                                   int *command_index, char *err, size_t err_size)
{
    /* The file named by a flag or BECKON_CONFIG is read first, so that the
     * environment and the flags can override it. */
    bk_config_result r = flags_walk(config, argc, argv, 0, command_index, err, err_size);
    if (r != BK_CONFIG_RUN)
        return r;
    if (config->config_file[0] == '\0') {
        for (char *const *e = envp; e && *e; e++)
            if (strncmp(*e, "BECKON_CONFIG=", 14) == 0)
                snprintf(config->config_file, sizeof config->config_file, "%s", *e + 14);
    }
    if (config->config_file[0] && bk_config_load_file(config, config->config_file, err, err_size) != 0)
        return BK_CONFIG_ERROR;
    if (bk_config_load_env(config, envp, err, err_size) != 0)
        return BK_CONFIG_ERROR;
    return flags_walk(config, argc, argv, 1, command_index, err, err_size);
}

void bk_config_usage(const char *program)
{
    printf("usage: %s [options]                run the server\n"
           "       %s [options] agent add NAME [agent|marketer|admin]  create an account (password on stdin)\n"
           "       %s [options] agent passwd NAME | agent list | agent remove NAME\n"
           "       %s [options] site add ID ORIGIN... | site list | site remove ID | site set ID KEY VALUE\n"
           "       %s [options] keys migrate          move a Beckon 0.1 Redis's keys into the slotted layout, once\n\n"
           "options (each also BECKON_NAME in the environment and 'name = value' in a config file;\n"
           "flags win over the environment, which wins over the file):\n",
           program, program, program, program, program);
    printf("  --%-20s %s\n", "config FILE", "read settings from FILE (also BECKON_CONFIG)");
    for (size_t i = 0; i < SETTING_COUNT; i++)
        printf("  --%-20s %s\n", settings[i].name, settings[i].help);
    printf("  --%-20s %s\n  --%-20s %s\n", "help", "this text", "version", "print the version");
}

static int percent_decode(const char *in, size_t len, char *out, size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char)in[i + 1]) ||
                !isxdigit((unsigned char)in[i + 2]))
                return -1;
            char hex[3] = { in[i + 1], in[i + 2], 0 };
            c = (char)strtol(hex, NULL, 16);
            if (c == '\0')
                return -1;  /* would cut the credential short */
            i += 2;
        }
        if (o + 1 >= out_size)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static int parse_db(const char *s, int *db)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || n < 0 || n > 15)
        return -1;
    *db = (int)n;
    return 0;
}

/* host[:port] or [v6]:port, out of text's first length bytes; the port defaults to 6379. */
static int host_port_parse(const char *url, const char *text, size_t length, char *host, size_t host_size,
                           int *port_out, char *err, size_t err_size)
{
    char hostport[300];
    if (length == 0 || length >= sizeof hostport) {
        snprintf(err, err_size, "redis address '%s': missing host", url);
        return -1;
    }
    memcpy(hostport, text, length);
    hostport[length] = '\0';
    *port_out = 6379;
    char *name = hostport;
    char *port = NULL;
    if (name[0] == '[') { /* [::1]:6379 */
        char *close = strchr(name, ']');
        if (!close) {
            snprintf(err, err_size, "redis address '%s': unclosed '['", url);
            return -1;
        }
        *close = '\0';
        name++;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0') {
            snprintf(err, err_size, "redis address '%s': junk after ']'", url);
            return -1;
        }
    } else {
        port = strchr(name, ':');
        if (port)
            *port++ = '\0';
    }
    if (*name == '\0' || strlen(name) >= host_size) {
        snprintf(err, err_size, "redis address '%s': missing host", url);
        return -1;
    }
    snprintf(host, host_size, "%s", name);
    if (port) {
        char *end;
        long n = strtol(port, &end, 10);
        if (end == port || *end != '\0' || n < 1 || n > 65535) {
            snprintf(err, err_size, "redis address '%s': port must be 1..65535", url);
            return -1;
        }
        *port_out = (int)n;
    }
    return 0;
}

int bk_redis_address_parse(const char *url, bk_redis_address *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        const char *query = strchr(path, '?');
        size_t len = query ? (size_t)(query - path) : strlen(path);
        if (len == 0 || path[0] != '/' || len >= sizeof out->path) {
            snprintf(err, err_size, "redis address '%s': expected unix:///absolute/path", url);
            return -1;
        }
        out->is_unix = 1;
        memcpy(out->path, path, len);
        out->path[len] = '\0';
        if (query && (strncmp(query, "?db=", 4) != 0 || parse_db(query + 4, &out->db) != 0)) {
            snprintf(err, err_size, "redis address '%s': expected ?db=0..15", url);
            return -1;
        }
        return 0;
    }
    const char *rest;
    if (strncmp(url, "redis://", 8) == 0) {
        rest = url + 8;
    } else if (strncmp(url, "redis+cluster://", 16) == 0) {
        rest = url + 16;
        out->is_cluster = 1;
    } else {
        snprintf(err, err_size, "redis address '%s': expected redis://host:port, "
                 "redis+cluster://host:port[,host:port...] or unix:///path", url);
        return -1;
    }
    const char *at = strrchr(rest, '@');
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (!colon) {
            snprintf(err, err_size, "redis address: expected [user]:password@ before the host");
            return -1;
        }
        if (percent_decode(rest, (size_t)(colon - rest), out->username, sizeof out->username) != 0 ||
            percent_decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof out->password) != 0) {
            snprintf(err, err_size, "redis address: bad user or password encoding");
            return -1;
        }
        rest = at + 1;
    }
    const char *slash = strchr(rest, '/');
    size_t hosts_length = slash ? (size_t)(slash - rest) : strlen(rest);
    if (!out->is_cluster) {
        if (host_port_parse(url, rest, hosts_length, out->host, sizeof out->host, &out->port, err, err_size) != 0)
            return -1;
    } else {
        /* Any node leads to the others: the seeds are only where to start asking. */
        for (const char *seed = rest; seed <= rest + hosts_length;) {
            const char *comma = memchr(seed, ',', (size_t)(rest + hosts_length - seed));
            size_t length = comma ? (size_t)(comma - seed) : (size_t)(rest + hosts_length - seed);
            if (out->seed_count == BK_REDIS_SEEDS_MAX) {
                snprintf(err, err_size, "redis address '%s': at most %d seed nodes", url, BK_REDIS_SEEDS_MAX);
                return -1;
            }
            bk_redis_seed *s = &out->seeds[out->seed_count++];
            if (host_port_parse(url, seed, length, s->host, sizeof s->host, &s->port, err, err_size) != 0)
                return -1;
            seed += length + 1;
        }
        snprintf(out->host, sizeof out->host, "%s", out->seeds[0].host);
        out->port = out->seeds[0].port;
    }
    if (slash && slash[1] != '\0' && parse_db(slash + 1, &out->db) != 0) {
        snprintf(err, err_size, "redis address '%s': database must be 0..15", url);
        return -1;
    }
    if (out->is_cluster && out->db != 0) {
        snprintf(err, err_size, "redis address '%s': a cluster has only database 0", url);
        return -1;
    }
    return 0;
}
