/* test_clamd.c - files scanned by a real clamd, started here with a database of one signature.
 *
 * clamd (Debian's clamav-daemon) runs in the foreground from a temp folder: its socket, its log
 * and a database holding only the EICAR test file's MD5, so it starts in a fraction of a second
 * instead of loading the whole virus database. The scans go through Beckon's client (files/clamd.h)
 * and through the upload checks (files/file_check.h). When /usr/sbin/clamd is missing the test
 * says "skipped: clamd missing"; when it is there but does not start, the test fails. */
#include "../unit/check.h"

#include "base/config.h"
#include "files/clamd.h"
#include "files/file_check.h"

#include <beckon/protocol.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CLAMD "/usr/sbin/clamd"
/* The EICAR test file: every scanner reports it, and it harms nothing. Written backwards here so
 * that this source file is not itself reported by a scanner that reads it. */
static const char eicar_reversed[] = "*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X";

static uv_loop_t loop;
static char dir[64], socket_path[96], silent_path[96];
static pid_t clamd_pid;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static const char *write_file(const char *name, const char *bytes, size_t length)
{
    static char paths[8][160];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, length, f) != length || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}

static int socket_ready(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    int ok = connect(fd, (struct sockaddr *)&address, sizeof address) == 0;
    close(fd);
    return ok;
}

/* clamd with its own config; returns the seconds it took to listen, or -1. */
static double clamd_start(void)
{
    char config[4096], eicar_md5_line[] = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n";
    char db[160];
    snprintf(db, sizeof db, "%s/db", dir);
    mkdir(db, 0700);
    snprintf(config, sizeof config,
             "Foreground yes\nLocalSocket %s\nDatabaseDirectory %s\nLogFile %s/clamd.log\n"
             "TemporaryDirectory %s\nStreamMaxLength 20M\nSelfCheck 3600\n",
             socket_path, db, dir, dir);
    write_file("clamd.conf", config, strlen(config));
    write_file("db/eicar.hdb", eicar_md5_line, strlen(eicar_md5_line));
    char conf_path[160];
    snprintf(conf_path, sizeof conf_path, "%s/clamd.conf", dir);
    double started = now_ms();
    clamd_pid = fork();
    if (clamd_pid == 0) {
        freopen("/dev/null", "w", stdout);
        execl(CLAMD, CLAMD, "-c", conf_path, (char *)NULL);
        _exit(127);
    }
    while (now_ms() - started < 20000) {
        if (socket_ready(socket_path))
            return (now_ms() - started) / 1000.0;
        if (waitpid(clamd_pid, NULL, WNOHANG) == clamd_pid) {
            clamd_pid = 0;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

typedef struct scan_outcome {
    int calls;
    bk_clamd_result result;
    char detail[256];
} scan_outcome;

static void on_scan(bk_clamd_result result, const char *detail, void *data)
{
    scan_outcome *o = data;
    o->calls++;
    o->result = result;
    snprintf(o->detail, sizeof o->detail, "%s", detail);
}

static scan_outcome scan(const char *socket, const char *path, uint64_t timeout_ms, double *took_ms)
{
    scan_outcome o = { 0 };
    double started = now_ms();
    bk_clamd_scan_start(&loop, socket, path, timeout_ms, on_scan, &o);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (took_ms)
        *took_ms = now_ms() - started;
    return o;
}

static void client_scans(const char *eicar, const char *clean, const char *big)
{
    double took;
    scan_outcome o = scan(socket_path, eicar, 5000, &took);
    CHECK(o.calls == 1 && o.result == BK_CLAMD_FOUND, "the EICAR test file is found");
    /* clamd marks a signature from outside ClamAV's own databases ".UNOFFICIAL" */
    CHECK_STR(o.detail, "Eicar-Test-Signature.UNOFFICIAL", "  by its signature's name, as clamd gives it");
    o = scan(socket_path, clean, 5000, NULL);
    CHECK(o.calls == 1 && o.result == BK_CLAMD_CLEAN, "a clean file is clean");
    o = scan(socket_path, big, 10000, &took);
    CHECK(o.calls == 1 && o.result == BK_CLAMD_CLEAN, "10 MB in 64 KiB chunks are clean (%.0f ms)", took);
    printf("# clamd scan of 10 MB: %.0f ms\n", took);
}

static void client_failures(const char *clean, const char *too_big)
{
    double took;
    char absent[160];
    snprintf(absent, sizeof absent, "%s/absent.sock", dir);
    scan_outcome o = scan(absent, clean, 5000, &took);
    CHECK(o.calls == 1 && o.result == BK_CLAMD_ERROR && strstr(o.detail, "cannot connect") && took < 1000,
          "no clamd at the socket: an error at once (%.0f ms: %s)", took, o.detail);
    o = scan(silent_path, clean, 400, &took);
    CHECK(o.calls == 1 && o.result == BK_CLAMD_ERROR && took >= 390 && took < 1400,
          "a socket that accepts and never answers: an error at the deadline, 400 ms (%.0f ms: %s)", took, o.detail);
    CHECK_STR(o.detail, "clamd did not answer within 0.4 s", "  in words");
    o = scan(socket_path, too_big, 10000, &took);
    CHECK(o.calls == 1 && o.result == BK_CLAMD_ERROR && strstr(o.detail, "size limit"),
          "a file over clamd's StreamMaxLength: clamd's error (%s)", o.detail);
    o = scan(socket_path, "/nonexistent/file", 5000, NULL);
    CHECK(o.calls == 1 && o.result == BK_CLAMD_ERROR && strstr(o.detail, "opening the file"),
          "a file that cannot be opened: an error (%s)", o.detail);
    scan_outcome cancelled = { 0 };
    bk_clamd_scan *s = bk_clamd_scan_start(&loop, silent_path, clean, 5000, on_scan, &cancelled);
    uv_run(&loop, UV_RUN_NOWAIT);
    bk_clamd_scan_cancel(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(cancelled.calls == 0, "a cancelled scan never calls back, and closes (the loop ends)");
}

typedef struct check_outcome {
    int calls;
    bk_file_verdict verdict;
} check_outcome;

static void on_verdict(const bk_file_verdict *verdict, void *data)
{
    check_outcome *o = data;
    o->calls++;
    o->verdict = *verdict;
}

static check_outcome check_upload(const char *socket, int seconds, const char *path, const char *name, double *took)
{
    bk_config config;
    bk_config_init(&config);
    snprintf(config.clamd_socket, sizeof config.clamd_socket, "%s", socket);
    config.file_check_seconds = seconds;
    char err[256];
    bk_file_checker *checker = bk_file_checker_new(&loop, &config, err, sizeof err);
    check_outcome o = { 0 };
    double started = now_ms();
    bk_file_check(checker, path, name, NULL, on_verdict, &o);
    uv_run(&loop, UV_RUN_DEFAULT);
    *took = now_ms() - started;
    bk_file_checker_free(checker);
    uv_run(&loop, UV_RUN_DEFAULT);
    return o;
}

static void uploads_scanned(const char *eicar, const char *clean)
{
    double took;
    check_outcome o = check_upload(socket_path, 30, eicar, "eicar.txt", &took);
    CHECK_STR(o.verdict.refusal, BK_ERR_INFECTED, "an upload of the EICAR file is refused infected");
    CHECK_STR(o.verdict.message, "the virus scanner found Eicar-Test-Signature.UNOFFICIAL", "  in words");
    o = check_upload(socket_path, 30, clean, "notes.txt", &took);
    CHECK(o.calls == 1 && o.verdict.refusal == NULL, "a clean upload is accepted after its scan");
    o = check_upload(silent_path, 1, clean, "notes.txt", &took);
    CHECK_STR(o.verdict.refusal, BK_ERR_UNAVAILABLE, "a scanner that never answers: unavailable");
    CHECK(took >= 990 && took < 2000, "  at file-check-seconds, 1 s (%.0f ms)", took);
    char absent[160];
    snprintf(absent, sizeof absent, "%s/absent.sock", dir);
    o = check_upload(absent, 30, clean, "notes.txt", &took);
    CHECK_STR(o.verdict.refusal, BK_ERR_UNAVAILABLE, "a scanner configured but absent: unavailable (fail closed)");
    CHECK_STR(o.verdict.message, "the virus scanner is unavailable; try again", "  in words");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);  /* as the server does: a peer that closed is an error value */
    if (access(CLAMD, X_OK) != 0) {
        printf("1..0 # SKIP skipped: clamd missing (%s; Debian's clamav-daemon)\n", CLAMD);
        return 0;
    }
    snprintf(dir, sizeof dir, "/tmp/bk-clamd-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(socket_path, sizeof socket_path, "%s/clamd.sock", dir);
    snprintf(silent_path, sizeof silent_path, "%s/silent.sock", dir);
    uv_loop_init(&loop);

    /* A listener that takes connections into its backlog and never reads nor answers. */
    int silent = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    snprintf(address.sun_path, sizeof address.sun_path, "%s", silent_path);
    bind(silent, (struct sockaddr *)&address, sizeof address);
    listen(silent, 16);

    char eicar_bytes[sizeof eicar_reversed];
    for (size_t i = 0; i + 1 < sizeof eicar_reversed; i++)
        eicar_bytes[i] = eicar_reversed[sizeof eicar_reversed - 2 - i];
    const char *eicar = write_file("eicar.txt", eicar_bytes, sizeof eicar_reversed - 1);
    const char *clean = write_file("notes.txt", "Nothing to see here.\n", 21);
    size_t big_length = 21 * 1024 * 1024;
    char *big_bytes = malloc(big_length);
    for (size_t i = 0; i < big_length; i++)
        big_bytes[i] = (char)('a' + (i * 7919 % 26));
    const char *big = write_file("big.txt", big_bytes, 10 * 1024 * 1024);
    const char *too_big = write_file("too-big.txt", big_bytes, big_length);
    free(big_bytes);

    double seconds = clamd_start();
    CHECK(seconds >= 0, "clamd starts with a database of one signature (%.2f s)", seconds);
    if (seconds >= 0) {
        client_scans(eicar, clean, big);
        client_failures(clean, too_big);
        uploads_scanned(eicar, clean);
    } else {
        char command[256];
        snprintf(command, sizeof command, "sed 's/^/# /' %s/clamd.log", dir);
        if (system(command) != 0)
            printf("# no clamd.log\n");
    }
    if (clamd_pid > 0) {
        kill(clamd_pid, SIGTERM);
        waitpid(clamd_pid, NULL, 0);
    }
    close(silent);
    CHECK(uv_loop_close(&loop) == 0, "every handle closed");
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        printf("# could not remove %s\n", dir);
    return check_done();
}
