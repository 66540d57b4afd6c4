/* loadgen.c - Beckon's scale benchmark: thousands of WebSocket clients on one libuv loop.
 *
 *   beckon-loadgen [options] SCENARIO...      idle | chat | ladder | slow | storm | nodes | pageviews
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
#define MAX_NODES 8

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
    int node_counts[MAX_LIST], node_counts_n;  /* scenario 4: the clients spread over 2, then 4 nodes */
    int nodes_rate;
    double nodes_secs;
    int open_window;           /* conversations being opened at once (the queue stays this short) */
    const char *redis_socket;  /* Redis' unix socket: its PUBLISH counts (INFO commandstats) */
    int ladder[MAX_LIST], ladder_n;  /* scenario 7: rates climbed until one fails */
    double ladder_secs, ladder_p99_ms;
    int ladder_goal;
    int pv_visitors, pv_rules;     /* scenario 8: page views with the rules loaded */
    int pv_rates[MAX_LIST], pv_rates_n;
    double pv_secs;
    const char *marketer;
} cfg = {
    .port = 8080, .cpu = -1, .sources = 100, .window = 1000,
    .idle = { 1000, 5000, 10000, 19000 }, .idle_n = 4,
    .conversations = 500, .agents = 50, .agent_prefix = "bench-a", .agent_password = "bench-password",
    .rates = { 1000, 5000, 10000 }, .rates_n = 3, .chat_secs = 10, .msg_bytes = 100,
    .slow_agent = "bench-slow", .slow_secs = 6, .slow_rate = 400, .slow_bytes = 8000,
    .storm = 10000, .storm_timeout = 60,
    .node_counts = { 2, 4 }, .node_counts_n = 2, .nodes_rate = 5000, .nodes_secs = 5, .open_window = 20,
    .ladder = { 5000, 10000, 15000, 20000, 25000, 30000 }, .ladder_n = 6, .ladder_secs = 5,
    .ladder_p99_ms = 50, .ladder_goal = 25000,
    .pv_visitors = 1000, .pv_rules = 1000, .pv_rates = { 2000, 5000 }, .pv_rates_n = 2, .pv_secs = 5,
    .marketer = "bench-marketer",
};

static uv_loop_t *loop;
static long clk_tck;

/* The beckon processes on the same Redis: the first is --port/--beckon-pid (every scenario
 * uses it), the others come with --node PORT:PID (scenario 4 only). */
typedef struct node {
    int port, pid;
    wsc_target target;
    char host_header[64];
    int fds_before;             /* open descriptors before a scenario's clients connected */
    long long bus_before;       /* beckon_bus_messages_received_total when a window began */
} node;
static node nodes[MAX_NODES];
static int nodes_known = 1;
static int nodes_used = 1;      /* the clients of the running scenario are spread over nodes[0..) */

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
enum phase { PH_NONE, PH_IDLE, PH_CHAT_SETUP, PH_CHAT, PH_SLOW, PH_STORM_SETUP, PH_STORM, PH_PV_SETUP, PH_PV };

typedef struct client {
    wsc ws;  /* first: a wsc * is a client * */
    enum role role;
    int idx;
    int node;                 /* connects to nodes[node] */
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
    long sent, invites;
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
    else if ((phase == PH_IDLE && cfg.idle_page) || phase == PH_PV_SETUP)
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
        if (phase == PH_PV) {
            /* a page view's req carries its send time: "t<ns>" */
            const char *t = memmem(m, len, "\"req\":\"t", 8);
            unsigned long long sent = t ? strtoull(t + 8, NULL, 10) : 0;
            uint64_t now = now_ns();
            if (sent && sent <= now)
                lat_add(now - sent);
            return;
        }
        if ((phase == PH_CHAT_SETUP && c->role == AGENT) || (phase == PH_STORM_SETUP && c->role == VISITOR))
            open_inflight--;  /* accepted, or closed: the next one may open */
        return;
    }
    if (is_type(m, len, "invite")) {
        n.invites++;
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
    int rc = wsc_connect(&c->ws, loop, &nodes[c->node].target, &src,
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

/* Notes the open descriptors of the nodes in use, before a scenario's clients connect. */
static void nodes_note_fds(void)
{
    for (int k = 0; k < nodes_used; k++)
        nodes[k].fds_before = fd_count(nodes[k].pid);
}

/* Closes every client and waits (bounded): with wait_for_nodes, also until the nodes in use
 * have let go of the sockets (down to what nodes_note_fds saw). */
static void teardown(client *cs, long count, int wait_for_nodes)
{
    close_all(cs, count, 0);
    uint64_t t = now_ns();
    while (open_count(cs, count) > 0 && secs_since(t) < 5)
        uv_run(loop, UV_RUN_ONCE);
    for (int k = 0; wait_for_nodes && k < nodes_used; k++)
        while (nodes[k].fds_before > 0 && fd_count(nodes[k].pid) > nodes[k].fds_before + 2 && secs_since(t) < 10)
            run_for(0.05);
}

/* ---- HTTP, blocking: logins and rules (setup), GET /metrics (outside a window) -------- */

/* Sends one request (Connection: close) on a new connection: its socket, or -1. */
static int http_send(const wsc_target *t, const char *req, size_t req_len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&t->dst, sizeof t->dst) != 0 ||
        write(fd, req, req_len) != (ssize_t)req_len) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads the reply of http_send into resp (NUL-terminated): the head and as much of the body as
 * its Content-Length says; closes fd. Returns the bytes read. */
static long http_receive(int fd, char *resp, size_t size)
{
    size_t got = 0;
    ssize_t r;
    resp[0] = '\0';
    while (got < size - 1 && (r = read(fd, resp + got, size - 1 - got)) > 0) {
        got += (size_t)r;
        resp[got] = '\0';
        /* lws may keep the connection open after the reply: stop when the body is whole */
        const char *body = strstr(resp, "\r\n\r\n");
        const char *length = strcasestr(resp, "\r\ncontent-length:");
        if (body && length && length < body && got >= (size_t)(body + 4 - resp) + strtoul(length + 17, NULL, 10))
            break;
    }
    close(fd);
    return (long)got;
}

/* Both: the bytes read, or -1. */
static long http_exchange(const wsc_target *t, const char *req, size_t req_len, char *resp, size_t size)
{
    int fd = http_send(t, req, req_len);
    if (fd < 0) {
        resp[0] = '\0';
        return -1;
    }
    return http_receive(fd, resp, size);
}

static int login(const wsc_target *t, const char *name, const char *password, char *token, size_t size)
{
    char body[512], req[1024], resp[8192];
    int bl = snprintf(body, sizeof body, "{\"name\":\"%s\",\"password\":\"%s\"}", name, password);
    int rl = snprintf(req, sizeof req,
                      "POST /api/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\nConnection: close\r\n\r\n%s", t->host_header, bl, body);
    long got = http_exchange(t, req, (size_t)rl, resp, sizeof resp);
    if (got < 0 || strncmp(resp, "HTTP/1.1 200", 12) != 0) {
        say("login %s: %.80s", name, got < 0 ? strerror(errno) : resp);
        return -1;
    }
    return jstr(resp, (size_t)got, "token", token, size);
}

enum { BUS_NOT_COUNTED = -1, BUS_UNREACHABLE = -2 };

/* The node's beckon_bus_messages_received_total from GET /metrics (every sample of it summed,
 * should it carry labels); BUS_NOT_COUNTED when the node does not count it (a beckon from
 * before the sharded bus), BUS_UNREACHABLE when /metrics did not answer. */
static long long node_bus_received(const node *nd)
{
    static const char name[] = "beckon_bus_messages_received_total";
    static char resp[1 << 17];
    char req[256];
    int rl = snprintf(req, sizeof req, "GET /metrics HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                      nd->host_header);
    long got = http_exchange(&nd->target, req, (size_t)rl, resp, sizeof resp);
    if (got < 0 || strncmp(resp, "HTTP/1.1 200", 12) != 0)
        return BUS_UNREACHABLE;
    long long total = BUS_NOT_COUNTED;
    for (const char *line = strstr(resp, "\r\n\r\n"); line; line = strchr(line + 1, '\n')) {
        const char *p = line + 1;
        if (strncmp(p, name, sizeof name - 1) != 0)
            continue;
        p += sizeof name - 1;
        if (*p == '{')
            p = strchr(p, '}') ? strchr(p, '}') + 1 : p;
        if (*p != ' ')
            continue;  /* another metric whose name begins with this one */
        total = (total < 0 ? 0 : total) + strtoll(p + 1, NULL, 10);
    }
    return total;
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

/* ---- Redis, blocking: its command counts (outside a window) ---------------------------- */

/* INFO SECTION from Redis' unix socket into out (NUL-terminated). Returns 0 or -1. */
static int redis_info(const char *section, char *out, size_t size)
{
    int fd = cfg.redis_socket ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
    if (fd < 0)
        return -1;
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", cfg.redis_socket);
    char req[128];
    int rl = snprintf(req, sizeof req, "*2\r\n$4\r\nINFO\r\n$%zu\r\n%s\r\n", strlen(section), section);
    if (connect(fd, (const struct sockaddr *)&a, sizeof a) != 0 || write(fd, req, (size_t)rl) != rl) {
        close(fd);
        return -1;
    }
    /* the reply is one bulk string: "$LENGTH\r\n" LENGTH bytes "\r\n" */
    size_t got = 0;
    ssize_t r;
    int whole = 0;
    while (!whole && got < size - 1 && (r = read(fd, out + got, size - 1 - got)) > 0) {
        got += (size_t)r;
        out[got] = '\0';
        const char *eol = strstr(out, "\r\n");
        whole = out[0] == '$' && eol && got >= (size_t)(eol + 2 - out) + strtoul(out + 1, NULL, 10);
    }
    close(fd);
    return whole ? 0 : -1;
}

/* Calls of these commands so far (NULL-ended names, as INFO commandstats spells them), scripts'
 * calls included, or -1. */
static long long redis_calls(const char *const *commands)
{
    static char info[1 << 16];
    if (redis_info("commandstats", info, sizeof info) != 0)
        return -1;
    long long sum = 0;
    for (; *commands; commands++) {
        char key[64];
        int kl = snprintf(key, sizeof key, "cmdstat_%s:calls=", *commands);
        const char *at = strstr(info, key);
        sum += at ? strtoll(at + kl, NULL, 10) : 0;
    }
    return sum;
}

/* PUBLISH and SPUBLISH calls so far, or -1. */
static long long redis_publishes(void)
{
    static const char *const publishes[] = { "publish", "spublish", NULL };
    return redis_calls(publishes);
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
    nodes_note_fds();
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
    teardown(cs, have, 1);
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
        as[i].node = i % nodes_used;  /* round robin, as a load balancer spreads them */
        if (login(&nodes[as[i].node].target, name, cfg.agent_password, as[i].token, sizeof as[i].token) != 0) {
            say("cannot log in agent %s (did scale.sh create it?)", name);
            return -1;
        }
    }
    return 0;
}

/* CPU of the nodes in use, summed */
static long long nodes_ticks(void)
{
    long long sum = 0;
    for (int k = 0; k < nodes_used; k++)
        sum += cpu_ticks(nodes[k].pid);
    return sum;
}
static long long nodes_sched(void)
{
    long long sum = 0;
    for (int k = 0; k < nodes_used; k++)
        sum += sched_ns(nodes[k].pid);
    return sum;
}
static long long nodes_wait(void)
{
    long long sum = 0;
    for (int k = 0; k < nodes_used; k++)
        sum += sched_wait(nodes[k].pid);
    return sum;
}

/* ---- scenario 4's bus: what each node receives per chat message ----------------------- */

/* Each chat message concerns at most two nodes: its visitor's (the visitor's other sockets)
 * and its agent's. A node that receives only what its sockets need therefore gets, summed
 * over the nodes, at most 2 bus messages per chat message whatever their number; the nodes'
 * own messages (heartbeats, queue announcements) add a few per second: BUS_SLACK. */
#define BUS_NEED 2.0
#define BUS_SLACK 0.05
/* From the fewest nodes to the most, the mean per node must fall as a node's share of the
 * sockets does (1/N), give or take this much (2 → 4 nodes: ≤ 0.6 × the mean at 2). */
#define BUS_SHARE_SLACK 1.2

/* What one node count of scenario 4 saw, for the comparison that ends it. */
typedef struct bus_step {
    int nodes, counted;
    double mean, total, cpu_us;
} bus_step;
static bus_step bus_steps[MAX_LIST];
static int bus_steps_n;

/* Every node's counter (those with no sockets too) when a window begins. */
static void bus_window_begin(void)
{
    for (int k = 0; k < nodes_known; k++)
        nodes[k].bus_before = node_bus_received(&nodes[k]);
}

/* The row of one node count: bus messages each node received over the window (its counter
 * after − before) per chat message delivered. */
static void bus_window_end(const char *scen, long delivered, long long publishes, double cpu_us)
{
    bus_step *step = &bus_steps[bus_steps_n < MAX_LIST ? bus_steps_n++ : MAX_LIST - 1];
    *step = (bus_step){ .nodes = nodes_used, .cpu_us = cpu_us };
    char pubs[96] = "";
    if (publishes >= 0 && delivered)
        snprintf(pubs, sizeof pubs, "; Redis PUBLISH + SPUBLISH calls %.2f per chat message",
                 (double)publishes / (double)delivered);
    double per[MAX_NODES];
    int absent = -1, unreachable = -1;
    for (int k = 0; k < nodes_known; k++) {
        long long after = node_bus_received(&nodes[k]), before = nodes[k].bus_before;
        per[k] = -1;
        if (after == BUS_UNREACHABLE || before == BUS_UNREACHABLE)
            unreachable = unreachable < 0 ? k : unreachable;
        else if (after == BUS_NOT_COUNTED || before == BUS_NOT_COUNTED)
            absent = absent < 0 ? k : absent;
        else if (delivered)
            per[k] = (double)(after - before) / (double)delivered;
    }
    char value[900];
    if (unreachable >= 0 || absent >= 0 || !delivered) {
        if (unreachable >= 0)
            snprintf(value, sizeof value, "not counted (GET /metrics of node %d did not answer)%s", unreachable + 1, pubs);
        else if (absent >= 0)
            snprintf(value, sizeof value, "not counted (no beckon_bus_messages_received_total in GET /metrics of "
                     "node %d)%s", absent + 1, pubs);
        else
            snprintf(value, sizeof value, "not counted (no chat message delivered)");
        row(scen, "bus messages received per node per chat message", value, "", "(not counted)");
        return;
    }
    double min = per[0], max = per[0], sum = 0;
    char each[200] = "", idle[160] = "";
    size_t el = 0, il = 0;
    for (int k = 0; k < nodes_used; k++) {
        min = per[k] < min ? per[k] : min;
        max = per[k] > max ? per[k] : max;
        sum += per[k];
        el += (size_t)snprintf(each + el, el < sizeof each ? sizeof each - el : 0, "%s%.2f", k ? ", " : "", per[k]);
    }
    for (int k = nodes_used; k < nodes_known; k++)
        il += (size_t)snprintf(idle + il, il < sizeof idle ? sizeof idle - il : 0, "%s%.2f",
                               k > nodes_used ? ", " : "; the nodes up with no sockets (there for more nodes later): ",
                               per[k]);
    step->counted = 1;
    step->mean = sum / nodes_used;
    step->total = sum;
    snprintf(value, sizeof value, "mean %.2f per node (min %.2f, max %.2f; node by node %s) = %.2f over all %d nodes "
             "per chat message, for %ld chat messages delivered%s%s (each node's "
             "beckon_bus_messages_received_total in GET /metrics, before and after the window)",
             step->mean, min, max, each, step->total, nodes_used, delivered, idle, pubs);
    char tgt[96];
    snprintf(tgt, sizeof tgt, "≤ %.0f over all nodes (its visitor's node and its agent's)", BUS_NEED);
    /* with 2 nodes or fewer, a bus that sends every node everything stays within the need too */
    row(scen, "bus messages received per node per chat message", value, tgt,
        nodes_used > BUS_NEED ? verdict(step->total <= BUS_NEED + BUS_SLACK) : "(no test with ≤ 2 nodes)");
}

/* The last row of scenario 4: from the fewest nodes to the most, the bus work of a node falls
 * as its share of the sockets does, and the sum over the nodes stays within BUS_NEED. */
static void bus_compare(void)
{
    if (bus_steps_n < 1)
        return;
    const bus_step *lo = &bus_steps[0], *hi = &bus_steps[0];
    for (int i = 1; i < bus_steps_n; i++) {
        lo = bus_steps[i].nodes < lo->nodes ? &bus_steps[i] : lo;
        hi = bus_steps[i].nodes > hi->nodes ? &bus_steps[i] : hi;
    }
    if (lo->nodes == hi->nodes)
        return;  /* one node count: nothing to compare */
    char scen[64], measure[96], value[600], tgt[200];
    snprintf(scen, sizeof scen, "4 on %d → %d nodes", lo->nodes, hi->nodes);
    snprintf(measure, sizeof measure, "bus messages received per node per chat message, %d → %d nodes", lo->nodes,
             hi->nodes);
    double factor = BUS_SHARE_SLACK * lo->nodes / hi->nodes;
    snprintf(tgt, sizeof tgt, "independent of N: a node receives only what its sockets need (mean per node at %d "
             "nodes ≤ %.1f × at %d; ≤ %.0f over all nodes)", hi->nodes, factor, lo->nodes, BUS_NEED);
    if (!lo->counted || !hi->counted) {
        row(scen, measure, "not counted (no beckon_bus_messages_received_total)", tgt, "(not counted)");
        return;
    }
    snprintf(value, sizeof value, "mean per node %.2f at %d nodes → %.2f at %d (× %.2f; a node's share of the "
             "sockets × %.2f); over all nodes %.2f → %.2f per chat message; CPU of all nodes per chat message "
             "%.1f → %.1f µs", lo->mean, lo->nodes, hi->mean, hi->nodes, lo->mean > 0 ? hi->mean / lo->mean : 0,
             (double)lo->nodes / hi->nodes, lo->total, hi->total, lo->cpu_us, hi->cpu_us);
    row(scen, measure, value, tgt,
        verdict(hi->mean <= factor * lo->mean && hi->total <= BUS_NEED + BUS_SLACK && lo->total <= BUS_NEED + BUS_SLACK));
}

/* ---- scenarios 2, 4 and 7: chat ------------------------------------------------------ */

enum chat_kind { CHAT_ONE, CHAT_NODES, CHAT_LADDER };

/* Scenarios 2 (chat at fixed rates), 4 (one rate, the clients spread over nodes_used nodes,
 * with the bus counted) and 7 (the ladder: rates climbed until the first that misses; the
 * highest that passed is the result). */
static void scenario_chat(enum chat_kind kind)
{
    int spread = kind == CHAT_NODES, ladder = kind == CHAT_LADDER;
    char label[32];
    if (spread)
        snprintf(label, sizeof label, "4 on %d nodes", nodes_used);
    else
        snprintf(label, sizeof label, "%s", ladder ? "7 chat ladder" : "2 chat");
    const int *rates = spread ? &cfg.nodes_rate : ladder ? cfg.ladder : cfg.rates;
    int rates_n = spread ? 1 : ladder ? cfg.ladder_n : cfg.rates_n;
    double window = spread ? cfg.nodes_secs : ladder ? cfg.ladder_secs : cfg.chat_secs;
    long best = 0, failed_at = 0;
    char failed_why[200] = "";
    int M = cfg.conversations, A = cfg.agents;
    if (A > M)
        A = M;
    agents_arr = calloc((size_t)A, sizeof *agents_arr);
    chat_visitors = calloc((size_t)M, sizeof *chat_visitors);
    if (!agents_arr || !chat_visitors)
        return;
    counters_reset();
    phase = PH_CHAT_SETUP;
    nodes_note_fds();
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
        /* Visitors and agents go round robin over the nodes; visitor i talks to agent (i / N) mod
         * A, so that one conversation in N has both on one node, as with a load balancer that
         * knows nothing of who talks to whom (i mod A would put both on one node whenever N
         * divides A). With one node, agent i mod A as ever. */
        chat_visitors[i].node = i % nodes_used;
        chat_visitors[i].agent_of = (i / nodes_used) % A;
        cq_push(&chat_visitors[i]);
    }
    /* every visitor opens a conversation; its agent accepts it ("ok") */
    if (!run_until(&n.oks, M, 60)) {
        say("chat: setup incomplete: %ld welcomed, %ld acked, %ld accepted of %d; first error: %s", n.welcomed,
            n.acked, n.oks, M, first_error);
        row(label, "setup", "conversations not all accepted", "", "**miss**");
        goto out;
    }
    say("chat: %d conversations with %d agents on %d node(s) ready in %.2f s", M, A, nodes_used, secs_since(t0));
    run_for(0.5);
    for (int r = 0; r < rates_n; r++) {
        long rate = rates[r];
        counters_reset();
        lat_len = 0;
        phase = PH_CHAT;
        pace_rate = rate;
        pace_goal = (long)(rate * window);
        long long pub0 = -1;
        if (spread) {  /* before the CPU is read: a node's /metrics is not chat work */
            bus_window_begin();
            pub0 = redis_publishes();
        }
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
        const char *who = spread ? "the nodes" : "beckon";
        snprintf(value, sizeof value, "%.1f µs (schedstat %.1f µs; %s at %.0f%% of %s CPU; redis %.1f µs/msg; "
                 "load generator %.0f%% of a CPU; other processes on the machine %.0f%% of a CPU; "
                 "time spent runnable but waiting for a CPU: %s %.0f%%, redis %.0f%%, generator %.0f%%)",
                 cpu_us_stat, cpu_us_sched, who, beckon_util, spread ? "their" : "its", redis_us, self_pct,
                 others < 0 ? 0 : others, who, wait_b, wait_r, wait_g);
        char measure[64];
        snprintf(measure, sizeof measure, spread ? "CPU of the %d nodes per delivered message" : "beckon CPU per delivered message",
                 nodes_used);
        row(scen, measure, value, "≤ 15 µs", verdict(cpu_us_stat <= 15.0 && n.delivered));
        if (rc0 >= 0) {
            snprintf(value, sizeof value, "%.1f µs (schedstat of redis-server, all its threads, over the window, divided "
                     "by the messages delivered; redis at %.0f%% of a CPU, %.0f%% of the time waiting for it)",
                     redis_us, redis_util, wait_r);
            row(scen, "redis CPU per delivered message", value, "≤ 15 µs, all acked",
                verdict(redis_us <= 15.0 && all && n.delivered));
        }
        if (spread) {
            /* a visitor's node may get its copy just after the agent's push: let it arrive */
            run_for(0.1);
            long long pub1 = pub0 >= 0 ? redis_publishes() : -1;
            bus_window_end(scen, n.delivered, pub0 >= 0 && pub1 >= 0 ? pub1 - pub0 : -1, cpu_us_stat);
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
    teardown(agents_arr, A, 0);
    teardown(chat_visitors, M, 1);
    free(chat_visitors);
    free(agents_arr);
    agents_arr = NULL;
    chat_visitors = NULL;
    phase = PH_NONE;
}

/* Scenario 4: the chat of scenario 2 at one rate with the clients spread over N nodes, for
 * each N of --nodes, then whether a node's bus work falls with N as its share of the sockets. */
static void scenario_nodes(void)
{
    bus_steps_n = 0;
    for (int i = 0; i < cfg.node_counts_n; i++) {
        int count = cfg.node_counts[i];
        if (count < 1 || count > nodes_known) {
            char scen[64];
            snprintf(scen, sizeof scen, "4 on %d nodes", count);
            say("nodes: %d nodes asked, %d given (--port, and --node PORT:PID for each other)", count, nodes_known);
            row(scen, "setup", "not as many nodes running", "", "**miss**");
            continue;
        }
        nodes_used = count;
        scenario_chat(CHAT_NODES);
        nodes_used = 1;
    }
    bus_compare();
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
    nodes_note_fds();
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
    teardown(cs, 2, 1);
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
    nodes_note_fds();
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
    teardown(cs, N, 1);
    free(cs);
    free(per);
    phase = PH_NONE;
}

/* ---- scenario 8: page views with 1 000 rules ---------------------------------------------- */

/* What a shop's marketers would load: rules on product sections (URL globs on the path or the
 * whole URL), exact pages, campaigns (UTM), returning visitors, some only within opening
 * hours, a few sitewide; each with a time-on-page or visit threshold, as real rules have, so
 * that the engine has candidates to judge on every page view. The thresholds are beyond what
 * the window lets a visitor reach (a page view every N / rate seconds resets page.seconds):
 * invitations are rare, as they are on a real site, and the row says how many went out. */
static unsigned pv_sections(void) { return cfg.pv_rules / 8 > 4 ? (unsigned)cfg.pv_rules / 8 : 4; }

static uint32_t pv_rng = 0x9E3779B9u;
static uint32_t pv_rand(uint32_t n)
{
    pv_rng ^= pv_rng << 13;
    pv_rng ^= pv_rng >> 17;
    pv_rng ^= pv_rng << 5;
    return pv_rng % n;
}

/* Redis CPU per page view when this scenario was written (commit 4ede152, the mean of three runs, same
 * rig): the target is half of it, at the same rate. Per rate, because Redis wakes up for every
 * page view at these rates, and waking costs the same however little it then does. */
#define PV_BASELINE_COMMIT "4ede152"
static const struct { long rate; double us; } pv_baselines[] = { { 2000, 76.7 }, { 5000, 63.0 } };

static double pv_baseline(long rate)
{
    for (size_t i = 0; i < sizeof pv_baselines / sizeof pv_baselines[0]; i++)
        if (pv_baselines[i].rate == rate)
            return pv_baselines[i].us;
    return 0;
}

static void pv_rule(int i, char *out, size_t size)
{
    unsigned sections = pv_sections(), kind = pv_rand(100), s = pv_rand(sections);
    char when[600], only[160] = "";
    if (kind < 35)
        snprintf(when, sizeof when, "{\"all\":[{\"page.path\":{\"glob\":\"/shop/cat%u/*\"}},{\"page.seconds\":{\">=\":%u}},"
                 "{\"visit.pages\":{\">=\":%u}}]}", s, 20 + pv_rand(60), 2 + pv_rand(4));
    else if (kind < 50)
        snprintf(when, sizeof when, "{\"all\":[{\"page.url\":{\"glob\":\"https://shop.example/blog/20%02u/*\"}},"
                 "{\"page.seconds\":{\">=\":%u}}]}", s % 100, 30 + pv_rand(60));
    else if (kind < 60)
        snprintf(when, sizeof when, "{\"all\":[{\"page.path\":{\"in\":[\"/pricing/plan%u\",\"/pricing/plan%u\"]}},"
                 "{\"page.seconds\":{\">=\":%u}}]}", s, pv_rand(sections), 20 + pv_rand(40));
    else if (kind < 72)
        snprintf(when, sizeof when, "{\"all\":[{\"visit.utm.campaign\":\"spring%u\"},{\"visit.utm.source\":\"newsletter\"},"
                 "{\"page.seconds\":{\">=\":%u}}]}", pv_rand(20), 15 + pv_rand(30));
    else if (kind < 84)
        snprintf(when, sizeof when, "{\"all\":[{\"any\":[{\"page.path\":{\"glob\":\"/shop/cat%u/*\"}},"
                 "{\"page.path\":{\"glob\":\"/shop/cat%u/*\"}}]},{\"visitor.visits\":{\">=\":%u}},"
                 "{\"not\":{\"visitor.lang\":{\"starts_with\":\"de\"}}}]}", s, pv_rand(sections), 2 + pv_rand(3));
    else if (kind < 95) {
        snprintf(when, sizeof when, "{\"all\":[{\"page.path\":{\"glob\":\"/shop/cat%u/*\"}},{\"page.seconds\":{\">=\":%u}}]}",
                 s, 30 + pv_rand(60));
        snprintf(only, sizeof only, ",\"only\":{\"hours\":\"mon-fri 09:00-17:00, sat 10:00-14:00\",\"tz\":\"Europe/Copenhagen\"}");
    } else
        snprintf(when, sizeof when, "{\"all\":[{\"visit.seconds\":{\">=\":%u}},{\"idle.seconds\":{\">=\":%u}}]}",
                 300 + pv_rand(600), 20 + pv_rand(40));
    snprintf(out, size, "{\"name\":\"bench %d\",\"priority\":%u,\"when\":%s,\"unless\":{\"conversation.open\":true}%s,"
             "\"cap\":{\"per_visit\":1,\"cooldown_days\":7},\"then\":{\"invite\":{\"text\":\"Hej! Kan jeg hjælpe?\"}}}",
             i, pv_rand(20), when, only);
}

/* PUTs (or DELETEs) every bench rule through the rules REST API, as a marketer would; returns
 * how many failed. Every change makes the nodes load the whole set again, one load at a time,
 * so the requests go 25 at a time: one load serves a whole batch instead of each request. */
static int pv_rules_apply(const char *token, int put)
{
    enum { BATCH = 25 };  /* under the node's max-http-connections-per-ip (32) */
    const wsc_target *t = &nodes[0].target;
    char rule[1024], req[2048], resp[4096];
    int fds[BATCH], failed = 0;
    pv_rng = 0x9E3779B9u;
    for (int first = 0; first < cfg.pv_rules; first += BATCH) {
        int count = cfg.pv_rules - first < BATCH ? cfg.pv_rules - first : BATCH;
        for (int k = 0; k < count; k++) {
            pv_rule(first + k, rule, sizeof rule);
            int rl = snprintf(req, sizeof req,
                              "%s /api/rules/bench-pv-%04d HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                              "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                              put ? "PUT" : "DELETE", first + k, t->host_header, token, put ? strlen(rule) : 0,
                              put ? rule : "");
            fds[k] = rl > 0 && (size_t)rl < sizeof req ? http_send(t, req, (size_t)rl) : -1;
        }
        for (int k = 0; k < count; k++) {
            int status = -1;
            resp[0] = '\0';
            if (fds[k] >= 0 && http_receive(fds[k], resp, sizeof resp) > 0 && sscanf(resp, "HTTP/1.1 %d", &status) != 1)
                status = -1;
            if (status != 200 && (put || status != 404) && !failed++)
                say("pageviews: %s rule %d: %d %.200s", put ? "PUT" : "DELETE", first + k, status,
                    fds[k] >= 0 ? resp : "no connection");
        }
    }
    return failed;
}

static client *pv_visitors;

/* A page of the bench shop, chosen by the visitor and its count of page views: products most
 * often, then the blog, pricing, the front page and contact; one in ten from a campaign. */
static void send_page_view(client *c)
{
    unsigned h = (unsigned)c->idx * 2654435761u ^ (unsigned)c->seq++ * 40503u, sections = pv_sections();
    unsigned kind = h % 10, s = (h >> 4) % sections, item = (h >> 12) % 500;
    char path[96], query[64] = "";
    if (kind < 5)
        snprintf(path, sizeof path, "/shop/cat%u/item-%u", s, item);
    else if (kind < 7)
        snprintf(path, sizeof path, "/blog/20%02u/post-%u", s % 100, item);
    else if (kind < 8)
        snprintf(path, sizeof path, "/pricing/plan%u", s);
    else
        snprintf(path, sizeof path, "%s", kind == 8 ? "/" : "/kontakt");
    if ((h >> 20) % 10 == 0)
        snprintf(query, sizeof query, "?utm_source=newsletter&utm_campaign=spring%u", (h >> 8) % 20);
    send_fmt(c, "{\"type\":\"page_view\",\"req\":\"t%llu\",\"url\":\"https://shop.example%s%s\","
                "\"title\":\"%s %u: a page of the bench shop\",\"referrer\":\"https://shop.example/\"}",
             (unsigned long long)now_ns(), path, query, kind < 5 ? "Item" : "Page", item);
    n.sent++;
}

static void pv_tick(void)
{
    long due = (long)((double)(now_ns() - pace_t0) * (double)pace_rate / 1e9);
    if (due > pace_goal)
        due = pace_goal;
    while (n.sent < due)
        send_page_view(&pv_visitors[pace_next++ % cfg.pv_visitors]);
}

static void scenario_pageviews(void)
{
    const char *label = "8 pageviews";
    long V = cfg.pv_visitors;
    char token[256] = "";
    pv_visitors = calloc((size_t)V, sizeof *pv_visitors);
    if (!pv_visitors)
        return;
    counters_reset();
    phase = PH_PV_SETUP;
    nodes_note_fds();
    uint64_t t0 = now_ns();
    if (login(&nodes[0].target, cfg.marketer, cfg.agent_password, token, sizeof token) != 0) {
        token[0] = '\0';
        say("pageviews: cannot log in %s (did scale.sh create it as a marketer?)", cfg.marketer);
        row(label, "setup", "marketer login failed", "", "**miss**");
        goto out;
    }
    int failed = pv_rules_apply(token, 1);
    say("pageviews: %d rules loaded through PUT /api/rules/ID in %.2f s (%d failed)", cfg.pv_rules - failed,
        secs_since(t0), failed);
    if (failed) {
        row(label, "setup", "rules not all saved", "", "**miss**");
        goto out;
    }
    t0 = now_ns();
    for (long i = 0; i < V; i++) {
        pv_visitors[i].role = VISITOR;
        pv_visitors[i].idx = (int)i;
        cq_push(&pv_visitors[i]);
    }
    if (!run_until(&n.welcomed, V, 30)) {
        say("pageviews: only %ld of %ld visitors said hello (%s)", n.welcomed, V, first_error);
        row(label, "setup", "visitors did not all connect", "", "**miss**");
        goto out;
    }
    run_for(1.0);  /* the hellos' page views land, the last rule load ends */
    say("pageviews: %ld visitors connected in %.2f s", V, secs_since(t0));
    for (int r = 0; r < cfg.pv_rates_n; r++) {
        long rate = cfg.pv_rates[r];
        counters_reset();
        lat_len = 0;
        phase = PH_PV;
        pace_rate = rate;
        pace_goal = (long)(rate * cfg.pv_secs);
        pace_next = 0;
        long long c0 = nodes_ticks(), s0 = nodes_sched();
        long long rc0 = cfg.redis_pid ? sched_ns(cfg.redis_pid) : -1;
        long long rw0 = cfg.redis_pid ? sched_wait(cfg.redis_pid) : 0;
        static const char *const scripts[] = { "evalsha", "eval", NULL };
        long long calls0 = redis_calls(scripts);
        long long all0 = cpu_busy(-1), self0 = cpu_ticks(getpid()), r0 = cfg.redis_pid ? cpu_ticks(cfg.redis_pid) : 0;
        pace_t0 = now_ns();
        on_tick = pv_tick;
        run_for(cfg.pv_secs);
        pv_tick();
        on_tick = NULL;
        uint64_t td = now_ns();
        while (n.oks + n.errors < n.sent && secs_since(td) < 5)
            run_for(0.002);
        double secs = secs_since(pace_t0);
        long long c1 = nodes_ticks(), s1 = nodes_sched();
        long long rc1 = cfg.redis_pid ? sched_ns(cfg.redis_pid) : -1;
        long long rw1 = cfg.redis_pid ? sched_wait(cfg.redis_pid) : 0;
        long long all1 = cpu_busy(-1), self1 = cpu_ticks(getpid()), r1 = cfg.redis_pid ? cpu_ticks(cfg.redis_pid) : 0;
        /* what everything else on the machine took meanwhile, in % of one CPU */
        double others = (double)((all1 - all0) - (c1 - c0) - (self1 - self0) - (r1 - r0)) / (double)clk_tck / secs * 100;
        long long calls1 = calls0 >= 0 ? redis_calls(scripts) : -1;
        /* every script call of the window (the node's heartbeats and stats too): page views per call */
        double per_call = calls1 > calls0 ? (double)n.oks / (double)(calls1 - calls0) : 0;
        qsort(lat_us, (size_t)lat_len, sizeof *lat_us, cmp_u32);
        double p50 = pct(lat_us, lat_len, 0.5), p99 = pct(lat_us, lat_len, 0.99),
               pmax = lat_len ? lat_us[lat_len - 1] / 1000.0 : 0;
        double acked = (double)n.oks;
        double beckon_us = n.oks ? (double)(c1 - c0) * 1e6 / (double)clk_tck / acked : 0;
        double beckon_sched_us = n.oks ? (double)(s1 - s0) / 1e3 / acked : 0;
        double redis_us = n.oks && rc0 >= 0 ? (double)(rc1 - rc0) / 1e3 / acked : -1;
        double redis_util = rc0 >= 0 ? (double)(rc1 - rc0) / 1e9 / secs * 100 : -1;
        double beckon_util = (double)(s1 - s0) / 1e9 / secs * 100;
        int all = n.oks == n.sent && n.errors == 0;
        say("pageviews %ld/s: sent %ld, ok %ld, errors %ld, invitations %ld; p50 %.3f p99 %.3f max %.3f ms; beckon "
            "%.1f µs/event (schedstat %.1f), redis %.1f µs/event at %.0f%% of a CPU, %.1f page views per script call; "
            "others %.0f%% of a CPU; %s", rate, n.sent, n.oks, n.errors, n.invites, p50, p99, pmax, beckon_us,
            beckon_sched_us, redis_us, redis_util, per_call, others < 0 ? 0 : others, first_error);
        char scen[64], value[600], tgt[160];
        snprintf(scen, sizeof scen, "%s %ld/s", label, rate);
        snprintf(value, sizeof value, "%.0f page views/s stored (%ld sent by %ld visitors, %ld `ok` = stored, %ld errors%s%.100s; "
                 "%ld invitations sent; %d rules loaded)", acked / secs, n.sent, V, n.oks, n.errors,
                 first_error[0] ? ": " : "", first_error, n.invites, cfg.pv_rules);
        row(scen, "page views stored, every one answered", value, "all `ok`", verdict(all));
        snprintf(value, sizeof value, "p50 %.2f / p99 %.2f ms (max %.2f)", p50, p99, pmax);
        /* a page view waits up to 5 ms for others to share its script call (triggers/track_batch.c) */
        row(scen, "latency page_view sent → `ok` (stored, rules judged)", value,
            "(none; a page view waits ≤ 5 ms for its batch)", "measured");
        if (rc0 >= 0) {
            snprintf(value, sizeof value, "%.1f µs (schedstat of redis-server, all its threads, over the window, divided by "
                     "the page views stored; redis at %.0f%% of a CPU, %.0f%% of the time waiting for it; %.1f page views "
                     "per script call, INFO commandstats)", redis_us, redis_util, (double)(rw1 - rw0) / 1e9 / secs * 100,
                     per_call);
            double before = pv_baseline(rate);
            if (before > 0)
                snprintf(tgt, sizeof tgt, "≤ %.1f µs (half of %.1f µs, before, commit %s)", before / 2, before,
                         PV_BASELINE_COMMIT);
            else
                snprintf(tgt, sizeof tgt, "(half of the figure before, measured at 2 000 and 5 000/s only)");
            row(scen, "redis CPU per page view", value, tgt,
                before > 0 ? verdict(all && n.oks && redis_us <= before / 2) : (all ? "measured" : "**miss**"));
        }
        snprintf(value, sizeof value, "%.1f µs (schedstat %.1f µs; beckon at %.0f%% of its CPU; other processes on the "
                 "machine %.0f%% of a CPU): the frame, the script call, the answer, %d rules judged", beckon_us,
                 beckon_sched_us, beckon_util, others < 0 ? 0 : others, cfg.pv_rules);
        row(scen, "beckon CPU per page view", value, "(no target)", "measured");
        phase = PH_PV_SETUP;
        run_for(0.5);
    }
out:
    on_tick = NULL;
    teardown(pv_visitors, V, 1);
    if (token[0] && pv_rules_apply(token, 0))
        say("pageviews: some bench rules could not be deleted");
    free(pv_visitors);
    pv_visitors = NULL;
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
            "usage: beckon-loadgen [options] idle|chat|ladder|slow|storm|nodes|pageviews...\n"
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
            "  --node PORT:PID      nodes: one more beckon on the same Redis (repeat: node 2, 3, ...; node 1\n"
            "                       is --port and --beckon-pid)\n"
            "  --nodes LIST         nodes: visitors and agents spread round robin over 2, then 4 nodes (2,4);\n"
            "                       twonode is another name for this scenario\n"
            "  --nodes-rate N --nodes-secs S   nodes: the chat rate and window per node count (5000, 5)\n"
            "  --open-window N      conversations opened at once during setup (20): beckon announces every\n"
            "                       queue change to everyone waiting, so a long queue costs O(n) each\n"
            "  --idle-no-hello      idle: open the WebSockets but say no hello (what lws alone costs)\n"
            "  --idle-page          idle: hello with a page, as the widget sends it (a page view is tracked)\n"
            "  --nice N             run at this priority: a session of its own with autogroup nice N\n"
            "  --redis-socket PATH  Redis' unix socket: nodes counts its PUBLISH calls (INFO commandstats)\n"
            "  --ladder LIST        ladder: rates climbed until one misses (5000,10000,...,30000)\n"
            "  --ladder-secs S      ladder: seconds per rung (5)\n"
            "  --ladder-p99 MS      ladder: a rung passes with every message acked and delivered and p99 ≤ MS (50)\n"
            "  --ladder-goal N      ladder: the target for the highest passing rate (25000)\n"
            "  --pv-visitors N      pageviews: visitors connected, each saying hello with a page (1000)\n"
            "  --pv-rules N         pageviews: trigger rules loaded through the REST API, deleted after (1000)\n"
            "  --pv-rates LIST      pageviews: total page views per second (2000,5000)\n"
            "  --pv-secs S          pageviews: seconds per rate (5)\n"
            "  --marketer NAME      pageviews: the marketer who saves the rules (bench-marketer; --agent-password)\n");
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
        { "beckon-log", 1, 0, 'L' }, { "open-window", 1, 0, 'O' }, { "node", 1, 0, '2' }, { "nodes", 1, 0, '3' },
        { "nodes-rate", 1, 0, '4' }, { "nodes-secs", 1, 0, '5' }, { "idle-no-hello", 0, 0, 'H' }, { "idle-page", 0, 0, 'G' }, { "nice", 1, 0, 'n' },
        { "redis-socket", 1, 0, 'U' }, { "ladder", 1, 0, 'l' },
        { "ladder-secs", 1, 0, 't' }, { "ladder-p99", 1, 0, '9' }, { "ladder-goal", 1, 0, 'g' },
        { "pv-visitors", 1, 0, 'V' }, { "pv-rules", 1, 0, 'K' }, { "pv-rates", 1, 0, 'Q' }, { "pv-secs", 1, 0, 'X' },
        { "marketer", 1, 0, 'm' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 },
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
        case '2':
            if (nodes_known == MAX_NODES || sscanf(optarg, "%d:%d", &nodes[nodes_known].port, &nodes[nodes_known].pid) != 2) {
                say("--node %s: PORT:PID, at most %d nodes", optarg, MAX_NODES);
                return 2;
            }
            nodes_known++;
            break;
        case '3': cfg.node_counts_n = parse_list(optarg, cfg.node_counts); break;
        case '4': cfg.nodes_rate = atoi(optarg); break;
        case '5': cfg.nodes_secs = atof(optarg); break;
        case 'U': cfg.redis_socket = optarg; break;
        case 'l': cfg.ladder_n = parse_list(optarg, cfg.ladder); break;
        case 't': cfg.ladder_secs = atof(optarg); break;
        case '9': cfg.ladder_p99_ms = atof(optarg); break;
        case 'g': cfg.ladder_goal = atoi(optarg); break;
        case 'V': cfg.pv_visitors = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'K': cfg.pv_rules = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'Q': cfg.pv_rates_n = parse_list(optarg, cfg.pv_rates); break;
        case 'X': cfg.pv_secs = atof(optarg); break;
        case 'm': cfg.marketer = optarg; break;
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
    nodes[0].port = cfg.port;
    nodes[0].pid = cfg.beckon_pid;
    for (int k = 0; k < nodes_known; k++) {
        node *nd = &nodes[k];
        nd->target.dst.sin_family = AF_INET;
        nd->target.dst.sin_port = htons((uint16_t)nd->port);
        nd->target.dst.sin_addr.s_addr = htonl(0x7f000001u);
        snprintf(nd->host_header, sizeof nd->host_header, "127.0.0.1:%d", nd->port);
        nd->target.host_header = nd->host_header;
        nd->target.path = "/ws";
    }
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
        else if (strcmp(argv[i], "nodes") == 0 || strcmp(argv[i], "twonode") == 0)
            scenario_nodes();
        else if (strcmp(argv[i], "slow") == 0)
            scenario_slow();
        else if (strcmp(argv[i], "storm") == 0)
            scenario_storm();
        else if (strcmp(argv[i], "pageviews") == 0)
            scenario_pageviews();
        else
            say("unknown scenario %s", argv[i]);
    }
    uv_timer_stop(&tick);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
