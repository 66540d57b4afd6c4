/* redis_child.c - start, supervise and stop a private redis-server. */
#include "store/redis_child.h"

#include "base/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RESTART_FIRST_MS 100
#define RESTART_MAX_MS   5000

struct bk_redis_child {
    uv_loop_t *loop;
    uv_process_t process;
    uv_timer_t restart_timer;
    char redis_server[PATH_MAX];
    char dir[PATH_MAX];
    char socket_path[PATH_MAX];
    char pid_path[PATH_MAX + 16];
    uint64_t restart_delay_ms;
    int running;
    int stopping;
    int handles_open;
    void (*stopped_fn)(void *data);
    void *stopped_data;
};

static int child_spawn(bk_redis_child *child);

/* A beckon killed with SIGKILL leaves its redis-server behind, still holding the AOF. Two
 * servers on one AOF would corrupt it, so the old one is asked to finish first. This runs
 * before the loop starts, so waiting here blocks nobody. */
static void stop_leftover(const char *pid_path)
{
    FILE *f = fopen(pid_path, "r");
    if (!f)
        return;
    long pid = 0;
    int ok = fscanf(f, "%ld", &pid) == 1;
    fclose(f);
    if (!ok || pid <= 1)
        return;
    char path[64], cmdline[256] = "";
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(cmdline, 1, sizeof cmdline - 1, f);
    fclose(f);
    cmdline[n] = '\0';
    if (!strstr(cmdline, "redis-server"))
        return;
    bk_warn("private redis-server %ld from an earlier run is still up; stopping it", pid);
    kill((pid_t)pid, SIGTERM);
    for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++) {
        struct timespec pause = { 0, 50 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    if (kill((pid_t)pid, 0) == 0) {
        bk_warn("private redis-server %ld did not stop; killing it", pid);
        kill((pid_t)pid, SIGKILL);
    }
}

static void on_handle_closed(uv_handle_t *handle)
{
    bk_redis_child *child = handle->data;
    if (--child->handles_open > 0)
        return;
    void (*fn)(void *) = child->stopped_fn;
    void *data = child->stopped_data;
    free(child);
    if (fn)
        fn(data);
}

static void child_finish(bk_redis_child *child)
{
    uv_close((uv_handle_t *)&child->restart_timer, on_handle_closed);
    if (child->handles_open == 2) /* the process handle was initialised by a spawn */
        uv_close((uv_handle_t *)&child->process, on_handle_closed);
}

static void on_restart_timer(uv_timer_t *timer)
{
    bk_redis_child *child = timer->data;
    if (!child->stopping && child_spawn(child) != 0)
        uv_timer_start(&child->restart_timer, on_restart_timer, child->restart_delay_ms, 0);
}

static void on_child_exit(uv_process_t *process, int64_t status, int signal)
{
    bk_redis_child *child = process->data;
    child->running = 0;
    if (child->stopping) {
        bk_info("private redis-server stopped (status %lld)", (long long)status);
        child_finish(child);
        return;
    }
    bk_warn("private redis-server died (status %lld, signal %d); restarting in %llu ms",
            (long long)status, signal, (unsigned long long)child->restart_delay_ms);
    uv_close((uv_handle_t *)process, NULL);
    child->handles_open--;
    uv_timer_start(&child->restart_timer, on_restart_timer, child->restart_delay_ms, 0);
    child->restart_delay_ms *= 2;
    if (child->restart_delay_ms > RESTART_MAX_MS)
        child->restart_delay_ms = RESTART_MAX_MS;
}

static int child_spawn(bk_redis_child *child)
{
    char *args[] = {
        child->redis_server,
        "--port", "0",
        "--unixsocket", child->socket_path,
        "--unixsocketperm", "700",
        "--dir", child->dir,
        "--appendonly", "yes",
        "--save", "",
        "--daemonize", "no",
        "--pidfile", child->pid_path,
        "--logfile", "redis.log",
        NULL,
    };
    uv_stdio_container_t stdio[3] = {
        { .flags = UV_IGNORE }, { .flags = UV_IGNORE }, { .flags = UV_INHERIT_FD, .data.fd = 2 },
    };
    uv_process_options_t options = {
        .file = child->redis_server,
        .args = args,
        .exit_cb = on_child_exit,
        .stdio_count = 3,
        .stdio = stdio,
    };
    child->process.data = child;
    int rc = uv_spawn(child->loop, &child->process, &options);
    if (rc != 0) {
        /* uv_spawn initialises the handle even when it fails: it must still be closed. */
        uv_close((uv_handle_t *)&child->process, NULL);
        bk_error("cannot start %s: %s", child->redis_server, uv_strerror(rc));
        return -1;
    }
    child->handles_open++;
    child->running = 1;
    bk_info("started private redis-server (pid %d) on %s", child->process.pid, child->socket_path);
    return 0;
}

bk_redis_child *bk_redis_child_start(uv_loop_t *loop, const char *redis_server, const char *data_dir,
                                     char *socket_path, size_t socket_path_size,
                                     char *err, size_t err_size)
{
    bk_redis_child *child = calloc(1, sizeof *child);
    if (!child) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    child->loop = loop;
    child->restart_delay_ms = RESTART_FIRST_MS;
    snprintf(child->redis_server, sizeof child->redis_server, "%s", redis_server);
    if (!realpath(data_dir, child->dir)) {
        snprintf(err, err_size, "%s: %s", data_dir, strerror(errno));
        free(child);
        return NULL;
    }
    /* sun_path holds 108 bytes: a deep data dir would silently truncate the socket path. */
    int n = snprintf(child->socket_path, sizeof child->socket_path, "%s/redis.sock", child->dir);
    if (n >= 100) {
        snprintf(err, err_size, "data dir path too long for a unix socket: %s", child->dir);
        free(child);
        return NULL;
    }
    snprintf(child->pid_path, sizeof child->pid_path, "%s/redis.pid", child->dir);
    snprintf(socket_path, socket_path_size, "%s", child->socket_path);
    stop_leftover(child->pid_path);
    uv_timer_init(loop, &child->restart_timer);
    child->restart_timer.data = child;
    child->handles_open = 1;
    if (child_spawn(child) != 0) {
        snprintf(err, err_size, "cannot start %s (is redis-server installed?)", redis_server);
        child->stopping = 1;
        child_finish(child);
        return NULL;
    }
    return child;
}

void bk_redis_child_stop(bk_redis_child *child, void (*stopped_fn)(void *data), void *data)
{
    child->stopping = 1;
    child->stopped_fn = stopped_fn;
    child->stopped_data = data;
    uv_timer_stop(&child->restart_timer);
    if (child->running) {
        uv_process_kill(&child->process, SIGTERM);  /* on_child_exit finishes the job */
        return;
    }
    child_finish(child);
}
