/* test_config.c - settings: defaults < config file < BECKON_* environment < flags,
 * and the --redis address syntax.
 *
 * CHECK evaluates its condition twice, so calls are made first and only results checked. */
#include "check.h"

#include "base/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORDS 12

static char temp_dir[64];
static char file_path[128];

/* Replaces every "@FILE" in s with the temp config file's path. */
static void substitute(const char *s, char *out, size_t out_size)
{
    size_t o = 0;
    while (*s && o + 1 < out_size) {
        if (strncmp(s, "@FILE", 5) == 0) {
            o += (size_t)snprintf(out + o, out_size - o, "%s", file_path);
            s += 5;
        } else {
            out[o++] = *s++;
        }
    }
    out[o < out_size ? o : out_size - 1] = '\0';
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

/* Renders the named settings ("port bind") as "port=8080 bind=127.0.0.1". */
static void render(const bk_config *c, const char *names, char *out, size_t out_size)
{
    char list[256];
    snprintf(list, sizeof list, "%s", names);
    size_t o = 0;
    out[0] = '\0';
    for (char *save, *name = strtok_r(list, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
        char value[PATH_MAX + 16];
        if (strcmp(name, "port") == 0) snprintf(value, sizeof value, "%d", c->port);
        else if (strcmp(name, "bind") == 0) snprintf(value, sizeof value, "%s", c->bind);
        else if (strcmp(name, "redis") == 0) snprintf(value, sizeof value, "%s", c->redis);
        else if (strcmp(name, "redis-server") == 0) snprintf(value, sizeof value, "%s", c->redis_server);
        else if (strcmp(name, "data-dir") == 0) snprintf(value, sizeof value, "%s", c->data_dir);
        else if (strcmp(name, "secret") == 0) snprintf(value, sizeof value, "%s", c->secret);
        else if (strcmp(name, "prefix") == 0) snprintf(value, sizeof value, "%s", c->prefix);
        else if (strcmp(name, "log-level") == 0) snprintf(value, sizeof value, "%s", c->log_level);
        else if (strcmp(name, "config") == 0) snprintf(value, sizeof value, "%s", c->config_file);
        else if (strcmp(name, "max-message-bytes") == 0) snprintf(value, sizeof value, "%d", c->max_message_bytes);
        else if (strcmp(name, "redis-timeout-ms") == 0) snprintf(value, sizeof value, "%d", c->redis_timeout_ms);
        else if (strcmp(name, "session-hours") == 0) snprintf(value, sizeof value, "%d", c->session_hours);
        else if (strcmp(name, "abandoned-queued-minutes") == 0) snprintf(value, sizeof value, "%dms", c->abandoned_queued_ms);
        else if (strcmp(name, "idle-active-minutes") == 0) snprintf(value, sizeof value, "%dms", c->idle_active_ms);
        else snprintf(value, sizeof value, "<no such setting in render()>");
        o += (size_t)snprintf(out + o, out_size > o ? out_size - o : 0, "%s%s=%s", o ? " " : "", name, value);
    }
}

/* One run of bk_config_resolve: argv after the program name, the environment, and the
 * config file's text (written to @FILE when not NULL). */
typedef struct resolve_row {
    const char *name;
    const char *args[MAX_WORDS];
    const char *env[MAX_WORDS];
    const char *file;
    bk_config_result result;
    const char *show;   /* RUN: settings to render; ERROR: NULL */
    const char *want;   /* RUN: rendered settings; ERROR: the message; "@FILE" is substituted */
} resolve_row;

static const char *result_name(bk_config_result r)
{
    switch (r) {
    case BK_CONFIG_RUN: return "RUN";
    case BK_CONFIG_HELP: return "HELP";
    case BK_CONFIG_VERSION: return "VERSION";
    case BK_CONFIG_ERROR: return "ERROR";
    }
    return "?";
}

static bk_config_result run_resolve(const resolve_row *row, bk_config *config, int *command_index,
                                    char *err, size_t err_size)
{
    static char words[2 * MAX_WORDS][PATH_MAX + 64];
    char *argv[MAX_WORDS + 2], *envp[MAX_WORDS + 1];
    int argc = 0, envc = 0, w = 0;
    argv[argc++] = "beckon";
    for (int i = 0; row->args[i]; i++, w++) {
        substitute(row->args[i], words[w], sizeof words[w]);
        argv[argc++] = words[w];
    }
    argv[argc] = NULL;
    for (int i = 0; row->env[i]; i++, w++) {
        substitute(row->env[i], words[w], sizeof words[w]);
        envp[envc++] = words[w];
    }
    envp[envc] = NULL;
    unlink(file_path);
    if (row->file)
        write_file(file_path, row->file);
    bk_config_init(config);
    err[0] = '\0';
    *command_index = -1;
    return bk_config_resolve(config, argc, argv, envp, command_index, err, err_size);
}

static void check_resolve_rows(const char *group, const resolve_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const resolve_row *row = &rows[i];
        bk_config config;
        int command_index;
        char err[512], got[2048], want[2048];
        bk_config_result r = run_resolve(row, &config, &command_index, err, sizeof err);
        substitute(row->want ? row->want : "", want, sizeof want);
        if (r == BK_CONFIG_RUN && row->show)
            render(&config, row->show, got, sizeof got);
        else if (r == BK_CONFIG_ERROR)
            snprintf(got, sizeof got, "%s", err);
        else
            got[0] = '\0';
        char got_line[2600], want_line[2600];
        snprintf(got_line, sizeof got_line, "%s %s", result_name(r), got);
        snprintf(want_line, sizeof want_line, "%s %s", result_name(row->result), want);
        CHECK_STR(got_line, want_line, "%s: %s", group, row->name);
    }
}

#define ROWS(a) (a), sizeof(a) / sizeof((a)[0])

/* With nothing given, every setting has its documented default. */
static const resolve_row defaults_rows[] = {
    { "no flags, no environment, no file", {0}, {0}, NULL, BK_CONFIG_RUN,
      "port bind redis redis-server data-dir secret prefix log-level config max-message-bytes "
      "redis-timeout-ms session-hours",
      "port=8080 bind=127.0.0.1 redis= redis-server=redis-server data-dir=beckon-data secret= "
      "prefix=bk: log-level=info config= max-message-bytes=16384 redis-timeout-ms=3000 session-hours=12" },
    { "environment without BECKON_ variables changes nothing", {0},
      { "PORT=1", "HOME=/root", "BECKONPORT=2", "beckon_port=3" }, NULL, BK_CONFIG_RUN,
      "port", "port=8080" },
};

/* Each layer overrides the ones below it and leaves alone what it does not set. */
static const resolve_row precedence_rows[] = {
    { "file via --config FILE", { "--config", "@FILE" }, {0}, "port = 9001\n", BK_CONFIG_RUN,
      "port config", "port=9001 config=@FILE" },
    { "file via --config=FILE", { "--config=@FILE" }, {0}, "port = 9001\n", BK_CONFIG_RUN,
      "port", "port=9001" },
    { "file via BECKON_CONFIG", {0}, { "BECKON_CONFIG=@FILE" }, "port = 9001\n", BK_CONFIG_RUN,
      "port config", "port=9001 config=@FILE" },
    { "--config wins over BECKON_CONFIG", { "--config", "@FILE" },
      { "BECKON_CONFIG=/nonexistent/beckon.conf" }, "port = 9001\n", BK_CONFIG_RUN,
      "port", "port=9001" },
    { "environment beats file", { "--config", "@FILE" }, { "BECKON_PORT=9002" },
      "port = 9001\n", BK_CONFIG_RUN, "port", "port=9002" },
    { "flag beats environment and file", { "--config", "@FILE", "--port", "9003" },
      { "BECKON_PORT=9002" }, "port = 9001\n", BK_CONFIG_RUN, "port", "port=9003" },
    { "flag before --config still beats the file", { "--port=9003", "--config=@FILE" },
      {0}, "port = 9001\n", BK_CONFIG_RUN, "port", "port=9003" },
    { "flag beats environment without a file", { "--port=9003" }, { "BECKON_PORT=9002" },
      NULL, BK_CONFIG_RUN, "port", "port=9003" },
    { "each layer keeps what higher layers do not set", { "--config", "@FILE", "--prefix", "flag:" },
      { "BECKON_BIND=0.0.0.0", "BECKON_PREFIX=env:" },
      "port = 9001\nbind = 10.0.0.1\nprefix = file:\n", BK_CONFIG_RUN,
      "port bind prefix log-level", "port=9001 bind=0.0.0.0 prefix=flag: log-level=info" },
    { "last of a repeated flag wins", { "--port", "1", "--port=2" }, {0}, NULL, BK_CONFIG_RUN,
      "port", "port=2" },
    { "BECKON_MAX_MESSAGE_BYTES maps to max-message-bytes", {0},
      { "BECKON_MAX_MESSAGE_BYTES=65536" }, NULL, BK_CONFIG_RUN,
      "max-message-bytes", "max-message-bytes=65536" },
    { "unknown BECKON_ variable is ignored", {0}, { "BECKON_NO_SUCH_THING=1" }, NULL, BK_CONFIG_RUN,
      "port", "port=8080" },
};

/* Both flag spellings reach every setting by the same name. */
static const resolve_row flag_form_rows[] = {
    { "--name value for strings", { "--bind", "0.0.0.0", "--data-dir", "/var/lib/beckon" }, {0}, NULL,
      BK_CONFIG_RUN, "bind data-dir", "bind=0.0.0.0 data-dir=/var/lib/beckon" },
    { "--name=value for strings", { "--bind=0.0.0.0", "--data-dir=/var/lib/beckon" }, {0}, NULL,
      BK_CONFIG_RUN, "bind data-dir", "bind=0.0.0.0 data-dir=/var/lib/beckon" },
    { "--name=value keeps later '=' in the value", { "--redis=redis://:a=b@host" }, {0}, NULL,
      BK_CONFIG_RUN, "redis", "redis=redis://:a=b@host" },
    { "--name= sets an empty string", { "--secret=" }, {0}, NULL, BK_CONFIG_RUN, "secret", "secret=" },
    { "every int setting by flag", { "--max-message-bytes", "256", "--redis-timeout-ms=50",
      "--session-hours", "8760" }, {0}, NULL, BK_CONFIG_RUN,
      "max-message-bytes redis-timeout-ms session-hours",
      "max-message-bytes=256 redis-timeout-ms=50 session-hours=8760" },
    { "int range ends are accepted", { "--port", "0", "--max-message-bytes=131072" }, {0}, NULL,
      BK_CONFIG_RUN, "port max-message-bytes", "port=0 max-message-bytes=131072" },
    { "--port 65535 accepted", { "--port", "65535" }, {0}, NULL, BK_CONFIG_RUN, "port", "port=65535" },
    /* minutes settings take fractions and are kept in ms */
    { "minutes: defaults", {0}, {0}, NULL, BK_CONFIG_RUN, "abandoned-queued-minutes idle-active-minutes",
      "abandoned-queued-minutes=600000ms idle-active-minutes=1800000ms" },
    { "minutes: a fraction, 0, the week", { "--abandoned-queued-minutes", "0.05", "--idle-active-minutes=0" },
      { "BECKON_ABANDONED_QUEUED_MINUTES=10080" }, NULL, BK_CONFIG_RUN, "abandoned-queued-minutes idle-active-minutes",
      "abandoned-queued-minutes=3000ms idle-active-minutes=0ms" },
    { "minutes: from the environment, '.5' and '2.'", {0},
      { "BECKON_ABANDONED_QUEUED_MINUTES=.5", "BECKON_IDLE_ACTIVE_MINUTES=2." }, NULL, BK_CONFIG_RUN,
      "abandoned-queued-minutes idle-active-minutes", "abandoned-queued-minutes=30000ms idle-active-minutes=120000ms" },
    { "minutes: the largest", { "--idle-active-minutes", "10080" }, {0}, NULL, BK_CONFIG_RUN,
      "idle-active-minutes", "idle-active-minutes=604800000ms" },
};

/* --help and --version stop the walk before any value is checked or any file read. */
static const resolve_row help_rows[] = {
    { "--help", { "--help" }, {0}, NULL, BK_CONFIG_HELP, NULL, NULL },
    { "--version", { "--version" }, {0}, NULL, BK_CONFIG_VERSION, NULL, NULL },
    { "--help after other flags", { "--port", "9000", "--help" }, {0}, NULL, BK_CONFIG_HELP, NULL, NULL },
    { "--help wins over a bad value before it", { "--port", "70000", "--help" }, {0}, NULL,
      BK_CONFIG_HELP, NULL, NULL },
    { "--help wins over a missing config file", { "--config", "/nonexistent/x.conf", "--help" }, {0},
      NULL, BK_CONFIG_HELP, NULL, NULL },
    { "--help before an unknown flag", { "--help", "--bogus" }, {0}, NULL, BK_CONFIG_HELP, NULL, NULL },
    { "an unknown flag before --help is an error", { "--bogus", "--help" }, {0}, NULL, BK_CONFIG_ERROR,
      NULL, "unknown option '--bogus' (see --help)" },
    { "--help after the command belongs to the command", { "agent", "--help" }, {0}, NULL,
      BK_CONFIG_RUN, "port", "port=8080" },
};

/* Every error names what is wrong: the flag, the variable, or file:line. */
static const resolve_row error_rows[] = {
    { "unknown flag followed by a word", { "--bogus", "1" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "unknown option '--bogus' (see --help)" },
    /* An unknown flag that is the last word ("beckon --verbose") is called unknown, not
     * "needs a value", which would suggest the option exists (a regression test). */
    { "unknown flag as the last word is called unknown", { "--bogus" }, {0}, NULL,
      BK_CONFIG_ERROR, NULL, "unknown option '--bogus' (see --help)" },
    { "unknown flag with =value", { "--bogus=1" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "unknown option '--bogus' (see --help)" },
    { "unknown flag after a good one", { "--port", "1", "--colour", "red" }, {0}, NULL, BK_CONFIG_ERROR,
      NULL, "unknown option '--colour' (see --help)" },
    { "bare --", { "--" }, {0}, NULL, BK_CONFIG_ERROR, NULL, "unknown option '--'" },
    { "--=x", { "--=x" }, {0}, NULL, BK_CONFIG_ERROR, NULL, "unknown option '--=x'" },
    { "flag without its value", { "--port" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "option '--port' needs a value" },
    { "--config without its value", { "--config" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "option '--config' needs a value" },
    { "minutes: more than a week", { "--idle-active-minutes", "10080.5" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "idle-active-minutes: expected minutes from 0 to 10080 (0.5 = 30 s), got '10080.5'" },
    { "minutes: negative", { "--abandoned-queued-minutes", "-1" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "abandoned-queued-minutes: expected minutes from 0 to 10080 (0.5 = 30 s), got '-1'" },
    { "minutes: an exponent", { "--abandoned-queued-minutes", "1e2" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "abandoned-queued-minutes: expected minutes from 0 to 10080 (0.5 = 30 s), got '1e2'" },
    { "minutes: two dots", { "--abandoned-queued-minutes", "1.2.3" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "abandoned-queued-minutes: expected minutes from 0 to 10080 (0.5 = 30 s), got '1.2.3'" },
    { "minutes: a lone dot", { "--abandoned-queued-minutes", "." }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "abandoned-queued-minutes: expected minutes from 0 to 10080 (0.5 = 30 s), got '.'" },
    { "minutes: empty", { "--abandoned-queued-minutes=" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "abandoned-queued-minutes: expected minutes from 0 to 10080 (0.5 = 30 s), got ''" },
    { "minutes: inf", { "--abandoned-queued-minutes", "inf" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "abandoned-queued-minutes: expected minutes from 0 to 10080 (0.5 = 30 s), got 'inf'" },
    { "port 70000 out of range", { "--port", "70000" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "port: expected a whole number from 0 to 65535, got '70000'" },
    { "port -1 out of range", { "--port=-1" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "port: expected a whole number from 0 to 65535, got '-1'" },
    { "port not a number", { "--port", "http" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "port: expected a whole number from 0 to 65535, got 'http'" },
    { "port with trailing junk", { "--port", "80x" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "port: expected a whole number from 0 to 65535, got '80x'" },
    { "port empty", { "--port=" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "port: expected a whole number from 0 to 65535, got ''" },
    { "port beyond long", { "--port", "99999999999999999999999" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "port: expected a whole number from 0 to 65535, got '99999999999999999999999'" },
    { "max-message-bytes 10 below 256", { "--max-message-bytes", "10" }, {0}, NULL, BK_CONFIG_ERROR,
      NULL, "max-message-bytes: expected a whole number from 256 to 131072, got '10'" },
    { "max-message-bytes above 128 KiB", { "--max-message-bytes=131073" }, {0}, NULL, BK_CONFIG_ERROR,
      NULL, "max-message-bytes: expected a whole number from 256 to 131072, got '131073'" },
    { "redis-timeout-ms 49", { "--redis-timeout-ms", "49" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "redis-timeout-ms: expected a whole number from 50 to 600000, got '49'" },
    { "session-hours 0", { "--session-hours", "0" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "session-hours: expected a whole number from 1 to 8760, got '0'" },
    { "string longer than its field", { "--prefix",
      "0123456789012345678901234567890123456789" }, {0}, NULL, BK_CONFIG_ERROR, NULL,
      "prefix: value longer than 31 bytes" },
    { "environment value out of range names the variable", {0}, { "BECKON_PORT=70000" }, NULL,
      BK_CONFIG_ERROR, NULL, "BECKON_PORT: port: expected a whole number from 0 to 65535, got '70000'" },
    { "BECKON_MAX_MESSAGE_BYTES=10 names the variable", {0}, { "BECKON_MAX_MESSAGE_BYTES=10" }, NULL,
      BK_CONFIG_ERROR, NULL,
      "BECKON_MAX_MESSAGE_BYTES: max-message-bytes: expected a whole number from 256 to 131072, got '10'" },
    { "a bad environment value is an error even when a flag overrides it", { "--port", "1" },
      { "BECKON_PORT=x" }, NULL, BK_CONFIG_ERROR, NULL,
      "BECKON_PORT: port: expected a whole number from 0 to 65535, got 'x'" },
    { "missing config file", { "--config", "/nonexistent/beckon.conf" }, {0}, NULL, BK_CONFIG_ERROR,
      NULL, "/nonexistent/beckon.conf: No such file or directory" },
    { "missing BECKON_CONFIG file", {0}, { "BECKON_CONFIG=/nonexistent/beckon.conf" }, NULL,
      BK_CONFIG_ERROR, NULL, "/nonexistent/beckon.conf: No such file or directory" },
    { "file line without '=' names file:line", { "--config", "@FILE" }, {0},
      "# settings\n\nport 9000\n", BK_CONFIG_ERROR, NULL, "@FILE:3: expected 'name = value'" },
    { "file unknown key names file:line", { "--config", "@FILE" }, {0},
      "bind = 0.0.0.0\nbogus = 1\n", BK_CONFIG_ERROR, NULL, "@FILE:2: unknown setting 'bogus'" },
    { "file value out of range names file:line", { "--config", "@FILE" }, {0},
      "\n\n\n\nport = 70000\n", BK_CONFIG_ERROR, NULL,
      "@FILE:5: port: expected a whole number from 0 to 65535, got '70000'" },
    { "file '--port' style key is unknown", { "--config", "@FILE" }, {0}, "--port = 1\n",
      BK_CONFIG_ERROR, NULL, "@FILE:1: unknown setting '--port'" },
    { "file empty key", { "--config", "@FILE" }, {0}, " = 1\n", BK_CONFIG_ERROR, NULL,
      "@FILE:1: unknown setting ''" },
    { "a file error stops before a good flag is applied", { "--config", "@FILE", "--port", "1" }, {0},
      "port = x\n", BK_CONFIG_ERROR, NULL, "@FILE:1: port: expected a whole number from 0 to 65535, got 'x'" },
};

/* The config file syntax: "name = value", '#' comments, blank lines, any spacing. */
static const resolve_row file_syntax_rows[] = {
    { "comments, blank lines and spacing", { "--config", "@FILE" }, {0},
      "# Beckon settings\n\n   port=9001   \n\tbind\t=\t0.0.0.0 # all interfaces\n#port = 1\n",
      BK_CONFIG_RUN, "port bind", "port=9001 bind=0.0.0.0" },
    { "CRLF line ends", { "--config", "@FILE" }, {0}, "port = 9001\r\nbind = ::1\r\n",
      BK_CONFIG_RUN, "port bind", "port=9001 bind=::1" },
    { "last line without newline", { "--config", "@FILE" }, {0}, "port = 9001", BK_CONFIG_RUN,
      "port", "port=9001" },
    { "only the first '=' separates name and value", { "--config", "@FILE" }, {0},
      "redis = redis://:a=b@host:6379\n", BK_CONFIG_RUN, "redis", "redis=redis://:a=b@host:6379" },
    { "empty file", { "--config", "@FILE" }, {0}, "", BK_CONFIG_RUN, "port", "port=8080" },
    { "later line wins", { "--config", "@FILE" }, {0}, "port = 1\nport = 2\n", BK_CONFIG_RUN,
      "port", "port=2" },
    { "every setting by its file key", { "--config", "@FILE" }, {0},
      "port = 1\nbind = b\nredis = redis://r\nredis-server = /usr/bin/redis-server\n"
      "data-dir = /d\nweb-root = /w\nsecret = ab\nprefix = p:\nlog-level = debug\n"
      "max-message-bytes = 1024\nredis-timeout-ms = 100\nsession-hours = 2\n",
      BK_CONFIG_RUN,
      "port bind redis redis-server data-dir secret prefix log-level max-message-bytes "
      "redis-timeout-ms session-hours",
      "port=1 bind=b redis=redis://r redis-server=/usr/bin/redis-server data-dir=/d secret=ab prefix=p: "
      "log-level=debug max-message-bytes=1024 redis-timeout-ms=100 session-hours=2" },
};

static void test_resolve(void)
{
    check_resolve_rows("defaults", ROWS(defaults_rows));
    check_resolve_rows("precedence", ROWS(precedence_rows));
    check_resolve_rows("flag forms", ROWS(flag_form_rows));
    check_resolve_rows("help", ROWS(help_rows));
    check_resolve_rows("error", ROWS(error_rows));
    check_resolve_rows("file syntax", ROWS(file_syntax_rows));
}

/* Options stop at the first word that is not one; the command starts there. */
static void test_command_index(void)
{
    static const struct {
        const char *name;
        const char *args[MAX_WORDS];
        int want_index;
        int want_port;
    } rows[] = {
        { "no words at all: argc", {0}, 1, 8080 },
        { "command alone", { "agent", "add", "alice" }, 1, 8080 },
        { "after --name value", { "--port", "9000", "agent", "add", "alice" }, 3, 9000 },
        { "after --name=value", { "--port=9000", "agent", "add", "alice" }, 2, 9000 },
        { "after --config FILE", { "--config", "@FILE", "agent", "list" }, 3, 8080 },
        { "flags only: argc", { "--port", "9000", "--bind=::" }, 4, 9000 },
        { "flags after the command are the command's", { "agent", "--port", "9000" }, 1, 8080 },
        { "a single-dash word is not an option", { "-p", "9000" }, 1, 8080 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        resolve_row row = { rows[i].name, {0}, {0}, "", BK_CONFIG_RUN, NULL, NULL };
        memcpy(row.args, rows[i].args, sizeof row.args);
        bk_config config;
        int command_index;
        char err[512];
        bk_config_result r = run_resolve(&row, &config, &command_index, err, sizeof err);
        CHECK(r == BK_CONFIG_RUN && command_index == rows[i].want_index && config.port == rows[i].want_port,
              "command index: %s (want index %d port %d; got %s index %d port %d %s)", rows[i].name,
              rows[i].want_index, rows[i].want_port, result_name(r), command_index, config.port, err);
    }
}

/* bk_config_load_env on its own: BECKON_NAME_WITH_UNDERSCORES -> name-with-dashes. */
static void test_load_env(void)
{
    static const struct {
        const char *name;
        const char *env[6];
        int rc;
        const char *show;
        const char *want;   /* rendered settings, or the error */
    } rows[] = {
        { "BECKON_MAX_MESSAGE_BYTES -> max-message-bytes", { "BECKON_MAX_MESSAGE_BYTES=65536" }, 0,
          "max-message-bytes", "max-message-bytes=65536" },
        { "BECKON_DATA_DIR -> data-dir", { "BECKON_DATA_DIR=/srv/beckon" }, 0, "data-dir", "data-dir=/srv/beckon" },
        { "BECKON_LOG_LEVEL -> log-level", { "BECKON_LOG_LEVEL=debug" }, 0, "log-level", "log-level=debug" },
        { "BECKON_REDIS_TIMEOUT_MS -> redis-timeout-ms", { "BECKON_REDIS_TIMEOUT_MS=100" }, 0,
          "redis-timeout-ms", "redis-timeout-ms=100" },
        { "BECKON_REDIS_SERVER -> redis-server", { "BECKON_REDIS_SERVER=/opt/redis" }, 0,
          "redis-server", "redis-server=/opt/redis" },
        { "value may contain '='", { "BECKON_REDIS=redis://:a=b@h" }, 0, "redis", "redis=redis://:a=b@h" },
        { "later entry wins", { "BECKON_PORT=1", "BECKON_PORT=2" }, 0, "port", "port=2" },
        { "BECKON_CONFIG is not a setting to apply", { "BECKON_CONFIG=/x.conf" }, 0, "config port",
          "config= port=8080" },
        { "other variables ignored", { "PORT=1", "XBECKON_PORT=2", "BECKON=3", "BECKON_=4" }, 0, "port",
          "port=8080" },
        { "entry without '=' ignored", { "BECKON_PORT" }, 0, "port", "port=8080" },
        { "unknown BECKON_ variable ignored", { "BECKON_PORTS=1" }, 0, "port", "port=8080" },
        { "bad value names the variable", { "BECKON_MAX_MESSAGE_BYTES=10" }, -1, NULL,
          "BECKON_MAX_MESSAGE_BYTES: max-message-bytes: expected a whole number from 256 to 131072, got '10'" },
        { "empty int value", { "BECKON_SESSION_HOURS=" }, -1, NULL,
          "BECKON_SESSION_HOURS: session-hours: expected a whole number from 1 to 8760, got ''" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *envp[6] = {0};
        for (int k = 0; rows[i].env[k]; k++)
            envp[k] = strdup(rows[i].env[k]);
        bk_config config;
        bk_config_init(&config);
        char err[512] = "", got[512];
        int rc = bk_config_load_env(&config, envp, err, sizeof err);
        if (rc == 0 && rows[i].show)
            render(&config, rows[i].show, got, sizeof got);
        else
            snprintf(got, sizeof got, "%s", err);
        CHECK(rc == rows[i].rc, "load_env: %s: returns %d", rows[i].name, rows[i].rc);
        CHECK_STR(got, rows[i].want, "load_env: %s: %s", rows[i].name, rows[i].rc ? "error text" : "settings");
        for (int k = 0; envp[k]; k++)
            free(envp[k]);
    }
    bk_config config;
    bk_config_init(&config);
    char err[64] = "";
    int rc = bk_config_load_env(&config, NULL, err, sizeof err);
    CHECK(rc == 0 && config.port == 8080, "load_env: a NULL environment is accepted");
}

/* A config line is read whole however long it is: a 3000-byte data-dir (PATH_MAX is 4096;
 * accepted as a flag) is accepted from a file too, not split into a truncated value and a
 * bogus second line (a regression test). */
static void test_long_file_line(void)
{
    char dir[3001];
    memset(dir, 'd', sizeof dir - 1);
    dir[0] = '/';
    dir[sizeof dir - 1] = '\0';
    char *text = malloc(sizeof dir + 32);
    snprintf(text, sizeof dir + 32, "data-dir = %s\n", dir);
    write_file(file_path, text);
    free(text);

    bk_config from_file, from_flag;
    bk_config_init(&from_file);
    bk_config_init(&from_flag);
    char err[512] = "", flag_err[512] = "";
    int rc = bk_config_load_file(&from_file, file_path, err, sizeof err);
    int flag_rc = bk_config_set(&from_flag, "data-dir", dir, flag_err, sizeof flag_err);
    CHECK(flag_rc == 0 && strcmp(from_flag.data_dir, dir) == 0,
          "long value: a 3000-byte data-dir is accepted by bk_config_set");
    CHECK(rc == 0 && strcmp(from_file.data_dir, dir) == 0,
          "long value: a 3000-byte data-dir line in a file is read whole (rc %d, %zu bytes kept, err '%s')",
          rc, strlen(from_file.data_dir), err);
    unlink(file_path);
}

/* public-url goes into links as it is: a web address or nothing; its trailing '/' dropped. */
static void test_public_url(void)
{
    static const struct { const char *value, *kept; } rows[] = {
        { "https://chat.example.com", "https://chat.example.com" },
        { "https://chat.example.com/", "https://chat.example.com" },
        { "http://127.0.0.1:8080/beckon//", "http://127.0.0.1:8080/beckon" },
        { "", "" },
        { "chat.example.com", NULL }, { "ftp://chat.example.com", NULL }, { "https://", NULL },
        { "https:///path", NULL }, { "https://chat.example.com/a b", NULL },
        { "https://chat.example.com/\"><script>", NULL }, { "https://chat.example.com/?x=1", NULL },
        { "https://chat.example.com/\r\nX-Evil: 1", NULL },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bk_config c;
        bk_config_init(&c);
        char err[256] = "";
        int rc = bk_config_set(&c, "public-url", rows[i].value, err, sizeof err);
        if (rows[i].kept)
            CHECK(rc == 0 && strcmp(c.public_url, rows[i].kept) == 0, "public-url '%s' is kept as '%s' (got '%s', %s)",
                  rows[i].value, rows[i].kept, c.public_url, err);
        else
            CHECK(rc != 0 && strstr(err, "public-url: expected http(s)://") && c.public_url[0] == '\0',
                  "public-url '%s' is refused (%s)", rows[i].value, err);
    }
}

/* Redis addresses: redis://[[user]:password@]host[:port][/db], unix:///path[?db=N] and
 * redis+cluster://[[user]:password@]host[:port][,host[:port]...]. */
static void test_redis_address(void)
{
    static const struct {
        const char *url;
        int rc;
        const char *want;   /* rendered address, or the error */
    } rows[] = {
        /* TCP: defaults port 6379, database 0, no credentials. */
        { "redis://host", 0, "tcp host=host port=6379 user= password= db=0" },
        { "redis://host:6380", 0, "tcp host=host port=6380 user= password= db=0" },
        { "redis://10.0.0.5:7000", 0, "tcp host=10.0.0.5 port=7000 user= password= db=0" },
        { "redis://host/", 0, "tcp host=host port=6379 user= password= db=0" },
        { "redis://host/15", 0, "tcp host=host port=6379 user= password= db=15" },
        { "redis://host:1", 0, "tcp host=host port=1 user= password= db=0" },
        { "redis://host:65535/0", 0, "tcp host=host port=65535 user= password= db=0" },
        /* Credentials: password only, user and password, percent-encoded. */
        { "redis://:pw@host:1/3", 0, "tcp host=host port=1 user= password=pw db=3" },
        { "redis://user:p%40ss@host", 0, "tcp host=host port=6379 user=user password=p@ss db=0" },
        { "redis://u%2Fx:p%3a%2F@host", 0, "tcp host=host port=6379 user=u/x password=p:/ db=0" },
        { "redis://:@host", 0, "tcp host=host port=6379 user= password= db=0" },
        { "redis://:p@ss@host", 0, "tcp host=host port=6379 user= password=p@ss db=0" },
        { "redis://default:pw@[::1]:7000/2", 0, "tcp host=::1 port=7000 user=default password=pw db=2" },
        /* IPv6 literals in brackets. */
        { "redis://[::1]:6379", 0, "tcp host=::1 port=6379 user= password= db=0" },
        { "redis://[::1]", 0, "tcp host=::1 port=6379 user= password= db=0" },
        { "redis://[fe80::1]/4", 0, "tcp host=fe80::1 port=6379 user= password= db=4" },
        /* Unix sockets: an absolute path, optionally ?db=N. */
        { "unix:///tmp/r.sock", 0, "unix path=/tmp/r.sock db=0" },
        { "unix:///tmp/r.sock?db=2", 0, "unix path=/tmp/r.sock db=2" },
        { "unix:///tmp/r.sock?db=15", 0, "unix path=/tmp/r.sock db=15" },

        /* A cluster: its seed nodes, comma-separated; database 0 only. */
        { "redis+cluster://10.0.0.5:7000", 0, "cluster seeds=10.0.0.5:7000 user= password= db=0" },
        { "redis+cluster://a:7000,b:7001,[::1]:7002", 0, "cluster seeds=a:7000,b:7001,::1:7002 user= password= db=0" },
        { "redis+cluster://a,b", 0, "cluster seeds=a:6379,b:6379 user= password= db=0" },
        { "redis+cluster://u:p%40w@a:1,b:2/", 0, "cluster seeds=a:1,b:2 user=u password=p@w db=0" },
        { "redis+cluster://a:1/0", 0, "cluster seeds=a:1 user= password= db=0" },
        { "redis+cluster://a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8", 0,
          "cluster seeds=a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8 user= password= db=0" },

        /* Errors name the address and what is wrong with it. */
        { "redis+cluster://", -1, "redis address 'redis+cluster://': missing host" },
        { "redis+cluster://a:1,", -1, "redis address 'redis+cluster://a:1,': missing host" },
        { "redis+cluster://a:1,,b:2", -1, "redis address 'redis+cluster://a:1,,b:2': missing host" },
        { "redis+cluster://a:1,b:0", -1, "redis address 'redis+cluster://a:1,b:0': port must be 1..65535" },
        { "redis+cluster://a:1,[::1", -1, "redis address 'redis+cluster://a:1,[::1': unclosed '['" },
        { "redis+cluster://a:1/3", -1, "redis address 'redis+cluster://a:1/3': a cluster has only database 0" },
        { "redis+cluster://a:1/x", -1, "redis address 'redis+cluster://a:1/x': database must be 0..15" },
        { "redis+cluster://a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9", -1,
          "redis address 'redis+cluster://a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9': at most 8 seed nodes" },
        { "redis+cluster:/a:1", -1, "redis address 'redis+cluster:/a:1': expected redis://host:port, "
          "redis+cluster://host:port[,host:port...] or unix:///path" },
        { "rediss://a:1", -1, "redis address 'rediss://a:1': expected redis://host:port, "
          "redis+cluster://host:port[,host:port...] or unix:///path" },
        { "http://x", -1, "redis address 'http://x': expected redis://host:port, "
          "redis+cluster://host:port[,host:port...] or unix:///path" },
        { "", -1, "redis address '': expected redis://host:port, "
          "redis+cluster://host:port[,host:port...] or unix:///path" },
        { "host:6379", -1, "redis address 'host:6379': expected redis://host:port, "
          "redis+cluster://host:port[,host:port...] or unix:///path" },
        { "redis:/host", -1, "redis address 'redis:/host': expected redis://host:port, "
          "redis+cluster://host:port[,host:port...] or unix:///path" },
        { "redis://", -1, "redis address 'redis://': missing host" },
        { "redis:///3", -1, "redis address 'redis:///3': missing host" },
        { "redis://:6379", -1, "redis address 'redis://:6379': missing host" },
        { "redis://host:0", -1, "redis address 'redis://host:0': port must be 1..65535" },
        { "redis://host:99999", -1, "redis address 'redis://host:99999': port must be 1..65535" },
        { "redis://host:65536", -1, "redis address 'redis://host:65536': port must be 1..65535" },
        { "redis://host:-1", -1, "redis address 'redis://host:-1': port must be 1..65535" },
        { "redis://host:", -1, "redis address 'redis://host:': port must be 1..65535" },
        { "redis://host:63a", -1, "redis address 'redis://host:63a': port must be 1..65535" },
        { "redis://host/16", -1, "redis address 'redis://host/16': database must be 0..15" },
        { "redis://host/-1", -1, "redis address 'redis://host/-1': database must be 0..15" },
        { "redis://host/x", -1, "redis address 'redis://host/x': database must be 0..15" },
        { "redis://host/1/2", -1, "redis address 'redis://host/1/2': database must be 0..15" },
        { "redis://[::1", -1, "redis address 'redis://[::1': unclosed '['" },
        { "redis://[::1]6379", -1, "redis address 'redis://[::1]6379': junk after ']'" },
        { "redis://[]:6379", -1, "redis address 'redis://[]:6379': missing host" },
        { "redis://[::1]:0", -1, "redis address 'redis://[::1]:0': port must be 1..65535" },
        { "redis://user@host", -1, "redis address: expected [user]:password@ before the host" },
        { "redis://:p%4@host", -1, "redis address: bad user or password encoding" },
        { "redis://:p%@host", -1, "redis address: bad user or password encoding" },
        { "redis://:p%zz@host", -1, "redis address: bad user or password encoding" },
        { "redis://u%g0:pw@host", -1, "redis address: bad user or password encoding" },
        { "unix://relative", -1, "redis address 'unix://relative': expected unix:///absolute/path" },
        { "unix://", -1, "redis address 'unix://': expected unix:///absolute/path" },
        { "unix://?db=1", -1, "redis address 'unix://?db=1': expected unix:///absolute/path" },
        { "unix:///tmp/r.sock?db=16", -1, "redis address 'unix:///tmp/r.sock?db=16': expected ?db=0..15" },
        { "unix:///tmp/r.sock?db=", -1, "redis address 'unix:///tmp/r.sock?db=': expected ?db=0..15" },
        { "unix:///tmp/r.sock?foo=1", -1, "redis address 'unix:///tmp/r.sock?foo=1': expected ?db=0..15" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        bk_redis_address a;
        char err[512] = "", got[PATH_MAX + 600];
        int rc = bk_redis_address_parse(rows[i].url, &a, err, sizeof err);
        if (rc != 0)
            snprintf(got, sizeof got, "%s", err);
        else if (a.is_unix)
            snprintf(got, sizeof got, "unix path=%s db=%d", a.path, a.db);
        else if (a.is_cluster) {
            char seeds[600] = "";
            for (int k = 0; k < a.seed_count; k++)
                snprintf(seeds + strlen(seeds), sizeof seeds - strlen(seeds), "%s%s:%d", k ? "," : "",
                         a.seeds[k].host, a.seeds[k].port);
            int first_is_host = a.seed_count > 0 && strcmp(a.host, a.seeds[0].host) == 0 && a.port == a.seeds[0].port;
            snprintf(got, sizeof got, "cluster seeds=%s%s user=%s password=%s db=%d", seeds,
                     first_is_host ? "" : " (host is not the first seed)", a.username, a.password, a.db);
        }
        else
            snprintf(got, sizeof got, "tcp host=%s port=%d user=%s password=%s db=%d",
                     a.host, a.port, a.username, a.password, a.db);
        char rc_got[16], rc_want[16];
        snprintf(rc_got, sizeof rc_got, "rc=%d ", rc);
        snprintf(rc_want, sizeof rc_want, "rc=%d ", rows[i].rc);
        char got_line[PATH_MAX + 700], want_line[700];
        snprintf(got_line, sizeof got_line, "%s%s", rc_got, got);
        snprintf(want_line, sizeof want_line, "%s%s", rc_want, rows[i].want);
        CHECK_STR(got_line, want_line, "redis address '%s'", rows[i].url);
    }
}

int main(void)
{
    test_public_url();
    snprintf(temp_dir, sizeof temp_dir, "/tmp/bk-test-config-XXXXXX");
    if (!mkdtemp(temp_dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(file_path, sizeof file_path, "%s/beckon.conf", temp_dir);

    test_resolve();
    test_command_index();
    test_load_env();
    test_long_file_line();
    test_redis_address();

    unlink(file_path);
    rmdir(temp_dir);
    return check_done();
}
