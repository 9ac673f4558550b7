// clockstep: an LD_PRELOAD shim that steps a process's wall clock, as an NTP step would, for the chaos soak
// (Tests/JobKitTests/ChaosTests.swift). CLOCK_REALTIME (and its coarse form), gettimeofday() and time() are
// moved by the number of seconds in the file named by JK_CLOCK_OFFSET_FILE (for example "3600" or "-3600"),
// re-read at most every 100 ms; the monotonic and boot-time clocks are left alone, as a real step leaves them
// (CLOCK_TAI and the alarm clocks too: nothing here reads them).
//
// Built by the test: cc -shared -fPIC -O2 -o clockstep.so scripts/lib/clockstep.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static _Atomic long long offset_seconds;
static _Atomic long long next_read_ns;
static clock_gettime_fn real_clock_gettime;
static char offset_path[4096];

// Before any thread runs: the real clock_gettime and the file's path (getenv is not safe once threads setenv).
__attribute__((constructor)) static void clockstep_init(void) {
    real_clock_gettime = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
    const char *path = getenv("JK_CLOCK_OFFSET_FILE");
    if (path) {
        strncpy(offset_path, path, sizeof offset_path - 1);
    }
}

static long long offset(void) {
    struct timespec mono;
    if (!offset_path[0] || real_clock_gettime(CLOCK_MONOTONIC, &mono) != 0) return atomic_load(&offset_seconds);
    long long now = (long long)mono.tv_sec * 1000000000LL + mono.tv_nsec;
    if (now >= atomic_load(&next_read_ns)) {
        atomic_store(&next_read_ns, now + 100000000LL);
        int saved = errno;
        int fd = open(offset_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            char text[32] = {0};
            ssize_t n = read(fd, text, sizeof text - 1);
            close(fd);
            if (n > 0) atomic_store(&offset_seconds, strtoll(text, NULL, 10));
        }
        errno = saved;
    }
    return atomic_load(&offset_seconds);
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    if (!real_clock_gettime) {
        errno = ENOSYS;
        return -1;
    }
    int result = real_clock_gettime(id, ts);
    if (result == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += offset();
    return result;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    int result = clock_gettime(CLOCK_REALTIME, &ts);
    if (result == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    (void)tz;
    return result;
}

time_t time(time_t *out) {
    struct timespec ts = {0, 0};
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (time_t)-1;
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
