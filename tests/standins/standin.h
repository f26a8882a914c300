/* Shared by the stand-in vendor libraries of rxlane's tests: each reads its behaviour from a small control file in
 * its working directory (the worker runs in the library's own folder, as real vendor libraries expect), so a test
 * changes what the "reader" or "front end" does between two calls without restarting anything. */
#ifndef RXLANE_STANDIN_H
#define RXLANE_STANDIN_H
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The whole file `name`, NUL-terminated (the caller frees); NULL when absent. */
static inline char *standin_read_file(const char *name, size_t *len) {
    FILE *f = fopen(name, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    if (len) *len = got;
    return buf;
}

/* The value of `key` in a `key value` line of the control file, copied into `out` (empty when absent). */
static inline void standin_setting(const char *file, const char *key, char *out, size_t cap) {
    out[0] = 0;
    char *text = standin_read_file(file, NULL);
    if (!text) return;
    size_t klen = strlen(key);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            strncpy(out, line + klen + 1, cap - 1);
            out[cap - 1] = 0;
            break;
        }
    }
    free(text);
}

/* Decode hex into dst; returns the number of bytes. No bounds: the stand-ins overrun on purpose when told to. */
static inline size_t standin_unhex(const char *hex, char *dst) {
    size_t n = 0;
    while (hex[0] && hex[1]) {
        unsigned int byte;
        if (sscanf(hex, "%2x", &byte) != 1) break;
        dst[n++] = (char)byte;
        hex += 2;
    }
    return n;
}

static inline void standin_log(const char *line) {
    FILE *f = fopen("standin.log", "ab");
    if (f) { fputs(line, f); fputc('\n', f); fclose(f); }
}

static inline void standin_hang(void) { for (;;) pause(); }

static inline void standin_crash(void) { raise(SIGSEGV); *(volatile int *)0 = 1; }

#endif
