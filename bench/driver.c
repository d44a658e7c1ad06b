/* Benchmark driver: runs cases of (baseline spawns, subject spawns),
 * interleaved round by round, with posix_spawn, feeding each process its
 * stdin file and draining its stdout (stderr to /dev/null). Prints, per case
 * and round, the wall time of the baseline group and of the subject, and
 * the subject's peak RSS (wait4).
 *
 *   driver ROUNDS SPECFILE
 *
 * SPECFILE: blocks of lines
 *   case NAME
 *   base PROGRAM STDINFILE [KEY=VALUE ...]     (any number: run in sequence)
 *   subj PROGRAM STDINFILE [KEY=VALUE ...]     (any number: run in sequence)
 * Output lines: NAME ROUND BASE_NS SUBJ_NS SUBJ_MAXRSS_KB
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    char *prog;
    char *input;
    size_t input_len;
    char **envp;
} Run;

typedef struct {
    char name[128];
    Run base[64];
    int nbase;
    Run subj[8];
    int nsubj;
} Case;

static Case cases[64];
static int ncases;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(2); }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static char **make_env(char **kv, int nkv) {
    int n = 0;
    while (environ[n]) n++;
    char **e = calloc((size_t)(n + nkv + 1), sizeof *e);
    int m = 0;
    for (int i = 0; i < n; i++) {
        int overridden = 0;
        for (int j = 0; j < nkv; j++) {
            size_t kl = strchr(kv[j], '=') - kv[j];
            if (strncmp(environ[i], kv[j], kl + 1) == 0) overridden = 1;
        }
        if (!overridden) e[m++] = environ[i];
    }
    for (int j = 0; j < nkv; j++) e[m++] = kv[j];
    return e;
}

static void parse(const char *spec) {
    FILE *f = fopen(spec, "r");
    if (!f) { perror(spec); exit(2); }
    char line[65536];
    Case *c = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *words[256];
        int n = 0;
        for (char *t = strtok(line, " "); t && n < 256; t = strtok(NULL, " ")) words[n++] = strdup(t);
        if (n == 0) continue;
        if (strcmp(words[0], "case") == 0) {
            c = &cases[ncases++];
            snprintf(c->name, sizeof c->name, "%s", words[1]);
            continue;
        }
        if (!c || n < 3) { fprintf(stderr, "bad spec line\n"); exit(2); }
        Run r = {.prog = words[1]};
        r.input = slurp(words[2], &r.input_len);
        r.envp = make_env(words + 3, n - 3);
        if (strcmp(words[0], "base") == 0) c->base[c->nbase++] = r;
        else c->subj[c->nsubj++] = r;
    }
    fclose(f);
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Spawn one process, feed stdin, drain stdout, reap; returns maxrss (KB). */
static long run1(const Run *r) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) { perror("pipe"); exit(2); }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = {r->prog, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, r->prog, &fa, NULL, argv, r->envp);
    if (e) { errno = e; perror(r->prog); exit(2); }
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    size_t off = 0;
    int win = in[1], rout = out[0];
    if (r->input_len == 0) { close(win); win = -1; }
    char buf[65536];
    while (rout >= 0) {
        struct pollfd p[2];
        int np = 0;
        p[np++] = (struct pollfd){.fd = rout, .events = POLLIN};
        if (win >= 0) p[np++] = (struct pollfd){.fd = win, .events = POLLOUT};
        if (poll(p, (nfds_t)np, -1) < 0 && errno != EINTR) { perror("poll"); exit(2); }
        if (win >= 0 && p[1].revents) {
            ssize_t w = write(win, r->input + off, r->input_len - off);
            if (w > 0) off += (size_t)w;
            if (w < 0 && errno != EAGAIN) off = r->input_len;
            if (off >= r->input_len) { close(win); win = -1; }
        }
        if (p[0].revents) {
            ssize_t n = read(rout, buf, sizeof buf);
            if (n <= 0) { close(rout); rout = -1; }
        }
    }
    if (win >= 0) close(win);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) { perror("wait4"); exit(2); }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s failed (status %d)\n", r->prog, status);
        exit(3);
    }
    return ru.ru_maxrss;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: driver ROUNDS SPECFILE\n"); return 2; }
    int rounds = atoi(argv[1]);
    parse(argv[2]);
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < ncases; i++) {
            Case *c = &cases[i];
            long long tb = 0, ts = 0;
            long rss = 0;
            for (int k = 0; k < 2; k++) {
                /* alternate which side goes first, against drift */
                int subject = (k == 0) == (round % 2 == 1);
                long long t0 = now_ns();
                if (subject) {
                    for (int j = 0; j < c->nsubj; j++) {
                        long m = run1(&c->subj[j]);
                        if (m > rss) rss = m;
                    }
                    ts = now_ns() - t0;
                } else {
                    for (int j = 0; j < c->nbase; j++) run1(&c->base[j]);
                    tb = now_ns() - t0;
                }
            }
            printf("%s %d %lld %lld %ld\n", c->name, round, tb, ts, rss);
        }
    }
    return 0;
}
