/* The floor for the ADD case: a minimal "meta plugin" in C that does nothing
 * but run its delegates in sequence (the paths in FLOOR_DELEGATES, separated
 * by ':', with posix_spawn), giving each the
 * config it read on stdin and passing the previous delegate's output on as
 * the next one's input, then prints the last output. meta-cni's ratio is
 * judged against this one's, measured in the same run. Built by bench/run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static size_t slurp(int fd, char **buf) {
    size_t cap = 65536, len = 0;
    *buf = malloc(cap);
    for (;;) {
        if (len == cap) *buf = realloc(*buf, cap *= 2);
        ssize_t n = read(fd, *buf + len, cap - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    return len;
}

int main(void) {
    char *list = getenv("FLOOR_DELEGATES");
    if (!list) return 2;
    char *paths[64];
    int n = 0;
    for (char *t = strtok(list, ":"); t && n < 64; t = strtok(NULL, ":")) paths[n++] = t;
    char *in;
    size_t in_len = slurp(0, &in);
    char *out = NULL;
    size_t out_len = 0;
    for (int i = 0; i < n; i++) {
        int p_in[2], p_out[2];
        if (pipe2(p_in, O_CLOEXEC) || pipe2(p_out, O_CLOEXEC)) return 2;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p_in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, p_out[1], 1);
        pid_t pid;
        char *args[] = {paths[i], NULL};
        if (posix_spawn(&pid, paths[i], &fa, NULL, args, environ)) return 2;
        close(p_in[0]);
        close(p_out[1]);
        /* configs are small: one write fits the pipe */
        const char *feed = out_len ? out : in;
        size_t feed_len = out_len ? out_len : in_len;
        if (write(p_in[1], feed, feed_len) < 0) return 2;
        close(p_in[1]);
        free(out);
        out_len = slurp(p_out[0], &out);
        close(p_out[0]);
        int st;
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) return 1;
    }
    if (out_len && write(1, out, out_len) < 0) return 2;
    return 0;
}
