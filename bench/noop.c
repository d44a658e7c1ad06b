/* A no-op CNI delegate for the benchmark: drains stdin and prints a result,
 * the file named by NOOP_RESULT if set, else a fixed one-interface result;
 * with NOOP_SLEEP_MS, an ADD first takes that long (a delegate doing real
 * work). VERSION gets the usual answer. Built by bench/run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char fixed[] =
    "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/var/run/netns/x\"}],"
    "\"ips\":[{\"address\":\"10.66.0.2/24\",\"interface\":0}]}";
static const char version[] =
    "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}";

static void out(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

int main(void) {
    char buf[65536];
    while (read(0, buf, sizeof buf) > 0) {
    }
    const char *cmd = getenv("CNI_COMMAND");
    if (cmd && strcmp(cmd, "VERSION") == 0) {
        out(version, sizeof version - 1);
        return 0;
    }
    if (cmd && strcmp(cmd, "ADD") != 0) return 0;
    const char *ms = getenv("NOOP_SLEEP_MS");
    if (ms) usleep((useconds_t)atoi(ms) * 1000);
    const char *file = getenv("NOOP_RESULT");
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) return 1;
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) out(buf, n);
        fclose(f);
        return 0;
    }
    out(fixed, sizeof fixed - 1);
    return 0;
}
