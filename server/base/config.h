/* config.h - settings from defaults, a config file, BECKON_* variables and flags.
 *
 * Precedence, lowest first: built-in defaults < config file < environment < flags.
 * Every setting has one name used everywhere: the flag --max-message-bytes, the
 * file key max-message-bytes, the variable BECKON_MAX_MESSAGE_BYTES. */
#ifndef BK_CONFIG_H
#define BK_CONFIG_H

#include <limits.h>
#include <stddef.h>

typedef struct bk_config {
    char bind[64];
    int port;
    char redis[1024];        /* empty: start a private redis-server */
    char redis_server[PATH_MAX];
    char data_dir[PATH_MAX];
    char web_root[PATH_MAX]; /* holds widget/ and examples/ */
    char secret[129];        /* hex; empty: kept in data_dir/secret */
    char prefix[32];         /* Redis key prefix */
    char log_level[16];
    char config_file[PATH_MAX];
    int max_message_bytes;
    int redis_timeout_ms;
    int session_hours;
    int visit_gap_minutes;
    int event_retention_days;
    int invite_daily_budget;
    int invite_quiet_minutes;
    int agent_max_chats;
    int stats_flush_seconds;
    int rate_messages_per_second;
    int rate_burst;
    int events_per_minute;
    int max_connections_per_ip;
    int max_http_connections_per_ip;
    char trusted_proxies[512];  /* addresses whose X-Forwarded-For is believed, comma-separated */
    int hello_timeout_seconds;
    int handshake_timeout_seconds;
    int body_timeout_seconds;
    int conversation_retention_days;
    int auto_ack_seconds;
    int offer_email_seconds;
    int abandoned_queued_ms;   /* settings in minutes (decimals allowed), kept in ms; 0 = never */
    int idle_active_ms;
    int webhook_retry_ms;      /* first retry delay; doubles, capped at 5 minutes */
    int webhook_max_attempts;
    int webhook_timeout_ms;
    char rules_file[PATH_MAX];
    /* email (transcripts): plain SMTP to a relay; empty smtp_host = no email */
    char smtp_host[256];
    int smtp_port;
    char smtp_from[255];
    char smtp_user[256];
    char smtp_password[256];
    char smtp_helo[256];     /* empty: this machine's host name */
    int smtp_timeout_seconds;
    /* email as a channel (mail/mail_inbound.h): replies come back into their conversation */
    char mail_reply_address[255];  /* reply@support.example -> reply+TOKEN@...; empty: no replies by email */
    char lmtp_socket[PATH_MAX];     /* the LMTP listener's unix socket; empty: none */
    int mail_max_bytes;             /* an inbound mail larger than this is refused */
    int mail_per_sender_hour;       /* mails one sender may write into conversations an hour */
    int mail_parse_seconds;         /* deadline of one inbound mail's parse on the thread pool */
    /* files in chat (server/files/) */
    char file_store[16];     /* "dir" (data-dir/files) or "redis" */
    int file_link_hours;     /* how long a signed link to a file is valid */
    char public_url[256];    /* "https://chat.example.com" (no trailing '/'), or "": where links
                              * that leave the browser (webhooks, mails) point */
    int files_per_minute;    /* uploads a visitor or agent may start in a minute */
    int files_per_minute_per_ip;  /* uploads visitors from one address may start in a minute */
    /* files in chat (files/file_check.h) */
    char clamd_socket[PATH_MAX];  /* a running clamd's unix socket; empty: no virus scan */
    int file_check_seconds;       /* deadline of one file's checks: image work and the scan */
} bk_config;

typedef enum {
    BK_CONFIG_RUN = 0,
    BK_CONFIG_HELP = 1,
    BK_CONFIG_VERSION = 2,
    BK_CONFIG_ERROR = -1,
} bk_config_result;

void bk_config_init(bk_config *config);

/* Sets one setting by its name ("port", "data-dir", ...). Returns 0 or -1 with err filled. */
int bk_config_set(bk_config *config, const char *name, const char *value, char *err, size_t err_size);

/* Reads "name = value" lines; '#' starts a comment. */
int bk_config_load_file(bk_config *config, const char *path, char *err, size_t err_size);

/* Applies every BECKON_NAME=value of envp (NULL-terminated). */
int bk_config_load_env(bk_config *config, char *const *envp, char *err, size_t err_size);

/* Resolves everything in order of precedence. Options stop at the first word that is not
 * one; *command_index is set to it (argc when there is none), e.g. "agent add alice". */
bk_config_result bk_config_resolve(bk_config *config, int argc, char **argv, char *const *envp,
                                   int *command_index, char *err, size_t err_size);

void bk_config_usage(const char *program);

/* A parsed --redis address: redis://[[user]:password@]host[:port][/db], unix:///path[?db=N], or
 * a Redis Cluster given by some of its nodes,
 * redis+cluster://[[user]:password@]host[:port][,host[:port]...] (database 0 only: a cluster has
 * no other). */
#define BK_REDIS_SEEDS_MAX 8

typedef struct bk_redis_seed {
    char host[256];
    int port;
} bk_redis_seed;

typedef struct bk_redis_address {
    int is_unix;
    int is_cluster;  /* the seeds are nodes of one cluster; host and port are the first */
    char host[256];
    int port;
    char path[PATH_MAX];
    char username[128];
    char password[256];
    int db;
    bk_redis_seed seeds[BK_REDIS_SEEDS_MAX];
    int seed_count;
} bk_redis_address;

int bk_redis_address_parse(const char *url, bk_redis_address *out, char *err, size_t err_size);

#endif
