/* An LD_PRELOAD shim for tests/test_network.py: appends one line to $NETCOUNT_LOG for every
 * name lookup (getaddrinfo, gethostbyname) and every connect / sendto / sendmsg to a network
 * address (AF_UNIX is skipped) made through the C library's exported functions, by any code in
 * the process: Python's socket module, and native libraries that bypass it (ONNX Runtime's
 * telemetry, libcurl, ...). It only watches; every call goes through unchanged.
 * Not seen: system calls made without libc's exported symbols (glibc's own resolver calls its
 * internal __connect; a lookup is seen at getaddrinfo instead).
 * Build: cc -shared -fPIC -O1 -o netcount.so netcount.c -ldl */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void note(const char *what, const char *detail) {
    const char *path = getenv("NETCOUNT_LOG");
    if (!path) return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd < 0) return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    dprintf(fd, "%ld.%03ld %s %s\n", (long)now.tv_sec, now.tv_nsec / 1000000, what, detail);
    close(fd);
}

static void note_address(const char *what, const struct sockaddr *addr) {
    char host[INET6_ADDRSTRLEN + 16] = "?";
    char line[INET6_ADDRSTRLEN + 64];
    if (!addr || addr->sa_family == AF_UNIX) return;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(line, sizeof line, "%s %d", host, ntohs(in->sin_port));
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(line, sizeof line, "%s %d", host, ntohs(in6->sin6_port));
    } else {
        snprintf(line, sizeof line, "family-%d 0", addr->sa_family);
    }
    note(what, line);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real) real = dlsym(RTLD_NEXT, "connect");
    note_address("connect", addr);
    return real(fd, addr, len);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
               socklen_t len) {
    static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    if (!real) real = dlsym(RTLD_NEXT, "sendto");
    note_address("sendto", addr);
    return real(fd, buf, n, flags, addr, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    static ssize_t (*real)(int, const struct msghdr *, int);
    if (!real) real = dlsym(RTLD_NEXT, "sendmsg");
    if (msg) note_address("sendmsg", (const struct sockaddr *)msg->msg_name);
    return real(fd, msg, flags);
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    if (!real) real = dlsym(RTLD_NEXT, "getaddrinfo");
    if (node) note("getaddrinfo", node);
    return real(node, service, hints, res);
}

struct hostent *gethostbyname(const char *name) {
    static struct hostent *(*real)(const char *);
    if (!real) real = dlsym(RTLD_NEXT, "gethostbyname");
    if (name) note("gethostbyname", name);
    return real(name);
}
