/* A stand-in for the national e-voucher SDK (NationECCode):  char *NationEcTrans(char *url, char *in, char *out);
 * `nationec.ctl` in the working directory: "<code> <mode>" where <code> is what the function returns ("0000" when the
 * call worked) and <mode> is copy | hang | crash | noterm. `copy` puts the bytes of `answer.bin` into `out` with a
 * terminating NUL and no bounds check (an over-long answer.bin overruns, as a careless SDK would); `noterm` copies
 * them without the NUL. The request is saved as `last_request.bin`: url, a newline, the JSON as received. */
#include "standin.h"

static char code[16];

const char *NationEcTrans(const char *url, const char *in, char *out) {
    char mode[32] = "copy";
    char *ctl = standin_read_file("nationec.ctl", NULL);
    strcpy(code, "0000");
    if (ctl) { sscanf(ctl, "%15s %31s", code, mode); free(ctl); }
    FILE *f = fopen("last_request.bin", "wb");
    if (f) { fputs(url, f); fputc('\n', f); fputs(in, f); fclose(f); }
    if (strcmp(mode, "hang") == 0) standin_hang();
    if (strcmp(mode, "crash") == 0) standin_crash();
    size_t len = 0;
    char *answer = standin_read_file("answer.bin", &len);
    if (answer) {
        memcpy(out, answer, len);
        if (strcmp(mode, "noterm") != 0) out[len] = 0;
        free(answer);
    }
    return code;
}
