/* The pause image's only program: the process that holds a pod sandbox's
 * namespaces. Sleeps in pause(2) until SIGTERM or SIGINT, then exits 0;
 * reaps children if it ends up as a subreaper. Built static by
 * scripts/build-cri-tools.sh (gcc -static), so the image needs no libc. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) {
    (void)sig;
    _exit(0);
}

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, 0, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = quit;
    sigaction(SIGTERM, &sa, 0);
    sigaction(SIGINT, &sa, 0);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, 0);
    for (;;)
        pause();
    return 1;
}
