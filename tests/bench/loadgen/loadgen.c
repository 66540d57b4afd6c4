/* loadgen.c - Beckon's scale benchmark: thousands of WebSocket clients on one libuv loop.
 *
 *   beckon-loadgen [options] SCENARIO...      idle | chat | ladder | slow | storm | twonode
 *   beckon-loadgen free-port                  print a free TCP port on 127.0.0.1
 *
 * Every scenario is bounded in time and prints Markdown table rows on stdout
 * (| scenario | measure | value | target | result |); progress goes to stderr.
 * The server is observed from /proc/PID (RSS, utime+stime, schedstat, open descriptors).
 * Run it pinned to a CPU other than beckon's (--cpu). See tests/bench/scale.sh. */
#include "ws.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIST 8

static struct {
    int port;
    int beckon_pid, redis_pid;
    int cpu;
    int sources;      /* source addresses 127.0.0.1 .. 127.0.0.N */
    int window;       /* handshakes in flight at once */
    int idle[MAX_LIST], idle_n;
    int conversations, agents;
    const char *agent_prefix, *agent_password;
    int rates[MAX_LIST], rates_n;
    double chat_secs;
    int msg_bytes;
    const char *slow_agent;
    double slow_secs;
    int slow_rate, slow_bytes;
    int storm;
    double storm_timeout;
    const char *beckon_log;
    int nice;
    int idle_no_hello;
    int idle_page;
    int port2, beckon2_pid;    /* scenario 4: a second node (agents there, visitors on the first) */
    int rates2[MAX_LIST], rates2_n;
    int open_window;           /* conversations being opened at once (the queue stays this short) */
    const char *redis_socket;  /* Redis' unix socket: the bus is counted by a subscriber of our own */
    const char *bus_channel;
    int ladder[MAX_LIST], ladder_n;  /* scenario 7: rates climbed until one fails */
    double ladder_secs, ladder_p99_ms;
    int ladder_goal;
} cfg = {
    .port = 8080, .cpu = -1, .sources = 100, .window = 1000,
    .idle = { 1000, 5000, 10000, 19000 }, .idle_n = 4,
    .conversations = 500, .agents = 50, .agent_prefix = "bench-a", .agent_password = "bench-password",
    .rates = { 1000, 5000, 10000 }, .rates_n = 3, .chat_secs = 10, .msg_bytes = 100,
    .slow_agent = "bench-slow", .slow_secs = 6, .slow_rate = 400, .slow_bytes = 8000,
    .storm = 10000, .storm_timeout = 60,
    .rates2 = { 5000 }, .rates2_n = 1, .open_window = 20, .bus_channel = "bk:bus",
    .ladder = { 5000, 10000, 15000, 20000, 25000, 30000 }, .ladder_n = 6, .ladder_secs = 5,
    .ladder_p99_ms = 50, .ladder_goal = 25000,
};

static uv_loop_t *loop;
static wsc_target target, target2;
static char host_header[64], host_header2[64];
static int two_nodes;          /* agents connect to target2 */
static long clk_tck;

static uint64_t now_ns(void) { return uv_hrtime(); }
static double secs_since(uint64_t t) { return (double)(now_ns() - t) / 1e9; }

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void row(const char *scenario, const char *measure, const char *value, const char *tgt,
                const char *result)
{
    printf("| %s | %s | %s | %s | %s |\n", scenario, measure, value, tgt, result);
    fflush(stdout);
}

/* ---- /proc --------------------------------------------------------------------------- */

/* A "Name: N kB" line of /proc/PID/status, or -1. */
static long status_kb(int pid, const char *name)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    size_t n = strlen(name);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':' && sscanf(line + n + 1, "%ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static long rss_kb(int pid) { return status_kb(pid, "VmRSS"); }

/* utime + stime in clock ticks */
static long long cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* nanoseconds on CPU (field 0) or waiting on a run queue (field 1), all threads */
static long long sched_field(int pid, int field)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long long total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p2[300];
        snprintf(p2, sizeof p2, "/proc/%d/task/%s/schedstat", pid, e->d_name);
        FILE *f = fopen(p2, "r");
        if (!f)
            continue;
        long long ns[2] = { 0, 0 };
        if (fscanf(f, "%lld %lld", &ns[0], &ns[1]) == 2)
            total += ns[field];
        fclose(f);
    }
    closedir(d);
    return total;
}

/* Busy time of one CPU (or of all with cpu < 0), in clock ticks, from /proc/stat. */
static long long cpu_busy(int cpu)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char want[16], line[512];
    if (cpu < 0)
        snprintf(want, sizeof want, "cpu ");
    else
        snprintf(want, sizeof want, "cpu%d ", cpu);
    long long busy = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)) != 0)
            continue;
        long long v[8] = { 0 };
        sscanf(line + strlen(want), "%lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]);
        busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  /* all but idle and iowait */
        break;
    }
    fclose(f);
    return busy;
}

/* Whether `needle` was written to the file after byte `from`. */
static int log_has(const char *path, long from, const char *needle)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return 0;
    char line[1024];
    int found = 0;
    if (fseek(f, from, SEEK_SET) == 0)
        while (!found && fgets(line, sizeof line, f))
            found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static long file_size(const char *path)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    return size;
}

static long long sched_ns(int pid) { return sched_field(pid, 0); }
static long long sched_wait(int pid) { return sched_field(pid, 1); }

static int fd_count(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Kernel memory for TCP: the TCP socket slab and the socket inodes (bytes), and the socket
 * buffers the kernel accounts in /proc/net/sockstat (pages). -1 when unreadable. */
typedef struct kmem { long long slab_bytes; long long buf_pages; long inuse; } kmem;

static kmem kernel_mem(void)
{
    kmem k = { -1, -1, -1 };
    char line[512];
    FILE *f = fopen("/proc/slabinfo", "r");
    if (f) {
        k.slab_bytes = 0;
        while (fgets(line, sizeof line, f)) {
            char name[64];
            long active, num, size;
            if (sscanf(line, "%63s %ld %ld %ld", name, &active, &num, &size) == 4 &&
                (strcmp(name, "TCP") == 0 || strcmp(name, "sock_inode_cache") == 0))
                k.slab_bytes += (long long)active * size;
        }
        fclose(f);
    }
    f = fopen("/proc/net/sockstat", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            long inuse, orphan, tw, alloc, mem;
            if (sscanf(line, "TCP: inuse %ld orphan %ld tw %ld alloc %ld mem %ld", &inuse, &orphan, &tw,
                       &alloc, &mem) == 5) {
                k.buf_pages = mem;
                k.inuse = inuse;
            }
        }
        fclose(f);
    }
    return k;
}

/* ---- clients ------------------------------------------------------------------------- */

enum role { VISITOR, AGENT };
enum phase { PH_NONE, PH_IDLE, PH_CHAT_SETUP, PH_CHAT, PH_SLOW, PH_STORM_SETUP, PH_STORM };

typedef struct client {
    wsc ws;  /* first: a wsc * is a client * */
    enum role role;
    int idx;
    int welcomed, counted;    /* counted: finished (welcome or failure) for the window */
    int requeue;              /* reconnect when closed (storm) */
    char token[256];          /* visitor token, or the agent's session token */
    char conv[64];
    int agent_of;
    int acked, seq;
    uint64_t t_start, t_done;
    int close_code;
    char close_reason[64];
    uint64_t pushes;
} client;

static enum phase phase;
static struct {
    long welcomed, failed, acked, errors, rate_limited, oks, histories, delivered, closed, visitor_pushes;
    long sent;
} n;
static char first_error[256];
static client **cq;           /* clients waiting to connect */
static long cq_len, cq_next, cq_cap, in_flight;
static client *agents_arr;
static uint32_t *lat_us;      /* latencies of this window */
static long lat_len, lat_cap;

static void cq_push(client *c)
{
    if (cq_len == cq_cap) {
        cq_cap = cq_cap ? cq_cap * 2 : 1024;
        cq = realloc(cq, (size_t)cq_cap * sizeof *cq);
        if (!cq) {
            say("out of memory");
            exit(1);
        }
    }
    cq[cq_len++] = c;
}

/* Visitors waiting to open a conversation: at most cfg.open_window at once, so the queue of
 * waiting conversations stays short (every queue change is announced to everyone waiting). */
static client **oq;
static long oq_len, oq_next, oq_cap, open_inflight;

static void oq_push(client *c)
{
    if (oq_len == oq_cap) {
        oq_cap = oq_cap ? oq_cap * 2 : 1024;
        oq = realloc(oq, (size_t)oq_cap * sizeof *oq);
        if (!oq) {
            fprintf(stderr, "loadgen: out of memory\n");
            exit(1);
        }
    }
    oq[oq_len++] = c;
}

static void send_message(client *c, const char *conversation, int bytes, const char *cmid_prefix);

static void pump_open(void)
{
    while (oq_next < oq_len && open_inflight < cfg.open_window) {
        client *c = oq[oq_next++];
        if (c->ws.state != WSC_OPEN)
            continue;
        open_inflight++;
        send_message(c, NULL, 16, "open");
    }
    if (oq_next == oq_len)
        oq_next = oq_len = 0;
}

static void counters_reset(void)
{
    memset(&n, 0, sizeof n);
    first_error[0] = '\0';
    open_inflight = 0;
    oq_len = oq_next = 0;
}

/* Finds "key":"value" and copies the value (escapes kept, except \/). Returns 0 if found. */
static int jstr(const char *m, size_t len, const char *key, char *out, size_t size)
{
    char pat[80];
    int pl = snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = memmem(m, len, pat, (size_t)pl);
    if (!p)
        return -1;
    p += pl;
    const char *end = m + len;
    size_t o = 0;
    while (p < end && *p != '"') {
        if (*p == '\\' && p + 1 < end) {
            if (p[1] == '/') {
                p++;
            } else {
                if (o + 1 < size)
                    out[o++] = *p;
                p++;
            }
        }
        if (o + 1 < size)
            out[o++] = *p;
        p++;
    }
    out[o] = '\0';
    return p < end ? 0 : -1;
}

static int is_type(const char *m, size_t len, const char *type)
{
    char pat[64];
    int pl = snprintf(pat, sizeof pat, "\"type\":\"%s\"", type);
    return memmem(m, len, pat, (size_t)pl) != NULL;
}

static void lat_add(uint64_t ns)
{
    if (lat_len == lat_cap) {
        lat_cap = lat_cap ? lat_cap * 2 : 65536;
        lat_us = realloc(lat_us, (size_t)lat_cap * sizeof *lat_us);
        if (!lat_us) {
            say("out of memory");
            exit(1);
        }
    }
    lat_us[lat_len++] = (uint32_t)(ns / 1000 > UINT32_MAX ? UINT32_MAX : ns / 1000);
}

static void send_fmt(client *c, const char *fmt, ...)
{
    char buf[32768];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (len > 0 && (size_t)len < sizeof buf)
        wsc_send_text(&c->ws, buf, (size_t)len);
}

static char padding[32768];

/* text = "t<send time ns> xxxx…" of `bytes` bytes */
static void send_message(client *c, const char *conversation, int bytes, const char *cmid_prefix)
{
    char text[24];
    int tl = snprintf(text, sizeof text, "t%llu", (unsigned long long)now_ns());
    int pad = bytes > tl + 1 ? bytes - tl - 1 : 0;
    if (pad > (int)sizeof padding - 1)
        pad = (int)sizeof padding - 1;
    c->seq++;
    if (conversation)
        send_fmt(c, "{\"type\":\"message\",\"req\":%d,\"conversation\":\"%s\",\"cmid\":\"%s%d-%d\","
                    "\"text\":\"%s %.*s\"}", c->seq, conversation, cmid_prefix, c->idx, c->seq, text, pad,
                 padding);
    else
        send_fmt(c, "{\"type\":\"message\",\"req\":%d,\"cmid\":\"%s%d-%d\",\"text\":\"%s %.*s\"}", c->seq,
                 cmid_prefix, c->idx, c->seq, text, pad, padding);
    n.sent++;
}

static void finished_handshake(client *c, int ok)
{
    if (c->counted)
        return;
    c->counted = 1;
    in_flight--;
    if (ok)
        n.welcomed++;
    else
        n.failed++;
}

static void on_open(wsc *w)
{
    client *c = (client *)w;
    if (phase == PH_IDLE && cfg.idle_no_hello) {
        c->welcomed = 1;
        finished_handshake(c, 1);
        return;
    }
    if (c->role == AGENT)
        send_fmt(c, "{\"type\":\"hello\",\"req\":\"h\",\"token\":\"%s\"}", c->token);
    else if (c->token[0])
        send_fmt(c, "{\"type\":\"hello\",\"req\":\"h\",\"site\":\"bench\",\"lang\":\"en\",\"token\":\"%s\"}",
                 c->token);
    else if (phase == PH_IDLE && cfg.idle_page)
        /* as the widget says it: the page makes beckon track a page view, so the visitor's
         * profile holds a page, a referrer and a campaign, as a real visitor's does */
        send_fmt(c, "{\"type\":\"hello\",\"req\":\"h\",\"site\":\"bench\",\"lang\":\"en\",\"page\":"
                 "{\"url\":\"https://shop.example/products/item-%d?utm_source=newsletter&utm_campaign=spring\","
                 "\"title\":\"Item %d: a product page of the bench shop\",\"referrer\":\"https://search.example/?q=item\"}}",
                 c->idx, c->idx);
    else
        send_fmt(c, "{\"type\":\"hello\",\"req\":\"h\",\"site\":\"bench\",\"lang\":\"en\"}");
}

static void on_message(wsc *w, const char *m, size_t len)
{
    client *c = (client *)w;
    c->pushes++;
    if (len < 12)
        return;
    if (is_type(m, len, "message")) {
        if (c->role == AGENT) {
            const char *t = memmem(m, len, "\"text\":\"t", 9);
            if (t && memmem(m, len, "\"from\":\"visitor\"", 16)) {
                unsigned long long sent = strtoull(t + 9, NULL, 10);
                uint64_t now = now_ns();
                if (sent && sent <= now) {
                    if (phase == PH_CHAT)
                        lat_add(now - sent);
                    n.delivered++;
                }
            }
        } else {
            n.visitor_pushes++;
        }
        return;
    }
    if (is_type(m, len, "ack")) {
        n.acked++;
        c->acked++;
        if (!c->conv[0])
            jstr(m, len, "conversation", c->conv, sizeof c->conv);
        if (phase == PH_CHAT_SETUP && c->role == VISITOR && c->acked == 1 && c->conv[0]) {
            client *a = &agents_arr[c->agent_of];
            send_fmt(a, "{\"type\":\"accept\",\"req\":\"a\",\"conversation\":\"%s\"}", c->conv);
        } else if (phase == PH_STORM_SETUP && c->role == VISITOR && c->acked == 1) {
            /* closed at once: the queue stays short; resume works on a closed conversation */
            send_fmt(c, "{\"type\":\"close\",\"req\":\"c\"}");
        }
        return;
    }
    if (is_type(m, len, "welcome")) {
        c->welcomed = 1;
        c->t_done = now_ns();
        finished_handshake(c, 1);
        if (c->role == VISITOR) {
            if (!c->token[0])
                jstr(m, len, "token", c->token, sizeof c->token);
            if (phase == PH_CHAT_SETUP || phase == PH_STORM_SETUP)
                oq_push(c);
            else if (phase == PH_SLOW)
                send_message(c, NULL, 16, "open");
            else if (phase == PH_STORM)
                send_fmt(c, "{\"type\":\"resume\",\"req\":\"r\",\"conversation\":\"%s\",\"since\":\"0\"}",
                         c->conv);
        }
        return;
    }
    if (is_type(m, len, "history")) {
        c->t_done = now_ns();
        n.histories++;
        return;
    }
    if (is_type(m, len, "ok")) {
        n.oks++;
        if ((phase == PH_CHAT_SETUP && c->role == AGENT) || (phase == PH_STORM_SETUP && c->role == VISITOR))
            open_inflight--;  /* accepted, or closed: the next one may open */
        return;
    }
    if (is_type(m, len, "error")) {
        n.errors++;
        if (memmem(m, len, "rate_limited", 12))
            n.rate_limited++;
        if (!first_error[0])
            snprintf(first_error, sizeof first_error, "%.*s", (int)(len < 200 ? len : 200), m);
        if (!c->welcomed)
            finished_handshake(c, 0);
        return;
    }
}

static void on_close(wsc *w, int code, const char *reason)
{
    client *c = (client *)w;
    c->close_code = code;
    snprintf(c->close_reason, sizeof c->close_reason, "%s", reason);
    n.closed++;
    if (!c->counted) {
        finished_handshake(c, 0);
        if (!first_error[0])
            snprintf(first_error, sizeof first_error, "connection failed: %s (code %d)", reason, code);
    }
    if (c->requeue) {
        c->requeue = 0;
        cq_push(c);
    }
}

static const wsc_handlers handlers = { on_open, on_message, on_close };

static void start_connect(client *c)
{
    struct sockaddr_in src;
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(c->idx % cfg.sources));
    c->welcomed = c->counted = 0;
    c->t_start = now_ns();
    c->t_done = 0;
    in_flight++;
    int rcvbuf = phase == PH_SLOW && c->role == VISITOR ? 4096 : 0;
    int rc = wsc_connect(&c->ws, loop, two_nodes && c->role == AGENT ? &target2 : &target, &src,
                         c->role == AGENT ? "beckon-agent.v1" : "beckon-visitor.v1", rcvbuf, &handlers, c);
    if (rc != 0) {
        finished_handshake(c, 0);
        if (!first_error[0])
            snprintf(first_error, sizeof first_error, "connect: %s", strerror(-rc));
    }
}

/* Starts queued connects while fewer than `window` handshakes are in flight. */
static void pump(void)
{
    while (cq_next < cq_len && in_flight < cfg.window)
        start_connect(cq[cq_next++]);
    if (cq_next == cq_len)
        cq_next = cq_len = 0;
}

/* ---- running the loop ---------------------------------------------------------------- */

static uv_timer_t tick;
static void (*on_tick)(void);

static void tick_cb(uv_timer_t *t)
{
    (void)t;
    if (on_tick)
        on_tick();
}

/* Runs the loop until *value >= goal or the time is up; returns 1 when the goal was met. */
static int run_until(const long *value, long goal, double secs)
{
    uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
    for (;;) {
        pump();
        pump_open();
        if (value && *value >= goal)
            return 1;
        if (now_ns() >= end)
            return 0;
        uv_run(loop, UV_RUN_ONCE);
    }
}

static void run_for(double secs) { run_until(NULL, 0, secs); }

static void close_all(client *cs, long count, int graceful)
{
    for (long i = 0; i < count; i++)
        if (cs[i].ws.state != WSC_IDLE && cs[i].ws.state != WSC_CLOSED)
            wsc_close(&cs[i].ws, graceful);
}

static long open_count(client *cs, long count)
{
    long k = 0;
    for (long i = 0; i < count; i++)
        if (cs[i].ws.state != WSC_IDLE && cs[i].ws.state != WSC_CLOSED)
            k++;
    return k;
}

/* Closes every client and waits (bounded) until beckon has let go of the sockets. */
static void teardown(client *cs, long count, int server_fds_before)
{
    close_all(cs, count, 0);
    uint64_t t = now_ns();
    while (open_count(cs, count) > 0 && secs_since(t) < 5)
        uv_run(loop, UV_RUN_ONCE);
    while (cfg.beckon_pid && server_fds_before > 0 && fd_count(cfg.beckon_pid) > server_fds_before + 2 &&
           secs_since(t) < 10)
        run_for(0.05);
}

/* ---- HTTP login (blocking; setup only) ----------------------------------------------- */

static int login(const wsc_target *t, const char *name, const char *password, char *token, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&t->dst, sizeof t->dst) != 0) {
        close(fd);
        return -1;
    }
    char body[512], req[1024];
    int bl = snprintf(body, sizeof body, "{\"name\":\"%s\",\"password\":\"%s\"}", name, password);
    int rl = snprintf(req, sizeof req,
                      "POST /api/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\nConnection: close\r\n\r\n%s", t->host_header, bl, body);
    if (write(fd, req, (size_t)rl) != rl) {
        close(fd);
        return -1;
    }
    char resp[8192];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0) {
        got += (size_t)r;
        resp[got] = '\0';
        const char *b = strstr(resp, "\r\n\r\n");
        if (b && strstr(b, "}"))
            break;
    }
    close(fd);
    resp[got] = '\0';
    if (strncmp(resp, "HTTP/1.1 200", 12) != 0) {
        say("login %s: %.80s", name, resp);
        return -1;
    }
    return jstr(resp, got, "token", token, size);
}

/* ---- formatting ---------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, long len, double p)
{
    if (len == 0)
        return 0;
    long i = (long)(p * (double)(len - 1) + 0.5);
    return v[i] / 1000.0;  /* ms */
}

static const char *verdict(int ok) { return ok ? "**pass**" : "**miss**"; }

/* ---- the bus, seen from outside: a subscriber of our own ------------------------------ */

/* Every node's bus link SUBSCRIBEs to one channel (bk:bus) and so receives every message
 * published on it once. A subscriber of our own on the same channel counts what each node
 * receives; PUBSUB NUMSUB says how many listen. Only during the bus windows (scenario 4): the
 * extra receiver costs Redis a little per message. */

/* The length of one whole RESP reply at b[0..len), 0 when incomplete, -1 when malformed. When
 * it is an array, up to 3 of its elements (bulk or simple strings, integers) go to el[]. */
static long resp_reply(const char *b, size_t len, const char **el, size_t *el_len, int *n_el)
{
    const char *end = b + len, *p = b;
    const char *eol = memmem(p, len, "\r\n", 2);
    if (!eol)
        return 0;
    long count = 1;
    int array = *p == '*';
    if (array) {
        count = strtol(p + 1, NULL, 10);
        p = eol + 2;
    }
    if (n_el)
        *n_el = 0;
    for (long i = 0; i < count; i++) {
        if (p >= end)
            return 0;
        eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            return 0;
        const char *s = p + 1;
        size_t sl = (size_t)(eol - s);
        if (*p == '$') {
            long bl = strtol(p + 1, NULL, 10);
            if (bl < 0) {
                s = "";
                sl = 0;
                p = eol + 2;
            } else {
                if ((size_t)(end - (eol + 2)) < (size_t)bl + 2)
                    return 0;
                s = eol + 2;
                sl = (size_t)bl;
                p = eol + 2 + bl + 2;
            }
        } else if (*p == '+' || *p == ':' || *p == '-') {
            p = eol + 2;
        } else {
            return -1;  /* nested arrays: not expected here */
        }
        if (el && n_el && *n_el < 3) {
            el[*n_el] = s;
            el_len[*n_el] = sl;
            (*n_el)++;
        }
    }
    return (long)(p - b);
}

/* One command, blocking (setup and bookkeeping only, never in a measured window's loop):
 * copies the reply's elements (up to 3, NUL-terminated) into out[]. Returns 0 or -1. */
static int redis_cmd(const char *path, const char *const *argv, int argc, char out[3][4096], int *n_out)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (connect(fd, (const struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[1024];
    int rl = snprintf(req, sizeof req, "*%d\r\n", argc);
    for (int i = 0; i < argc && rl < (int)sizeof req; i++)
        rl += snprintf(req + rl, sizeof req - (size_t)rl, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
    if (rl >= (int)sizeof req || write(fd, req, (size_t)rl) != rl) {
        close(fd);
        return -1;
    }
    static char resp[1 << 16];
    size_t got = 0;
    long used = 0;
    const char *el[3];
    size_t el_len[3];
    int n_el = 0;
    ssize_t r;
    while (used == 0 && got < sizeof resp && (r = read(fd, resp + got, sizeof resp - got)) > 0) {
        got += (size_t)r;
        used = resp_reply(resp, got, el, el_len, &n_el);
    }
    close(fd);
    if (used <= 0)
        return -1;
    for (int i = 0; i < n_el; i++)
        snprintf(out[i], 4096, "%.*s", (int)(el_len[i] < 4095 ? el_len[i] : 4095), el[i]);
    *n_out = n_el;
    return 0;
}

/* Subscribers of the bus channel (PUBSUB NUMSUB), or -1. */
static long bus_numsub(void)
{
    const char *argv[] = { "PUBSUB", "NUMSUB", cfg.bus_channel };
    char out[3][4096];
    int n_out = 0;
    if (!cfg.redis_socket || redis_cmd(cfg.redis_socket, argv, 3, out, &n_out) != 0 || n_out < 2)
        return -1;
    return strtol(out[1], NULL, 10);
}

/* PUBLISH calls so far, all channels, scripts' calls included (INFO commandstats), or -1. */
static long long redis_publishes(void)
{
    const char *argv[] = { "INFO", "commandstats" };
    char out[3][4096];
    int n_out = 0;
    if (!cfg.redis_socket || redis_cmd(cfg.redis_socket, argv, 2, out, &n_out) != 0 || n_out < 1)
        return -1;
    const char *p = strstr(out[0], "cmdstat_publish:calls=");
    return p ? strtoll(p + 22, NULL, 10) : 0;
}

static struct {
    uv_pipe_t pipe;
    uv_connect_t req;
    uv_write_t wreq;
    int open, subscribed;
    char *in;
    size_t in_len, in_cap;
    long msgs, control;          /* messages on the channel; of them, to the nodes ("!…") */
    unsigned long long bytes;    /* payload bytes */
} bus;

static void bus_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    if (bus.in_cap - bus.in_len < suggested) {
        size_t cap = bus.in_cap ? bus.in_cap : 65536;
        while (cap - bus.in_len < suggested)
            cap *= 2;
        char *in = realloc(bus.in, cap);
        if (!in) {
            say("out of memory");
            exit(1);
        }
        bus.in = in;
        bus.in_cap = cap;
    }
    *buf = uv_buf_init(bus.in + bus.in_len, (unsigned)(bus.in_cap - bus.in_len));
}

static void bus_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0) {
        say("bus subscriber: %s", uv_strerror((int)nread));
        uv_read_stop(s);
        bus.subscribed = 0;
        return;
    }
    bus.in_len += (size_t)nread;
    size_t off = 0;
    for (;;) {
        const char *el[3];
        size_t el_len[3];
        int n_el = 0;
        long used = resp_reply(bus.in + off, bus.in_len - off, el, el_len, &n_el);
        if (used < 0) {
            say("bus subscriber: unexpected reply");
            uv_read_stop(s);
            bus.subscribed = 0;
            return;
        }
        if (used == 0)
            break;
        off += (size_t)used;
        if (n_el == 3 && el_len[0] == 7 && memcmp(el[0], "message", 7) == 0) {
            bus.msgs++;
            bus.bytes += el_len[2];
            if (el_len[2] && el[2][0] == '!')
                bus.control++;
        } else if (n_el == 3 && el_len[0] == 9 && memcmp(el[0], "subscribe", 9) == 0) {
            bus.subscribed = 1;
        }
    }
    memmove(bus.in, bus.in + off, bus.in_len - off);
    bus.in_len -= off;
}

static void bus_connected(uv_connect_t *req, int status)
{
    (void)req;
    if (status != 0) {
        say("bus subscriber: cannot connect to %s: %s", cfg.redis_socket, uv_strerror(status));
        return;
    }
    static char cmd[256];
    int len = snprintf(cmd, sizeof cmd, "*2\r\n$9\r\nSUBSCRIBE\r\n$%zu\r\n%s\r\n", strlen(cfg.bus_channel),
                       cfg.bus_channel);
    uv_buf_t b = uv_buf_init(cmd, (unsigned)len);
    uv_write(&bus.wreq, (uv_stream_t *)&bus.pipe, &b, 1, NULL);
    uv_read_start((uv_stream_t *)&bus.pipe, bus_alloc, bus_read);
}

/* Subscribes to the bus channel (needs --redis-socket); returns 1 when subscribed. */
static int bus_start(void)
{
    if (!cfg.redis_socket)
        return 0;
    bus.msgs = bus.control = 0;
    bus.bytes = 0;
    bus.in_len = 0;
    bus.subscribed = 0;
    uv_pipe_init(loop, &bus.pipe, 0);
    bus.open = 1;
    uv_pipe_connect(&bus.req, &bus.pipe, cfg.redis_socket, bus_connected);
    uint64_t t = now_ns();
    while (!bus.subscribed && secs_since(t) < 5)
        run_for(0.01);
    return bus.subscribed;
}

static void bus_stop(void)
{
    if (!bus.open)
        return;
    uv_close((uv_handle_t *)&bus.pipe, NULL);
    bus.open = bus.subscribed = 0;
}

/* ---- scenario 1: idle connections ---------------------------------------------------- */

static void scenario_idle(void)
{
    int max = 0;
    for (int i = 0; i < cfg.idle_n; i++)
        if (cfg.idle[i] > max)
            max = cfg.idle[i];
    client *cs = calloc((size_t)max, sizeof *cs);
    if (!cs)
        return;
    counters_reset();
    phase = PH_IDLE;
    run_for(0.3);
    long rss0 = rss_kb(cfg.beckon_pid);
    /* RSS = anonymous memory (the heap: what connections cost) + file pages (code run for
     * the first time, shared with other processes): the split shows what is one-off. */
    long anon0 = status_kb(cfg.beckon_pid, "RssAnon"), file0 = status_kb(cfg.beckon_pid, "RssFile");
    int fds0 = fd_count(cfg.beckon_pid);
    kmem k0 = kernel_mem();
    say("idle: beckon RSS %ld KB before, %d descriptors", rss0, fds0);
    long have = 0;
    for (int r = 0; r < cfg.idle_n; r++) {
        long want = cfg.idle[r];
        uint64_t t0 = now_ns();
        for (long i = have; i < want; i++) {
            cs[i].role = VISITOR;
            cs[i].idx = (int)i;
            cq_push(&cs[i]);
        }
        long goal = want;
        run_until(&n.welcomed, goal, 60);
        while (n.welcomed + n.failed < goal && secs_since(t0) < 60)
            run_for(0.05);
        double took = secs_since(t0);
        have = want;
        run_for(1.0);  /* let the server settle */
        long rss = rss_kb(cfg.beckon_pid);
        long anon = status_kb(cfg.beckon_pid, "RssAnon"), file = status_kb(cfg.beckon_pid, "RssFile");
        kmem k = kernel_mem();
        long held = open_count(cs, want);
        double per = n.welcomed ? (double)(rss - rss0) / (double)n.welcomed : 0;
        char value[512], kernel[160] = "kernel: n/a";
        if (k.slab_bytes >= 0 && k0.slab_bytes >= 0) {
            /* loopback: every connection is two sockets, the client's and beckon's */
            double per_sock = (double)(k.slab_bytes - k0.slab_bytes) / (2.0 * (double)(n.welcomed ? n.welcomed : 1)) / 1024.0;
            snprintf(kernel, sizeof kernel, "kernel: %.1f KB per socket in the TCP and sock_inode slabs, both ends counted; "
                     "all TCP buffers %lld KB", per_sock, k.buf_pages * 4);
        }
        double per_anon = n.welcomed ? (double)(anon - anon0) / (double)n.welcomed : 0;
        say("idle %ld: %ld welcomed, %ld failed in %.2f s; RSS %ld KB (+%.2f KB/conn; anon +%.2f KB/conn, file +%ld KB); %s%s%s",
            want, n.welcomed, n.failed, took, rss, per, per_anon, file - file0, kernel,
            first_error[0] ? "; first error: " : "", first_error);
        snprintf(value, sizeof value, "%.2f KB (RSS %.1f → %.1f MB, of which anonymous +%.2f KB per connection and "
                 "file pages +%.1f MB; %ld/%ld %s in %.2f s; %s)", per,
                 rss0 / 1024.0, rss / 1024.0, per_anon, (file - file0) / 1024.0, n.welcomed, want,
                 cfg.idle_no_hello ? "connected (no hello)" : cfg.idle_page ? "said hello with a page" : "said hello",
                 took, kernel);
        char scen[64];
        snprintf(scen, sizeof scen, "1 idle %ld", want);
        row(scen, "beckon RSS per idle connection", value, "≤ 4 KB", verdict(per <= 4.0 && n.welcomed == want));
        if (want >= 19000 || r == cfg.idle_n - 1) {
            snprintf(value, sizeof value, "%ld open (%ld failed%s%.120s)", held, n.failed,
                     first_error[0] ? ": " : "", first_error);
            row(scen, "concurrent connections", value, "≥ 19 000",
                want >= 19000 ? verdict(held >= 19000) : "(full mode)");
        }
    }
    teardown(cs, have, fds0);
    free(cs);
    phase = PH_NONE;
}

/* ---- scenario 2: chat ---------------------------------------------------------------- */

static client *chat_visitors;
static long pace_rate, pace_goal;
static uint64_t pace_t0;
static long pace_next;

static void chat_tick(void)
{
    long due = (long)((double)(now_ns() - pace_t0) * (double)pace_rate / 1e9);
    if (due > pace_goal)
        due = pace_goal;
    while (n.sent < due) {
        client *v = &chat_visitors[pace_next++ % cfg.conversations];
        send_message(v, NULL, cfg.msg_bytes, "m");
    }
}

static int login_agents(client *as, int count, const char *prefix, const char *single)
{
    for (int i = 0; i < count; i++) {
        char name[96];
        if (single)
            snprintf(name, sizeof name, "%s", single);
        else
            snprintf(name, sizeof name, "%s%d", prefix ? prefix : "", i + 1);
        as[i].role = AGENT;
        as[i].idx = i;
        if (login(two_nodes ? &target2 : &target, name, cfg.agent_password, as[i].token, sizeof as[i].token) != 0) {
            say("cannot log in agent %s (did scale.sh create it?)", name);
            return -1;
        }
    }
    return 0;
}

/* CPU of the node(s) under test */
static long long nodes_ticks(void)
{
    return cpu_ticks(cfg.beckon_pid) + (two_nodes ? cpu_ticks(cfg.beckon2_pid) : 0);
}
static long long nodes_sched(void)
{
    return sched_ns(cfg.beckon_pid) + (two_nodes ? sched_ns(cfg.beckon2_pid) : 0);
}
static long long nodes_wait(void)
{
    return sched_wait(cfg.beckon_pid) + (two_nodes ? sched_wait(cfg.beckon2_pid) : 0);
}

enum chat_kind { CHAT_ONE, CHAT_TWO, CHAT_LADDER };

/* Scenarios 2 (chat at fixed rates), 4 (the same on two nodes, with the bus counted) and 7 (the
 * ladder: rates climbed until the first that misses; the highest that passed is the result). */
static void scenario_chat(enum chat_kind kind)
{
    int two = kind == CHAT_TWO, ladder = kind == CHAT_LADDER;
    const char *label = two ? "4 two nodes" : ladder ? "7 chat ladder" : "2 chat";
    const int *rates = two ? cfg.rates2 : ladder ? cfg.ladder : cfg.rates;
    int rates_n = two ? cfg.rates2_n : ladder ? cfg.ladder_n : cfg.rates_n;
    double window = ladder ? cfg.ladder_secs : cfg.chat_secs;
    long best = 0, failed_at = 0;
    char failed_why[200] = "";
    int bus_on = 0;
    two_nodes = two;
    int M = cfg.conversations, A = cfg.agents;
    if (A > M)
        A = M;
    agents_arr = calloc((size_t)A, sizeof *agents_arr);
    chat_visitors = calloc((size_t)M, sizeof *chat_visitors);
    if (!agents_arr || !chat_visitors)
        return;
    counters_reset();
    phase = PH_CHAT_SETUP;
    int fds0 = fd_count(cfg.beckon_pid);
    uint64_t t0 = now_ns();
    if (login_agents(agents_arr, A, cfg.agent_prefix, NULL) != 0) {
        row(label, "setup", "agent login failed", "", "**miss**");
        goto out;
    }
    for (int i = 0; i < A; i++)
        cq_push(&agents_arr[i]);
    if (!run_until(&n.welcomed, A, 20)) {
        say("chat: only %ld of %d agents said hello (%s)", n.welcomed, A, first_error);
        row(label, "setup", "agents did not all connect", "", "**miss**");
        goto out;
    }
    for (int i = 0; i < M; i++) {
        chat_visitors[i].role = VISITOR;
        chat_visitors[i].idx = i;
        chat_visitors[i].agent_of = i % A;
        cq_push(&chat_visitors[i]);
    }
    /* every visitor opens a conversation; its agent accepts it ("ok") */
    if (!run_until(&n.oks, M, 60)) {
        say("chat: setup incomplete: %ld welcomed, %ld acked, %ld accepted of %d; first error: %s", n.welcomed,
            n.acked, n.oks, M, first_error);
        row(label, "setup", "conversations not all accepted", "", "**miss**");
        goto out;
    }
    say("chat: %d conversations with %d agents ready in %.2f s", M, A, secs_since(t0));
    if (two) {
        bus_on = bus_start();
        if (!bus_on)
            say("chat: the bus is not counted (no --redis-socket, or no subscription to %s)", cfg.bus_channel);
    }
    run_for(0.5);
    for (int r = 0; r < rates_n; r++) {
        long rate = rates[r];
        counters_reset();
        lat_len = 0;
        phase = PH_CHAT;
        pace_rate = rate;
        pace_goal = (long)(rate * window);
        long nodes_listening = bus_on ? bus_numsub() - 1 : -1;  /* all but our own subscriber */
        long long pub0 = bus_on ? redis_publishes() : -1;
        long bus0 = bus.msgs, busc0 = bus.control;
        unsigned long long busb0 = bus.bytes;
        long long c0 = nodes_ticks(), s0 = nodes_sched();
        long long rc0 = cfg.redis_pid ? sched_ns(cfg.redis_pid) : -1;
        long long w0 = nodes_wait(), rw0 = cfg.redis_pid ? sched_wait(cfg.redis_pid) : 0,
                  gw0 = sched_wait(getpid());
        long long all0 = cpu_busy(-1), self0 = cpu_ticks(getpid()), r0 = cfg.redis_pid ? cpu_ticks(cfg.redis_pid) : 0;
        pace_t0 = now_ns();
        on_tick = chat_tick;
        run_for(window);
        chat_tick();
        on_tick = NULL;
        double send_secs = secs_since(pace_t0);
        uint64_t td = now_ns();
        while ((n.acked < n.sent || n.delivered < n.sent) && secs_since(td) < 5)
            run_for(0.002);
        double secs = secs_since(pace_t0);
        long long c1 = nodes_ticks(), s1 = nodes_sched();
        long long rc1 = cfg.redis_pid ? sched_ns(cfg.redis_pid) : -1;
        long long w1 = nodes_wait(), rw1 = cfg.redis_pid ? sched_wait(cfg.redis_pid) : 0,
                  gw1 = sched_wait(getpid());
        double wait_b = (double)(w1 - w0) / 1e9 / secs * 100, wait_r = (double)(rw1 - rw0) / 1e9 / secs * 100,
               wait_g = (double)(gw1 - gw0) / 1e9 / secs * 100;
        long long all1 = cpu_busy(-1), self1 = cpu_ticks(getpid()), r1 = cfg.redis_pid ? cpu_ticks(cfg.redis_pid) : 0;
        /* what everything else on the machine took meanwhile, in % of one CPU */
        double others = (double)((all1 - all0) - (c1 - c0) - (self1 - self0) - (r1 - r0)) / (double)clk_tck / secs * 100;
        double self_pct = (double)(self1 - self0) / (double)clk_tck / secs * 100;
        qsort(lat_us, (size_t)lat_len, sizeof *lat_us, cmp_u32);
        double p50 = pct(lat_us, lat_len, 0.5), p99 = pct(lat_us, lat_len, 0.99),
               p999 = pct(lat_us, lat_len, 0.999), pmax = lat_len ? lat_us[lat_len - 1] / 1000.0 : 0;
        double cpu_us_stat = n.delivered ? (double)(c1 - c0) * 1e6 / (double)clk_tck / (double)n.delivered : 0;
        double cpu_us_sched = n.delivered ? (double)(s1 - s0) / 1e3 / (double)n.delivered : 0;
        double redis_us = n.delivered && rc0 >= 0 ? (double)(rc1 - rc0) / 1e3 / (double)n.delivered : -1;
        double beckon_util = (double)(s1 - s0) / 1e9 / secs * 100;
        say("chat %ld msg/s: sent %ld in %.2f s, acked %ld, delivered %ld (%.0f/s); latency p50 %.3f p99 %.3f "
            "p99.9 %.3f max %.3f ms; beckon CPU %.1f µs/msg (stat) %.1f µs/msg (schedstat), %.0f%% of a core; "
            "redis %.1f µs/msg; errors %ld (rate-limited %ld) %s",
            rate, n.sent, send_secs, n.acked, n.delivered, n.delivered / secs, p50, p99, p999, pmax, cpu_us_stat,
            cpu_us_sched, beckon_util, redis_us, n.errors, n.rate_limited, first_error);
        char scen[64], value[600], tgt[64];
        snprintf(scen, sizeof scen, "%s %ld msg/s", label, rate);
        int all = n.acked == n.sent && n.delivered == n.sent && n.errors == 0;
        double redis_util = rc0 >= 0 ? (double)(rc1 - rc0) / 1e9 / secs * 100 : -1;
        if (ladder) {
            int ok = all && p99 <= cfg.ladder_p99_ms;
            snprintf(value, sizeof value, "%.0f msg/s delivered (%ld sent, %ld acked, %ld delivered, %ld errors); "
                     "p50 %.2f / p99 %.2f / p99.9 %.2f ms (max %.2f); beckon %.1f µs/msg at %.0f%% of its CPU, "
                     "redis %.1f µs/msg at %.0f%% of a CPU, generator %.0f%%; waiting for a CPU: beckon %.0f%%, "
                     "redis %.0f%%, generator %.0f%%; others %.0f%% of a CPU",
                     n.delivered / secs, n.sent, n.acked, n.delivered, n.errors, p50, p99, p999, pmax, cpu_us_stat,
                     beckon_util, redis_us, redis_util, self_pct, wait_b, wait_r, wait_g, others < 0 ? 0 : others);
            snprintf(tgt, sizeof tgt, "all acked and delivered, p99 ≤ %.0f ms", cfg.ladder_p99_ms);
            row(scen, "one rung: every message acked and delivered, p99", value, tgt, ok ? "pass" : "miss");
            if (!ok) {
                failed_at = rate;
                if (!all)
                    snprintf(failed_why, sizeof failed_why, "%ld of %ld acked, %ld delivered, %ld errors", n.acked,
                             n.sent, n.delivered, n.errors);
                else
                    snprintf(failed_why, sizeof failed_why, "p99 %.1f ms", p99);
                break;
            }
            best = rate;
            phase = PH_CHAT_SETUP;
            run_for(0.5);
            continue;
        }
        snprintf(value, sizeof value, "%.0f msg/s delivered to agents (%ld sent, %ld acked = persisted, %ld delivered, %ld errors)",
                 n.delivered / secs, n.sent, n.acked, n.delivered, n.errors);
        row(scen, "throughput, every message acked", value, "all acked", verdict(all));
        snprintf(value, sizeof value, "p50 %.2f / p99 %.2f / p99.9 %.2f ms (max %.2f)", p50, p99, p999, pmax);
        if (rate == 5000)
            snprintf(tgt, sizeof tgt, "p99 ≤ 5 ms");
        else
            snprintf(tgt, sizeof tgt, "(p99 ≤ 5 ms at 5 000)");
        row(scen, "latency visitor send → agent push", value, tgt,
            rate == 5000 ? verdict(p99 <= 5.0 && all) : (p99 <= 5.0 ? "pass" : "miss"));
        snprintf(value, sizeof value, "%.1f µs (schedstat %.1f µs; beckon at %.0f%% of its CPU; redis %.1f µs/msg; "
                 "load generator %.0f%% of a CPU; other processes on the machine %.0f%% of a CPU; "
                 "time spent runnable but waiting for a CPU: beckon %.0f%%, redis %.0f%%, generator %.0f%%)",
                 cpu_us_stat, cpu_us_sched, beckon_util, redis_us, self_pct, others < 0 ? 0 : others, wait_b, wait_r,
                 wait_g);
        row(scen, two ? "CPU of both nodes per delivered message" : "beckon CPU per delivered message", value, "≤ 15 µs", verdict(cpu_us_stat <= 15.0 && n.delivered));
        if (rc0 >= 0) {
            snprintf(value, sizeof value, "%.1f µs (schedstat of redis-server, all its threads, over the window, divided "
                     "by the messages delivered; redis at %.0f%% of a CPU, %.0f%% of the time waiting for it%s)",
                     redis_us, redis_util, wait_r, bus_on ? "; includes serving the generator's own bus subscriber" : "");
            row(scen, "redis CPU per delivered message", value, "≤ 15 µs, all acked",
                verdict(redis_us <= 15.0 && all && n.delivered));
        }
        if (bus_on) {
            /* the bus messages of the window: read a little after its end (they were sent before
             * the deliveries, but may still sit in our socket) */
            run_for(0.1);
            long msgs = bus.msgs - bus0, ctl = bus.control - busc0;
            unsigned long long bytes = bus.bytes - busb0;
            long long pubs = redis_publishes();
            double per = n.delivered ? (double)msgs / (double)n.delivered : 0;
            /* the need: the agents' node gets each visitor message once, the visitors' node none
             * (the sender has its ack); summed over the nodes, one receipt per chat message */
            double sum = nodes_listening > 0 ? per * (double)nodes_listening : 0;
            snprintf(value, sizeof value, "%.2f on each of the %ld nodes = %.2f receipts per chat message over all "
                     "nodes (need: 1, on the agents' node; 0 on the visitors'). Counted by the generator's own "
                     "SUBSCRIBE to %s (PUBSUB NUMSUB: %ld nodes + it; each subscriber receives every message once): "
                     "%ld bus messages (%ld of them to the nodes themselves, \"!…\"), %.0f bytes each on average, "
                     "for %ld chat messages; PUBLISH calls in Redis (INFO commandstats) %lld",
                     per, nodes_listening, sum, cfg.bus_channel, nodes_listening, msgs, ctl,
                     msgs ? (double)bytes / (double)msgs : 0, n.delivered, pub0 >= 0 && pubs >= 0 ? pubs - pub0 : -1);
            row(scen, "bus messages received per node per chat message", value,
                "only what its sockets need (≤ 1 per chat message over all nodes)",
                verdict(n.delivered && nodes_listening > 0 && sum <= 1.05));
        }
        phase = PH_CHAT_SETUP;
        run_for(0.5);
    }
    if (ladder) {
        char value[400], tgt[64];
        if (failed_at)
            snprintf(value, sizeof value, "%ld msg/s (rungs of %.0f s from %d msg/s; the next, %ld msg/s, missed: %s)",
                     best, window, rates[0], failed_at, failed_why);
        else
            snprintf(value, sizeof value, "%ld msg/s or more (every rung passed, %d to %d msg/s, %.0f s each)", best,
                     rates[0], rates[rates_n - 1], window);
        snprintf(tgt, sizeof tgt, "≥ %d msg/s", cfg.ladder_goal);
        char measure[96];
        snprintf(measure, sizeof measure, "highest rate with p99 ≤ %.0f ms, all acked and delivered", cfg.ladder_p99_ms);
        /* a short ladder (--quick) that never reached the target cannot judge it */
        row(label, measure, value, tgt,
            !failed_at && best < cfg.ladder_goal ? "(rungs end below the target)" : verdict(best >= cfg.ladder_goal));
    }
out:
    on_tick = NULL;
    bus_stop();
    teardown(agents_arr, A, -1);
    teardown(chat_visitors, M, fds0);
    free(chat_visitors);
    free(agents_arr);
    agents_arr = NULL;
    chat_visitors = NULL;
    two_nodes = 0;
    phase = PH_NONE;
}

/* ---- scenario 5: a slow consumer ------------------------------------------------------ */

static client *slow_agent_c, *slow_visitor_c;
static uint64_t slow_t0;
static long slow_goal;

static void slow_tick(void)
{
    long due = (long)((double)(now_ns() - slow_t0) * cfg.slow_rate / 1e9);
    while (n.sent < due && n.sent < slow_goal)
        send_message(slow_agent_c, slow_visitor_c->conv, cfg.slow_bytes, "s");
}

static void scenario_slow(void)
{
    client *cs = calloc(2, sizeof *cs);
    if (!cs)
        return;
    slow_agent_c = &cs[0];
    slow_visitor_c = &cs[1];
    agents_arr = slow_agent_c;
    counters_reset();
    phase = PH_SLOW;
    int fds0 = fd_count(cfg.beckon_pid);
    if (login_agents(slow_agent_c, 1, NULL, cfg.slow_agent) != 0) {
        row("5 slow consumer", "setup", "agent login failed", "", "**miss**");
        goto out;
    }
    cq_push(slow_agent_c);
    if (!run_until(&n.welcomed, 1, 10))
        goto fail;
    slow_visitor_c->role = VISITOR;
    slow_visitor_c->idx = 1;
    cq_push(slow_visitor_c);
    if (!run_until(&n.acked, 1, 10))  /* the visitor opened its conversation */
        goto fail;
    send_fmt(slow_agent_c, "{\"type\":\"accept\",\"req\":\"a\",\"conversation\":\"%s\"}", slow_visitor_c->conv);
    if (!run_until(&n.oks, 1, 10))
        goto fail;
    run_for(0.3);
    long rss0 = rss_kb(cfg.beckon_pid), peak = rss0;
    int fdsb = fd_count(cfg.beckon_pid);
    long log_from = file_size(cfg.beckon_log);
    wsc_pause(&slow_visitor_c->ws);
    uint64_t pushes_before = slow_visitor_c->pushes;
    counters_reset();
    slow_goal = (long)(cfg.slow_rate * cfg.slow_secs);
    slow_t0 = now_ns();
    on_tick = slow_tick;
    double drop_at = -1;
    char series[1024] = "";
    size_t sl = 0;
    int sample = 0;
    while (secs_since(slow_t0) < cfg.slow_secs && (drop_at < 0 || secs_since(slow_t0) < drop_at + 1.5)) {
        run_for(0.1);
        long rss = rss_kb(cfg.beckon_pid);
        int fds = fd_count(cfg.beckon_pid);
        if (rss > peak)
            peak = rss;
        double t = secs_since(slow_t0);
        if (drop_at < 0 && ((fds >= 0 && fds < fdsb) || log_has(cfg.beckon_log, log_from, "client is not reading")))
            drop_at = t;
        if (sample++ % 5 == 0 && sl < sizeof series - 40)
            sl += (size_t)snprintf(series + sl, sizeof series - sl, "%s%.1fs %.1f", sl ? ", " : "", t, rss / 1024.0);
        say("slow: t=%.1f s RSS %ld KB, beckon fds %d, agent sent %ld acked %ld", t, rss, fds, n.sent, n.acked);
    }
    on_tick = NULL;
    long sent = n.sent;
    run_for(0.3);
    long rss_end = rss_kb(cfg.beckon_pid);
    /* read what the server left in the pipe; it should end with close 1008 */
    wsc_resume(&slow_visitor_c->ws);
    uint64_t tr = now_ns();
    while (slow_visitor_c->ws.state != WSC_CLOSED && secs_since(tr) < 5)
        run_for(0.05);
    int code = slow_visitor_c->ws.state == WSC_CLOSED ? slow_visitor_c->close_code : -2;
    const char *reason = code == -2 ? "still open" : slow_visitor_c->close_reason;
    say("slow: dropped at %.2f s; close %d \"%s\"; visitor read %llu pushes, %llu bytes; RSS %ld → peak %ld → %ld KB",
        drop_at, code, reason, (unsigned long long)(slow_visitor_c->pushes - pushes_before),
        (unsigned long long)slow_visitor_c->ws.bytes_in, rss0, peak, rss_end);
    char value[1400], seen[160];
    if (code == 1008)
        snprintf(seen, sizeof seen, "the client got close 1008 \"%s\"", reason);
    else if (code == 0)
        snprintf(seen, sizeof seen, "the client got no close frame (TCP closed after the bytes already in flight: 1006)");
    else
        snprintf(seen, sizeof seen, "close %d \"%s\"", code, reason);
    snprintf(value, sizeof value, "dropped %.1f s (±0.1) after it stopped reading (agent sent %ld × %d B at %d/s; "
             "beckon logged \"client is not reading\"); %s after reading %llu pushes (%.1f MB) still in the pipe",
             drop_at, sent, cfg.slow_bytes, cfg.slow_rate, seen,
             (unsigned long long)(slow_visitor_c->pushes - pushes_before), slow_visitor_c->ws.bytes_in / 1048576.0);
    row("5 slow consumer", "dropped (close 1008 \"send queue full\")", value, "dropped, RSS bounded",
        verdict(drop_at >= 0 && code != -2));
    snprintf(value, sizeof value, "%.1f → peak %.1f → %.1f MB (+%.2f MB peak; MB over time: %s)", rss0 / 1024.0,
             peak / 1024.0, rss_end / 1024.0, (peak - rss0) / 1024.0, series);
    row("5 slow consumer", "beckon RSS while it stalls", value, "bounded (≈ 1 MiB queue)",
        verdict(peak - rss0 < 8 * 1024));
    goto out;
fail:
    say("slow: setup failed: %s", first_error);
    row("5 slow consumer", "setup", "failed", "", "**miss**");
out:
    on_tick = NULL;
    teardown(cs, 2, fds0);
    agents_arr = NULL;
    free(cs);
    phase = PH_NONE;
}

/* ---- scenario 6: reconnect storm ------------------------------------------------------ */

static void scenario_storm(void)
{
    long N = cfg.storm;
    client *cs = calloc((size_t)N, sizeof *cs);
    uint32_t *per = calloc((size_t)N, sizeof *per);
    if (!cs || !per)
        return;
    counters_reset();
    phase = PH_STORM_SETUP;
    int fds0 = fd_count(cfg.beckon_pid);
    uint64_t t0 = now_ns();
    for (long i = 0; i < N; i++) {
        cs[i].role = VISITOR;
        cs[i].idx = (int)i;
        cq_push(&cs[i]);
    }
    run_until(&n.oks, N, cfg.storm_timeout);
    long ready = 0;
    for (long i = 0; i < N; i++)
        ready += cs[i].conv[0] && cs[i].token[0];
    say("storm: %ld visitors with a (closed) conversation in %.2f s (%ld failed; %s)", ready, secs_since(t0), n.failed,
        first_error);
    run_for(0.5);
    counters_reset();
    phase = PH_STORM;
    long long sc0 = sched_ns(cfg.beckon_pid), sw0 = sched_wait(cfg.beckon_pid);
    long long rc0 = cfg.redis_pid ? sched_ns(cfg.redis_pid) : 0;
    t0 = now_ns();
    for (long i = 0; i < N; i++) {
        if (!cs[i].conv[0])
            continue;
        cs[i].requeue = 1;
        wsc_close(&cs[i].ws, 0);
    }
    run_until(&n.histories, ready, cfg.storm_timeout);
    while (n.histories + n.failed < ready && secs_since(t0) < cfg.storm_timeout)
        run_for(0.05);
    double total = secs_since(t0);
    double b_cpu = (double)(sched_ns(cfg.beckon_pid) - sc0) / 1e9, b_wait = (double)(sched_wait(cfg.beckon_pid) - sw0) / 1e9;
    double r_cpu = cfg.redis_pid ? (double)(sched_ns(cfg.redis_pid) - rc0) / 1e9 : 0;
    long k = 0;
    for (long i = 0; i < N; i++)
        if (cs[i].t_done > t0 && cs[i].conv[0])
            per[k++] = (uint32_t)((cs[i].t_done - t0) / 1000);
    qsort(per, (size_t)k, sizeof *per, cmp_u32);
    say("storm: %ld of %ld had their history after %.2f s (p50 %.0f ms, p99 %.0f ms); %ld failed; %s", n.histories,
        ready, total, pct(per, k, 0.5), pct(per, k, 0.99), n.failed, first_error);
    char value[400], scen[64];
    snprintf(scen, sizeof scen, "6 reconnect storm %ld", N);
    snprintf(value, sizeof value, "%.2f s until all %ld had `history` (%ld done, %ld failed; per client p50 %.0f ms, "
             "p99 %.0f ms; %d handshakes in flight at most; beckon CPU %.2f s = %.0f µs per reconnect, %.2f s waiting "
             "for a CPU; redis CPU %.2f s)", total, ready, n.histories, n.failed, pct(per, k, 0.5),
             pct(per, k, 0.99), cfg.window, b_cpu, ready ? b_cpu * 1e6 / (double)ready : 0, b_wait, r_cpu);
    row(scen, "drop all, reconnect with token + resume", value, "(no target)",
        n.histories == ready && ready == N ? "done" : "**incomplete**");
    teardown(cs, N, fds0);
    free(cs);
    free(per);
    phase = PH_NONE;
}

/* ---- main ------------------------------------------------------------------------------ */

static int parse_list(const char *s, int *out)
{
    int k = 0;
    while (*s && k < MAX_LIST) {
        out[k++] = atoi(s);
        const char *comma = strchr(s, ',');
        if (!comma)
            break;
        s = comma + 1;
    }
    return k;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: beckon-loadgen [options] idle|chat|ladder|slow|storm|twonode...\n"
            "       beckon-loadgen free-port\n"
            "  --port N             beckon's port on 127.0.0.1 (8080)\n"
            "  --beckon-pid PID     the server process to observe (required)\n"
            "  --redis-pid PID      redis-server, for its CPU per message (optional)\n"
            "  --cpu N              pin this process to CPU N\n"
            "  --sources N          spread clients over 127.0.0.1..127.0.0.N (100)\n"
            "  --window N           handshakes in flight at once (1000)\n"
            "  --idle LIST          idle connection counts, cumulative (1000,5000,10000,19000)\n"
            "  --conversations N    chat: visitor/agent conversations (500)\n"
            "  --agents N           chat: agents, named PREFIX1..PREFIXN (50)\n"
            "  --agent-prefix S     (bench-a)   --agent-password S (bench-password)\n"
            "  --rates LIST         chat: total visitor messages per second (1000,5000,10000)\n"
            "  --chat-secs S        chat: seconds per rate (10)\n"
            "  --msg-bytes N        chat: message text size (100)\n"
            "  --slow-agent NAME    slow: the agent who sends (bench-slow)\n"
            "  --slow-secs S --slow-rate N --slow-bytes N   (6, 400/s, 8000)\n"
            "  --storm N            reconnect storm: visitors (10000)\n"
            "  --beckon-log FILE    beckon's log: the slow consumer's drop is read from it\n"
            "  --port2 N --beckon2-pid PID   twonode: a second beckon on the same Redis; agents there\n"
            "  --rates2 LIST        twonode: rates (5000)\n"
            "  --open-window N      conversations opened at once during setup (20): beckon announces every\n"
            "                       queue change to everyone waiting, so a long queue costs O(n) each\n"
            "  --idle-no-hello      idle: open the WebSockets but say no hello (what lws alone costs)\n"
            "  --idle-page          idle: hello with a page, as the widget sends it (a page view is tracked)\n"
            "  --nice N             run at this priority: a session of its own with autogroup nice N\n"
            "  --redis-socket PATH  Redis' unix socket: twonode counts the bus with a subscriber of its own\n"
            "  --bus-channel NAME   the nodes' bus channel (bk:bus)\n"
            "  --ladder LIST        ladder: rates climbed until one misses (5000,10000,...,30000)\n"
            "  --ladder-secs S      ladder: seconds per rung (5)\n"
            "  --ladder-p99 MS      ladder: a rung passes with every message acked and delivered and p99 ≤ MS (50)\n"
            "  --ladder-goal N      ladder: the target for the highest passing rate (25000)\n");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "free-port") == 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001u) };
        socklen_t al = sizeof a;
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fd, (struct sockaddr *)&a, &al) != 0)
            return 1;
        printf("%d\n", ntohs(a.sin_port));
        close(fd);
        return 0;
    }
    static const struct option opts[] = {
        { "port", 1, 0, 'p' }, { "beckon-pid", 1, 0, 'b' }, { "redis-pid", 1, 0, 'r' }, { "cpu", 1, 0, 'c' },
        { "sources", 1, 0, 'S' }, { "window", 1, 0, 'w' }, { "idle", 1, 0, 'i' },
        { "conversations", 1, 0, 'M' }, { "agents", 1, 0, 'A' }, { "agent-prefix", 1, 0, 'P' },
        { "agent-password", 1, 0, 'W' }, { "rates", 1, 0, 'R' }, { "chat-secs", 1, 0, 'T' },
        { "msg-bytes", 1, 0, 'B' }, { "slow-agent", 1, 0, 'a' }, { "slow-secs", 1, 0, 's' },
        { "slow-rate", 1, 0, 'x' }, { "slow-bytes", 1, 0, 'y' }, { "storm", 1, 0, 'N' },
        { "beckon-log", 1, 0, 'L' }, { "open-window", 1, 0, 'O' }, { "port2", 1, 0, '2' }, { "beckon2-pid", 1, 0, '3' },
        { "rates2", 1, 0, '4' }, { "idle-no-hello", 0, 0, 'H' }, { "idle-page", 0, 0, 'G' }, { "nice", 1, 0, 'n' },
        { "redis-socket", 1, 0, 'U' }, { "bus-channel", 1, 0, 'C' }, { "ladder", 1, 0, 'l' },
        { "ladder-secs", 1, 0, 't' }, { "ladder-p99", 1, 0, '9' }, { "ladder-goal", 1, 0, 'g' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
    };
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'p': cfg.port = atoi(optarg); break;
        case 'b': cfg.beckon_pid = atoi(optarg); break;
        case 'r': cfg.redis_pid = atoi(optarg); break;
        case 'c': cfg.cpu = atoi(optarg); break;
        case 'S': cfg.sources = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'w': cfg.window = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'i': cfg.idle_n = parse_list(optarg, cfg.idle); break;
        case 'M': cfg.conversations = atoi(optarg); break;
        case 'A': cfg.agents = atoi(optarg); break;
        case 'P': cfg.agent_prefix = optarg; break;
        case 'W': cfg.agent_password = optarg; break;
        case 'R': cfg.rates_n = parse_list(optarg, cfg.rates); break;
        case 'T': cfg.chat_secs = atof(optarg); break;
        case 'B': cfg.msg_bytes = atoi(optarg); break;
        case 'a': cfg.slow_agent = optarg; break;
        case 's': cfg.slow_secs = atof(optarg); break;
        case 'x': cfg.slow_rate = atoi(optarg); break;
        case 'y': cfg.slow_bytes = atoi(optarg); break;
        case 'N': cfg.storm = atoi(optarg); break;
        case 'L': cfg.beckon_log = optarg; break;
        case 'n': cfg.nice = atoi(optarg); break;
        case 'H': cfg.idle_no_hello = 1; break;
        case 'G': cfg.idle_page = 1; break;
        case 'O': cfg.open_window = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case '2': cfg.port2 = atoi(optarg); break;
        case '3': cfg.beckon2_pid = atoi(optarg); break;
        case '4': cfg.rates2_n = parse_list(optarg, cfg.rates2); break;
        case 'U': cfg.redis_socket = optarg; break;
        case 'C': cfg.bus_channel = optarg; break;
        case 'l': cfg.ladder_n = parse_list(optarg, cfg.ladder); break;
        case 't': cfg.ladder_secs = atof(optarg); break;
        case '9': cfg.ladder_p99_ms = atof(optarg); break;
        case 'g': cfg.ladder_goal = atoi(optarg); break;
        default: usage(); return o == 'h' ? 0 : 2;
        }
    }
    if (!cfg.beckon_pid || optind >= argc) {
        usage();
        return 2;
    }
    if (cfg.conversations < 1 || cfg.agents < 1 || cfg.storm < 1 || cfg.msg_bytes < 24 || cfg.slow_bytes < 24) {
        say("bad sizes");
        return 2;
    }
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    getrlimit(RLIMIT_NOFILE, &lim);
    if (cfg.nice != 0) {
        /* With autogroup scheduling, nice counts only inside a session: take a session of our
         * own and set its autogroup's nice (falls back to the process's nice). */
        setsid();
        FILE *ag = fopen("/proc/self/autogroup", "w");
        int ok = ag && fprintf(ag, "%d", cfg.nice) > 0;
        if (ag && fclose(ag) != 0)
            ok = 0;
        if (!ok && setpriority(PRIO_PROCESS, 0, cfg.nice) != 0)
            say("cannot raise priority (nice %d): %s", cfg.nice, strerror(errno));
    }
    if (cfg.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cfg.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            say("cannot pin to CPU %d: %s", cfg.cpu, strerror(errno));
    }
    say("descriptors: %llu; pinned to CPU %d; beckon pid %d", (unsigned long long)lim.rlim_cur, cfg.cpu,
        cfg.beckon_pid);
    clk_tck = sysconf(_SC_CLK_TCK);
    memset(padding, 'x', sizeof padding - 1);
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    target.dst.sin_family = AF_INET;
    target.dst.sin_port = htons((uint16_t)cfg.port);
    target.dst.sin_addr.s_addr = htonl(0x7f000001u);
    snprintf(host_header, sizeof host_header, "127.0.0.1:%d", cfg.port);
    target.host_header = host_header;
    target.path = "/ws";
    target2 = target;
    target2.dst.sin_port = htons((uint16_t)cfg.port2);
    snprintf(host_header2, sizeof host_header2, "127.0.0.1:%d", cfg.port2);
    target2.host_header = host_header2;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 1, 1);

    for (int i = optind; i < argc; i++) {
        if (rss_kb(cfg.beckon_pid) < 0) {
            say("beckon (pid %d) is gone", cfg.beckon_pid);
            return 1;
        }
        say("== scenario %s", argv[i]);
        if (strcmp(argv[i], "idle") == 0)
            scenario_idle();
        else if (strcmp(argv[i], "chat") == 0)
            scenario_chat(CHAT_ONE);
        else if (strcmp(argv[i], "ladder") == 0)
            scenario_chat(CHAT_LADDER);
        else if (strcmp(argv[i], "twonode") == 0 && cfg.port2 && cfg.beckon2_pid)
            scenario_chat(CHAT_TWO);
        else if (strcmp(argv[i], "slow") == 0)
            scenario_slow();
        else if (strcmp(argv[i], "storm") == 0)
            scenario_storm();
        else
            say("unknown scenario %s", argv[i]);
    }
    uv_timer_stop(&tick);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
